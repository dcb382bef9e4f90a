//! The engine applies a plan to the kernel and takes it away again. Every object is written to
//! the journal before it is created; on any error, or SIGINT/SIGTERM, `up` removes what it
//! created before returning. Everything a lab creates lives inside namespaces the lab owns, so
//! removing those namespaces removes every link, address, route and neighbour with them, and
//! `down` needs nothing but the journal.
//!
//! Speed: one netlink connection per namespace, opened on a thread inside it; namespaces are
//! worked on concurrently, objects within one namespace in plan order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use futures::StreamExt;
use indexmap::IndexMap;

use crate::kernel::netlink::{socket_here, supported, Conn, Feature, Handles, NsLink};
use crate::kernel::netns;
use crate::plan::{Object, Phase, Plan};
use crate::progress::Progress;
use crate::spec::Lab;
use crate::state::{self, Entry, LabState, Owned, OwnedNamespace, Record};

/// How many namespaces are created or configured at once.
const PARALLEL: usize = 16;

/// Fault injection for tests: `NETLAB_FAIL_AT=k` makes the k-th kernel operation of `up` fail;
/// `NETLAB_STEP_DELAY_US=n` waits n microseconds before each one, so that tests can kill or
/// interrupt `up` at many points of a small lab. Every operation passes here, which also makes
/// it where an interrupted `up` stops starting new ones.
struct Faults {
    fail_at: Option<usize>,
    step_delay: Option<std::time::Duration>,
    count: AtomicUsize,
    interrupted: std::sync::OnceLock<&'static str>,
}

impl Faults {
    fn from_env() -> Faults {
        fn var<T: std::str::FromStr>(k: &str) -> Option<T> {
            std::env::var(k).ok().and_then(|v| v.parse().ok())
        }
        Faults {
            fail_at: var("NETLAB_FAIL_AT"),
            step_delay: var("NETLAB_STEP_DELAY_US").map(std::time::Duration::from_micros),
            count: AtomicUsize::new(0),
            interrupted: std::sync::OnceLock::new(),
        }
    }
    fn tick(&self, what: &str) -> Result<()> {
        if let Some(s) = self.interrupted.get() {
            bail!("interrupted by {s}");
        }
        if let Some(d) = self.step_delay {
            std::thread::sleep(d);
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at == Some(n) {
            bail!("{what}: injected failure at operation {n} (NETLAB_FAIL_AT)");
        }
        Ok(())
    }
}

pub struct UpReport {
    pub namespaces: usize,
    pub objects: usize,
    pub seconds: f64,
}

/// Build a lab. On failure nothing of it is left behind.
pub async fn up(lab: &Lab, plan: &Plan, progress: &Progress) -> Result<UpReport> {
    let start = Instant::now();
    preflight(plan).await?;
    enough_files(plan)?;
    // Listen before anything exists: from here on every catchable terminating signal rolls
    // back instead of killing netlab between two kernel operations.
    let mut signals = Signals::listen();
    let mut st = LabState::lock(&lab.name)?;
    let previous = st
        .record()
        .map_err(|e| anyhow!("{e:#}; run `netlab down {}` to clean it up", lab.name))?;
    if let Some(r) = previous {
        if r.complete {
            bail!(
                "lab {} is already up (built from {}); run `netlab down {}` first",
                lab.name,
                r.lab.source,
                lab.name
            );
        }
        bail!(
            "a previous `netlab up` of lab {} did not finish; run `netlab down {}` to clean it up",
            lab.name,
            lab.name
        );
    }
    if !st.read_journal()?.entries.is_empty() {
        bail!("lab {} has a journal but no record (an interrupted run); run `netlab down {}` to clean it up", lab.name, lab.name);
    }
    // Refuse up front if any name is taken: netlab never adopts a namespace it did not create.
    let clashes: Vec<(&str, String)> = plan
        .namespaces
        .iter()
        .filter_map(|n| match netns::probe(&n.name) {
            Ok(netns::Found::Missing) => None,
            Ok(f) => Some((n.name.as_str(), f.describe())),
            Err(e) => Some((n.name.as_str(), e.to_string())),
        })
        .collect();
    if !clashes.is_empty() {
        let names: Vec<&str> = clashes.iter().map(|c| c.0).collect();
        let what: Vec<String> = clashes
            .iter()
            .map(|(n, w)| format!("{}/{n} is {w}", netns::NETNS_DIR))
            .collect();
        let _ = st.remove();
        bail!(
            "namespace {} already exists and does not belong to this lab ({}); remove it (`ip netns del {}`) or run this lab under another name (`netlab up --name NEW`)",
            names.join(", "),
            what.join("; "),
            names[0]
        );
    }
    // The same for the /etc/netns entries that give the containers their names.
    let etc = crate::etc_netns::clashes(lab).and_then(|c| {
        if c.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "{}; remove it, or run this lab under another name (`netlab up --name NEW`)",
                c.join("; ")
            ))
        }
    });
    if let Err(e) = etc {
        let _ = st.remove();
        return Err(e);
    }
    if let Err(e) = netns::prepare_dir() {
        let _ = st.remove();
        return Err(anyhow!(e).context("preparing /run/netns"));
    }
    let mut record = Record {
        lab: lab.clone(),
        created: state::now(),
        complete: false,
        namespaces: plan.namespaces.clone(),
        objects: plan.objects.len(),
        owned: Vec::new(),
        retired: Vec::new(),
    };
    // The journal exists (empty) before the record: a record without a journal then means
    // the journal was lost, not that nothing was journaled yet.
    if let Err(e) = st
        .journal()
        .map_err(anyhow::Error::from)
        .and_then(|_| st.write_record(&record))
    {
        let _ = st.remove();
        return Err(e.context("writing the lab's state"));
    }

    // On a signal, `apply` is not dropped: it stops at its next operation and waits for those
    // under way (a namespace being created on a blocking thread would otherwise appear after
    // the rollback, owned by nobody). Only then is everything removed.
    let faults = Faults::from_env();
    let built = {
        let applying = apply(&mut st, plan, progress, &faults);
        tokio::pin!(applying);
        tokio::select! {
            r = &mut applying => r,
            s = signals.recv() => {
                let _ = faults.interrupted.set(s);
                let _ = applying.await;
                Err(anyhow!("interrupted by {s}"))
            }
        }
    };
    // "Complete" is part of the all-or-nothing: a lab whose final record cannot be written
    // (a full /run) is rolled back like one whose build failed.
    let built = built.and_then(|()| {
        let timings = Timings::from_env();
        crate::etc_netns::sync(&mut st, lab, None)?;
        timings.mark("names");
        record.complete = true;
        record.owned = st.owned()?.namespaces;
        st.write_record(&record)
    });
    match built {
        Ok(()) => {
            progress.finish();
            Ok(UpReport {
                namespaces: plan.namespaces.len(),
                objects: plan.objects.len(),
                seconds: start.elapsed().as_secs_f64(),
            })
        }
        Err(e) => {
            progress.abandon();
            Err(roll_back(st, e))
        }
    }
}

