//! Shell completions (`completions/`) and man pages (`man/`) are generated from the clap
//! definitions in `netlab::cli::Cli`. This test renders them all in memory and fails if a file
//! on disk differs, is missing, or is a leftover the generator would no longer produce.
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
/// Directories (relative to the crate root) wholly owned by the generator.
const GENERATED_DIRS: &[&str] = &["completions", "man"];

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
    out.insert(Path::new("man").join(file), buf);
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
        .filter(|p| !expected.contains_key(p))
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
