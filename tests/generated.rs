//! Shell completions (`completions/`) and man pages (`man/`) are generated from the clap
//! definitions in `netlab::cli::Cli`, the lab file's JSON Schema (`schema/`) from the spec
//! types. This test renders them all in memory and fails if a file on disk differs, is
//! missing, or is a leftover the generator would no longer produce.
//!
//! To regenerate: `NETLAB_BLESS=1 cargo test --test generated`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

const BIN: &str = "netlab";
const BLESS_ENV: &str = "NETLAB_BLESS";
/// Directories (relative to the crate root) owned by the generator, but for [`HAND_WRITTEN`].
const GENERATED_DIRS: &[&str] = &["completions", "man", "schema"];
/// Pages written by hand in the generated directories: the lab-file format has no clap
/// definition to generate from (src/spec/man_page.rs checks that it documents every key).
const HAND_WRITTEN: &[&str] = &["man/netlab-lab.5"];
/// Pages about commands that read a lab file, or its checks and scenarios: their SEE ALSO
/// names the lab-file page.
const LAB_FILE_PAGES: &[&str] = &[
    "netlab",
    "netlab-up",
    "netlab-apply",
    "netlab-validate",
    "netlab-check",
    "netlab-run",
    "netlab-schema",
];

/// Every generated artifact: path relative to the crate root -> contents.
fn render_all() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();

    // Completions are generated from the command as users run it (with the `help` subcommand).
    for (shell, file) in [
        (Shell::Bash, "netlab.bash"),
        (Shell::Zsh, "_netlab"),
        (Shell::Fish, "netlab.fish"),
    ] {
        let mut cmd = netlab::cli::Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
        out.insert(Path::new("completions").join(file), buf);
    }

    // Man pages: one for the top level, one per (non-hidden) subcommand, recursively, named
    // `netlab-<sub>`. Like clap_mangen::generate_to, but in memory. Building first propagates
    // global args (--color) into subcommands and sets their bin names ("netlab up") for the
    // synopsis; the `help` subcommand gets no page.
    let mut cmd = netlab::cli::Cli::command()
        .bin_name(BIN)
        .disable_help_subcommand(true);
    cmd.build();
    let source = format!("{BIN} {}", env!("CARGO_PKG_VERSION"));
    render_man(cmd, BIN, &source, &mut out);

    // The lab file's JSON Schema, derived from the spec types (what `netlab schema` prints).
    out.insert(
        Path::new("schema").join("netlab-lab.schema.json"),
        netlab::spec::schema::json().into_bytes(),
    );

    out
}

fn render_man(cmd: Command, page: &str, source: &str, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_page = format!("{page}-{}", sub.get_name());
        // The display name drives the page's .TH title, NAME section and file name.
        let sub = sub.clone().display_name(sub_page.clone());
        render_man(sub, &sub_page, source, out);
    }

    let man = Man::new(cmd).title(page).source(source);
    let file = man.get_filename();
    assert_eq!(file, format!("{page}.1"), "unexpected man page file name");
    let mut buf = Vec::new();
    man.render(&mut buf).expect("render man page");
    if let Some(see_also) = see_also(page) {
        buf = insert_before_version(buf, &see_also);
    }
    out.insert(Path::new("man").join(file), buf);
}

/// The SEE ALSO section of `page`, if it has one: the top-level page for every subcommand,
/// the lab-file page for those in [`LAB_FILE_PAGES`].
fn see_also(page: &str) -> Option<String> {
    let mut refs = Vec::new();
    if page != BIN {
        refs.push(format!("\\fB{BIN}\\fR(1)"));
    }
    if LAB_FILE_PAGES.contains(&page) {
        refs.push("\\fBnetlab\\-lab\\fR(5)".to_string());
    }
    (!refs.is_empty()).then(|| format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", ")))
}