/// Undo a failed `up` from its journal, and say what happened.
fn roll_back(st: LabState, e: anyhow::Error) -> anyhow::Error {
    let lab = st.lab.clone();
    let owned = match st.owned() {
        Ok(o) => o,
        Err(e2) => {
            return e.context(format!(
                "building lab {lab} failed, and reading its journal failed too ({e2:#}); run `netlab down {lab}`"
            ))
        }
    };
    let removal = remove_namespaces(&owned.namespaces);
    let mut alone = left_alone(&owned, &removal);
    match crate::etc_netns::remove(&st) {
        Ok(left) => alone.extend(left),
        Err(e2) => {
            return e.context(format!(
                "building lab {lab} failed, and removing its /etc/netns links failed too ({e2:#}); run `netlab down {lab}`"
            ))
        }
    }
    if !removal.failed.is_empty() {
        return e.context(format!(
            "building lab {lab} failed, and removing {} failed too: {}; run `netlab down {lab}`",
            removal.failed.len(),
            removal.failed.join("; "),
        ));
    }
    let mut msg = format!("building lab {lab} failed; everything it created was removed");
    if !alone.is_empty() {
        msg.push_str(&format!(
            " (left alone, not netlab's: {})",
            alone.join("; ")
        ));
    }
    match st.remove() {
        Ok(left) if !left.is_empty() => msg.push_str(&format!("; {}", left.join("; "))),
        Ok(_) => {}
        Err(e2) => msg.push_str(&format!("; its state could not be removed: {e2:#}")),
    }
    e.context(msg)
}

/// Every signal whose default action ends the process and that a process can catch, caught
/// for as long as `up` works on the kernel.
const TERMINATING: [(libc::c_int, &str); 8] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGALRM, "SIGALRM"),
];

struct Signals {
    rx: Option<tokio::sync::mpsc::UnboundedReceiver<&'static str>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (sig, name) in TERMINATING {
            let Ok(mut s) = signal(SignalKind::from_raw(sig)) else {
                continue;
            };
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            }));
        }
        Signals {
            rx: Some(rx),
            tasks,
        }
    }

    async fn recv(&mut self) -> &'static str {
        match self.rx.as_mut() {
            Some(rx) => match rx.recv().await {
                Some(s) => s,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }
}

