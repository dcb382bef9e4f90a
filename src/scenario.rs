//! Running scenarios on a lab that is up: each step is an action (a probe, or a change of the
//! lab's model) and an expectation, retried until it holds or its time is up. The runner never
//! touches the kernel itself: changes go through the engine (plan delta, journal, rollback),
//! probes through the ICMP and exec probes, and a failing ping is explained by `trace`. Unless
//! a scenario says `keep = true`, the lab is put back as the scenario found it: impairments and
//! link states undone, and the model the scenario started from applied again (which undoes
//! `connect`, `disconnect` and `apply` alike).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use crate::engine;
use crate::kernel::{exec, icmp, netns};
use crate::spec::scenario::{Action, Scenario, Step};
use crate::spec::{Expect, Lab};
use crate::state::{self, Record};

#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub index: usize,
    pub name: String,
    pub line: usize,
    /// The step did what it was expected to (including failing, with `expect_fail`).
    pub pass: bool,
    /// What happened, in words.
    pub detail: String,
    pub seconds: f64,
    /// For a ping that did not do what was expected: where `trace` says the packet stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioOutcome {
    pub lab: String,
    pub name: String,
    pub description: Option<String>,
    pub steps: Vec<StepOutcome>,
    /// Steps not run because an earlier one failed (stop_on_error).
    pub skipped: usize,
    pub pass: bool,
    /// Putting the lab back afterwards failed (the lab is then left as the scenario left it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
}

/// The scenarios of `record` named in `names` (all of them when empty), in file order.
pub fn select<'a>(record: &'a Record, names: &[String]) -> Result<Vec<&'a Scenario>, String> {
    let all = &record.lab.scenarios;
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|s| &s.name == n).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                let hint = crate::spec::close_match(n, known.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_else(|| {
                        if known.is_empty() {
                            "; it has none".into()
                        } else {
                            format!("; it has: {}", known.join(", "))
                        }
                    });
                format!("lab {} has no scenario {n:?}{hint}", record.lab.name)
            })
        })
        .collect()
}

/// Run one scenario on lab `lab` (up). `on_step` sees each outcome as it happens.
pub fn run(
    rt: &tokio::runtime::Runtime,
    lab: &str,
    sc: &Scenario,
    on_step: &mut dyn FnMut(&StepOutcome),
) -> Result<ScenarioOutcome> {
    let initial = current(lab)?;
    let mut links: Vec<(String, String, bool)> = Vec::new();
    let mut impaired: Vec<(String, String)> = Vec::new();
    let mut steps = Vec::new();
    let mut failed = false;
    for (i, st) in sc.steps.iter().enumerate() {
        let o = run_step(rt, lab, i + 1, st, &mut links, &mut impaired);
        on_step(&o);
        let stop = !o.pass && st.stop_on_error;
        failed |= !o.pass;
        steps.push(o);
        if stop {
            break;
        }
    }
    let skipped = sc.steps.len() - steps.len();
    let restore_error = if sc.keep {
        None
    } else {
        restore(rt, lab, &initial, &links, &impaired)
            .err()
            .map(|e| format!("{e:#}"))
    };
    Ok(ScenarioOutcome {
        lab: lab.to_string(),
        name: sc.name.clone(),
        description: sc.description.clone(),
        pass: !failed && restore_error.is_none(),
        steps,
        skipped,
        restore_error,
    })
}

fn current(lab: &str) -> Result<Record> {
    match state::read_record(lab)? {
        Some(r) if r.complete => Ok(r),
        _ => bail!("lab {lab} is not up"),
    }
}

/// Undo what the scenario changed: impairments cleared, links back to their state, the model
/// back to the start.
fn restore(
    rt: &tokio::runtime::Runtime,
    lab: &str,
    initial: &Record,
    links: &[(String, String, bool)],
    impaired: &[(String, String)],
) -> Result<()> {
    let now = current(lab)?;
    for (ns, dev) in impaired {
        let _ = rt.block_on(engine::impair(&now, ns, dev, None));
    }
    for (ns, dev, was_up) in links.iter().rev() {
        // A link of an endpoint the scenario added is gone with it below.
        let _ = rt.block_on(engine::set_link(&now, ns, dev, *was_up));
    }
    if now.lab != initial.lab {
        rt.block_on(engine::change(lab, initial.lab.clone(), false))?;
    }
    Ok(())
}

