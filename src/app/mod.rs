//! Command handlers: turn a parsed command line into calls on spec / plan / engine / check,
//! render the result, and decide the exit status (0 ok, 1 failure, 2 bad input).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Result};
use colored::Colorize;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::json;

use crate::cli::{Cli, ColorChoice, Command};
use crate::engine::{self, DownReport};
use crate::progress::Progress;
use crate::spec::{self, format_mac, Lab, SpecError};
use crate::{check, plan, state};

mod diagnostics;

/// Bad input: exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Checks ran and at least one differed from what the lab expects: exit status 1, no message.
#[derive(Debug)]
pub(crate) struct ChecksFailed;

impl std::fmt::Display for ChecksFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a check failed")
    }
}

impl std::error::Error for ChecksFailed {}

pub fn run(cli: Cli) -> i32 {
    match cli.color {
        ColorChoice::Always => colored::control::set_override(true),
        ColorChoice::Never => colored::control::set_override(false),
        ColorChoice::Auto => {
            if !std::io::stdout().is_terminal() {
                colored::control::set_override(false);
            }
        }
    }
    match dispatch(cli.command) {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<ChecksFailed>().is_some() => 1,
        Err(e) if e.downcast_ref::<diagnostics::ExitWith>().is_some() => {
            e.downcast_ref::<diagnostics::ExitWith>().unwrap().0
        }
        Err(e) => {
            if let Some(s) = e.downcast_ref::<SpecError>() {
                eprintln!("{} {s}", "error:".red().bold());
                return 2;
            }
            let code = if e.downcast_ref::<BadInput>().is_some() {
                2
            } else {
                1
            };
            eprintln!("{} {}", "error:".red().bold(), e);
            for cause in e.chain().skip(1) {
                eprintln!("  {} {cause}", "caused by:".dimmed());
            }
            code
        }
    }
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Up {
            file,
            name,
            dry_run,
            no_check,
            quiet,
        } => up(&file, name.as_deref(), dry_run, no_check, quiet),
        Command::Down { lab } => down(&lab),
        Command::Status { lab, json } => status(lab.as_deref(), json),
        Command::Check { lab, json } => check_cmd(&lab, json),
        Command::Validate { file, json } => validate(&file, json),
        Command::Netns {
            all,
            json,
            snapshot,
        } => diagnostics::netns(all, json, snapshot),
        Command::Exec { target, command } => diagnostics::exec(&target, &command),
        Command::FindLink {
            ifindex,
            peer_of,
            all,
            json,
        } => diagnostics::find_link(ifindex, peer_of, all, json),
        Command::Inspect { name, json } => diagnostics::inspect(&name, json),
        Command::Vxlan { target, json } => diagnostics::vxlan(&target, json),
        Command::Bridge { target, json } => diagnostics::bridge(&target, json),
        Command::Trace {
            from,
            to,
            probe,
            minimal,
            detailed,
            json,
        } => diagnostics::trace(&from, &to, probe, minimal, detailed, json),
    }
}

pub(crate) fn need_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("netlab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create namespaces; run it with sudo");
    }
    Ok(())
}

