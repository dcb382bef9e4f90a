//! Bad lab files are refused: `netlab validate` and `netlab up` exit with status 2, print
//! `FILE:LINE:COL: message` (FILE as given on the command line), and create nothing in the
//! kernel, because `up` validates the whole file before it touches anything.
//!
//! The corpus is `tests/bad-labs/*.toml`, one problem per file. Each file starts with
//!
//!     # expect: LINE:COL: <substring of the message>
//!
//! Every case is run and all failures are reported together, so one run shows every broken
//! case. Files that cannot live in the repository (too big, NUL bytes, invalid UTF-8, empty,
//! FIFOs, sockets) are generated in a temporary directory; a file that cannot be read as a lab
//! file at all is reported as `FILE: message`, without a position.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netlab");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CORPUS: &str = "tests/bad-labs";

/// Where netlab would leave traces: namespaces, its state directories, and /run itself (a
/// lab name like "../etc" would escape /run/netlab or /run/netns into it).
const WATCHED: [&str; 3] = ["/run/netns", "/run/netlab", "/run"];

#[derive(Debug)]
struct Case {
    /// The path exactly as passed to netlab (relative to the package root).
    path: String,
    /// Line and column; `None` for a problem with the file as a whole, shown as `FILE: ...`.
    at: Option<(usize, usize)>,
    substring: String,
}

impl Case {
    fn new(path: impl Into<String>, line: usize, col: usize, substring: &str) -> Case {
        Case {
            path: path.into(),
            at: Some((line, col)),
            substring: substring.to_string(),
        }
    }

    /// A file that cannot be read as a lab file at all: no position is shown.
    fn whole_file(path: impl Into<String>, substring: &str) -> Case {
        Case {
            path: path.into(),
            at: None,
            substring: substring.to_string(),
        }
    }
}

fn netlab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env_remove("NETLAB_MAX_NAMESPACES")
        .output()
        .expect("run netlab")
}

/// `# expect: LINE:COL: substring` from the first line of a corpus file.
fn parse_expect(path: &str, text: &str) -> Result<Case, String> {
    let first = text.lines().next().unwrap_or("");
    let rest = first
        .strip_prefix("# expect: ")
        .ok_or_else(|| format!("{path}: first line must be `# expect: LINE:COL: substring`"))?;
    let mut parts = rest.splitn(3, ':');
    let (line, col, sub) = (parts.next(), parts.next(), parts.next());
    let num = |s: Option<&str>| s.and_then(|s| s.trim().parse::<usize>().ok());
    match (num(line), num(col), sub.map(str::trim)) {
        (Some(l), Some(c), Some(s)) if l > 0 && c > 0 && !s.is_empty() => {
            Ok(Case::new(path, l, c, s))
        }
        _ => Err(format!("{path}: malformed expect line {first:?}")),
    }
}

fn corpus() -> (Vec<Case>, Vec<String>) {
    let dir = Path::new(ROOT).join(CORPUS);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        let path = format!("{CORPUS}/{name}");
        let text = std::fs::read_to_string(Path::new(ROOT).join(&path)).unwrap();
        match parse_expect(&path, &text) {
            Ok(c) => cases.push(c),
            Err(e) => problems.push(e),
        }
    }
    (cases, problems)
}

/// The lab name a file asks for (`name = "..."` under `[lab]`), read loosely: the file may not
/// be valid TOML.
fn lab_name(text: &str) -> Option<String> {
    let mut in_lab = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_lab = t == "[lab]";
        } else if in_lab {
            if let Some(v) = t.strip_prefix("name") {
                let v = v.trim_start().strip_prefix('=')?.trim();
                return Some(v.trim_matches('"').to_string());
            }
        }
    }
    None
}

/// First path component a lab name would produce under a watched directory: "../etc" -> "etc".
fn trace_prefix(name: &str) -> Option<String> {
    name.split('/')
        .find(|c| !c.is_empty() && *c != "." && *c != "..")
        .map(str::to_string)
}