/// clap_mangen ends a page with VERSION (and AUTHORS): SEE ALSO goes before them.
fn insert_before_version(page: Vec<u8>, section: &str) -> Vec<u8> {
    let text = String::from_utf8(page).expect("man page is UTF-8");
    let at = text
        .find("\n.SH VERSION\n")
        .map(|i| i + 1)
        .unwrap_or(text.len());
    let mut out = text[..at].to_string();
    out.push_str(section);
    out.push_str(&text[at..]);
    out.into_bytes()
}

/// Files currently in the generated directories (relative to `root`), including subdirectories.
fn files_on_disk(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, acc: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            return; // missing directory: every expected file will be reported missing
        };
        for entry in entries {
            let entry = entry.expect("read dir entry");
            let rel = dir.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                walk(root, &rel, acc);
            } else {
                acc.push(rel);
            }
        }
    }
    let mut acc = Vec::new();
    for dir in GENERATED_DIRS {
        walk(root, Path::new(dir), &mut acc);
    }
    acc.sort();
    acc
}

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = render_all();
    let bless = std::env::var(BLESS_ENV).is_ok_and(|v| v == "1");

    let extra: Vec<PathBuf> = files_on_disk(root)
        .into_iter()
        .filter(|p| !expected.contains_key(p) && !HAND_WRITTEN.contains(&p.to_str().unwrap()))
        .collect();

    if bless {
        for (rel, contents) in &expected {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).expect("create output directory");
            if fs::read(&path).ok().as_deref() != Some(contents.as_slice()) {
                fs::write(&path, contents)
                    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
                eprintln!("wrote {}", rel.display());
            }
        }
        for rel in &extra {
            fs::remove_file(root.join(rel))
                .unwrap_or_else(|e| panic!("remove {}: {e}", rel.display()));
            eprintln!("removed stale {}", rel.display());
        }
        return;
    }

    let mut problems = Vec::new();
    for (rel, contents) in &expected {
        match fs::read(root.join(rel)) {
            Ok(on_disk) if on_disk == *contents => {}
            Ok(_) => problems.push(format!("  stale:   {}", rel.display())),
            Err(_) => problems.push(format!("  missing: {}", rel.display())),
        }
    }
    for rel in &extra {
        problems.push(format!(
            "  extra:   {} (not produced by the generator)",
            rel.display()
        ));
    }

    assert!(
        problems.is_empty(),
        "generated files are out of date with src/cli.rs:\n{}\n\
         run `{BLESS_ENV}=1 cargo test --test generated` to regenerate",
        problems.join("\n")
    );
}

/// The hand-written pages are there, and groff formats them without a warning (`-ww`: every
/// warning class), as `man` would show them.
#[test]
fn hand_written_man_pages_format_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in HAND_WRITTEN {
        let path = root.join(rel);
        assert!(path.is_file(), "{rel} is missing");
        let o = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("running groff: install groff-base (.ci/run does)");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff warns about {rel}:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Every page the lab-file page refers to exists, and the lab-file commands' pages refer to it.
#[test]
fn lab_file_page_is_cross_referenced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = render_all();
    for page in LAB_FILE_PAGES {
        let rel = Path::new("man").join(format!("{page}.1"));
        let text = String::from_utf8(expected[&rel].clone()).unwrap();
        assert!(
            text.contains(".SH \"SEE ALSO\"\n") && text.contains("\\fBnetlab\\-lab\\fR(5)"),
            "{} does not refer to netlab-lab(5)",
            rel.display()
        );
    }
    let lab = fs::read_to_string(root.join("man/netlab-lab.5")).unwrap();
    let see_also = lab
        .split(".SH SEE ALSO\n")
        .nth(1)
        .expect("SEE ALSO in netlab-lab.5");
    for r in see_also.split(',') {
        let r = r
            .trim()
            .replace("\\fB", "")
            .replace("\\fR", "")
            .replace("\\-", "-");
        let Some(name) = r.strip_suffix("(1)") else {
            continue; // other sections: ip-netns(8), tc-netem(8)
        };
        let rel = Path::new("man").join(format!("{name}.1"));
        assert!(
            expected.contains_key(&rel),
            "netlab-lab.5 refers to {name}(1), which has no page"
        );
    }
}
