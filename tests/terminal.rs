//! A real terminal: tmux runs netlab on a pseudo-terminal, so colour comes from `--color auto`
//! seeing a terminal, as it does for a user, and what tmux shows (its screen captured with the
//! escape sequences) is the oracle: every table `up` and `status` print has all its rows at one
//! display width, with the colour on.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of this test's own (its own socket), killed when dropped, also on panic.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .expect("running tmux")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The server's socket path, then the server and its socket file.
        let path = self.cmd(&["display-message", "-p", "#{socket_path}"]);
        let _ = self.cmd(&["kill-server"]);
        let path = String::from_utf8_lossy(&path.stdout).trim().to_string();
        if path.ends_with(&self.0) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Characters a terminal shows for `line`: CSI escape sequences take no room.
fn visible(line: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    let mut csi = false;
    for c in line.chars() {
        match (esc, csi, c) {
            (false, _, '\x1b') => esc = true,
            (true, false, '[') => csi = true,
            (true, false, _) => esc = false,
            (true, true, c) if ('\x40'..='\x7e').contains(&c) => {
                esc = false;
                csi = false;
            }
            (true, true, _) => {}
            (false, _, c) => out.push(c),
        }
    }
    out
}

#[test]
fn up_and_status_tables_align_on_a_real_terminal_in_colour() {
    if !require_root("up_and_status_tables_align_on_a_real_terminal_in_colour") {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing: .ci/run installs it"
        );
        eprintln!("SKIPPED up_and_status_tables_align_on_a_real_terminal_in_colour: no tmux");
        return;
    }
    let lab = unique("ttmx");
    let _guard = LabGuard(lab.clone());
    let tmux = Tmux(format!("netlab-test-{lab}"));
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/bridge.toml");
    let script = format!(
        "env -u NO_COLOR -u CLICOLOR_FORCE {BIN} up --name {lab} {}; env -u NO_COLOR -u CLICOLOR_FORCE {BIN} status {lab}; echo NETLAB-DONE; sleep 120",
        file.display()
    );
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "250",
        "-y",
        "80",
        &script,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let o = tmux.cmd(&["capture-pane", "-p", "-e", "-J", "-t", "t", "-S", "-200"]);
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        if s.lines().any(|l| visible(l).trim() == "NETLAB-DONE") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no NETLAB-DONE on the screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let shown: String = screen.lines().map(|l| visible(l) + "\n").collect();
    assert!(
        shown.contains(&format!("lab {lab} is up")),
        "up did not finish:\n{shown}"
    );
    assert!(
        screen.contains("\x1b["),
        "colour is off on a terminal:\n{screen}"
    );
    // Tables: runs of lines whose first visible character draws the table.
    let mut tables: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for l in screen.lines() {
        let v = visible(l).trim_end().to_string();
        if v.starts_with(['┌', '│', '╞', '├', '└']) {
            current.push(v);
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    // `up`'s checks and `status`.
    assert_eq!(tables.len(), 2, "{screen}");
    for t in &tables {
        assert!(t.len() >= 4, "{t:#?}");
        let widths: Vec<usize> = t.iter().map(|l| l.chars().count()).collect();
        assert!(
            widths.iter().all(|w| *w == widths[0]),
            "rows of unequal width {widths:?}:\n{}",
            t.join("\n")
        );
    }
    assert!(
        tables[1].iter().any(|l| l.contains(&lab)),
        "{:#?}",
        tables[1]
    );
    // Some row of each table is coloured: the escapes sit inside the table lines.
    let coloured = |t: &[String]| {
        screen
            .lines()
            .filter(|l| t.iter().any(|v| visible(l).trim_end() == v))
            .any(|l| l.contains("\x1b["))
    };
    assert!(coloured(&tables[0]), "{screen}");
}
