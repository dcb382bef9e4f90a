//! `netlab console` on a pseudo-terminal (rexpect), as a user types at it, and fed from a pipe
//! as a script. Oracles: iproute2 (`ip -j`) for addresses and link state, iputils ping for
//! reachability. Each test brings up its own lab under its own unique name.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const LAB_FILE: &str = "labs/bridge.toml";

/// The console of `lab` on a pseudo-terminal; history under `state` (never the user's own).
fn console_pty(lab: &str, state: &std::path::Path) -> rexpect::session::PtySession {
    let mut c = Command::new(BIN);
    c.args(["console", lab])
        .env("NO_COLOR", "1")
        // A terminal rustyline edits on (CI may run with TERM=dumb or none).
        .env("TERM", "xterm")
        .env("XDG_STATE_HOME", state);
    rexpect::session::spawn_command(c, Some(20_000)).expect("spawning netlab console on a pty")
}

/// The IPv4 address (with prefix) `ip -br addr show dev eth0` prints for a device, from the
/// console's output.
fn brief_addr(out: &str) -> Option<String> {
    out.split_whitespace()
        .find(|w| w.contains('/') && w.contains('.'))
        .map(String::from)
}

#[test]
fn console_on_a_terminal_runs_node_commands_pingall_links_and_completes_names() {
    if !require_root("console_on_a_terminal") {
        return;
    }
    let lab = unique("conpty");
    let _g = LabGuard(lab.clone());
    up_ok(&lab, LAB_FILE);
    let state = TempDir::new(&lab);
    let state = &state.0;
    let prompt = format!("{lab}> ");
    let mut p = console_pty(&lab, state);
    p.exp_string(&prompt).expect("the prompt");

    // A node command, as `netlab exec` runs it; the address against iproute2's.
    p.send_line("web ip -br addr show dev eth0").unwrap();
    let (_, line) = p.exp_regex(r"eth0@if\d+\s+UP\s+[^\r\n]*").unwrap();
    let want = addrs(&format!("{lab}.web"), "eth0");
    assert_eq!(
        brief_addr(&line),
        want.first().cloned(),
        "console said {line:?}"
    );
    p.exp_string(&prompt).unwrap();

    // pingall: the matrix's count of reachable pairs against iputils ping between the same
    // pairs, at the addresses the lab gives them.
    p.send_line("pingall").unwrap();
    let (_, summary) = p
        .exp_regex(r"pingall: \d+/\d+ pairs reachable; \d+ checks? differ")
        .unwrap();
    p.exp_string(&prompt).unwrap();
    let address = |c: &str| {
        addrs(&format!("{lab}.{c}"), "eth0")[0]
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    // web and db share my_net2 (reachable both ways); cache is on quiet_net (icc off) with db.
    let pairs = [
        ("web", "db", "172.18.0.10".to_string()),
        ("db", "web", address("web")),
        ("cache", "db", "172.22.16.2".to_string()),
        ("db", "cache", address("cache")),
        ("web", "cache", address("cache")),
        ("cache", "web", address("web")),
    ];
    let lab_ref = &lab;
    let reachable = std::thread::scope(|s| {
        let pings: Vec<_> = pairs
            .iter()
            .map(|(from, _, dst)| {
                s.spawn(move || ping_eventually(&format!("{lab_ref}.{from}"), dst))
            })
            .collect();
        pings
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count()
    });
    assert!(
        summary.contains(&format!(
            "pingall: {reachable}/6 pairs reachable; 0 checks differ"
        )),
        "console said {summary:?}; iputils ping reached {reachable} of 6 pairs"
    );

    // Completion of a node name: "ca" + TAB becomes "cache ", and the line then runs there.
    p.send("ca\t").unwrap();
    p.flush().unwrap();
    p.exp_string("cache ").expect("TAB completes ca to cache");
    p.send_line("ip -br addr show dev eth0").unwrap();
    let (_, line) = p.exp_regex(r"eth0@if\d+\s+UP\s+[^\r\n]*").unwrap();
    let want = addrs(&format!("{lab}.cache"), "eth0");
    assert_eq!(
        brief_addr(&line),
        want.first().cloned(),
        "console said {line:?}"
    );
    p.exp_string(&prompt).unwrap();

    // A device name completed from the live namespace, then `link ... down` as iproute2 sees it.
    p.send("link web e\t").unwrap();
    p.flush().unwrap();
    p.exp_string("link web eth0 ")
        .expect("TAB completes web's device");
    p.send_line("down").unwrap();
    p.exp_string("eth0 is down").unwrap();
    p.exp_string(&prompt).unwrap();
    let flags = link(&format!("{lab}.web"), "eth0")["flags"].clone();
    assert!(
        !flags.as_array().unwrap().iter().any(|f| f == "UP"),
        "eth0 still up after `link web eth0 down`: {flags}"
    );
    p.send_line("link web eth0 up").unwrap();
    p.exp_string("eth0 is up").unwrap();
    p.exp_string(&prompt).unwrap();

    // An unknown name: a close match, and the console goes on.
    p.send_line("wbe ip link").unwrap();
    p.exp_string("did you mean").unwrap();
    p.exp_string(&prompt).unwrap();

    // Ctrl-C stops the node command, not the console.
    p.send_line("web sleep 60").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    p.send_control('c').unwrap();
    p.exp_string(&prompt).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "Ctrl-C did not stop sleep"
    );
    // The typed line is "al''ive"; only the command's output reads "alive".
    p.send_line("web echo al''ive").unwrap();
    p.exp_string("alive").unwrap();
    p.exp_string(&prompt).unwrap();

    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(state.join("netlab/history")).unwrap_or_default();
    assert!(
        history.contains("pingall") && history.contains("web ip -br addr show dev eth0"),
        "history: {history:?}"
    );
}