/// Try `st` until it does what is expected or its retry time is up.
fn run_step(
    rt: &tokio::runtime::Runtime,
    lab: &str,
    index: usize,
    st: &Step,
    links: &mut Vec<(String, String, bool)>,
    impaired: &mut Vec<(String, String)>,
) -> StepOutcome {
    let start = Instant::now();
    let deadline = st.retry.map(Duration::from_secs_f64).unwrap_or_default();
    loop {
        let (ok, detail) = match attempt(rt, lab, st, links, impaired) {
            Ok(d) => (true, d),
            Err(e) => (false, format!("{e:#}")),
        };
        let pass = ok != st.expect_fail;
        if pass || start.elapsed() >= deadline {
            let detail = match (pass, st.expect_fail, ok) {
                (true, true, _) => format!("failed as expected: {detail}"),
                (false, true, _) => format!("succeeded, but was expected to fail: {detail}"),
                _ => detail,
            };
            let trace = (!pass)
                .then(|| match &st.action {
                    Action::Ping { from, to, .. } => explain(lab, from, to),
                    _ => None,
                })
                .flatten();
            return StepOutcome {
                index,
                name: st.name.clone(),
                line: st.line,
                pass,
                detail,
                seconds: start.elapsed().as_secs_f64(),
                trace,
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The address a ping to `to` from `from` goes to, in the lab's current model: an address as
/// given, a host's underlay address, a container's address on a network they share (else
/// its first: a ping that cannot work, which is what the step may expect), or what the source
/// container resolves an alias to (Docker's embedded DNS: the lab's hosts files; None when it
/// does not resolve it). Also the console's `ping`.
pub(crate) fn target(lab: &Lab, from: &str, to: &str) -> Option<IpAddr> {
    if let Ok(ip) = to.parse() {
        return Some(ip);
    }
    target4(lab, from, to).map(IpAddr::V4)
}

/// [`target`] for a name: an IPv4 address (names resolve to IPv4, as Docker's DNS answers an
/// A query first).
fn target4(lab: &Lab, from: &str, to: &str) -> Option<Ipv4Addr> {
    if let Some(h) = lab.hosts.iter().find(|h| h.name == to) {
        return Some(h.address.ip());
    }
    if let Some(o) = lab.outside.as_ref().filter(|o| o.name == to) {
        return Some(o.address.ip());
    }
    let fi = lab.containers.iter().position(|c| c.name == from);
    let Some(ti) = lab.containers.iter().position(|c| c.name == to) else {
        return crate::plan::names::resolve(lab, fi?, to);
    };
    match fi {
        Some(fi) => lab.container_address(fi, ti),
        // From a host: the container's first address.
        None => lab.containers[ti].endpoints.first().map(|e| e.address.ip()),
    }
}

/// Do the step once. Ok(detail) when it did what the step says (before `expect_fail`).
fn attempt(
    rt: &tokio::runtime::Runtime,
    lab: &str,
    st: &Step,
    links: &mut Vec<(String, String, bool)>,
    impaired: &mut Vec<(String, String)>,
) -> Result<String> {
    let rec = current(lab)?;
    match &st.action {
        Action::Ping {
            from,
            to,
            expect,
            ttl,
            count,
        } => {
            let ns = rec
                .lab
                .node_ns(from)
                .ok_or_else(|| anyhow!("{from} is not a node of lab {lab}"))?;
            let Some(dst) = target(&rec.lab, from, to) else {
                // A name the source does not resolve: ping's "bad address", a failed ping.
                let got = format!("{from} does not resolve it (ping: bad address)");
                return match expect {
                    Expect::Unreachable => Ok(format!("{to}: {got}")),
                    Expect::Reachable => bail!("{to}: {got}; expected reachable"),
                };
            };
            let opts = icmp::PingOptions::for_check(*count, *expect == Expect::Reachable);
            let r = icmp::ping_in(&netns::path(&ns), dst, opts)?;
            let got = if r.received > 0 {
                format!(
                    "reachable ({}/{}, ttl {})",
                    r.received,
                    r.sent,
                    r.ttl.unwrap_or(0)
                )
            } else {
                format!("unreachable ({}/{})", r.received, r.sent)
            };
            let reachable = r.received > 0;
            match expect {
                Expect::Reachable if !reachable => bail!("{to} ({dst}): {got}; expected reachable"),
                Expect::Unreachable if reachable => {
                    bail!("{to} ({dst}): {got}; expected unreachable")
                }
                Expect::Reachable => {
                    if let (Some(want), Some(seen)) = (ttl, r.ttl) {
                        if *want != seen {
                            bail!("{to} ({dst}): {got}; expected ttl {want}");
                        }
                    }
                    Ok(format!("{to} ({dst}): {got}"))
                }
                Expect::Unreachable => Ok(format!("{to} ({dst}): {got}")),
            }
        }
        Action::Resolve { from, to, address } => {
            let ns = rec
                .lab
                .node_ns(from)
                .ok_or_else(|| anyhow!("{from} is not a container of lab {lab}"))?;
            let got = resolve_in(&ns, to)?;
            match (got, address) {
                (None, _) => bail!("{to} does not resolve in {from}"),
                (Some(ip), Some(want)) if ip != *want => {
                    bail!("{to} resolves to {ip} in {from}; expected {want}")
                }
                (Some(ip), _) => Ok(format!("{to} -> {ip}")),
            }
        }
        Action::Connect {
            network,
            container,
            ip,
        } => {
            let (ni, ci) = indexes(&rec.lab, network, container)?;
            let new = crate::spec::change::connect(&rec.lab, ni, ci, *ip)?;
            let e = new.containers[ci].endpoints.last().unwrap().clone();
            rt.block_on(engine::change(lab, new, false))?;
            Ok(format!("{container}: {} {}", e.ifname, e.address))
        }
        Action::Disconnect { network, container } => {
            let (ni, ci) = indexes(&rec.lab, network, container)?;
            let new = crate::spec::change::disconnect(&rec.lab, ni, ci)?;
            rt.block_on(engine::change(lab, new, false))?;
            Ok(format!("{container} left {network}"))
        }
        Action::Link { node, dev, up } => {
            let ns = rec
                .lab
                .node_ns(node)
                .ok_or_else(|| anyhow!("{node} is not a node of lab {lab}"))?;
            let was = rt.block_on(engine::set_link(&rec, &ns, dev, *up))?;
            if !links.iter().any(|(n, d, _)| n == &ns && d == dev) {
                links.push((ns, dev.clone(), was));
            }
            Ok(format!("{node}: {dev} {}", if *up { "up" } else { "down" }))
        }
        Action::Exec {
            node,
            cmd,
            expect_exit,
            expect_output,
        } => {
            let ns = rec
                .lab
                .node_ns(node)
                .ok_or_else(|| anyhow!("{node} is not a node of lab {lab}"))?;
            let out = exec::output_in(&netns::path(&ns), cmd)?;
            let code = out.status.code().map(i64::from).unwrap_or(-1);
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            if code != *expect_exit {
                bail!(
                    "exit status {code}, expected {expect_exit}: {}",
                    first_line(&text)
                );
            }
            if let Some(p) = expect_output {
                let re = regex::Regex::new(p)?;
                if !re.is_match(&text) {
                    bail!("output does not match /{p}/: {}", first_line(&text));
                }
            }
            Ok(format!("exit status {code}"))
        }
        Action::Impair {
            node,
            dev,
            delay,
            jitter,
            loss,
            rate,
            clear,
        } => {
            let ns = rec
                .lab
                .node_ns(node)
                .ok_or_else(|| anyhow!("{node} is not a node of lab {lab}"))?;
            let want = if *clear {
                None
            } else {
                Some(
                    crate::kernel::tc::Impairment::parse(
                        delay.as_deref(),
                        jitter.as_deref(),
                        loss.as_deref(),
                        rate.as_deref(),
                    )
                    .map_err(|e| anyhow!(e))?,
                )
            };
            let done = rt.block_on(engine::impair(&rec, &ns, dev, want.as_ref()))?;
            if !impaired.contains(&(ns.clone(), dev.clone())) {
                impaired.push((ns, dev.clone()));
            }
            Ok(format!("{node}: {dev} {done}"))
        }
        Action::Wait { seconds } => {
            std::thread::sleep(Duration::from_secs_f64(*seconds));
            Ok(format!("waited {seconds}s"))
        }
        Action::Apply {
            file,
            path,
            dry_run,
        } => {
            // As `netlab apply FILE --name LAB`: the file as it is now, validated again.
            let new = crate::spec::load(std::path::Path::new(path), Some(lab))
                .map_err(|e| anyhow!("{}", one_line(&e)))?;
            let summary = crate::spec::change::summary(&rec.lab, &new);
            let r = rt.block_on(engine::change(lab, new, *dry_run))?;
            let what = if summary.is_empty() {
                "no change".to_string()
            } else {
                summary.join(", ")
            };
            Ok(if *dry_run {
                format!(
                    "{file}: {what} (dry run: would add {} objects, remove {})",
                    r.added, r.removed
                )
            } else {
                format!(
                    "{file}: {what} ({} objects added, {} removed)",
                    r.added, r.removed
                )
            })
        }
    }
}

/// A lab file's problems on one line, each as `file:line:col: message`.
fn one_line(e: &crate::spec::SpecError) -> String {
    e.diagnostics
        .iter()
        .map(|d| match d.at {
            Some((l, c)) => format!("{}:{l}:{c}: {}", e.file, d.message),
            None => format!("{}: {}", e.file, d.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("(no output)");
    l.chars().take(200).collect()
}

fn indexes(lab: &Lab, network: &str, container: &str) -> Result<(usize, usize)> {
    let ni = lab
        .networks
        .iter()
        .position(|n| n.name == network)
        .ok_or_else(|| anyhow!("no network {network} in lab {}", lab.name))?;
    let ci = lab
        .containers
        .iter()
        .position(|c| c.name == container)
        .ok_or_else(|| anyhow!("no container {container} in lab {}", lab.name))?;
    Ok((ni, ci))
}

/// One sentence from `trace`: where the ping stops, and why.
fn explain(lab: &str, from: &str, to: &str) -> Option<String> {
    let rec = current(lab).ok()?;
    let src = rec.lab.node_ns(from)?;
    let dst = target(&rec.lab, from, to)?;
    let targets = crate::observe::of_lab(&crate::observe::discover(false), lab);
    let mut snap = crate::observe::snapshot(&targets, crate::observe::Want::ALL);
    snap.firewalls = crate::plan::firewalls(&rec.lab);
    snap.namespace(&src)?;
    let t = crate::trace::trace(&snap, &crate::observe::KernelRoutes::PLAIN, &src, dst);
    let last = t.hops.last().map(|h| {
        format!(
            " at {}{}",
            h.namespace,
            h.out_dev
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )
    });
    Some(format!(
        "trace: {}{}{}",
        t.disposition.as_str(),
        last.unwrap_or_default(),
        t.reason.map(|r| format!(": {r}")).unwrap_or_default()
    ))
}

/// JUnit XML, one testsuite per scenario and one testcase per step, for CI systems.
pub fn junit(outcomes: &[ScenarioOutcome]) -> String {
    use crate::junit::{Case, Failure, Suite};
    let suites: Vec<Suite> = outcomes
        .iter()
        .map(|o| {
            let classname = format!("{}.{}", o.lab, o.name);
            let mut cases: Vec<Case> = o
                .steps
                .iter()
                .map(|s| Case {
                    classname: classname.clone(),
                    name: format!("{} {}", s.index, s.name),
                    seconds: Some(s.seconds),
                    failure: (!s.pass).then(|| Failure {
                        message: s.detail.clone(),
                        text: match &s.trace {
                            Some(t) => format!("{}\n{t}", s.detail),
                            None => s.detail.clone(),
                        },
                    }),
                })
                .collect();
            if let Some(e) = &o.restore_error {
                cases.push(Case {
                    classname,
                    name: "restore".into(),
                    seconds: None,
                    failure: Some(Failure {
                        message: e.clone(),
                        text: String::new(),
                    }),
                });
            }
            Suite {
                name: format!("{}/{}", o.lab, o.name),
                cases,
                skipped: o.skipped,
            }
        })
        .collect();
    crate::junit::render(&suites)
}

/// What `name` resolves to inside namespace `ns`, as a program there sees it: `getent hosts`
/// run in the namespace with its /etc files bound as `ip netns exec` binds them (libc's own
/// resolver is the oracle, not netlab's idea of the hosts file). `None` when it does not
/// resolve (getent's exit status 2).
fn resolve_in(ns: &str, name: &str) -> Result<Option<Ipv4Addr>> {
    let argv = ["getent", "hosts", name].map(String::from);
    let out = exec::output_in(&netns::path(ns), &argv)?;
    match out.status.code() {
        Some(0) => {}
        Some(2) => return Ok(None),
        _ => bail!(
            "getent hosts {name} failed in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.split_whitespace().next().unwrap_or_default();
    match first.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => Ok(Some(ip)),
        Ok(std::net::IpAddr::V6(_)) | Err(_) => {
            bail!("getent hosts {name} in {ns} printed {:?}", text.trim())
        }
    }
}
