//! `netlab console LAB`: an interactive shell over a lab that is up, as Mininet's CLI is over
//! its network. A line is either `NODE CMD...` (run CMD in the node's namespace, as `netlab
//! exec` does: no shell in between) or a console command, each dispatched to the very handler
//! of the netlab command it stands for (`ping` to the check probe, `pingall`, `trace`, `link`,
//! `connect`, `disconnect`, `status`). Names are the lab's own, bare: the console qualifies
//! them (`LAB.NODE`, `LAB/NET`) before handing them on.
//!
//! On a terminal it edits lines with rustyline (history in `$XDG_STATE_HOME/netlab/history`,
//! completion of command words, node and network names from the lab's record, device names
//! read live from the node's namespace). Otherwise it reads commands line by line from stdin,
//! prints no prompt, and exits 1 if any command failed.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use colored::Colorize;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use super::{BadInput, ChecksFailed};
use crate::completion;
use crate::spec::{close_match, Check, Expect, Lab};
use crate::state::{self, Record};

/// One console line, parsed as clap parses a command line (`ping --help` works as usual).
#[derive(Debug, Parser)]
#[command(multicall = true, disable_help_subcommand = true)]
struct Line {
    #[command(subcommand)]
    command: ConsoleCommand,
}

#[derive(Debug, Subcommand)]
enum ConsoleCommand {
    /// Run a command in a node's namespace (for a node named like a console command)
    Exec {
        node: String,
        #[arg(
            required = true,
            num_args = 1..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<String>,
    },
    /// Ping TO (a node or an IPv4 address) from node FROM, as a lab check does
    Ping {
        from: String,
        to: String,
        /// Echo requests to send
        #[arg(long, short, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
    },
    /// Ping every container from every other one (`netlab pingall`)
    Pingall,
    /// Predict the path of a ping from FROM to TO, from live kernel state (`netlab trace`)
    Trace {
        from: String,
        to: String,
        /// A container destination by its IPv6 address, as `ping -6`
        #[arg(short = '6', long)]
        ipv6: bool,
        /// Also send real pings and compare
        #[arg(long)]
        probe: bool,
        /// Also listen on every predicted device while one echo request crosses (implies --probe)
        #[arg(long)]
        capture: bool,
        /// One line per namespace crossed
        #[arg(long, conflicts_with = "detailed")]
        minimal: bool,
        /// Also every step of the reply's way back
        #[arg(long)]
        detailed: bool,
        /// ICMP payload bytes with DF set, as `ping -M do -s N`
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=65507))]
        size: Option<u16>,
    },
    /// Set a node's interface up or down (`netlab link`)
    Link {
        node: String,
        dev: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Connect a container to a network (`netlab connect`)
    Connect {
        network: String,
        container: String,
        /// The address to give it (default: the network's next free one)
        #[arg(long)]
        ip: Option<std::net::Ipv4Addr>,
    },
    /// Disconnect a container from a network (`netlab disconnect`)
    Disconnect { network: String, container: String },
    /// Show the lab's state (`netlab status LAB`)
    Status,
    /// List the console's commands
    Help,
    /// Leave the console (also `quit`, Ctrl-D)
    #[command(alias = "quit")]
    Exit,
}

/// The console's own words (and their aliases), for completion and "did you mean".
fn command_words() -> Vec<String> {
    let cmd = Line::command();
    let mut v: Vec<String> = Vec::new();
    for s in cmd.get_subcommands() {
        v.push(s.get_name().to_string());
        v.extend(s.get_all_aliases().map(String::from));
    }
    v
}

const HELP: &str = "\
NODE CMD [ARGS...]        run CMD in NODE's namespace, as `netlab exec` (no shell: quote with ' or \")
exec NODE CMD [ARGS...]   the same, for a node named like a console command
ping FROM TO [-c N]       ping TO (a node or an address) from FROM, as a lab check does
pingall                   every container pings every other one
trace FROM TO [--probe]   the predicted path of a ping, hop by hop (--minimal, --detailed)
link NODE DEV up|down     set NODE's interface DEV up or down
connect NET CONTAINER     connect CONTAINER to network NET (--ip ADDRESS)
disconnect NET CONTAINER  disconnect CONTAINER from NET
status                    the lab's state
help                      this list (COMMAND --help for one command)
exit, quit, Ctrl-D        leave the console