fn snapshot() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in WATCHED {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                out.insert(format!("{dir}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `args` and checks exit status 2, the position, the message and an empty stdout.
fn expect_refused(args: &[&str], case: &Case, failures: &mut Vec<String>) {
    let out = netlab(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = format!("netlab {}", args.join(" "));
    let mut bad = Vec::new();
    if out.status.code() != Some(2) {
        bad.push(format!("exit status {:?}, wanted 2", out.status.code()));
    }
    match case.at {
        Some((line, col)) => {
            let at = format!("{}:{line}:{col}: ", case.path);
            if !stderr.contains(&at) {
                bad.push(format!("stderr lacks {at:?}"));
            }
        }
        None => {
            let at = format!("{}: ", case.path);
            if !stderr.contains(&at) {
                bad.push(format!("stderr lacks {at:?}"));
            }
            let positioned = format!("{}:", case.path);
            if stderr
                .match_indices(&positioned)
                .any(|(i, m)| stderr[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
            {
                bad.push("a position is shown for a file that has none to point at".into());
            }
        }
    }
    if stderr.contains("(os error") {
        bad.push("stderr shows Rust's \"(os error N)\"".into());
    }
    if !stderr.contains(&case.substring) {
        bad.push(format!("stderr lacks {:?}", case.substring));
    }
    if stderr.contains("panicked") {
        bad.push("netlab panicked".into());
    }
    if !stdout.trim().is_empty() {
        bad.push("printed to stdout".into());
    }
    if !bad.is_empty() {
        failures.push(format!(
            "{shown}:\n    {}\n    stderr: {}",
            bad.join("\n    "),
            stderr.trim().replace('\n', "\n            ")
        ));
    }
}

fn check_cases(cases: &[Case], prefixes: &mut BTreeSet<String>, failures: &mut Vec<String>) {
    let before = snapshot();
    for case in cases {
        expect_refused(&["validate", &case.path], case, failures);
        expect_refused(&["up", &case.path], case, failures);
        if let Ok(text) = std::fs::read_to_string(Path::new(ROOT).join(&case.path)) {
            prefixes.extend(lab_name(&text).as_deref().and_then(trace_prefix));
        }
    }
    let after = snapshot();
    // Other tests may create their own namespaces meanwhile: only entries named after a lab
    // of these files can be ours.
    for new in after.difference(&before) {
        let name = new.rsplit('/').next().unwrap_or(new);
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            failures.push(format!("`up` of a bad lab file left {new} behind"));
        }
    }
}

#[test]
fn bad_lab_files_are_refused_with_position_and_exit_2() {
    let (cases, mut failures) = corpus();
    assert!(
        cases.len() >= 40,
        "the corpus has only {} files",
        cases.len()
    );
    let mut prefixes = BTreeSet::from(["badlab".to_string()]);
    check_cases(&cases, &mut prefixes, &mut failures);
    assert!(
        failures.is_empty(),
        "{} problems with {} bad lab files (root: {}):\n\n{}\n",
        failures.len(),
        cases.len(),
        is_root(),
        failures.join("\n\n")
    );
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("netlab-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn huge_binary_and_empty_files_are_refused() {
    let dir = Scratch::new("bad-input");
    let head = b"[lab]\nname = \"badlab\"\n\n[hosts.h1]\n";

    // Over 1 MiB: refused before parsing.
    let mut huge = head.to_vec();
    while huge.len() <= (1 << 20) + 10 {
        huge.extend_from_slice(b"# padding padding padding padding padding padding padding\n");
    }
    let huge = dir.write("huge.toml", &huge);

    // A NUL byte in the lab name (line 2, column 12: `name = "bad` is 11 characters).
    let nul = dir.write("nul.toml", b"[lab]\nname = \"bad\0lab\"\n\n[hosts.h1]\n");

    // Invalid UTF-8 (a Latin-1 "\xe9") on line 2, column 12.
    let latin1 = dir.write(
        "latin1.toml",
        b"[lab]\nname = \"bad\xe9lab\"\n\n[hosts.h1]\n",
    );

    // A UTF-16 file, as some editors save them.
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(
            "[lab]\nname = \"badlab\"\n"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    let utf16 = dir.write("utf16.toml", &utf16);

    // Zero bytes: no [lab] at all.
    let empty = dir.write("empty.toml", b"");

    // Not a regular file, or no file at all: nothing to point into, so no position.
    let missing = dir.0.join("missing.toml").to_str().unwrap().to_string();
    let directory = dir.0.to_str().unwrap().to_string();
    let socket = dir.0.join("socket.toml");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let socket = socket.to_str().unwrap().to_string();

    let cases = [
        Case::whole_file(huge, "the limit is 1048576 bytes"),
        Case::new(nul, 2, 12, "NUL byte"),
        Case::new(latin1, 2, 12, "not valid UTF-8"),
        Case::new(utf16, 1, 1, "not valid UTF-8"),
        Case::new(empty, 1, 1, "missing field `lab`"),
        Case::whole_file(missing, "cannot read lab file: No such file or directory"),
        Case::whole_file(directory, "is a directory, not a lab file"),
        Case::whole_file("/dev/null", "is a character device, not a lab file"),
        Case::whole_file(socket, "is a socket, not a lab file"),
    ];
    let mut failures = Vec::new();
    let mut prefixes = BTreeSet::from(["badlab".to_string()]);
    check_cases(&cases, &mut prefixes, &mut failures);
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n\n"));
}

/// Runs netlab, killing it and failing if it has not exited within `limit`.
fn netlab_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run netlab");
    let start = Instant::now();
    while child.try_wait().expect("wait for netlab").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap netlab");
            panic!(
                "netlab {} still running after {limit:?}; killed it. stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect netlab output")
}

/// A FIFO as the lab file used to hang `validate` and `up` in open(2), waiting for a writer
/// that never comes. It is refused at once, without a position, with exit status 2.
#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = Scratch::new("fifo");
    let fifo = dir.0.join("lab.toml");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .expect("mkfifo");
    let fifo = fifo.to_str().unwrap();
    let mut failures = Vec::new();
    for command in ["validate", "up"] {
        let out = netlab_within(&[command, fifo], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "netlab {command}: exit status {:?}, wanted 2",
                out.status.code()
            ));
        }
        let want = format!("{fifo}: is a FIFO, not a lab file");
        if !stderr.contains(&want) {
            failures.push(format!("netlab {command}: stderr lacks {want:?}: {stderr}"));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Independent mistakes in different sections are all reported in one run, each at its
/// position; what only follows from one of them (the containers on an unreadable host, the
/// addresses on a refused subnet) is not reported again.
#[test]
fn every_independent_problem_is_reported_in_one_run() {
    let dir = Scratch::new("rounds");
    let lab = dir.write(
        "rounds.toml",
        br#"[lab]
name = "badlab"

[underlay]
mtu = 100

[hosts.h1]
adress = "10.1.1.5"

[hosts.h2]

[networks.n1]
driver = "bridge"
subnet = "239.1.1.0/24"

[networks.n2]
driver = "bridge"

[containers.c1]
host = "h9"
networks = ["n2"]

[containers.c2]
host = "h2"
networks = ["n2", "n3"]

[containers.c3]
host = "h1"
networks = ["n1"]
ip = { n1 = "239.1.1.7" }

[[checks]]
from = "c2"
to = "nobody"

[[checks]]
from = "c3"
to = "c2"
count = 0
"#,
    );
    let want = [
        (5, 7, "underlay mtu 100 must be between 1280 and 9000"),
        (8, 1, "unknown field `adress`"),
        (14, 10, "subnet 239.1.1.0/24 is in the multicast range"),
        (
            20,
            8,
            "container c1 is on host \"h9\", which is not defined",
        ),
        (25, 19, "network \"n3\" is not defined"),
        (
            34,
            6,
            "check target \"nobody\" is not a container, host, alias the source resolves, or IP address",
        ),
        (39, 9, "count 0 must be between 1 and 100"),
    ];
    for command in ["validate", "up"] {
        let out = netlab(&[command, &lab]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "netlab {command}: {stderr}");
        let mut missing = Vec::new();
        for (line, col, message) in want {
            let at = format!("{lab}:{line}:{col}: ");
            let found = stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(message));
            if !found {
                missing.push(format!("{line}:{col}: {message}"));
            }
        }
        assert!(
            missing.is_empty(),
            "netlab {command} did not report {missing:#?}\nstderr:\n{stderr}"
        );
        let reported = stderr.matches(&format!("{lab}:")).count();
        assert_eq!(
            reported,
            want.len(),
            "netlab {command}: consequences reported too\nstderr:\n{stderr}"
        );
    }
}

#[test]
fn hostile_name_override_is_refused() {
    // `--name` replaces [lab] name and is checked like it; --dry-run so that even a broken
    // validator could not build anything here.
    let mut failures = Vec::new();
    for name in ["../etc", "a/b", "", "x.y", "-rf"] {
        let flag = format!("--name={name}");
        let args = ["up", "--dry-run", &flag, "labs/bridge.toml"];
        let case = Case::new(
            "labs/bridge.toml",
            6,
            8,
            "invalid lab name given with --name",
        );
        expect_refused(&args, &case, &mut failures);
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n\n"));
}

#[test]
fn corpus_expectations_are_well_formed() {
    assert!(parse_expect("x", "# expect: 3:7: boom\n").is_ok());
    assert!(parse_expect("x", "# expect: 3: boom\n").is_err());
    assert!(parse_expect("x", "[lab]\n").is_err());
    assert_eq!(
        lab_name("[lab]\nname = \"../etc\"\n").as_deref(),
        Some("../etc")
    );
    assert_eq!(trace_prefix("../etc").as_deref(), Some("etc"));
    assert_eq!(trace_prefix("/run/netns").as_deref(), Some("run"));
}
