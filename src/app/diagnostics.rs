//! Handlers of the read-side commands: observe the kernel once, then hand the snapshot to `diag`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use colored::Colorize;
use serde_json::json;

use super::{BadInput, ChecksFailed};
use crate::diag::{self, inspect, links, Unknown};
use crate::kernel::{exec as kexec, netns};
use crate::observe::{self, Snapshot, Want};
use crate::state::{self, Record};

/// The command's exit status, passed through (`netlab exec`).
#[derive(Debug)]
pub struct ExitWith(pub i32);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

fn records() -> Vec<Record> {
    state::labs()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| state::read_record(l).ok().flatten())
        .collect()
}

/// These commands create nothing, but entering another network namespace (setns) takes
/// CAP_SYS_ADMIN: say that, and what the command wanted to do there.
fn need_root_to(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "netlab needs root to {what} (entering a network namespace takes CAP_SYS_ADMIN); run it with sudo"
        );
    }
    Ok(())
}

const READ: &str = "read other network namespaces";

fn observe(all: bool, want: Want) -> Result<Snapshot> {
    need_root_to(READ)?;
    let found = discover(all);
    let snap = observe::snapshot(&found, want);
    report_unreadable(&snap);
    Ok(snap)
}

/// Every namespace to read; entries of the namespace directories that are not namespaces (a
/// FIFO, a plain file, a directory, a symbolic link) are reported on stderr, never opened.
fn discover(all: bool) -> Vec<observe::Target> {
    let d = observe::discover_all(all);
    for s in &d.skipped {
        eprintln!(
            "{} skipped {}: {}",
            "note:".yellow().bold(),
            s.path,
            s.reason
        );
    }
    d.targets
}

/// Namespaces that could not be read are said so, not silently left out of the answer.
fn report_unreadable(snap: &Snapshot) {
    for n in &snap.namespaces {
        if let Some(e) = &n.error {
            eprintln!(
                "{} could not read namespace {}: {e}",
                "note:".yellow().bold(),
                n.name
            );
        }
    }
}

fn unknown(e: Unknown) -> anyhow::Error {
    BadInput(e.0).into()
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn netns(all: bool, json: bool, snapshot: bool) -> Result<()> {
    if snapshot {
        return print_json(&observe(all, Want::ALL)?);
    }
    let snap = observe(all, Want::LISTING)?;
    if json {
        return print_json(&json!({ "namespaces": diag::netns_rows(&snap) }));
    }
    if snap.namespaces.is_empty() {
        println!("no named network namespace (try --all for those held by processes)");
        return Ok(());
    }
    println!("{}", diag::netns_table(&snap));
    Ok(())
}

/// The namespace file for a target, without reading any namespace: a name in /run/netns or
/// Docker's directory, a container or host of a lab that is up, or a pid.
/// The host of a lab that is up whose namespace is `path`, and its view: its namespaces as
/// its Docker daemon names them ([`crate::spec::Lab::host_view`]). A host-mode container
/// (`target` names it) shares the host's network namespace, not the host's view.
fn host_of(path: &Path, target: &str) -> Option<(String, Vec<(String, PathBuf)>)> {
    if path.parent() != Some(Path::new(netns::NETNS_DIR)) {
        return None;
    }
    let name = path.file_name()?.to_str()?;
    let node = target.rsplit('.').next().unwrap_or(target);
    records().into_iter().find_map(|r| {
        let hi = (0..r.lab.hosts.len()).find(|&hi| r.lab.host_ns(hi) == name)?;
        if r.lab.containers.iter().any(|c| c.name == node) && r.lab.hosts[hi].name != node {
            return None;
        }
        let view = r
            .lab
            .host_view(hi)
            .into_iter()
            .map(|(docker, ns)| (docker, netns::path(&ns)))
            .collect();
        Some((r.lab.hosts[hi].name.clone(), view))
    })
}

fn target_path(target: &str) -> Result<PathBuf> {
    let invalid = target.is_empty() || target.contains('/') || target == "." || target == "..";
    if !invalid {
        if netns::exists(target) {
            return Ok(netns::path(target));
        }
        let docker = PathBuf::from(observe::DOCKER_NETNS_DIR).join(target);
        if docker.exists() {
            return Ok(docker);
        }
        let recs = records();
        if let Some(ns) = diag::qualified_node_ns(&recs, target) {
            return Ok(netns::path(&ns));
        }
        let hits: Vec<String> = recs.iter().filter_map(|r| r.lab.node_ns(target)).collect();
        match hits.as_slice() {
            [one] => return Ok(netns::path(one)),
            [] => {}
            many => {
                return Err(BadInput(format!(
                    "{target} exists in several labs; name one of: {}",
                    many.join(", ")
                ))
                .into())
            }
        }
        if let Ok(pid) = target.parse::<u32>() {
            let p = PathBuf::from(format!("/proc/{pid}/ns/net"));
            if p.exists() {
                return Ok(p);
            }
        }
    }
    let mut known = netns::list().unwrap_or_default();
    for r in records() {
        known.extend(r.lab.containers.iter().map(|c| c.name.clone()));
        known.extend(r.lab.hosts.iter().map(|h| h.name.clone()));
    }
    let recs = records();
    let hint = diag::node_spelling(&recs, target)
        .or_else(|| crate::spec::close_match(target, known.iter().map(|s| s.as_str())))
        .map(|h| format!("; {h}"))
        .unwrap_or_else(|| "; `netlab netns` lists namespaces".into());
    Err(BadInput(format!(
        "no namespace, container, host or pid named {target:?}{hint}"
    ))
    .into())
}

pub fn exec(target: &str, command: &[String]) -> Result<()> {
    exec_with(target, command, std::process::Stdio::inherit())
}

/// [`exec`], with the command's stdin given (`netlab console` reading a script: /dev/null).
pub fn exec_with(target: &str, command: &[String], stdin: std::process::Stdio) -> Result<()> {
    let path = target_path(target)?;
    need_root_to("run a command in another network namespace")?;
    // A lab's host runs the command in its own view: its namespaces under Docker's names.
    let (label, view) = match host_of(&path, target) {
        Some((host, view)) => (host, view),
        None => (
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| target.to_string()),
            Vec::new(),
        ),
    };
    // No command: an interactive shell whose prompt names where it is.
    let shell: Vec<String>;
    let mut env: Vec<(&str, &str)> = Vec::new();
    let prompt = format!("[{label}] # ");
    let command = if command.is_empty() {
        let sh = std::env::var("SHELL")
            .ok()
            .filter(|s| Path::new(s).is_file())
            .unwrap_or_else(|| "/bin/sh".into());
        let bash = Path::new(&sh).file_name().is_some_and(|n| n == "bash");
        // bash reads no startup file that would set the prompt again.
        shell = if bash {
            vec![sh, "--norc".into(), "-i".into()]
        } else {
            vec![sh, "-i".into()]
        };
        env.push(("PS1", &prompt));
        &shell[..]
    } else {
        command
    };
    let status = kexec::run_in_view(&path, &view, command, stdin, &env)?;
    match status.code() {
        Some(0) => Ok(()),
        Some(c) => Err(ExitWith(c).into()),
        None => Err(ExitWith(
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0),
        )
        .into()),
    }
}