TAB completes command words, node and network names, and a node's devices.";

/// What became of one line.
#[derive(Debug, PartialEq)]
enum Step {
    Done { ok: bool },
    Exit,
}

pub fn console(arg: &str) -> Result<()> {
    let (lab, _) = super::complete_lab(
        arg,
        "enter the lab's namespaces (CAP_SYS_ADMIN), change them (CAP_NET_ADMIN) and send ICMP from them (CAP_NET_RAW)",
    )?;
    let session = Session {
        lab,
        interactive: std::io::stdin().is_terminal(),
    };
    if session.interactive {
        session.interactive_loop()
    } else {
        session.script()
    }
}

struct Session {
    lab: String,
    /// On a terminal: node commands share it; otherwise their stdin is /dev/null, so that a
    /// command never eats the lines of the script that follow it.
    interactive: bool,
}

impl Session {
    /// Commands from a pipe or file, one a line; `#` starts a comment. Exit 1 if any failed.
    fn script(&self) -> Result<()> {
        let mut failed = false;
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            match self.execute(&line) {
                Step::Exit => break,
                Step::Done { ok } => failed |= !ok,
            }
        }
        if failed {
            Err(ChecksFailed.into())
        } else {
            Ok(())
        }
    }

    fn interactive_loop(&self) -> Result<()> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(true)
            .history_ignore_dups(true)?
            .max_history_size(1000)?
            .build();
        let mut rl: Editor<ConsoleHelper, DefaultHistory> = Editor::with_config(config)?;
        rl.set_helper(Some(ConsoleHelper {
            lab: self.lab.clone(),
        }));
        let history = history_path();
        if let Some(p) = &history {
            let _ = rl.load_history(p);
        }
        survive_ctrl_c();
        println!(
            "netlab console on lab {}: `help` lists the commands, TAB completes, Ctrl-D leaves",
            self.lab.bold()
        );
        let prompt = format!("{}> ", self.lab);
        loop {
            let line = match rl.readline(&prompt) {
                Ok(l) => l,
                // Ctrl-C drops the line being typed, as in a shell.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => {
                    println!();
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            // A history that cannot be written (read-only home, no HOME) is no reason to stop.
            if let Some(p) = &history {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = rl.append_history(p);
            }
            if self.execute(&line) == Step::Exit {
                break;
            }
        }
        Ok(())
    }

    /// Run one line; its errors are reported as netlab reports a command's, and the console
    /// goes on.
    fn execute(&self, line: &str) -> Step {
        let words = match split_words(line) {
            Ok(w) => w,
            Err(e) => {
                super::report(BadInput(e).into());
                return Step::Done { ok: false };
            }
        };
        if words.first().is_none_or(|w| w.starts_with('#')) {
            return Step::Done { ok: true };
        }
        match self.run_words(&words) {
            Ok(()) => Step::Done { ok: true },
            Err(e) if e.downcast_ref::<Leave>().is_some() => Step::Exit,
            Err(e) => {
                super::report(e);
                Step::Done { ok: false }
            }
        }
    }

    /// A console command if the first word is one, else a node's command.
    fn run_words(&self, words: &[String]) -> Result<()> {
        let rec = match state::read_record(&self.lab)? {
            Some(r) if r.complete => r,
            _ => {
                return Err(BadInput(format!(
                    "lab {} is not up any more; `exit` leaves the console",
                    self.lab
                ))
                .into())
            }
        };
        let first = &words[0];
        if command_words().contains(first) {
            return match Line::try_parse_from(words) {
                Ok(l) => self.command(&rec, l.command),
                Err(e) => {
                    // Usage errors and --help, as clap says them; an error fails the line
                    // without a second message (as a failed check does).
                    let _ = e.print();
                    if e.use_stderr() {
                        Err(ChecksFailed.into())
                    } else {
                        Ok(())
                    }
                }
            };
        }
        if rec.lab.node_ns(first).is_some() {
            if words.len() == 1 {
                return Err(BadInput(format!(
                    "{first} is a node: give it a command to run, e.g. `{first} ip -br addr`"
                ))
                .into());
            }
            return self.exec(&rec, first, &words[1..]);
        }
        let mut known = command_words();
        known.extend(node_names(&rec.lab));
        let hint = close_match(first, known.iter().map(|s| s.as_str()))
            .map(|h| format!("; {h}"))
            .unwrap_or_else(|| "; `help` lists the commands".into());
        Err(BadInput(format!(
            "{first:?} is neither a console command nor a container or host of lab {}{hint}",
            self.lab
        ))
        .into())
    }

    /// A console command, by the handler of the netlab command it stands for.
    fn command(&self, rec: &Record, cmd: ConsoleCommand) -> Result<()> {
        let lab = &self.lab;
        match cmd {
            ConsoleCommand::Exec { node, command } => {
                node_ns(&rec.lab, &node)?;
                self.exec(rec, &node, &command)?
            }
            ConsoleCommand::Ping { from, to, count } => ping(&rec.lab, &from, &to, count)?,
            ConsoleCommand::Pingall => super::pingall_cmd(lab, 2, 1000, false)?,
            ConsoleCommand::Trace {
                from,
                to,
                ipv6,
                probe,
                capture,
                minimal,
                detailed,
                size,
            } => {
                node_ns(&rec.lab, &from)?;
                let to = qualified_target(&rec.lab, &to)?;
                super::diagnostics::trace(
                    &format!("{lab}.{from}"),
                    &to,
                    super::diagnostics::TraceHow {
                        ipv6,
                        probe: probe || capture,
                        capture,
                        minimal,
                        detailed,
                        size,
                        flow: crate::trace::Flow::Icmp,
                        json: false,
                    },
                )?
            }
            ConsoleCommand::Link { node, dev, state } => {
                let ns = node_ns(&rec.lab, &node)?;
                let devs = completion::devices(&ns);
                if !devs.is_empty() && !devs.contains(&dev) {
                    let hint = close_match(&dev, devs.iter().map(|s| s.as_str()))
                        .unwrap_or_else(|| format!("it has: {}", devs.join(", ")));
                    return Err(BadInput(format!("{node} has no interface {dev:?}; {hint}")).into());
                }
                super::change::link(&format!("{lab}.{node}"), &dev, &state)?
            }
            ConsoleCommand::Connect {
                network,
                container,
                ip,
            } => {
                network_of(&rec.lab, &network)?;
                container_of(&rec.lab, &container)?;
                super::change::connect(
                    &format!("{lab}/{network}"),
                    &format!("{lab}.{container}"),
                    ip,
                    &[],
                    false,
                )?
            }
            ConsoleCommand::Disconnect { network, container } => {
                network_of(&rec.lab, &network)?;
                container_of(&rec.lab, &container)?;
                super::change::disconnect(
                    &format!("{lab}/{network}"),
                    &format!("{lab}.{container}"),
                    false,
                )?
            }
            ConsoleCommand::Status => super::status(Some(lab), false)?,
            ConsoleCommand::Help => println!("{HELP}"),
            ConsoleCommand::Exit => return Err(Leave.into()),
        }
        Ok(())
    }

    /// `NODE CMD...`: `netlab exec LAB.NODE CMD...`, its exit status a failure when not 0.
    fn exec(&self, rec: &Record, node: &str, command: &[String]) -> Result<()> {
        let stdin = if self.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let ns = node_ns(&rec.lab, node)?;
        super::diagnostics::exec_with(&ns, command, stdin)
    }
}

