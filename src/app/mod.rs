//! Command handlers: turn a parsed command line into calls on spec / plan / engine / check,
//! render the result, and decide the exit status (0 ok, 1 failure, 2 bad input).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Result};
use colored::Colorize;
use serde_json::json;

use crate::cli::{Cli, ColorChoice, Command};
use crate::engine::{self, DownReport};
use crate::progress::Progress;
use crate::spec::{self, format_mac, Lab, SpecError};
use crate::{check, plan, state};

mod change;
mod console;
mod diagnostics;
mod graph;

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
        Err(e) => report(e),
    }
}

/// Say on stderr what went wrong (nothing for a failed check or a command's own exit status,
/// which speak for themselves), and give the exit status it calls for.
pub(crate) fn report(e: anyhow::Error) -> i32 {
    if e.downcast_ref::<ChecksFailed>().is_some() {
        return 1;
    }
    if let Some(x) = e.downcast_ref::<diagnostics::ExitWith>() {
        return x.0;
    }
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
    if format!("{e:#}").contains("Too many open files")
        || e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.raw_os_error() == Some(libc::EMFILE))
        })
    {
        eprintln!(
            "  {} netlab keeps one file descriptor per namespace; raise the limit (`ulimit -n 65536`) and try again",
            "hint:".cyan().bold()
        );
    }
    code
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Up {
            file,
            name,
            dry_run,
            no_check,
            quiet,
            scenarios,
            json,
        } => up(
            &file,
            name.as_deref(),
            UpOptions {
                dry_run,
                no_check,
                quiet,
                json,
            },
            &scenarios,
        ),
        Command::Down { lab } => down(&lab),
        Command::Status { lab, json } => status(lab.as_deref(), json),
        Command::Check { lab, json, junit } => check_cmd(&lab, json, junit.as_deref()),
        Command::Run {
            lab,
            scenarios,
            json,
            junit,
        } => run_scenarios(&lab, &scenarios, json, junit.as_deref()),
        Command::Connect {
            network,
            container,
            ip,
            aliases,
            dry_run,
        } => change::connect(&network, &container, ip, &aliases, dry_run),
        Command::Disconnect {
            network,
            container,
            dry_run,
        } => change::disconnect(&network, &container, dry_run),
        Command::Link { node, dev, state } => change::link(&node, &dev, &state),
        Command::Apply {
            file,
            name,
            dry_run,
        } => change::apply(&file, name.as_deref(), dry_run),
        Command::Impair {
            node,
            dev,
            delay,
            jitter,
            loss,
            rate,
            clear,
        } => change::impair(
            &node,
            &dev,
            change::Impair {
                delay,
                jitter,
                loss,
                rate,
                clear,
            },
        ),
        Command::Validate { file, json } => validate(&file, json),
        Command::Schema => {
            print!("{}", spec::schema::json());
            Ok(())
        }
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
        Command::Inspect {
            name,
            json,
            host,
            netlab,
        } => diagnostics::inspect(&name, json, host.as_deref(), netlab),
        Command::Vxlan { target, json } => diagnostics::vxlan(&target, json),
        Command::Bridge { target, json } => diagnostics::bridge(&target, json),
        Command::Firewall { target, json } => diagnostics::firewall(&target, json),
        Command::Trace {
            from,
            to,
            ipv6,
            probe,
            capture,
            minimal,
            detailed,
            size,
            proto,
            port,
            json,
        } => {
            use crate::cli::TraceProto;
            let flow = match (proto, port) {
                (TraceProto::Icmp, None) => crate::trace::Flow::Icmp,
                (TraceProto::Udp, Some(p)) => crate::trace::Flow::Udp(p),
                (TraceProto::Tcp, Some(p)) => crate::trace::Flow::Tcp(p),
                (TraceProto::Icmp, Some(_)) => {
                    return Err(BadInput("--port needs --proto udp or --proto tcp".into()).into())
                }
                _ => return Err(BadInput("--proto udp|tcp needs --port N".into()).into()),
            };
            if flow != crate::trace::Flow::Icmp && size.is_some() {
                return Err(BadInput(format!(
                    "--size sizes an ICMP echo request (ping -M do -s N); --proto {} sends a TCP SYN or a UDP datagram",
                    if matches!(flow, crate::trace::Flow::Udp(_)) { "udp" } else { "tcp" }
                ))
                .into());
            }
            diagnostics::trace(
                &from,
                &to,
                diagnostics::TraceHow {
                    ipv6,
                    probe: probe || capture,
                    capture,
                    minimal,
                    detailed,
                    size,
                    flow,
                    json,
                },
            )
        }
        Command::Pingall {
            lab,
            count,
            timeout_ms,
            json,
        } => pingall_cmd(&lab, count, timeout_ms, json),
        Command::Graph {
            lab,
            format,
            json,
            output,
            name,
        } => graph::graph(&lab, name.as_deref(), format, json, output.as_deref()),
        Command::Console { lab } => console::console(&lab),
    }
}