pub fn find_link(
    ifindex: Option<u32>,
    peer_of: Option<Vec<String>>,
    all: bool,
    json: bool,
) -> Result<()> {
    let want = if peer_of.is_some() {
        Want::PEERS
    } else {
        Want::LINKS
    };
    let snap = observe(all, want)?;
    if let Some(v) = peer_of {
        let recs = records();
        let ns = diag::resolve(&snap, &recs, &v[0]).map_err(unknown)?;
        let report = links::peer_of(&snap, ns, &v[1]).map_err(unknown)?;
        if json {
            return print_json(&report);
        }
        println!("{}", links::render_peer(&report));
        return Ok(());
    }
    let found = links::find(&snap, ifindex);
    if json {
        return print_json(&json!({ "links": found }));
    }
    for f in &found {
        println!("{}: {}", f.namespace, f.line);
    }
    if found.is_empty() {
        if let Some(i) = ifindex {
            return Err(BadInput(format!(
                "no link with index {i} in {} (try --all)",
                crate::table::count(snap.namespaces.len(), "namespace", "namespaces")
            ))
            .into());
        }
    }
    Ok(())
}

pub fn inspect(name: &str, json: bool, host: Option<&str>, netlab: bool) -> Result<()> {
    let recs = records();
    let snap = observe(false, Want::ALL)?;
    if let Some((record, ni)) = inspect::find_network(&recs, name).map_err(unknown)? {
        let lab = &record.lab;
        let hi = match host {
            None => None,
            Some(h) => Some(lab.hosts.iter().position(|x| x.name == h).ok_or_else(|| {
                let names: Vec<&str> = lab.hosts.iter().map(|x| x.name.as_str()).collect();
                BadInput(format!(
                    "lab {} has no host {h}; its hosts: {}",
                    lab.name,
                    names.join(", ")
                ))
            })?),
        };
        let views = inspect::network_views(&snap, record, ni, hi, netlab);
        if views.is_empty() {
            return Err(BadInput(format!(
                "network {} does not exist on host {} (a local network is only on the hosts its containers are on and those its hosts list names)",
                lab.networks[ni].name,
                host.unwrap_or_default()
            ))
            .into());
        }
        if json || !std::io::stdout().is_terminal() {
            let v: Vec<serde_json::Value> = views.into_iter().map(|(_, v)| v).collect();
            return print_json(&serde_json::Value::Array(v));
        }
        for (i, (on, n)) in views.iter().enumerate() {
            if i > 0 {
                println!();
            }
            let on = on
                .map(|h| format!(" on {}", lab.hosts[h].name))
                .unwrap_or_default();
            println!(
                "{}{on} ({}, {}, scope {})  subnet {}  gateway {}",
                n["Name"].as_str().unwrap_or(""),
                n["Driver"].as_str().unwrap_or(""),
                &n["Id"].as_str().unwrap_or("")[..12],
                n["Scope"].as_str().unwrap_or(""),
                n["IPAM"]["Config"][0]["Subnet"].as_str().unwrap_or(""),
                lab.networks[ni].gateway
            );
            let mut t = diag::table(&["container", "mac", "ipv4"]);
            if let Some(cs) = n["Containers"].as_object() {
                for c in cs.values() {
                    t.add_row(vec![
                        c["Name"].as_str().unwrap_or("").to_string(),
                        c["MacAddress"].as_str().unwrap_or("").to_string(),
                        c["IPv4Address"].as_str().unwrap_or("").to_string(),
                    ]);
                }
            }
            println!("{t}");
            if let Some(o) = n["Options"].as_object() {
                for (k, v) in o {
                    println!("{k}: {}", v.as_str().unwrap_or(""));
                }
            }
        }
        println!("(--json for the full `docker network inspect` document)");
        return Ok(());
    }
    let ns = diag::resolve(&snap, &recs, name).map_err(|e| {
        // A name in several labs, or a node spelt LAB/NODE: that is the answer.
        if diag::node_spelling(&recs, name).is_some() || e.0.contains(" exists in several labs") {
            return unknown(e);
        }
        let nets: Vec<&str> = recs
            .iter()
            .flat_map(|r| r.lab.networks.iter().map(|n| n.name.as_str()))
            .collect();
        match diag::network_spelling(&recs, name)
            .or_else(|| crate::spec::close_match(name, nets.iter().copied()))
        {
            Some(h) => BadInput(format!(
                "no network, container, host or namespace named {name:?}; {h}"
            ))
            .into(),
            None => unknown(e),
        }
    })?;
    let mut v = inspect::node(ns);
    let tables = tables_in(&recs, &ns.name);
    v.firewall = inspect::firewall_lines(&tables);
    if json {
        return print_json(&v);
    }
    println!("{}", inspect::render_node(&v));
    Ok(())
}