/// `exit`, as an error so that it leaves from wherever it is raised.
#[derive(Debug)]
struct Leave;

impl std::fmt::Display for Leave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("leaving the console")
    }
}

impl std::error::Error for Leave {}

fn node_names(lab: &Lab) -> Vec<String> {
    lab.containers
        .iter()
        .map(|c| c.name.clone())
        .chain(lab.hosts.iter().map(|h| h.name.clone()))
        .collect()
}

/// `; did you mean "x"?`, else the list of what there is (when it is short).
fn hint(wanted: &str, known: &[String]) -> String {
    match close_match(wanted, known.iter().map(|s| s.as_str())) {
        Some(h) => format!("; {h}"),
        None if known.is_empty() => String::new(),
        None if known.len() <= 16 => format!("; it has: {}", known.join(", ")),
        None => String::new(),
    }
}

/// The namespace of container or host `node` of the lab, or why there is none.
fn node_ns(lab: &Lab, node: &str) -> Result<String> {
    lab.node_ns(node).ok_or_else(|| {
        BadInput(format!(
            "lab {} has no container or host {node:?}{}",
            lab.name,
            hint(node, &node_names(lab))
        ))
        .into()
    })
}

fn network_of(lab: &Lab, net: &str) -> Result<()> {
    if lab.networks.iter().any(|n| n.name == net) {
        return Ok(());
    }
    let known: Vec<String> = lab.networks.iter().map(|n| n.name.clone()).collect();
    Err(BadInput(format!(
        "lab {} has no network {net:?}{}",
        lab.name,
        hint(net, &known)
    ))
    .into())
}