/// A directory of this test's own (the console's history), removed when dropped, also on panic.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("netlab-console-{name}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `netlab console LAB` with `script` on its stdin (a pipe).
fn console_script(lab: &str, script: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(["console", lab])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running netlab console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn console_reads_a_script_from_a_pipe_and_exits_1_if_a_command_failed() {
    if !require_root("console_reads_a_script") {
        return;
    }
    let lab = unique("conpipe");
    let _g = LabGuard(lab.clone());
    up_ok(&lab, LAB_FILE);

    // Every command succeeds: exit 0, no prompt. `cat` gets /dev/null, not the script's rest.
    let o = console_script(
        &lab,
        "# a comment\nweb ip -br addr show dev eth0\n\nweb cat\nping web db\nping --help\ndb echo after\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(&format!("{lab}>")), "a prompt: {}", text(&o));
    let want = addrs(&format!("{lab}.web"), "eth0");
    assert_eq!(
        brief_addr(out.lines().next().unwrap_or("")),
        want.first().cloned(),
        "{}",
        text(&o)
    );
    assert!(
        ping(&format!("{lab}.web"), "172.18.0.10"),
        "oracle: web cannot ping db"
    );
    assert!(
        out.contains("web -> db (172.18.0.10): reachable"),
        "{}",
        text(&o)
    );
    assert!(out.lines().any(|l| l == "after"), "{}", text(&o));
    assert!(out.contains("Usage: ping"), "{}", text(&o));

    // A failing command (exit status 1 of `false`), an unknown node and a failed ping among
    // good ones: the console goes on to the end, then exits 1.
    let o = console_script(
        &lab,
        "web false\nnosuch ip link\nping cache db\nlink web eth9 down\nlink web eth0 sideways\ndb echo still-here\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.lines().any(|l| l == "still-here"), "{}", text(&o));
    assert!(err.contains("\"nosuch\""), "{}", text(&o));
    assert!(
        !ping(&format!("{lab}.cache"), "172.22.16.2"),
        "oracle: cache reaches db"
    );
    assert!(
        out.contains("cache -> db (172.22.16.2): unreachable"),
        "{}",
        text(&o)
    );
    assert!(err.contains("did you mean \"eth0\"?"), "{}", text(&o));
    assert!(err.contains("invalid value 'sideways'"), "{}", text(&o));
    let flags = link(&format!("{lab}.web"), "eth0")["flags"].clone();
    assert!(
        flags.as_array().unwrap().iter().any(|f| f == "UP"),
        "refused link commands changed eth0: {flags}"
    );

    // A lab that is not up: exit 2 before reading anything.
    let o = console_script(&format!("{lab}x"), "web true\n");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