/// A lab name given on the command line names a directory under /run/netlab: check it.
fn lab_arg(arg: &str) -> Result<String> {
    if arg.ends_with(".toml") && Path::new(arg).is_file() {
        let lab = spec::load(Path::new(arg), None)?;
        return Ok(lab.name);
    }
    let ok = !arg.is_empty()
        && arg.len() <= 32
        && arg
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(BadInput(format!(
            "{arg:?} is not a lab name (letters, digits, '_' and '-')"
        ))
        .into());
    }
    Ok(arg.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn up(file: &Path, name: Option<&str>, dry_run: bool, no_check: bool, quiet: bool) -> Result<()> {
    let lab = spec::load(file, name)?;
    let plan = plan::plan(&lab);
    if dry_run {
        for n in &plan.namespaces {
            println!("{n}");
        }
        for o in &plan.objects {
            println!("{o}");
        }
        return Ok(());
    }
    need_root()?;
    raise_fd_limit();
    let progress = Progress::new(&format!("up {}", lab.name), quiet);
    let report = runtime()?.block_on(engine::up(&lab, &plan, &progress))?;
    println!(
        "lab {} is up: {} namespaces, {} objects in {:.2}s",
        lab.name.bold(),
        report.namespaces,
        report.objects,
        report.seconds
    );
    if no_check || lab.checks.is_empty() {
        return Ok(());
    }
    run_checks(&lab, false)
}

/// One netlink socket per namespace: a thousand-container lab needs more than 1024 fds. As
/// root, the hard limit itself can go up to fs.nr_open.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(hard);
    let want = nr_open.max(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, want, want).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn run_checks(lab: &Lab, json: bool) -> Result<()> {
    let outcomes = check::run(lab);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "lab": lab.name, "checks": outcomes }))?
        );
    } else {
        println!("{}", check::render_table(&outcomes));
        println!("{}", check::summary(&outcomes));
    }
    if outcomes.iter().all(|o| o.pass) {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

fn down(arg: &str) -> Result<()> {
    let lab = lab_arg(arg)?;
    need_root()?;
    match engine::down(&lab)? {
        DownReport::Removed { namespaces } => println!(
            "lab {} is down: removed {namespaces} namespaces",
            lab.bold()
        ),
        DownReport::NotUp => println!("lab {lab} is not up; nothing to do"),
    }
    Ok(())
}

fn record_of(lab: &str) -> Result<state::Record> {
    match state::read_record(lab)? {
        Some(r) => Ok(r),
        None => {
            let up = state::labs()?;
            let hint = if up.is_empty() {
                "no lab is up".to_string()
            } else {
                format!("labs that are up: {}", up.join(", "))
            };
            Err(BadInput(format!("lab {lab} is not up ({hint})")).into())
        }
    }
}

fn check_cmd(arg: &str, json: bool) -> Result<()> {
    let lab = lab_arg(arg)?;
    let record = record_of(&lab)?;
    need_root()?;
    if !record.complete {
        bail!(
            "lab {lab} is not completely up (an up failed or is running); run `netlab down {lab}`"
        );
    }
    if record.lab.checks.is_empty() {
        println!("lab {lab} has no checks");
        return Ok(());
    }
    run_checks(&record.lab, json)
}

fn status(only: Option<&str>, json: bool) -> Result<()> {
    let names = match only {
        Some(l) => vec![lab_arg(l)?],
        None => state::labs()?,
    };
    let mut records = Vec::new();
    for n in &names {
        match state::read_record(n)? {
            Some(r) => records.push(r),
            None if only.is_some() => return Err(BadInput(format!("lab {n} is not up")).into()),
            None => {}
        }
    }
    if json {
        let labs: Vec<_> = records
            .iter()
            .map(|r| {
                json!({
                    "name": r.lab.name,
                    "state": if r.complete { "up" } else { "incomplete" },
                    "source": r.lab.source,
                    "created": r.created,
                    "namespaces": r.namespaces,
                    "objects": r.objects,
                    "hosts": r.lab.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
                    "containers": r.lab.containers.iter().map(|c| &c.name).collect::<Vec<_>>(),
                    "networks": r.lab.networks.iter().map(|n| json!({"name": n.name, "driver": n.driver_name(), "subnet": n.subnet.to_string()})).collect::<Vec<_>>(),
                    "checks": r.lab.checks.len(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "labs": labs }))?
        );
        return Ok(());
    }
    if records.is_empty() {
        println!("no lab is up");
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "lab",
        "state",
        "hosts",
        "networks",
        "containers",
        "namespaces",
        "objects",
        "up since",
        "source",
    ]);
    for r in &records {
        let nets: Vec<String> = r
            .lab
            .networks
            .iter()
            .map(|n| format!("{} ({}, {})", n.name, n.driver_name(), n.subnet))
            .collect();
        let since = chrono_like(r.created);
        t.add_row(vec![
            r.lab.name.clone(),
            if r.complete {
                "up".green().to_string()
            } else {
                "incomplete: run `netlab down`".red().to_string()
            },
            r.lab
                .hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            nets.join("\n"),
            r.lab.containers.len().to_string(),
            r.namespaces.len().to_string(),
            r.objects.to_string(),
            since,
            r.lab.source.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Seconds ago, human-sized (no date crate needed for this).
fn chrono_like(created: u64) -> String {
    let ago = state::now().saturating_sub(created);
    match ago {
        0..=59 => format!("{ago}s ago"),
        60..=3599 => format!("{}m ago", ago / 60),
        3600..=86399 => format!("{}h ago", ago / 3600),
        _ => format!("{}d ago", ago / 86400),
    }
}

fn validate(file: &Path, json: bool) -> Result<()> {
    let lab = spec::load(file, None)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&lab)?);
        return Ok(());
    }
    println!(
        "lab {} is valid: {} hosts, {} networks, {} containers, {} checks",
        lab.name.bold(),
        lab.hosts.len(),
        lab.networks.len(),
        lab.containers.len(),
        lab.checks.len()
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "container",
        "host",
        "interface",
        "network",
        "address",
        "mac",
        "default via",
    ]);
    for c in &lab.containers {
        for (i, e) in c.endpoints.iter().enumerate() {
            let net = &lab.networks[e.network];
            t.add_row(vec![
                if i == 0 {
                    c.name.clone()
                } else {
                    String::new()
                },
                if i == 0 {
                    lab.hosts[c.host].name.clone()
                } else {
                    String::new()
                },
                e.ifname.clone(),
                format!("{} ({})", net.name, net.driver_name()),
                e.address.to_string(),
                format_mac(&e.mac),
                if i == 0 {
                    c.default_gateway
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "-".into())
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{t}");
    Ok(())
}