fn container_of(lab: &Lab, container: &str) -> Result<()> {
    if lab.containers.iter().any(|c| c.name == container) {
        return Ok(());
    }
    let known: Vec<String> = lab.containers.iter().map(|c| c.name.clone()).collect();
    Err(BadInput(format!(
        "lab {} has no container {container:?}{}",
        lab.name,
        hint(container, &known)
    ))
    .into())
}

/// A trace or ping destination: an IP address as given, a node of this lab as `LAB.NODE`.
fn qualified_target(lab: &Lab, to: &str) -> Result<String> {
    if to.parse::<std::net::IpAddr>().is_ok() {
        return Ok(to.to_string());
    }
    node_ns(lab, to).map_err(|e| BadInput(format!("{to:?} is not an IP address, and {e}")).into())
}

/// `ping FROM TO`: one lab check, made up on the spot (the address as checks and scenario
/// pings resolve it) and run by the check probe.
fn ping(lab: &Lab, from: &str, to: &str, count: u32) -> Result<()> {
    node_ns(lab, from)?;
    qualified_target(lab, to)?;
    let address = crate::scenario::target(lab, from, to)
        .ok_or_else(|| BadInput(format!("{to} has no address in lab {}", lab.name)))?;
    let c = Check {
        from: from.to_string(),
        to: to.to_string(),
        address,
        expect: Expect::Reachable,
        count,
        ttl: None,
    };
    let o = crate::check::ping(lab, &c);
    let dst = if o.to == o.address {
        o.to.clone()
    } else {
        format!("{} ({})", o.to, o.address)
    };
    if o.received > 0 {
        let mut extra = Vec::new();
        if let Some(t) = o.ttl {
            extra.push(format!("ttl {t}"));
        }
        if let Some(r) = o.rtt_ms {
            extra.push(format!("rtt {r:.3} ms"));
        }
        println!(
            "{from} -> {dst}: {} ({}/{}{}{})",
            "reachable".green(),
            o.received,
            o.sent,
            if extra.is_empty() { "" } else { ", " },
            extra.join(", ")
        );
        Ok(())
    } else {
        println!(
            "{from} -> {dst}: {} ({}/{}){}",
            "unreachable".red().bold(),
            o.received,
            o.sent,
            o.detail.map(|d| format!(": {d}")).unwrap_or_default()
        );
        Err(ChecksFailed.into())
    }
}