impl Drop for Signals {
    /// Once `up` is done, the signals kill netlab again (tokio never gives them back): Ctrl-C
    /// during the checks that follow must not be swallowed.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for (sig, _) in TERMINATING {
            // SAFETY: restoring the default disposition of a signal is async-signal-safe and
            // touches no Rust state.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

async fn apply(st: &mut LabState, plan: &Plan, progress: &Progress, faults: &Faults) -> Result<()> {
    progress.start(plan.len() as u64);
    let timings = Timings::from_env();

    // Namespaces first, each journaled before it exists, then by identity as it comes into
    // being (see netns::create).
    let journal = st.journal()?;
    journal.append(
        &plan
            .namespaces
            .iter()
            .cloned()
            .map(Entry::Namespace)
            .collect::<Vec<_>>(),
    )?;
    type Made = netns::Created<Conn>;
    let created: Vec<(String, Result<Made>)> =
        futures::stream::iter(plan.namespaces.iter().map(|n| {
            let name = n.name.clone();
            let tick = faults.tick(&format!("creating namespace {name}"));
            let journal = journal.clone();
            async move {
                if let Err(e) = tick {
                    return (name, Err(e));
                }
                let n2 = name.clone();
                let rt = tokio::runtime::Handle::current();
                let r = tokio::task::spawn_blocking(move || {
                    let n3 = n2.clone();
                    let record = move |step| journal.append(&[Entry::identity(&n3, step)]);
                    netns::create(&n2, record, move || socket_here(&rt))
                })
                .await;
                let r = match r {
                    Ok(Ok(made)) => Ok(made),
                    Ok(Err(netns::CreateError::Exists)) => Err(anyhow!(NotOurs(name.clone()))),
                    Ok(Err(e)) => Err(anyhow!("creating namespace {name}: {e}")),
                    Err(e) => Err(anyhow!("creating namespace {name}: {e}")),
                };
                (name, r)
            }
        }))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut conns: Vec<(String, Conn)> = Vec::new();
    let mut handles: HashMap<String, std::fs::File> = HashMap::new();
    let mut first_err = None;
    for (name, r) in created {
        match r {
            Ok(made) => {
                handles.insert(name.clone(), made.handle);
                conns.push((name, made.value));
                progress.inc(1);
            }
            Err(e) => {
                if let Some(NotOurs(n)) = e.downcast_ref::<NotOurs>() {
                    st.append(&[Entry::NotCreated { name: n.clone() }])?;
                }
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    timings.mark("namespaces");
    let handles: Handles = std::sync::Arc::new(handles);
    let mut links: HashMap<String, NsLink> = conns
        .into_iter()
        .map(|(name, conn)| {
            let l = NsLink::start(&name, conn).with_handles(handles.clone());
            (name, l)
        })
        .collect();

    for phase in Phase::ALL {
        let objects: Vec<&Object> = plan.objects.iter().filter(|o| o.phase() == phase).collect();
        journal.append(
            &objects
                .iter()
                .map(|o| Entry::Object((*o).clone()))
                .collect::<Vec<_>>(),
        )?;
        let mut by_ns: IndexMap<&str, Vec<&Object>> = IndexMap::new();
        for o in objects {
            by_ns.entry(o.ns()).or_default().push(o);
        }
        let jobs = by_ns.into_iter().map(|(ns, objs)| {
            let link = links
                .remove(ns)
                .ok_or_else(|| anyhow!("internal: no connection for namespace {ns}"));
            async move {
                let mut link = link?;
                for o in objs {
                    faults.tick(&crate::kernel::netlink::describe(o))?;
                    link.apply(o).await?;
                    progress.inc(1);
                }
                Ok::<NsLink, anyhow::Error>(link)
            }
        });
        let done: Vec<Result<NsLink>> = futures::stream::iter(jobs)
            .buffer_unordered(PARALLEL * 4)
            .collect()
            .await;
        for r in done {
            let link = r?;
            links.insert(link.ns.clone(), link);
        }
        timings.mark(&format!("{phase:?}"));
    }
    wait_until_ready(plan, &links).await?;
    timings.mark("ready");
    Ok(())
}

/// `NETLAB_TIMINGS=1`: print how long each stage of `up` took, on stderr (for finding out what
/// the kernel is waiting for; scripts/bench uses it).
struct Timings(Option<std::cell::Cell<Instant>>);

impl Timings {
    fn from_env() -> Timings {
        Timings(
            std::env::var_os("NETLAB_TIMINGS")
                .filter(|v| v != "0")
                .map(|_| std::cell::Cell::new(Instant::now())),
        )
    }

    fn mark(&self, stage: &str) {
        if let Some(t) = &self.0 {
            let now = Instant::now();
            eprintln!(
                "netlab: timing: {stage:<12} {:8.3} s",
                (now - t.get()).as_secs_f64()
            );
            t.set(now);
        }
    }
}

/// How long `up` waits for the kernel to bring the links it set up into operation: a floor,
/// and one second per 100 devices, the pace of the kernel's linkwatch worker where it cannot
/// be hurried (before Linux 6.8; see [`NsLink::sync_linkwatch`]).
fn ready_timeout(devices: usize) -> std::time::Duration {
    std::time::Duration::from_secs(5 + devices as u64 / 100)
}

/// Wait until every device the plan set up is operational (operstate UP, or UNKNOWN for devices
/// without carrier such as lo and vxlan). The kernel applies carrier changes, and attaches the
/// queueing discipline that lets packets out, in its linkwatch worker, which is rate-limited
/// machine-wide (at most 100 devices per run, non-urgent runs once a second): with many links
/// changing at once, a lab looks built yet drops its first packets for seconds. So each pending
/// device's linkwatch work is run on the spot, and `up` returns (and runs checks) only once the
/// lab carries traffic; a lab that still does not after the timeout is an error (rolled back).
async fn wait_until_ready(plan: &Plan, links: &HashMap<String, NsLink>) -> Result<()> {
    // A bridge has carrier only once it has a port: one planned without any (a network with no
    // endpoint on that host yet) stays NO-CARRIER, as Docker's does, and is not waited for.
    let mut bridges: std::collections::HashSet<(&str, &str)> = Default::default();
    let mut with_ports: std::collections::HashSet<(&str, &str)> = Default::default();
    for o in &plan.objects {
        match o {
            Object::Bridge { ns, name, .. } => {
                bridges.insert((ns, name));
            }
            Object::Master { ns, master, .. }
            | Object::Veth {
                ns,
                master: Some(master),
                ..
            } => {
                with_ports.insert((ns, master));
            }
            _ => {}
        }
    }
    let bridge_without_ports =
        |ns: &str, dev: &str| bridges.contains(&(ns, dev)) && !with_ports.contains(&(ns, dev));
    // Devices with carrier must reach operstate UP: UNKNOWN there only means linkwatch has not
    // run for them yet. Others (lo, vxlan) never leave UNKNOWN.
    let mut carrier: std::collections::HashSet<(&str, &str)> = with_ports.clone();
    for o in &plan.objects {
        if let Object::Veth {
            ns,
            name,
            peer_ns,
            peer,
            ..
        } = o
        {
            carrier.insert((ns, name));
            carrier.insert((peer_ns, peer));
        }
    }
    let carrier = &carrier;
    let mut pending: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for o in &plan.objects {
        if let Object::Up { ns, dev } = o {
            if !bridge_without_ports(ns, dev) {
                pending.entry(ns.as_str()).or_default().push(dev.as_str());
            }
        }
    }
    let devices: usize = pending.values().map(Vec::len).sum();
    let timeout = ready_timeout(devices);
    let deadline = Instant::now() + timeout;
    loop {
        // In plan order, a bridge comes before its ports: one whose carrier they turn on is
        // settled in the next round. Where the kernel ran a device's linkwatch work on the
        // spot, its answer (carrier) is the device's state, with nothing to read back.
        let synced = crate::kernel::netlink::linkwatch_syncs();
        for (ns, devs) in pending.iter_mut() {
            if let Some(l) = links.get(*ns) {
                devs.retain(|d| !matches!(l.sync_linkwatch(d), Ok(true) if synced));
            }
        }
        pending.retain(|_, d| !d.is_empty());
        if pending.is_empty() {
            return Ok(());
        }
        let checks = pending
            .iter()
            .filter_map(|(ns, devs)| links.get(*ns).map(|l| (*ns, devs, l)))
            .map(|(ns, devs, l)| async move {
                // A few devices (a change) are asked for by name; many (`up`), in one dump.
                let msgs = if devs.len() <= 8 {
                    l.links_named(devs).await
                } else {
                    l.links().await
                };
                let ready: Vec<String> = match msgs {
                    Ok(ms) => ms
                        .iter()
                        .filter_map(|m| {
                            let name = crate::kernel::netlink::link_name(m)?;
                            let ok = if carrier.contains(&(ns, name)) {
                                crate::kernel::netlink::is_oper_up(m)
                            } else {
                                crate::kernel::netlink::is_operational(m)
                            };
                            ok.then(|| name.to_string())
                        })
                        .collect(),
                    Err(_) => return (ns, devs.clone()),
                };
                (
                    ns,
                    devs.iter()
                        .copied()
                        .filter(|d| !ready.iter().any(|r| r == d))
                        .collect::<Vec<&str>>(),
                )
            });
        let left: Vec<(&str, Vec<&str>)> = futures::stream::iter(checks)
            .buffer_unordered(PARALLEL * 4)
            .collect()
            .await;
        pending = left.into_iter().filter(|(_, d)| !d.is_empty()).collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let n: usize = pending.values().map(Vec::len).sum();
            let names: Vec<String> = pending
                .iter()
                .flat_map(|(ns, d)| d.iter().map(move |x| format!("{ns}:{x}")))
                .take(8)
                .collect();
            bail!(
                "after {}s, {n} of the {devices} links set up are still not operational ({}{}): the kernel did not bring them into operation (`ip -d link show` in those namespaces tells their state)",
                timeout.as_secs(),
                names.join(", "),
                if n > names.len() { ", ..." } else { "" }
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Kernel features the plan needs, checked before anything of the lab exists, so a kernel that
/// lacks one refuses the lab with the fix rather than halfway through building it.
async fn preflight(plan: &Plan) -> Result<()> {
    for feature in [Feature::Vlan, Feature::Ipvlan, Feature::Dummy] {
        let needed = plan.objects.iter().any(|o| match feature {
            Feature::Vlan => matches!(o, Object::Vlan { .. }),
            Feature::Ipvlan => matches!(o, Object::Ipvlan { .. }),
            Feature::Dummy => matches!(o, Object::Dummy { .. }),
        });
        if needed && !supported(feature).await? {
            bail!(feature.missing());
        }
    }
    let esp = plan
        .objects
        .iter()
        .any(|o| matches!(o, Object::XfrmState { .. }));
    if esp
        && !tokio::task::spawn_blocking(crate::kernel::xfrm::esp_supported)
            .await
            .map_err(std::io::Error::other)??
    {
        bail!(crate::kernel::xfrm::NO_ESP);
    }
    Ok(())
}

/// `up` holds two descriptors per namespace (its netlink socket and a handle on it) and a few
/// more while it works: refuse up front, with the fix, if the open-file limit cannot hold
/// them, rather than fail halfway (and then lack descriptors to roll back with).
fn enough_files(plan: &Plan) -> Result<()> {
    let need = plan.namespaces.len() as u64 * 3 + 64;
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(s, _)| s)
        .unwrap_or(u64::MAX);
    if soft < need {
        bail!(
            "this lab needs about {need} open files (three per namespace) but the limit is {soft} and could not be raised; raise it (`ulimit -n {}`) and try again",
            need.next_power_of_two()
        );
    }
    Ok(())
}

/// A namespace with the planned name already existed: it is not ours.
#[derive(Debug)]
struct NotOurs(String);

impl std::fmt::Display for NotOurs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "namespace {} already exists and does not belong to this lab",
            self.0
        )
    }
}

impl std::error::Error for NotOurs {}

/// What removing a lab's namespaces did.
#[derive(Default)]
struct Removed {
    removed: usize,
    /// `name: what is there` for names holding something that is not netlab's.
    not_ours: Vec<String>,
    failed: Vec<String>,
}

/// Remove the namespaces netlab created, by identity (see netns::remove).
///
/// Each unmount waits for an RCU grace period in the kernel (~1 ms), so they run on several
/// threads at once: at N=1000 this takes `down` from ~0.8 s to ~0.2 s.
fn remove_namespaces(owned: &[OwnedNamespace]) -> Removed {
    const REMOVERS: usize = 32;
    let next = AtomicUsize::new(0);
    let out = std::sync::Mutex::new(Removed::default());
    std::thread::scope(|s| {
        for _ in 0..REMOVERS.min(owned.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(o) = owned.get(i) else { break };
                let r = netns::remove(&o.name, o.ns, o.file);
                let mut out = out.lock().unwrap();
                match r {
                    Ok(netns::Removal::Removed) => out.removed += 1,
                    Ok(netns::Removal::Absent) => {}
                    Ok(netns::Removal::NotOurs(what)) => {
                        out.not_ours.push(format!("{}: {what}", o.name))
                    }
                    Err(e) => out.failed.push(format!("{}: {e}", o.name)),
                }
            });
        }
    });
    out.into_inner().unwrap()
}

/// Names the lab planned but never proved its own that hold something now (after a crash,
/// another tool may have taken the name): reported, never removed.
fn left_alone(owned: &Owned, removal: &Removed) -> Vec<String> {
    let mut out = removal.not_ours.clone();
    for n in &owned.unproven {
        match netns::probe(n) {
            Ok(netns::Found::Missing) | Err(_) => {}
            Ok(f) => out.push(format!(
                "{n}: {}, which netlab has no record of creating",
                f.describe()
            )),
        }
    }
    out
}

pub enum DownReport {
    Removed {
        namespaces: usize,
        /// Things at the lab's names that are not netlab's, left alone.
        left_alone: Vec<String>,
        /// Journal or state problems worth telling (damaged lines, files kept).
        notes: Vec<String>,
    },
    NotUp,
}

/// Take a lab down from its journal alone (the lab file may have changed or be gone).
pub fn down(lab: &str) -> Result<DownReport> {
    if !state::exists(lab) {
        return Ok(DownReport::NotUp);
    }
    let st = LabState::lock(lab)?;
    let owned = st.owned()?;
    // The journal is lost and the record holds no identities: whatever is at the lab's names
    // may or may not be netlab's. Refuse, and say what to remove if it is.
    if owned.namespaces.is_empty() && !owned.unproven.is_empty() {
        let journal = st.read_journal()?;
        // Present and empty: `up` stopped before journaling anything, so it created nothing.
        if !journal.present || (journal.entries.is_empty() && !journal.skipped.is_empty()) {
            let present: Vec<&String> =
                owned.unproven.iter().filter(|n| netns::exists(n)).collect();
            if !present.is_empty() {
                let cmds: Vec<String> = present
                    .iter()
                    .map(|n| format!("ip netns del {n}"))
                    .collect();
                bail!(
                    "the journal of lab {lab} is lost, so netlab cannot prove which of these namespaces it created: {}. If they are the lab's, remove them (`{}`), then run `netlab down {lab}` again to forget the lab",
                    present.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    cmds.join("; ")
                );
            }
        }
    }
    let removal = remove_namespaces(&owned.namespaces);
    if !removal.failed.is_empty() {
        bail!("could not remove {} of lab {lab}: {}; the journal is kept, run `netlab down {lab}` again", removal.failed.len(), removal.failed.join("; "));
    }
    let mut alone = left_alone(&owned, &removal);
    alone.extend(crate::etc_netns::remove(&st)?);
    let mut notes = owned.problems.clone();
    notes.extend(st.remove()?);
    Ok(DownReport::Removed {
        namespaces: removal.removed,
        left_alone: alone,
        notes,
    })
}

/// A runtime change netlab will not make in place, with the reason (bad input: exit 2).
#[derive(Debug)]
pub struct NotInPlace(pub String);

impl std::fmt::Display for NotInPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotInPlace {}

pub struct ChangeReport {
    pub added: usize,
    pub removed: usize,
    /// The iproute2 commands of the change (what `--dry-run` prints).
    pub script: Vec<String>,
}

/// Change a running lab to `new_lab`: apply `plan(new) - plan(old)` with the rules of `up`
/// (every namespace touched must still be the one netlab created; objects journaled before
/// they are created; on failure, everything done is undone, so the lab is exactly as before),
/// then record the new model. `dry_run` computes and returns the change only.
pub async fn change(lab: &str, new_lab: Lab, dry_run: bool) -> Result<ChangeReport> {
    use crate::plan::delta::creates_links;
    let timings = Timings::from_env();
    let mut st = LabState::lock(lab)?;
    let mut record = match st.record()? {
        Some(r) if r.complete => r,
        Some(_) => bail!("lab {lab} is not completely up; run `netlab down {lab}`"),
        None => bail!(NotInPlace(format!("lab {lab} is not up"))),
    };
    timings.mark("record");
    // Overlay sandboxes keep their veth names across the change, as libnetwork's do.
    let mut new_lab = new_lab;
    crate::spec::change::carry_over(&record.lab, &mut new_lab);
    let old = crate::plan::plan(&record.lab);
    let new = crate::plan::plan(&new_lab);
    let d = crate::plan::delta::delta(&old, &new);
    timings.mark("plan");
    // The same device removed and created again is another container's device renamed (an
    // overlay sandbox names its veths by position): not a change netlab can make in place.
    let added_links: Vec<(&str, &str)> = d.add.iter().flat_map(creates_links).collect();
    if let Some((ns, dev)) = d
        .remove
        .iter()
        .flat_map(creates_links)
        .find(|l| added_links.contains(l))
    {
        bail!(NotInPlace(format!(
            "this change would remove {dev} in {ns} and create it again for another endpoint (a lab file's addresses and interface names are given in its order, so a container or network put before others shifts theirs), so it cannot be made in place; add containers and networks after the existing ones, or take the lab down and up with the new lab file"
        )));
    }
    let mut script: Vec<String> = d.add_namespaces.iter().map(|n| n.to_string()).collect();
    script.extend(d.script());
    script.extend(
        d.remove_namespaces
            .iter()
            .map(|n| format!("ip netns del {}", n.name)),
    );
    let report = ChangeReport {
        added: d.add.len() + d.add_namespaces.len(),
        removed: d.remove.len() + d.remove_namespaces.len(),
        script,
    };
    if dry_run {
        return Ok(report);
    }
    if d.is_empty() {
        // Only what the kernel does not hold changed (checks, scenarios): record it.
        let before = std::mem::replace(&mut record.lab, new_lab);
        st.write_record(&record)?;
        crate::etc_netns::sync(&mut st, &record.lab, Some(&before))?;
        return Ok(report);
    }
    let gone_ns: Vec<&str> = d
        .remove_namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();

    // Every existing namespace the change works in must still be the one netlab created.
    let mut handles: HashMap<String, std::fs::File> = HashMap::new();
    let new_ns: Vec<&str> = d.add_namespaces.iter().map(|n| n.name.as_str()).collect();
    for ns in d.namespaces() {
        if new_ns.contains(&ns) {
            continue;
        }
        let want = record
            .owned
            .iter()
            .find(|o| o.name == ns)
            .and_then(|o| o.ns);
        let f = netns::open(ns).map_err(|e| anyhow!("{e}; run `netlab status {lab}`"))?;
        if want.is_none() || netns::Identity::of_fd(&f).ok() != want {
            bail!("namespace {ns} is not the one netlab created for lab {lab} (see `netlab status {lab}`); netlab changes nothing in it");
        }
        handles.insert(ns.to_string(), f);
    }
    let faults = Faults::from_env();

    // New namespaces first, exactly as `up` makes them: journaled by name, then by identity
    // before they can be seen. A name that is taken is not adopted. The record plans them
    // first, so that `down` accepts their journal entries should netlab die halfway.
    let planned_before = record.namespaces.clone();
    if !d.add_namespaces.is_empty() {
        record.namespaces.extend(d.add_namespaces.iter().cloned());
        st.write_record(&record)?;
    }
    let journal = st.journal()?;
    journal.append(
        &d.add_namespaces
            .iter()
            .cloned()
            .map(Entry::Namespace)
            .collect::<Vec<_>>(),
    )?;
    let mut made: Vec<OwnedNamespace> = Vec::new();
    let mut conns: Vec<(String, Conn)> = Vec::new();
    let mut result: Result<()> = Ok(());
    for n in &d.add_namespaces {
        if let Err(e) = faults.tick(&format!("creating namespace {}", n.name)) {
            result = Err(e);
            break;
        }
        let name = n.name.clone();
        let j = journal.clone();
        let rt = tokio::runtime::Handle::current();
        let r = tokio::task::spawn_blocking(move || {
            let n3 = name.clone();
            let record = move |step| j.append(&[Entry::identity(&n3, step)]);
            netns::create(&name, record, move || socket_here(&rt))
        })
        .await
        .map_err(|e| anyhow!("creating namespace {}: {e}", n.name));
        match r {
            Ok(Ok(c)) => {
                made.push(OwnedNamespace {
                    name: n.name.clone(),
                    ns: Some(c.identity),
                    file: Some(c.placeholder),
                });
                handles.insert(n.name.clone(), c.handle);
                conns.push((n.name.clone(), c.value));
            }
            Ok(Err(netns::CreateError::Exists)) => {
                st.append(&[Entry::NotCreated {
                    name: n.name.clone(),
                }])?;
                result = Err(anyhow!(NotOurs(n.name.clone())));
                break;
            }
            Ok(Err(e)) => {
                result = Err(anyhow!("creating namespace {}: {e}", n.name));
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    timings.mark("namespaces");
    let handles: Handles = std::sync::Arc::new(handles);
    let mut links: HashMap<String, NsLink> = HashMap::new();
    for (ns, conn) in conns {
        links.insert(
            ns.clone(),
            NsLink::start(&ns, conn).with_handles(handles.clone()),
        );
    }
    for (ns, f) in handles.iter() {
        if links.contains_key(ns) {
            continue;
        }
        let rt = tokio::runtime::Handle::current();
        let conn = netns::run_in_handle(f, move || socket_here(&rt))?;
        links.insert(
            ns.clone(),
            NsLink::start(ns, conn).with_handles(handles.clone()),
        );
    }
    if result.is_ok() {
        st.append(&d.add.iter().cloned().map(Entry::Object).collect::<Vec<_>>())?;
    }

    // Removals, then additions, each in order. What lives in a namespace being removed goes
    // with it, but its links are deleted first: the kernel frees a namespace asynchronously,
    // and until then a veth's far end in a namespace that stays (a container's eth0) would
    // still be there, and a vxlan's UDP socket in its host still bound.
    let mut removed: Vec<&Object> = Vec::new();
    let mut macs: HashMap<(String, String), [u8; 6]> = HashMap::new();
    if result.is_ok() {
        for o in d.removal_roots() {
            let ns = undo_ns(o);
            if gone_ns.contains(&ns) && creates_links(o).is_empty() {
                continue;
            }
            let r = match links.get_mut(ns) {
                Some(l) => match faults.tick(&crate::plan::delta::undo_command(o)) {
                    Ok(()) => {
                        // A veth or vxlan made again on undo gets its MAC back (the kernel
                        // would pick a new one, and a bridge takes its ports' lowest MAC).
                        if let Some(name) = random_mac_link(o) {
                            if let Ok(Some(mac)) = l.mac(name).await {
                                macs.insert((ns.to_string(), name.to_string()), mac);
                            }
                        }
                        l.undo(o).await.map_err(anyhow::Error::from)
                    }
                    Err(e) => Err(e),
                },
                None => Err(anyhow!("internal: no connection for namespace {ns}")),
            };
            match r {
                Ok(()) => removed.push(o),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
    }
    let mut added: Vec<&Object> = Vec::new();
    if result.is_ok() {
        'phases: for phase in Phase::ALL {
            for o in d.add.iter().filter(|o| o.phase() == phase) {
                let r = match links.get_mut(o.ns()) {
                    Some(l) => match faults.tick(&crate::kernel::netlink::describe(o)) {
                        Ok(()) => l.apply(o).await.map_err(anyhow::Error::from),
                        Err(e) => Err(e),
                    },
                    None => Err(anyhow!("internal: no connection for namespace {}", o.ns())),
                };
                match r {
                    Ok(()) => added.push(o),
                    Err(e) => {
                        result = Err(e);
                        break 'phases;
                    }
                }
            }
        }
    }
    let mut owned = record.owned.clone();
    owned.extend(made.iter().cloned());
    let mini = Plan {
        lab: lab.to_string(),
        namespaces: Vec::new(),
        objects: d.add.clone(),
    };
    timings.mark("apply");
    let result = match result {
        Ok(()) => wait_until_ready(&mini, &links).await,
        Err(e) => Err(e),
    };
    timings.mark("ready");
    let mut before: Option<crate::spec::Lab> = None;
    let result = result.and_then(|()| {
        let mut next = record.clone();
        next.lab = new_lab;
        next.objects = new.objects.len();
        // Namespaces being removed stay planned and owned until they are gone.
        next.namespaces = new.namespaces.clone();
        next.namespaces.extend(d.remove_namespaces.iter().cloned());
        next.owned = owned.clone();
        st.write_record(&next)?;
        before = Some(std::mem::replace(&mut record, next).lab);
        Ok(())
    });
    if let Err(e) = result {
        let mut left = undo_change(&mut links, &d, &added, &removed, &macs).await;
        drop(links);
        for m in made.iter().rev() {
            match netns::remove(&m.name, m.ns, m.file) {
                Ok(_) => {}
                Err(e) => left.push(format!("{}: {e}", m.name)),
            }
        }
        if left.is_empty() && record.namespaces != planned_before {
            // Gone again, but journaled: their entries stay the lab's (see Record::retired).
            for m in &made {
                if !record.retired.contains(&m.name) {
                    record.retired.push(m.name.clone());
                }
            }
            record.namespaces = planned_before;
            if let Err(e2) = st.write_record(&record) {
                left.push(format!("{e2:#}"));
            }
        }
        if left.is_empty() {
            return Err(e.context(format!(
                "changing lab {lab} failed; it is exactly as it was"
            )));
        }
        return Err(e.context(format!(
            "changing lab {lab} failed, and undoing it failed too: {}; run `netlab down {lab}` and up again",
            left.join("; ")
        )));
    }
    drop(links);
    let names = crate::etc_netns::sync(&mut st, &record.lab, before.as_ref());
    timings.mark("names");
    // Last, the namespaces the new model no longer has, by identity; what fails to go stays
    // owned, so `down` still removes it.
    if !gone_ns.is_empty() {
        let gone: Vec<OwnedNamespace> = record
            .owned
            .iter()
            .filter(|o| gone_ns.contains(&o.name.as_str()))
            .cloned()
            .collect();
        let r = remove_namespaces(&gone);
        let failed: Vec<&str> = r
            .failed
            .iter()
            .map(|f| f.split(':').next().unwrap_or_default())
            .collect();
        let keep = |n: &str| !gone_ns.contains(&n) || failed.contains(&n);
        record.owned.retain(|o| keep(&o.name));
        record.namespaces.retain(|n| keep(&n.name));
        for n in &gone_ns {
            if !keep(n) && !record.retired.iter().any(|r| r == n) {
                record.retired.push(n.to_string());
            }
        }
        st.write_record(&record)?;
        if !r.failed.is_empty() {
            bail!(
                "lab {lab} was changed, but removing {} failed: {}; `netlab down {lab}` removes it",
                r.failed.len(),
                r.failed.join("; ")
            );
        }
    }
    names.map_err(|e| {
        e.context(format!(
            "lab {lab} was changed, but its containers' names could not be updated; `netlab down {lab}` removes them"
        ))
    })?;
    Ok(report)
}

/// The namespace whose connection undoes `o`: where the link lives for links created into
/// another namespace, else the object's own.
fn undo_ns(o: &Object) -> &str {
    match o {
        Object::Vxlan { target_ns, .. }
        | Object::Macvlan { target_ns, .. }
        | Object::Ipvlan { target_ns, .. } => target_ns,
        _ => o.ns(),
    }
}

/// The link an object creates whose MAC the kernel picks at random (a veth's own end, a
/// vxlan), living in [`undo_ns`]: a bridge follows its ports, the rest have theirs set.
fn random_mac_link(o: &Object) -> Option<&str> {
    match o {
        Object::Veth { name, .. } | Object::Vxlan { name, .. } => Some(name),
        _ => None,
    }
}

/// Put a failed change back: undo what was added (newest first; what lives on an added link
/// goes with it), then create again what was removed (with everything that lived on it).
async fn undo_change(
    links: &mut HashMap<String, NsLink>,
    d: &crate::plan::delta::Delta,
    added: &[&Object],
    removed: &[&Object],
    macs: &HashMap<(String, String), [u8; 6]>,
) -> Vec<String> {
    use crate::plan::delta::{configures, creates_links};
    let mut failed = Vec::new();
    let new_links: Vec<(&str, &str)> = added.iter().flat_map(|o| creates_links(o)).collect();
    for o in added.iter().rev() {
        if configures(o).is_some_and(|dev| new_links.contains(&dev)) {
            continue;
        }
        if let Some(l) = links.get_mut(undo_ns(o)) {
            if let Err(e) = l.undo(o).await {
                failed.push(e.to_string());
            }
        }
    }
    // What was removed, and everything on the links that went with it, in plan order.
    let gone: Vec<(&str, &str)> = removed.iter().flat_map(|o| creates_links(o)).collect();
    let again: Vec<&Object> = d
        .remove
        .iter()
        .filter(|o| removed.contains(o) || configures(o).is_some_and(|dev| gone.contains(&dev)))
        .collect();
    for phase in Phase::ALL {
        for o in again.iter().filter(|o| o.phase() == phase) {
            if let Some(l) = links.get_mut(o.ns()) {
                if let Err(e) = l.apply(o).await {
                    failed.push(e.to_string());
                    continue;
                }
            }
            let Some(name) = random_mac_link(o) else {
                continue;
            };
            let ns = undo_ns(o);
            if let (Some(mac), Some(l)) = (
                macs.get(&(ns.to_string(), name.to_string())),
                links.get_mut(ns),
            ) {
                if let Err(e) = l.set_mac(name, *mac).await {
                    failed.push(e.to_string());
                }
            }
        }
    }
    failed
}

/// A connection to the lab's node namespace `ns`, checked to be the one netlab created, and
/// the device `dev` in it (refused as [`NotInPlace`] when there is none).
async fn node_device(
    record: &Record,
    ns: &str,
    dev: &str,
) -> Result<(NsLink, netlink_packet_route::link::LinkMessage)> {
    let lab = &record.lab.name;
    let want = record
        .owned
        .iter()
        .find(|o| o.name == ns)
        .and_then(|o| o.ns);
    let f = netns::open(ns)?;
    if want.is_none() || netns::Identity::of_fd(&f).ok() != want {
        bail!("namespace {ns} is not the one netlab created (see `netlab status {lab}`); netlab changes nothing in it");
    }
    let rt = tokio::runtime::Handle::current();
    let conn = netns::run_in_handle(&f, move || socket_here(&rt))?;
    let l = NsLink::start(ns, conn);
    let links = l.links().await?;
    match links
        .iter()
        .find(|m| crate::kernel::netlink::link_name(m) == Some(dev))
    {
        Some(m) => Ok((l, m.clone())),
        None => {
            let names: Vec<&str> = links
                .iter()
                .filter_map(|m| crate::kernel::netlink::link_name(m))
                .collect();
            bail!(NotInPlace(format!(
                "{ns} has no interface {dev} (it has {})",
                names.join(", ")
            )))
        }
    }
}

/// Set interface `dev` of the lab's node namespace `ns` up or down, after checking the
/// namespace is still the one netlab created. Returns whether it was up before.
pub async fn set_link(record: &Record, ns: &str, dev: &str, up: bool) -> Result<bool> {
    let (mut l, m) = node_device(record, ns, dev).await?;
    let was_up = crate::kernel::netlink::is_up(&m);
    let o = Object::Up {
        ns: ns.to_string(),
        dev: dev.to_string(),
    };
    if up {
        l.apply(&o).await?;
        if !was_up {
            restore_flushed(record, &mut l, ns, dev).await?;
        }
    } else {
        l.undo(&o).await?;
    }
    Ok(was_up)
}

/// What the kernel took away from `dev` while it was down, put back from the lab's plan when
/// it comes up: its IPv6 addresses (Linux flushes them on the way down, keep_addr_on_down = 0)
/// and the routes through it, of both families (fib_disable_ip and rt6_sync_down_dev delete
/// them; only the prefix routes of the addresses come back by themselves). One already there
/// is left as it is.
async fn restore_flushed(record: &Record, l: &mut NsLink, ns: &str, dev: &str) -> Result<()> {
    let plan = crate::plan::plan(&record.lab);
    for o in plan.objects.iter().filter(|o| o.ns() == ns) {
        let on_dev = match o {
            Object::Address6 { dev: d, .. }
            | Object::Route { dev: d, .. }
            | Object::Route6 { dev: d, .. } => d == dev,
            _ => false,
        };
        if !on_dev {
            continue;
        }
        match l.apply(o).await {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(anyhow!("{dev} in {ns} is up, but {e}"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Make `dev`'s root qdisc the impairment `want` (one qdisc, put in place by one kernel
/// operation, so a refusal leaves the device as it was), or with `None` remove what is there.
/// Says what was done. An impairment is kernel state of the device, not part of the lab's
/// model: `down` removes it with the device.
pub async fn impair(
    record: &Record,
    ns: &str,
    dev: &str,
    want: Option<&crate::kernel::tc::Impairment>,
) -> Result<String> {
    use crate::kernel::tc;
    let (l, link) = node_device(record, ns, dev).await?;
    let index = link.header.index;
    let mtu = link
        .attributes
        .iter()
        .find_map(|a| match a {
            netlink_packet_route::link::LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        })
        .unwrap_or(1500);
    match want {
        Some(imp) => {
            let major = tc::set(l.handle(), index, mtu, imp)
                .await
                .map_err(|e| anyhow!("setting {imp} on {dev} in {ns}: {e}; {dev} is unchanged"))?;
            Ok(format!("impaired: {imp} ({} {major}:)", imp.kind()))
        }
        None => match tc::root(l.handle(), index).await? {
            // Handle 0 is the device's default qdisc: nothing netlab (or anyone) set.
            Some(q) if q.handle != 0 => {
                tc::clear(l.handle(), index)
                    .await
                    .map_err(|e| anyhow!("removing the {} qdisc of {dev} in {ns}: {e}", q.kind))?;
                Ok(format!(
                    "cleared (its {} qdisc removed; back to the default)",
                    q.kind
                ))
            }
            _ => Ok("has no impairment; nothing to clear".to_string()),
        },
    }
}
