//! Handlers of the runtime changes: `connect`, `disconnect` (a new model, then the engine's
//! plan delta), `link` (one device up or down) and `impair` (one device's root qdisc). Names resolve across the labs that are up:
//! `NET` / `LAB/NET` for networks, `NODE` / `LAB.NODE` for containers and hosts.

use anyhow::Result;
use colored::Colorize;

use super::{need_root, runtime, BadInput};
use crate::engine::{self, NotInPlace};
use crate::spec::change::Refused;
use crate::state::{self, Record};

fn records() -> Vec<Record> {
    state::labs()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| state::read_record(l).ok().flatten())
        .filter(|r| r.complete)
        .collect()
}

/// `(lab, name)` from `LAB<sep>NAME` or `NAME`.
fn split(arg: &str, sep: char) -> (Option<&str>, &str) {
    match arg.split_once(sep) {
        Some((l, n)) => (Some(l), n),
        None => (None, arg),
    }
}

/// The one lab that has network `net` and container `container` (each possibly qualified),
/// with their indexes.
fn resolve(recs: &[Record], net: &str, container: &str) -> Result<(Record, usize, usize)> {
    let (nlab, nname) = split(net, '/');
    // `LAB.NODE`, unless no lab has that name: a task or sandbox name has dots of its own
    // (`uber-svc.1.<task id>`, `HOST.ingress_sbox`).
    let (clab, cname) = match split(container, '.') {
        (Some(l), n) if recs.iter().any(|r| r.lab.name == l) => (Some(l), n),
        _ => (None, container),
    };
    if let (Some(a), Some(b)) = (nlab, clab) {
        if a != b {
            return Err(BadInput(format!("{net} and {container} are in different labs")).into());
        }
    }
    let want = nlab.or(clab);
    let hits: Vec<(&Record, usize, usize)> = recs
        .iter()
        .filter(|r| want.is_none_or(|w| r.lab.name == w))
        .filter_map(|r| {
            let ni = r.lab.networks.iter().position(|n| n.name == nname)?;
            let ci = r.lab.containers.iter().position(|c| c.name == cname)?;
            Some((r, ni, ci))
        })
        .collect();
    match hits.as_slice() {
        [(r, ni, ci)] => Ok(((*r).clone(), *ni, *ci)),
        [] => {
            let nets: Vec<String> = recs
                .iter()
                .flat_map(|r| {
                    r.lab
                        .networks
                        .iter()
                        .map(move |n| format!("{}/{}", r.lab.name, n.name))
                })
                .collect();
            let cons: Vec<String> = recs
                .iter()
                .flat_map(|r| {
                    r.lab
                        .containers
                        .iter()
                        .map(move |c| format!("{}.{}", r.lab.name, c.name))
                })
                .collect();
            let has_net = recs.iter().any(|r| {
                want.is_none_or(|w| r.lab.name == w)
                    && r.lab.networks.iter().any(|n| n.name == nname)
            });
            let (what, known) = if has_net {
                (
                    format!("no container {container} in a lab with network {net}"),
                    cons,
                )
            } else {
                (format!("no network {net} in a lab that is up"), nets)
            };
            let wanted = if has_net { container } else { net };
            let hint = crate::spec::close_match(wanted, known.iter().map(|s| s.as_str()))
                .or_else(|| {
                    // A bare name matches the part after the lab.
                    let bare: Vec<&str> = known
                        .iter()
                        .filter_map(|k| k.split_once(['/', '.']).map(|x| x.1))
                        .collect();
                    crate::spec::close_match(wanted, bare.into_iter())
                })
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Err(BadInput(format!("{what}{hint}")).into())
        }
        many => Err(BadInput(format!(
            "{nname} and {cname} are in several labs; name one: {}",
            many.iter()
                .map(|(r, _, _)| format!("{}/{nname} {}.{cname}", r.lab.name, r.lab.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

fn refused(e: Refused) -> anyhow::Error {
    BadInput(e.0).into()
}

fn apply_change(rec: &Record, new: crate::spec::Lab, dry_run: bool, done: String) -> Result<()> {
    let lab = rec.lab.name.clone();
    let r = runtime()?.block_on(engine::change(&lab, new, dry_run));
    let report = match r {
        Ok(r) => r,
        Err(e) => match e.downcast::<NotInPlace>() {
            Ok(n) => return Err(BadInput(n.0).into()),
            Err(e) => return Err(e),
        },
    };
    if dry_run {
        for l in &report.script {
            println!("{l}");
        }
        return Ok(());
    }
    println!(
        "{done} ({} objects added, {} removed)",
        report.added, report.removed
    );
    Ok(())
}

pub fn connect(
    network: &str,
    container: &str,
    ip: Option<std::net::Ipv4Addr>,
    aliases: &[String],
    dry_run: bool,
) -> Result<()> {
    need_root()?;
    let recs = records();
    let (rec, ni, ci) = resolve(&recs, network, container)?;
    let mut new = crate::spec::change::connect(&rec.lab, ni, ci, ip).map_err(refused)?;
    crate::spec::change::set_aliases(&mut new, ni, ci, aliases).map_err(refused)?;
    let e = new.containers[ci].endpoints.last().unwrap();
    let done = format!(
        "{} {}.{} to {}/{}: {} {}",
        "connected".green(),
        rec.lab.name,
        new.containers[ci].name,
        rec.lab.name,
        new.networks[ni].name,
        e.ifname,
        e.address
    );
    apply_change(&rec, new, dry_run, done)
}

pub fn disconnect(network: &str, container: &str, dry_run: bool) -> Result<()> {
    need_root()?;
    let recs = records();
    let (rec, ni, ci) = resolve(&recs, network, container)?;
    let new = crate::spec::change::disconnect(&rec.lab, ni, ci).map_err(refused)?;
    let done = format!(
        "{} {}.{} from {}/{}",
        "disconnected".green(),
        rec.lab.name,
        rec.lab.containers[ci].name,
        rec.lab.name,
        rec.lab.networks[ni].name
    );
    apply_change(&rec, new, dry_run, done)
}

pub fn link(node: &str, dev: &str, state_arg: &str) -> Result<()> {
    need_root()?;
    let (rec, ns) = node_namespace(node)?;
    runtime()?
        .block_on(engine::set_link(&rec, &ns, dev, state_arg == "up"))
        .map_err(bad_if_not_in_place)?;
    println!("{ns}: {dev} is {state_arg}");
    Ok(())
}

/// The engine's "not in place" (a device that does not exist, a change it will not make) is
/// bad input: exit 2.
fn bad_if_not_in_place(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<NotInPlace>() {
        Ok(n) => BadInput(n.0).into(),
        Err(e) => e,
    }
}

/// The namespace of container or host `node` (`NAME` or `LAB.NAME`) in the one lab that is up
/// with it, and that lab's record (the engine checks the namespace's identity).
fn node_namespace(node: &str) -> Result<(Record, String)> {
    let recs = records();
    let (nlab, nname) = split(node, '.');
    let hits: Vec<(&Record, String)> = recs
        .iter()
        .filter(|r| nlab.is_none_or(|l| r.lab.name == l))
        .filter_map(|r| r.lab.node_ns(nname).map(|ns| (r, ns)))
        .collect();
    match hits.as_slice() {
        [(r, ns)] => Ok(((*r).clone(), ns.clone())),
        [] => {
            let known: Vec<String> = recs
                .iter()
                .flat_map(|r| {
                    r.lab
                        .containers
                        .iter()
                        .map(|c| c.name.clone())
                        .chain(r.lab.hosts.iter().map(|h| h.name.clone()))
                        .map(move |n| format!("{}.{n}", r.lab.name))
                })
                .collect();
            let hint = crate::spec::close_match(node, known.iter().map(|s| s.as_str()))
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Err(BadInput(format!(
                "no container or host {node} in a lab that is up{hint}"
            ))
            .into())
        }
        many => Err(BadInput(format!(
            "{node} exists in several labs; name one of: {}",
            many.iter()
                .map(|(r, _)| format!("{}.{nname}", r.lab.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// What `netlab impair` was given, as typed: [`impair`] checks it.
pub struct Impair {
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub loss: Option<String>,
    pub rate: Option<String>,
    pub clear: bool,
}

/// `impair NODE DEV ...`: make DEV's root qdisc the impairment asked for (one qdisc, replaced
/// in one kernel operation, so a refusal leaves DEV as it was), or with `--clear` delete it.
/// Bad values exit 2 before anything is looked at. An impairment is kernel state of the
/// device, not part of the lab's model: `down` removes it with the device.
pub fn impair(node: &str, dev: &str, args: Impair) -> Result<()> {
    use crate::kernel::tc;
    let want = if args.clear {
        None
    } else {
        Some(
            tc::Impairment::parse(
                args.delay.as_deref(),
                args.jitter.as_deref(),
                args.loss.as_deref(),
                args.rate.as_deref(),
            )
            .map_err(BadInput)?,
        )
    };
    need_root()?;
    let (rec, ns) = node_namespace(node)?;
    let done = runtime()?
        .block_on(engine::impair(&rec, &ns, dev, want.as_ref()))
        .map_err(bad_if_not_in_place)?;
    println!("{ns}: {dev} {done}");
    Ok(())
}

/// `apply FILE`: the lab file was edited while the lab runs; change only what differs (the
/// engine refuses, with the reason, what it cannot change in place).
pub fn apply(file: &std::path::Path, name: Option<&str>, dry_run: bool) -> Result<()> {
    let lab = crate::spec::load(file, name)?;
    let Some(rec) = state::read_record(&lab.name)?.filter(|r| r.complete) else {
        return Err(BadInput(format!(
            "lab {} is not up; `netlab up {}` builds it",
            lab.name,
            file.display()
        ))
        .into());
    };
    need_root()?;
    let mut new = lab;
    // The record keeps where the lab came from; the file given now is where it comes from.
    new.source = std::fs::canonicalize(file)
        .map(|p| p.display().to_string())
        .unwrap_or(new.source);
    let summary = crate::spec::change::summary(&rec.lab, &new);
    if summary.is_empty() && rec.lab == new {
        println!("lab {} already matches {}", rec.lab.name, file.display());
        return Ok(());
    }
    for l in &summary {
        println!("{l}");
    }
    let name = rec.lab.name.clone();
    let r = runtime()?
        .block_on(engine::change(&name, new, dry_run))
        .map_err(bad_if_not_in_place)?;
    if dry_run {
        for l in &r.script {
            println!("  {l}");
        }
        return Ok(());
    }
    println!(
        "lab {} {} ({} objects added, {} removed)",
        name.bold(),
        "changed".green(),
        r.added,
        r.removed
    );
    Ok(())
}