pub fn vxlan(target: &str, json: bool) -> Result<()> {
    let recs = records();
    let snap = observe(false, Want::ALL)?;
    let views = inspect::vxlans(&snap, &recs, target).map_err(unknown)?;
    if json {
        return print_json(&json!({ "vxlans": views }));
    }
    println!("{}", inspect::render_vxlans(&views));
    Ok(())
}

pub fn bridge(target: &str, json: bool) -> Result<()> {
    let recs = records();
    let snap = observe(false, Want::ALL)?;
    let ns = diag::resolve(&snap, &recs, target).map_err(unknown)?;
    let r = links::bridges(ns);
    if json {
        return print_json(&r);
    }
    println!("{}", links::render_bridges(&r));
    Ok(())
}

/// The nftables tables the labs' plans put in namespace `ns`.
fn tables_in(recs: &[Record], ns: &str) -> Vec<crate::kernel::nft::Table> {
    recs.iter()
        .flat_map(|r| crate::plan::firewalls(&r.lab))
        .filter(|(n, _)| n == ns)
        .flat_map(|(_, t)| t)
        .collect()
}

/// `netlab firewall NODE`: the tables netlab's plan puts in the node's namespace, with the
/// counters the kernel has for their rules.
pub fn firewall(target: &str, json: bool) -> Result<()> {
    let recs = records();
    let snap = observe(false, Want::ALL)?;
    let ns = diag::resolve(&snap, &recs, target).map_err(unknown)?;
    let tables = tables_in(&recs, &ns.name);
    let handle = std::fs::File::open(&ns.path)
        .map_err(|e| anyhow::anyhow!("opening namespace {}: {e}", ns.name))?;
    let mut counters = std::collections::BTreeMap::new();
    for t in &tables {
        let read = crate::kernel::nft::counters_in(&handle, &t.name)
            .map_err(|e| anyhow::anyhow!("{}: {e}", ns.name))?;
        counters.insert(t.name.clone(), read);
    }
    let r = diag::firewall::report(&ns.name, &tables, &counters);
    if json {
        return print_json(&r);
    }
    println!("{}", diag::firewall::render(&r));
    Ok(())
}