/// Refuse early, saying what the command needs root for.
pub(crate) fn need_root_for(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("netlab needs root to {what}; run it with sudo");
    }
    Ok(())
}

pub(crate) fn need_root() -> Result<()> {
    need_root_for("create and remove namespaces (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
}

/// A lab name given on the command line names a directory under /run/netlab: check it.
fn lab_arg(arg: &str) -> Result<String> {
    if arg.ends_with(".toml") && Path::new(arg).is_file() {
        // The labs that are up from this very file, under any name (`up --name`): the record
        // keeps the file's canonical path.
        let path = std::fs::canonicalize(arg).ok();
        let from_file: Vec<String> = state::labs()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| {
                state::read_record(l).ok().flatten().is_some_and(|r| {
                    path.as_deref()
                        .is_some_and(|p| Path::new(&r.lab.source) == p)
                })
            })
            .collect();
        return match from_file.as_slice() {
            [one] => Ok(one.clone()),
            [] => Ok(spec::load(Path::new(arg), None)?.name),
            many => Err(BadInput(format!(
                "several labs are up from {arg}: {}; name one",
                many.join(", ")
            ))
            .into()),
        };
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

struct UpOptions {
    dry_run: bool,
    no_check: bool,
    quiet: bool,
    /// One JSON object on stdout instead of the text (and the scenarios' step lines).
    json: bool,
}

fn up(file: &Path, name: Option<&str>, opts: UpOptions, scenarios: &[String]) -> Result<()> {
    let UpOptions {
        dry_run,
        no_check,
        quiet,
        json,
    } = opts;
    let lab = spec::load(file, name)?;
    if let Some(bad) = scenarios
        .iter()
        .find(|s| !lab.scenarios.iter().any(|x| &x.name == *s))
    {
        let known: Vec<&str> = lab.scenarios.iter().map(|s| s.name.as_str()).collect();
        return Err(BadInput(format!(
            "{} has no scenario {bad:?} (it has: {})",
            file.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into());
    }
    let plan = plan::plan(&lab);
    if dry_run {
        for n in &plan.namespaces {
            println!("{n}");
        }
        for o in &plan.objects {
            println!("{o}");
        }
        for f in plan::names::files(&lab) {
            for line in f.script() {
                println!("{line}");
            }
        }
        return Ok(());
    }
    need_root()?;
    raise_fd_limit();
    let progress = Progress::new(&format!("up {}", lab.name), quiet);
    let report = runtime()?.block_on(engine::up(&lab, &plan, &progress))?;
    if json {
        return up_json(&lab, &plan, &report, no_check, scenarios);
    }
    println!(
        "lab {} is up: {} namespaces, {} objects in {:.2}s",
        lab.name.bold(),
        report.namespaces,
        report.objects,
        report.seconds
    );
    let checked = if no_check || lab.checks.is_empty() {
        Ok(())
    } else {
        run_checks(&lab, false)
    };
    if scenarios.is_empty() {
        return checked;
    }
    let ran = run_scenarios(&lab.name, scenarios, false, None);
    checked.and(ran)
}

/// `up --json`: what was built, the checks' results (`null` with --no-check) and, with
/// --scenario, the scenarios' outcomes, as one object; exit 1 as without --json.
fn up_json(
    lab: &Lab,
    plan: &plan::Plan,
    report: &engine::UpReport,
    no_check: bool,
    scenarios: &[String],
) -> Result<()> {
    let checks = (!no_check).then(|| check::run(lab));
    let mut out = json!({
        "lab": lab.name,
        "namespaces": plan.namespaces,
        "objects": report.objects,
        "seconds": report.seconds,
        "checks": checks,
    });
    let mut pass = checks.iter().flatten().all(|o| o.pass);
    if !scenarios.is_empty() {
        let (_, record) = complete_lab(
            &lab.name,
            "change and probe the lab's namespaces (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW)",
        )?;
        let outcomes = play_scenarios(&lab.name, &record, scenarios, true)?;
        pass &= outcomes.iter().all(|o| o.pass);
        out["scenarios"] = json!(outcomes);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if pass {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

/// `netlab run`: each scenario's steps as they happen, then a summary; JSON and JUnit on demand.
fn run_scenarios(arg: &str, names: &[String], json: bool, junit: Option<&Path>) -> Result<()> {
    let (lab, record) = complete_lab(
        arg,
        "change and probe the lab's namespaces (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW)",
    )?;
    if record.lab.scenarios.is_empty() && names.is_empty() {
        println!("lab {lab} has no scenarios");
        return Ok(());
    }
    let outcomes = play_scenarios(&lab, &record, names, json)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "lab": lab, "scenarios": outcomes }))?
        );
    }
    if let Some(path) = junit {
        write_junit(path, &crate::scenario::junit(&outcomes))?;
    }
    if outcomes.iter().all(|o| o.pass) {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

/// Run the scenarios of `record` named in `names` (all when empty) on lab `lab`, each step
/// printed as it happens and each scenario summed up, unless `quiet`.
fn play_scenarios(
    lab: &str,
    record: &state::Record,
    names: &[String],
    quiet: bool,
) -> Result<Vec<crate::scenario::ScenarioOutcome>> {
    let chosen = crate::scenario::select(record, names).map_err(BadInput)?;
    let rt = runtime()?;
    let mut outcomes = Vec::new();
    for sc in chosen {
        if !quiet {
            println!(
                "{} {}{}",
                "scenario".bold(),
                sc.name.bold(),
                sc.description
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
        }
        let mut show = |s: &crate::scenario::StepOutcome| {
            if quiet {
                return;
            }
            let mark = if s.pass {
                "ok  ".green().to_string()
            } else {
                "FAIL".red().bold().to_string()
            };
            println!(
                "  {mark} {:>2} {:<40} {:>6.2}s  {}",
                s.index, s.name, s.seconds, s.detail
            );
            if let Some(t) = &s.trace {
                println!("              {t}");
            }
        };
        let o = crate::scenario::run(&rt, lab, sc, &mut show)?;
        if !quiet {
            let passed = o.steps.iter().filter(|s| s.pass).count();
            let failed = o.steps.len() - passed;
            let mut line = format!(
                "  {}: {}, {} passed, {} failed",
                if o.pass {
                    "passed".green().to_string()
                } else {
                    "FAILED".red().bold().to_string()
                },
                crate::table::count(o.steps.len() + o.skipped, "step", "steps"),
                passed,
                failed
            );
            if o.skipped > 0 {
                line.push_str(&format!(", {} not run", o.skipped));
            }
            println!("{line}");
            if let Some(e) = &o.restore_error {
                println!(
                    "  {} could not put the lab back: {e}",
                    "warning:".yellow().bold()
                );
            }
        }
        outcomes.push(o);
    }
    Ok(outcomes)
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
    run_checks_to(lab, json, None)
}

/// The lab's checks, as a table or JSON, and as JUnit XML to `junit` if given.
fn run_checks_to(lab: &Lab, json: bool, junit: Option<&Path>) -> Result<()> {
    let outcomes = check::run(lab);
    if let Some(path) = junit {
        write_junit(path, &check::junit(&lab.name, &outcomes))?;
    }
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
        DownReport::Removed {
            namespaces,
            left_alone,
            notes,
        } => {
            println!(
                "lab {} is down: removed {namespaces} namespace{}",
                lab.bold(),
                if namespaces == 1 { "" } else { "s" }
            );
            for a in &left_alone {
                eprintln!("{} left alone (not netlab's): {a}", "note:".yellow().bold());
            }
            for n in &notes {
                eprintln!("{} {n}", "note:".yellow().bold());
            }
        }
        DownReport::NotUp => {
            let up = state::labs().unwrap_or_default();
            let hint = match spec::close_match(&lab, up.iter().map(|s| s.as_str())) {
                Some(m) => format!(" ({m})"),
                None if up.is_empty() => " (no lab is up)".to_string(),
                None => format!(" (labs that are up: {})", up.join(", ")),
            };
            println!("lab {lab} is not up; nothing to do{hint}");
        }
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

/// The lab `arg` names and its record, for a command that works on a lab that is completely
/// up and needs root to `what`.
fn complete_lab(arg: &str, what: &str) -> Result<(String, state::Record)> {
    let lab = lab_arg(arg)?;
    let record = record_of(&lab)?;
    need_root_for(what)?;
    if !record.complete {
        bail!(
            "lab {lab} is not completely up (an up failed or is running); run `netlab down {lab}`"
        );
    }
    Ok((lab, record))
}

fn check_cmd(arg: &str, json: bool, junit: Option<&Path>) -> Result<()> {
    let (lab, record) = complete_lab(
        arg,
        "enter the lab's namespaces (CAP_SYS_ADMIN) and send ICMP from them (CAP_NET_RAW)",
    )?;
    if record.lab.checks.is_empty() {
        // CI reads the report whatever it holds: an empty suite rather than no file.
        if let Some(path) = junit {
            write_junit(path, &check::junit(&lab, &[]))?;
        }
        println!("lab {lab} has no checks");
        return Ok(());
    }
    warn_if_degraded(&lab, "checks that involve those namespaces cannot pass");
    run_checks_to(&record.lab, json, junit)
}

fn write_junit(path: &Path, xml: &str) -> Result<()> {
    std::fs::write(path, xml).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// What `status` says of one lab: its record (if readable) and its state against the kernel.
struct LabStatus {
    name: String,
    record: Option<state::Record>,
    state: String,
    problem: Option<String>,
}

/// Say up front why probes may fail: the lab is no longer what netlab built.
fn warn_if_degraded(lab: &str, consequence: &str) {
    if let Some(LabStatus {
        problem: Some(p), ..
    }) = lab_status(lab).filter(|s| s.state == "degraded")
    {
        eprintln!(
            "{} lab {lab} is degraded ({p}); {consequence}",
            "warning:".yellow().bold()
        );
    }
}

/// Compare a lab's record with live state: every namespace it owns must still be the one it
/// created (same identity) at its name.
fn lab_status(name: &str) -> Option<LabStatus> {
    let record = match state::read_record(name) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => {
            return Some(LabStatus {
                name: name.to_string(),
                record: None,
                state: "damaged".into(),
                problem: Some(format!("{e:#}")),
            })
        }
    };
    if !record.complete {
        return Some(LabStatus {
            name: name.to_string(),
            record: Some(record),
            state: "incomplete".into(),
            problem: Some(format!(
                "an up failed or is running; run `netlab down {name}`"
            )),
        });
    }
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for o in &record.owned {
        match crate::kernel::netns::probe(&o.name) {
            Ok(crate::kernel::netns::Found::Namespace(id)) if Some(id) == o.ns => {}
            Ok(crate::kernel::netns::Found::Missing) => missing.push(o.name.clone()),
            _ => changed.push(o.name.clone()),
        }
    }
    let (state, problem) = if missing.is_empty() && changed.is_empty() {
        ("up".to_string(), None)
    } else {
        let mut p = Vec::new();
        if !missing.is_empty() {
            p.push(format!("missing: {}", missing.join(", ")));
        }
        if !changed.is_empty() {
            p.push(format!(
                "not the namespace netlab created: {}",
                changed.join(", ")
            ));
        }
        ("degraded".to_string(), Some(p.join("; ")))
    };
    Some(LabStatus {
        name: name.to_string(),
        record: Some(record),
        state,
        problem,
    })
}

fn status(only: Option<&str>, json: bool) -> Result<()> {
    let names = match only {
        Some(l) => vec![lab_arg(l)?],
        None => state::labs()?,
    };
    let mut labs = Vec::new();
    for n in &names {
        match lab_status(n) {
            Some(s) => labs.push(s),
            None if only.is_some() => return Err(BadInput(format!("lab {n} is not up")).into()),
            None => {}
        }
    }
    if json {
        let out: Vec<_> = labs
            .iter()
            .map(|s| match &s.record {
                None => json!({"name": s.name, "state": s.state, "problem": s.problem}),
                Some(r) => json!({
                    "name": r.lab.name,
                    "state": s.state,
                    "problem": s.problem,
                    "source": r.lab.source,
                    "created": r.created,
                    "namespaces": r.namespaces,
                    "objects": r.objects,
                    "hosts": r.lab.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
                    "containers": r.lab.containers.iter().map(|c| &c.name).collect::<Vec<_>>(),
                    "networks": r.lab.networks.iter().map(|n| json!({"name": n.name, "driver": n.driver_name(), "subnet": n.subnet.to_string()})).collect::<Vec<_>>(),
                    "checks": r.lab.checks.len(),
                }),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "labs": out }))?);
        return Ok(());
    }
    if labs.is_empty() {
        println!("no lab is up");
        return Ok(());
    }
    let mut t = crate::table::new(&[
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
    let mut problems = Vec::new();
    for s in &labs {
        let color = match s.state.as_str() {
            "up" => comfy_table::Color::Green,
            "degraded" => comfy_table::Color::Yellow,
            _ => comfy_table::Color::Red,
        };
        let state_cell = comfy_table::Cell::new(&s.state).fg(color);
        if let Some(p) = &s.problem {
            problems.push(format!("{}: {} ({p})", s.name, s.state));
        }
        let Some(r) = &s.record else {
            t.add_row(vec![comfy_table::Cell::new(&s.name), state_cell]);
            continue;
        };
        let nets: Vec<String> = r
            .lab
            .networks
            .iter()
            .map(|n| match &n.ipv6 {
                Some(v6) => format!(
                    "{} ({}, {}, {})",
                    n.name,
                    n.driver_name(),
                    n.subnets_text(),
                    v6.subnet
                ),
                None => format!("{} ({}, {})", n.name, n.driver_name(), n.subnets_text()),
            })
            .collect();
        t.add_row(vec![
            comfy_table::Cell::new(&r.lab.name),
            state_cell,
            comfy_table::Cell::new(
                r.lab
                    .hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            comfy_table::Cell::new(nets.join("\n")),
            comfy_table::Cell::new(r.lab.user_containers()),
            comfy_table::Cell::new(r.namespaces.len()),
            comfy_table::Cell::new(r.objects),
            comfy_table::Cell::new(chrono_like(r.created)),
            comfy_table::Cell::new(&r.lab.source),
        ]);
    }
    println!("{t}");
    for p in problems {
        println!("{p}");
    }
    if only.is_some() && labs.iter().any(|s| s.state == "damaged") {
        return Err(ChecksFailed.into());
    }
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
    use crate::table::count;
    println!(
        "lab {} is valid: {}, {}, {}, {}",
        lab.name.bold(),
        count(lab.hosts.len(), "host", "hosts"),
        count(lab.networks.len(), "network", "networks"),
        count(lab.user_containers(), "container", "containers"),
        count(lab.checks.len(), "check", "checks")
    );
    let mut t = crate::table::new(&[
        "container",
        "host",
        "interface",
        "network",
        "address",
        "mac",
        "default via",
    ]);
    for (ci, c) in lab.containers.iter().enumerate() {
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
                match e.address6 {
                    Some(a6) => format!("{}\n{a6}", e.address),
                    None => e.address.to_string(),
                },
                // An ipvlan has its parent's MAC, which the plan does not know.
                if matches!(net.driver, crate::spec::Driver::Ipvlan { .. }) {
                    "(parent's)".to_string()
                } else {
                    format_mac(&e.mac)
                },
                if i == 0 {
                    let v4 = match lab.default_route(ci) {
                        Some((Some(g), _)) => g.to_string(),
                        Some((None, dev)) => format!("dev {dev}"),
                        None => "-".into(),
                    };
                    match lab.default_route6(ci) {
                        Some((Some(g), _)) => format!("{v4}\n{g}"),
                        Some((None, dev)) => format!("{v4}\ndev {dev}"),
                        None => v4,
                    }
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{t}");
    Ok(())
}

/// `pingall`: every container of a lab that is up pings every other one; exit 1 if a pair the
/// lab checks differs from what it expects.
fn pingall_cmd(arg: &str, count: u32, timeout_ms: u64, json: bool) -> Result<()> {
    let (lab, record) = complete_lab(
        arg,
        "enter the lab's namespaces (CAP_SYS_ADMIN) and send ICMP from them (CAP_NET_RAW)",
    )?;
    if record.lab.containers.len() < 2 && !json {
        println!("lab {lab} has fewer than two containers: no pair to ping");
        return Ok(());
    }
    warn_if_degraded(&lab, "pairs that involve those namespaces cannot answer");
    // One raw socket per source namespace, all open at once.
    raise_fd_limit();
    let m = crate::pingall::run(
        &record.lab,
        crate::pingall::Options {
            count,
            timeout: std::time::Duration::from_millis(timeout_ms),
        },
    )?;
    let mut failed: Vec<(&str, &str)> = m
        .pairs
        .iter()
        .filter(|p| p.probe_failed)
        .map(|p| (p.from.as_str(), p.detail.as_deref().unwrap_or_default()))
        .collect();
    failed.dedup_by_key(|f| f.0);
    for (from, why) in failed {
        eprintln!("{} from {from}: {why}", "warning:".yellow().bold());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!("{}", crate::pingall::render(&m));
        println!("{}", crate::pingall::summary(&m));
    }
    for w in &m.summary.warnings {
        eprintln!("{} {w}", "warning:".yellow().bold());
    }
    if m.summary.checks_differ > 0 {
        return Err(ChecksFailed.into());
    }
    Ok(())
}