/// Words of a console line, split as a shell splits plain words, and nothing more: blanks
/// separate words, '...' keeps everything as it is, "..." everything but \" and \\, and a
/// backslash takes the next character as it is. No variables, globs or pipes: no shell runs.
fn split_words(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("a backslash at the end of the line quotes nothing".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `$XDG_STATE_HOME/netlab/history`, else `~/.local/state/netlab/history`.
fn history_path() -> Option<PathBuf> {
    history_path_in(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// As the XDG base directory spec says: a relative `$XDG_STATE_HOME` is ignored.
fn history_path_in(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = xdg_state_home
        .and_then(absolute)
        .or_else(|| home.and_then(absolute).map(|h| h.join(".local/state")))?;
    Some(base.join("netlab").join("history"))
}

extern "C" fn on_sigint(_: libc::c_int) {}

/// Ctrl-C while a node command runs stops that command, not the console: the terminal sends
/// SIGINT to both, and the console's handler does nothing. (A handler, not SIG_IGN: an ignored
/// signal stays ignored across exec, a handled one goes back to its default in the child.)
fn survive_ctrl_c() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let a = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe {
        let _ = sigaction(Signal::SIGINT, &a);
    }
}

/// Completion for the line editor: the words of the console, of the lab and of its nodes.
struct ConsoleHelper {
    lab: String,
}

impl Helper for ConsoleHelper {}
impl Highlighter for ConsoleHelper {}
impl Validator for ConsoleHelper {}
impl Hinter for ConsoleHelper {
    type Hint = String;
}

impl ConsoleHelper {
    /// What may come after `words` (the complete words before the cursor, options left out).
    fn candidates(&self, words: &[&str]) -> Vec<String> {
        let Ok(Some(rec)) = state::read_record(&self.lab) else {
            return Vec::new();
        };
        let lab = &rec.lab;
        let nodes = || node_names(lab);
        let devices = |node: &str| {
            lab.node_ns(node)
                .map(|ns| completion::devices(&ns))
                .unwrap_or_default()
        };
        let networks = || lab.networks.iter().map(|n| n.name.clone()).collect();
        let containers = |net: &str, on: bool| {
            let ni = lab.networks.iter().position(|n| n.name == net);
            lab.containers
                .iter()
                .filter(|c| ni.is_none_or(|ni| c.endpoints.iter().any(|e| e.network == ni) == on))
                .map(|c| c.name.clone())
                .collect()
        };
        match words {
            [] => {
                let mut v = command_words();
                v.extend(nodes());
                v
            }
            ["help"] => command_words(),
            ["exec"] | ["ping"] | ["ping", _] | ["trace"] | ["trace", _] | ["link"] => nodes(),
            ["link", node] => devices(node),
            ["link", _, _] => vec!["up".into(), "down".into()],
            ["connect"] | ["disconnect"] => networks(),
            ["connect", net] => containers(net, false),
            ["disconnect", net] => containers(net, true),
            // `NODE ip link show dev <TAB>`: the node's devices.
            [node, .., "dev"] | ["exec", node, .., "dev"] if lab.node_ns(node).is_some() => {
                devices(node)
            }
            _ => Vec::new(),
        }
    }
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(char::is_whitespace)
            .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
            .unwrap_or(0);
        let prefix = &before[start..];
        let words: Vec<&str> = before[..start]
            .split_whitespace()
            .filter(|w| !w.starts_with('-'))
            .collect();
        let mut names: Vec<String> = self
            .candidates(&words)
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names.dedup();
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    replacement: format!("{n} "),
                    display: n,
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_plain_shell_words() {
        assert_eq!(
            split_words(r#"c1 sh -c 'ip -br link' "a \"b\"" x\ y"#).unwrap(),
            ["c1", "sh", "-c", "ip -br link", "a \"b\"", "x y"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("a ''").unwrap(), ["a", ""]);
        assert!(split_words("echo 'open").is_err());
        assert!(split_words("echo \\").is_err());
    }

    #[test]
    fn every_console_command_parses_and_help_lists_it() {
        for w in command_words() {
            assert!(
                HELP.contains(&w),
                "help does not mention the console command {w}"
            );
        }
        let l = Line::try_parse_from(["link", "web", "eth0", "down"]).unwrap();
        assert!(matches!(l.command, ConsoleCommand::Link { ref state, .. } if state == "down"));
        assert!(Line::try_parse_from(["link", "web", "eth0", "sideways"]).is_err());
        let l = Line::try_parse_from(["quit"]).unwrap();
        assert!(matches!(l.command, ConsoleCommand::Exit));
        let l = Line::try_parse_from(["exec", "ping", "ip", "-br", "a"]).unwrap();
        assert!(
            matches!(l.command, ConsoleCommand::Exec { ref command, .. } if command == &["ip", "-br", "a"])
        );
    }

    #[test]
    fn history_goes_under_the_state_home() {
        let p = |x: Option<&str>, h: Option<&str>| {
            history_path_in(x.map(Into::into), h.map(Into::into))
        };
        assert_eq!(
            p(Some("/s"), Some("/home/u")),
            Some(PathBuf::from("/s/netlab/history"))
        );
        assert_eq!(
            p(Some("rel"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/netlab/history"))
        );
        assert_eq!(
            p(None, Some("/root")),
            Some(PathBuf::from("/root/.local/state/netlab/history"))
        );
        assert_eq!(p(None, None), None);
        assert_eq!(p(Some(""), Some("")), None);
    }
}