/// The address a trace goes to: an IPv4 or IPv6 address as given, a host's underlay address,
/// or a container's address on a network it shares with the source (else its first one): its
/// IPv4 address, or with `ipv6` its IPv6 one, on a shared network with IPv6 (else its first
/// network with IPv6). A node is `LAB.NODE`, or `NODE`: the source's lab's first, else the one
/// lab that has it. With a node, also its namespace: the packet must arrive there, not merely
/// at its address.
fn trace_target(
    records: &[Record],
    from_ns: &str,
    to: &str,
    ipv6: bool,
) -> Result<(std::net::IpAddr, Option<String>)> {
    if let Ok(ip) = to.parse::<std::net::IpAddr>() {
        if ipv6 && ip.is_ipv4() {
            return Err(BadInput(format!("-6 asks for an IPv6 address, and {ip} is IPv4")).into());
        }
        return Ok((ip, None));
    }
    let has = |r: &Record, node: &str| r.lab.node_ns(node).is_some();
    let qualified = to.split_once('.').and_then(|(lab, node)| {
        records
            .iter()
            .find(|r| r.lab.name == lab && has(r, node))
            .map(|r| (r, node))
    });
    let (record, node) = match qualified {
        Some(found) => found,
        None => {
            let own = records
                .iter()
                .find(|r| from_ns.starts_with(&format!("{}.", r.lab.name)) && has(r, to));
            let hits: Vec<&Record> = records.iter().filter(|r| has(r, to)).collect();
            match (own, hits.as_slice()) {
                (Some(r), _) => (r, to),
                (None, [r]) => (*r, to),
                (None, []) => {
                    // A network alias, as the source container's resolver answers it.
                    if let Some(found) = alias_target(records, from_ns, to).filter(|_| !ipv6) {
                        return Ok(found);
                    }
                    let mut known: Vec<String> = Vec::new();
                    for r in records {
                        known.extend(r.lab.containers.iter().map(|c| c.name.clone()));
                        known.extend(r.lab.hosts.iter().map(|h| h.name.clone()));
                    }
                    let hint = diag::node_spelling(records, to)
                        .or_else(|| crate::spec::close_match(to, known.iter().map(|s| s.as_str())))
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default();
                    return Err(BadInput(format!(
                        "{to:?} is not an IP address, a container or host of a lab that is up, or a name the source resolves{hint}"
                    ))
                    .into());
                }
                (None, many) => {
                    return Err(BadInput(format!(
                        "{to} exists in several labs; name one of: {}",
                        many.iter()
                            .map(|r| format!("{}.{to}", r.lab.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .into())
                }
            }
        }
    };
    let lab = &record.lab;
    let ns = lab.node_ns(node);
    let no_ipv6 = || -> Result<(std::net::IpAddr, Option<String>)> {
        Err(BadInput(format!(
            "{to} has no IPv6 address: -6 traces a container on a network with ipv6 = true"
        ))
        .into())
    };
    if let Some(h) = lab.hosts.iter().find(|h| h.name == node) {
        if ipv6 {
            return no_ipv6();
        }
        return Ok((h.address.ip().into(), ns));
    }
    if let Some(o) = lab.outside.as_ref().filter(|o| o.name == node) {
        if ipv6 {
            return no_ipv6();
        }
        return Ok((o.address.ip().into(), ns));
    }
    let c = lab
        .containers
        .iter()
        .find(|c| c.name == node)
        .expect("node_ns found it");
    let src = lab
        .containers
        .iter()
        .enumerate()
        .find(|(i, _)| lab.container_ns(*i) == from_ns)
        .map(|(_, c)| c);
    let shares = |e: &&crate::spec::Endpoint| {
        src.is_some_and(|s| s.endpoints.iter().any(|se| se.network == e.network))
    };
    if ipv6 {
        let with6 = |e: &&crate::spec::Endpoint| e.address6.is_some();
        let e = c
            .endpoints
            .iter()
            .filter(with6)
            .find(shares)
            .or_else(|| c.endpoints.iter().find(with6));
        return match e.and_then(|e| e.address6) {
            Some(a) => Ok((a.ip().into(), ns)),
            None => no_ipv6(),
        };
    }
    let shared = c.endpoints.iter().find(shares);
    Ok((shared.unwrap_or(&c.endpoints[0]).address.ip().into(), ns))
}

/// What container namespace `from_ns` resolves `name` to (a network alias, through the lab's
/// hosts files as Docker's embedded DNS would), and the container that has that address.
fn alias_target(
    records: &[Record],
    from_ns: &str,
    name: &str,
) -> Option<(std::net::IpAddr, Option<String>)> {
    let (lab, ci) = records.iter().find_map(|r| {
        let ci = (0..r.lab.containers.len()).find(|&i| r.lab.container_ns(i) == from_ns)?;
        Some((&r.lab, ci))
    })?;
    let ip = crate::plan::names::resolve(lab, ci, name)?;
    let holder = (0..lab.containers.len())
        .find(|&i| {
            lab.containers[i]
                .endpoints
                .iter()
                .any(|e| e.address.ip() == ip)
        })
        .map(|i| lab.container_ns(i));
    Some((ip.into(), holder))
}

/// The namespaces on the path whose firewall (netlab's tables) sees traffic trace does not
/// evaluate: a VXLAN underlay's encapsulated UDP, and frames bridged between ports where
/// br_netfilter passes them through the IPv4 hooks.
fn firewalls_on_path(snap: &observe::Snapshot, t: &crate::trace::Trace) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in t.hops.iter().chain(&t.reply_hops) {
        // From one bridge port to another (not up to the bridge's own stack).
        let bridged = |n: &observe::Namespace| {
            let port = |d: &Option<String>| {
                d.as_deref()
                    .and_then(|d| n.link(d))
                    .is_some_and(|l| l.master.is_some())
            };
            h.layer == "l2"
                && n.bridge_nf_call_iptables == Some(true)
                && port(&h.in_dev)
                && port(&h.out_dev)
        };
        let bridged = snap.namespace(&h.namespace).is_some_and(bridged);
        if snap.firewalls.contains_key(&h.namespace)
            && (h.layer == "underlay" || bridged)
            && !out.contains(&h.namespace)
        {
            out.push(h.namespace.clone());
        }
    }
    out
}

/// How `trace` checks its prediction, and how it prints it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceHow {
    /// A container destination by its IPv6 address.
    pub ipv6: bool,
    /// Send real pings (and TTL-limited ones) and compare.
    pub probe: bool,
    /// Listen on the predicted devices while one more echo request crosses them.
    pub capture: bool,
    pub minimal: bool,
    pub detailed: bool,
    /// ICMP payload bytes, DF set.
    pub size: Option<u16>,
    /// An echo, or a UDP datagram or TCP SYN to a port.
    pub flow: crate::trace::Flow,
    pub json: bool,
}

/// The transport and port of a TCP or UDP flow; None for an echo.
fn transport(flow: crate::trace::Flow) -> Option<(crate::kernel::l4::Proto, u16)> {
    use crate::kernel::l4::Proto;
    match flow {
        crate::trace::Flow::Icmp => None,
        crate::trace::Flow::Udp(p) => Some((Proto::Udp, p)),
        crate::trace::Flow::Tcp(p) => Some((Proto::Tcp, p)),
    }
}

/// `trace --capture`: a packet socket on every device of the predicted path, both ways, one
/// probe told apart from any other packet (an echo request with an identifier of its own, a
/// TCP SYN or UDP datagram from a port of its own), and each hop of `t` marked with what was
/// seen.
fn capture_probe(
    snap: &observe::Snapshot,
    t: &mut crate::trace::Trace,
    src_path: &std::path::Path,
    dst: std::net::Ipv4Addr,
    size: Option<u16>,
) -> Result<crate::trace::capture::Observed> {
    use crate::kernel::{capture, drops, icmp, l4};
    use crate::trace::capture as judged;
    use std::os::unix::fs::MetadataExt;
    let devices = judged::devices(t);
    let paths: Vec<std::path::PathBuf> = devices
        .iter()
        .map(|(ns, _)| {
            snap.namespace(ns)
                .map(|n| std::path::PathBuf::from(&n.path))
                .ok_or_else(|| anyhow::anyhow!("namespace {ns} is no longer there"))
        })
        .collect::<Result<_>>()?;
    let points: Vec<capture::Point> = devices
        .iter()
        .zip(&paths)
        .map(|((_, dev), p)| capture::Point { ns_path: p, dev })
        .collect();
    // The kernel is asked why a packet is dropped in the namespaces of the path, for the
    // probe's lifetime only: the watch goes when it is dropped, or with the process.
    let mut inodes: Vec<(u64, String)> = devices
        .iter()
        .zip(&paths)
        .filter_map(|((ns, _), p)| Some((std::fs::metadata(p).ok()?.ino(), ns.clone())))
        .collect();
    inodes.sort();
    inodes.dedup();
    let watch = drops::DropWatch::start(&inodes.iter().map(|(i, _)| *i).collect::<Vec<_>>());
    let taps = capture::Taps::open(&points)?;
    let asked = std::time::Instant::now();
    let mark = match transport(t.flow) {
        None => {
            let id = icmp::fresh_id();
            icmp::ping_in(
                src_path,
                dst.into(),
                icmp::PingOptions {
                    count: 1,
                    size,
                    id: Some(id),
                    ..Default::default()
                },
            )?;
            judged::Mark::Echo(id)
        }
        Some((proto, port)) => {
            let a = l4::probe(src_path, proto, dst, port, None, ONE_SECOND, None)?;
            match proto {
                l4::Proto::Udp => judged::Mark::Udp(a.source_port),
                l4::Proto::Tcp => judged::Mark::Tcp(a.source_port),
            }
        }
    };
    // A reply is read after every tap on its way has queued it; a frame still in a softirq on
    // the other CPU (an ICMP error's way back, say) gets a moment more.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let frames = taps.drain();
    drop(taps);
    let find = |dropped: &[drops::Dropped]| {
        dropped.iter().find_map(|d| {
            let packet = judged::parse_dropped(&d.data, mark)?;
            let namespace = inodes.iter().find(|(i, _)| *i == d.netns)?.1.clone();
            let device = snap
                .namespace(&namespace)
                .and_then(|n| n.links.iter().find(|l| l.index as i32 == d.ifindex))
                .map(|l| l.name.clone());
            Some(judged::Drop {
                kind: packet.kind,
                namespace,
                device,
                reason: d.reason.clone(),
                location: d.location.clone(),
            })
        })
    };
    // A packet waiting for ARP is dropped when the neighbour fails: by default after three
    // solicitations a second apart (mcast_solicit x retrans_time), counted from the request,
    // and then only when the neighbour timer runs, late on a loaded machine (the VM tier's 6.1
    // under TCG, six tests at once, missed it with 3.5 s and once with 6 s). Wait for it up to
    // 12 s from the request; the drop ends the wait, at about 3 s on an idle machine. Also on
    // any NEIGHBOR_UNREACHABLE: a flood's failure does not always mark the hold.
    let patience =
        if t.held_at.is_some() || t.disposition == crate::trace::Disposition::NeighborUnreachable {
            std::time::Duration::from_secs(12)
        } else {
            std::time::Duration::ZERO
        };
    let (drop, drop_watch) = match watch {
        Ok(w) => loop {
            if let Some(d) = find(&w.drain()) {
                break (Some(d), None);
            }
            if asked.elapsed() >= patience {
                break (None, None);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        },
        Err(e) => (None, Some(e.to_string())),
    };
    let seen: Vec<judged::Seen> = frames
        .into_iter()
        .filter_map(|f| {
            let packet = judged::parse(&f.data, f.vlan, mark)?;
            let (namespace, device) = devices[f.tap].clone();
            Some(judged::Seen {
                namespace,
                device,
                outgoing: f.outgoing,
                at_ns: f.at_ns,
                packet,
            })
        })
        .collect();
    let mut observed = judged::judge(t, &seen, mark, devices.len());
    (observed.drop, observed.drop_watch) = (drop, drop_watch);
    Ok(observed)
}

const ONE_SECOND: std::time::Duration = std::time::Duration::from_secs(1);

/// What `trace --probe` sent end to end, and what came back.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
enum Probed {
    /// Echo requests, as ping sends them.
    Ping(crate::kernel::icmp::PingResult),
    /// A TCP SYN or a UDP datagram.
    Transport(crate::kernel::l4::Answer),
}

pub fn trace(from: &str, to: &str, how: TraceHow) -> Result<()> {
    let TraceHow {
        ipv6,
        probe,
        capture,
        minimal,
        detailed,
        size,
        flow,
        json,
    } = how;
    let recs = records();
    need_root_to(if probe {
        "read other network namespaces and send ICMP probes from them (CAP_NET_RAW)"
    } else {
        READ
    })?;
    // Observe the source's lab first (a trace of a lab stays in it); everything if the source
    // is not a lab's, or if the path leads out of the lab.
    let targets = discover(false);
    let lab = recs
        .iter()
        .find(|r| r.lab.node_ns(from).is_some() || from.starts_with(&format!("{}.", r.lab.name)));
    let mut snap = match lab {
        Some(r) => observe::snapshot(&observe::of_lab(&targets, &r.lab.name), Want::ALL),
        None => observe::snapshot(&targets, Want::ALL),
    };
    let src_name = diag::resolve(&snap, &recs, from)
        .map_err(unknown)?
        .name
        .clone();
    let (dst, intended) = trace_target(&recs, &src_name, to, ipv6)?;
    let dst4 = match dst {
        std::net::IpAddr::V4(a) => Some(a),
        std::net::IpAddr::V6(_) if capture || transport(flow).is_some() => {
            return Err(BadInput(format!(
                "{dst} is IPv6: trace predicts its path and --probe sends ICMPv6 echo, but --capture and --proto udp|tcp follow IPv4 only"
            ))
            .into())
        }
        std::net::IpAddr::V6(_) => None,
    };
    let len = size.map(|n| u32::from(n) + crate::trace::echo_overhead(dst));
    let firewalls: std::collections::BTreeMap<_, _> = recs
        .iter()
        .flat_map(|r| crate::plan::firewalls(&r.lab))
        .collect();
    snap.firewalls = firewalls.clone();
    let routes = observe::KernelRoutes {
        path_mtu: len.is_some(),
    };
    let mut t = crate::trace::trace_flow(&snap, &routes, &src_name, dst, len, flow);
    let leaves = snap
        .namespaces
        .iter()
        .flat_map(|n| &n.links)
        .any(|l| l.link_netnsid.is_some() && l.peer.is_none());
    if lab.is_some() && t.disposition != crate::trace::Disposition::Delivered && leaves {
        snap = observe::snapshot(&targets, Want::ALL);
        snap.firewalls = firewalls;
        t = crate::trace::trace_flow(&snap, &routes, &src_name, dst, len, flow);
    }
    let src = snap.namespace(&src_name).expect("source observed");
    let src_path = std::path::Path::new(&src.path);
    // The capture goes first: a sized probe that meets "fragmentation needed" teaches the
    // source a path MTU, and the capture must cross the path the prediction saw.
    let observed = if capture {
        Some(capture_probe(
            &snap,
            &mut t,
            src_path,
            dst4.expect("IPv4"),
            size,
        )?)
    } else {
        None
    };
    let l4 = transport(flow);
    let probed = match (probe, l4) {
        (false, _) => None,
        (true, None) => Some(Probed::Ping(crate::kernel::icmp::ping_in(
            src_path,
            dst,
            crate::kernel::icmp::PingOptions {
                size,
                ..Default::default()
            },
        )?)),
        (true, Some((proto, port))) => {
            // An answer predicted: up to the patience of a check (TCP resends its SYN, a UDP
            // datagram is sent again each second); silence predicted: a second.
            let answered = t.disposition == crate::trace::Disposition::Delivered
                && !(proto == crate::kernel::l4::Proto::Udp && t.listening == Some(true));
            let (timeout, resend) = if answered {
                (
                    crate::kernel::icmp::EXPECTED_REPLY_PATIENCE,
                    (proto == crate::kernel::l4::Proto::Udp).then_some(ONE_SECOND),
                )
            } else {
                (ONE_SECOND, None)
            };
            Some(Probed::Transport(crate::kernel::l4::probe(
                src_path,
                proto,
                dst4.expect("IPv4"),
                port,
                None,
                timeout,
                resend,
            )?))
        }
    };
    // Hop by hop: TTL 1..=routers+1; each answer must come from the predicted router's
    // namespace (time exceeded), and the last from the destination (echo reply). These are
    // small probes: with a size, they are judged against the path of a small packet.
    let routed = match len {
        Some(_) => crate::trace::trace(&snap, &observe::KernelRoutes::PLAIN, &src_name, dst),
        None => t.clone(),
    };
    let mut hop_probes = Vec::new();
    if probe {
        let wait = std::time::Duration::from_millis(700);
        for k in 1..=(crate::trace::routers(&routed).len() as u8 + 1) {
            let p = match l4 {
                None => crate::kernel::icmp::probe_ttl(src_path, dst, k, wait)?,
                Some((proto, port)) => {
                    let dst = dst4.expect("IPv4");
                    let a =
                        crate::kernel::l4::probe(src_path, proto, dst, port, Some(k), wait, None)?;
                    crate::kernel::icmp::TtlProbe {
                        ttl: k,
                        kind: a.kind,
                        from: a.from,
                        error: a.error,
                    }
                }
            };
            hop_probes.push(crate::trace::probe::judge(&snap, &routed, &p));
        }
    }
    let hops_agree = hop_probes.iter().all(|h| h.agrees);
    let firewalls = firewalls_on_path(&snap, &t);
    // Delivered to the address, but to another namespace than the node named (the same
    // address in another lab, which is another network): the node was not reached. A
    // namespace that does not hold the address got it by DNAT on the way (a published port,
    // a service's virtual IP), which is the node's own doing.
    let holds = |ns: &str| {
        snap.namespace(ns).is_some_and(|n| {
            n.addresses
                .iter()
                .any(|a| a.address.split('/').next() == Some(t.to.to_string().as_str()))
        })
    };
    let elsewhere = match (&intended, &t.delivered_to) {
        (Some(want), Some(got)) if t.disposition == crate::trace::Disposition::Delivered => {
            (want != got && holds(got)).then(|| (want.clone(), got.clone()))
        }
        _ => None,
    };
    let delivered = t.disposition == crate::trace::Disposition::Delivered && elsewhere.is_none();
    // Stopped by an MTU: the probe must be stopped by the same one (the local refusal's or
    // the "fragmentation needed"'s), or meet silence where a device drops it.
    let same_mtu = |p: &crate::kernel::icmp::PingResult| match t.mtu_answer {
        _ if t.disposition != crate::trace::Disposition::MtuExceeded => true,
        Some(crate::trace::MtuAnswer::Silent) => p.mtu.is_none() && p.error.is_none(),
        _ => p.mtu == t.mtu,
    };
    let captured_agrees = observed.as_ref().is_none_or(|o| o.agrees);
    let agree = probed.as_ref().map(|p| {
        hops_agree
            && captured_agrees
            && match p {
                Probed::Ping(p) => (p.received > 0) == delivered && same_mtu(p),
                Probed::Transport(a) => {
                    crate::trace::probe::answer_agrees(&t, delivered, &a.kind, a.from)
                }
            }
    });
    // Exit 0 only for a ping that would be delivered (and, with --probe, is), as `check` does.
    let status = || -> Result<()> {
        if delivered && agree != Some(false) {
            Ok(())
        } else {
            Err(ChecksFailed.into())
        }
    };
    if json {
        print_json(&json!({
            "trace": t,
            "target": intended,
            "reached_target": delivered,
            "probe": probed,
            "probe_hops": hop_probes,
            "capture": observed,
            "drop": observed.as_ref().and_then(|o| o.drop.as_ref()),
            "agree": agree,
            "firewalls_not_evaluated": firewalls,
        }))?;
        return status();
    }
    if minimal {
        println!("{}", crate::trace::render_minimal(&t));
    } else {
        println!("{}", crate::trace::render(&t, detailed));
    }
    if let Some((want, got)) = &elsewhere {
        println!(
            "NOT {want}: {dst} is delivered to {got}; {want} has that address on another network (another lab), which {src_name} cannot reach"
        );
    }
    if !firewalls.is_empty() {
        println!(
            "note: {} {} nftables rules netlab wrote (table inet netlab) that this path crosses as encapsulated or bridged traffic, which trace does not evaluate: a drop or NAT of it is not in this prediction (--probe sends a real ping)",
            firewalls.join(", "),
            if firewalls.len() == 1 { "has" } else { "have" }
        );
    }
    for h in &hop_probes {
        println!("{}", crate::trace::probe::render_hop(h));
    }
    if let Some(o) = &observed {
        println!("{}", crate::trace::capture::render(o));
    }
    if let (Some(Probed::Transport(a)), Some(ok)) = (&probed, agree) {
        let what = match a.kind.as_str() {
            "none" => "no answer",
            kind => crate::trace::probe::kind_words(kind),
        };
        let from = a.from.map(|f| format!(" from {f}")).unwrap_or_default();
        let detail = a
            .what
            .as_ref()
            .or(a.error.as_ref())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let rtt = a.rtt_ms.map(|r| format!(", {r:.1} ms")).unwrap_or_default();
        let got = format!(
            "{what}{from}{detail} ({} port {} from port {}{rtt})",
            if a.proto == crate::kernel::l4::Proto::Tcp {
                "tcp"
            } else {
                "udp"
            },
            a.port,
            a.source_port
        );
        if ok {
            println!(
                "probe: {got}: agrees with the prediction ({})",
                crate::trace::probe::expected_answer(&t, delivered)
            );
        } else {
            println!("probe: {got}: DISAGREES with the prediction {} ({}): a bug in netlab's model or a kernel feature it does not know", t.disposition.as_str(), crate::trace::probe::expected_answer(&t, delivered));
        }
    }
    if let (Some(Probed::Ping(p)), Some(ok)) = (&probed, agree) {
        let got = if p.received > 0 {
            format!(
                "reachable ({}/{}, ttl {})",
                p.received,
                p.sent,
                p.ttl.unwrap_or(0)
            )
        } else {
            match &p.error {
                Some(e) => format!("unreachable ({e})"),
                None => "unreachable".to_string(),
            }
        };
        if ok {
            println!("probe: {got}: agrees with the prediction");
        } else {
            println!("probe: {got}: DISAGREES with the prediction {}: a bug in netlab's model or a kernel feature it does not know", t.disposition.as_str());
        }
    }
    status()
}
