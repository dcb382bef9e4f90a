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

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use indexmap::IndexMap;

use crate::kernel::netlink::{socket_here, vlan_supported, Conn, NsLink, NO_VLAN};
use crate::kernel::netns;
use crate::plan::{Object, Phase, Plan};
use crate::progress::Progress;
use crate::spec::Lab;
use crate::state::{self, Entry, LabState, Record};

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
    // Listen before anything exists: from here on SIGINT/SIGTERM roll back instead of killing
    // netlab between two kernel operations.
    let mut signals = Signals::listen();
    let mut st = LabState::lock(&lab.name)?;
    if let Some(r) = st.record()? {
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
    if !st.entries()?.is_empty() {
        bail!("lab {} has a journal but no record (an interrupted run); run `netlab down {}` to clean it up", lab.name, lab.name);
    }
    // Refuse up front if any name is taken: netlab never adopts a namespace it did not create.
    let clashes: Vec<&str> = plan
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| netns::exists(n))
        .collect();
    if !clashes.is_empty() {
        let _ = st.remove();
        bail!(
            "namespace {} already exists and does not belong to this lab; remove it (`ip netns del {}`) or run this lab under another name (`netlab up --name NEW`)",
            clashes.join(", "),
            clashes[0]
        );
    }
    netns::prepare_dir().context("preparing /run/netns")?;
    let mut record = Record {
        lab: lab.clone(),
        created: state::now(),
        complete: false,
        namespaces: plan.namespaces.clone(),
        objects: plan.objects.len(),
    };
    st.write_record(&record)?;

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
    match built {
        Ok(()) => {
            record.complete = true;
            st.write_record(&record)?;
            progress.finish();
            Ok(UpReport {
                namespaces: plan.namespaces.len(),
                objects: plan.objects.len(),
                seconds: start.elapsed().as_secs_f64(),
            })
        }
        Err(e) => {
            progress.abandon();
            let leftovers = remove_namespaces(&st)?;
            if leftovers.is_empty() {
                st.remove()?;
                Err(e.context(format!(
                    "building lab {} failed; everything it created was removed",
                    lab.name
                )))
            } else {
                Err(e.context(format!(
                    "building lab {} failed, and removing {} failed too: {}; run `netlab down {}`",
                    lab.name,
                    leftovers.len(),
                    leftovers.join("; "),
                    lab.name
                )))
            }
        }
    }
}

/// SIGINT and SIGTERM, caught for as long as `up` works on the kernel.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals(
            signal(SignalKind::interrupt())
                .and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
                .ok(),
        )
    }

    async fn recv(&mut self) -> &'static str {
        let Some((int, term)) = &mut self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
}

impl Drop for Signals {
    /// Once `up` is done, the signals kill netlab again (tokio never gives them back): Ctrl-C
    /// during the checks that follow must not be swallowed.
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition of a signal is async-signal-safe and
        // touches no Rust state.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

async fn apply(st: &mut LabState, plan: &Plan, progress: &Progress, faults: &Faults) -> Result<()> {
    progress.start(plan.len() as u64);

    // Namespaces first, each journaled before it exists.
    st.journal(
        &plan
            .namespaces
            .iter()
            .cloned()
            .map(Entry::Namespace)
            .collect::<Vec<_>>(),
    )?;
    let created: Vec<(String, Result<Conn>)> =
        futures::stream::iter(plan.namespaces.iter().map(|n| {
            let name = n.name.clone();
            let tick = faults.tick(&format!("creating namespace {name}"));
            async move {
                if let Err(e) = tick {
                    return (name, Err(e));
                }
                let n2 = name.clone();
                let rt = tokio::runtime::Handle::current();
                let r = tokio::task::spawn_blocking(move || {
                    netns::create(&n2, move || socket_here(&rt))
                })
                .await;
                let r = match r {
                    Ok(Ok(conn)) => Ok(conn),
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
    let mut links: HashMap<String, NsLink> = HashMap::new();
    let mut first_err = None;
    for (name, r) in created {
        match r {
            Ok(conn) => {
                links.insert(name.clone(), NsLink::start(&name, conn));
                progress.inc(1);
            }
            Err(e) => {
                if let Some(NotOurs(n)) = e.downcast_ref::<NotOurs>() {
                    st.journal(&[Entry::NotCreated { name: n.clone() }])?;
                }
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    for phase in Phase::ALL {
        let objects: Vec<&Object> = plan.objects.iter().filter(|o| o.phase() == phase).collect();
        st.journal(
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
    }
    wait_until_ready(plan, &links).await;
    Ok(())
}

/// How long `up` waits for the kernel to bring every link it set up into operation.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Wait until every device the plan set up is operational (operstate UP, or UNKNOWN for devices
/// without carrier such as lo and vxlan). The kernel applies carrier changes, and attaches the
/// queueing discipline that lets packets out, in its linkwatch worker, which is rate-limited
/// machine-wide: with many links changing at once, a lab can look built yet drop its first
/// packets for up to a second. `up` returns (and runs checks) only once the lab really works.
async fn wait_until_ready(plan: &Plan, links: &HashMap<String, NsLink>) {
    let mut pending: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for o in &plan.objects {
        if let Object::Up { ns, dev } = o {
            pending.entry(ns.as_str()).or_default().push(dev.as_str());
        }
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let checks = pending
            .iter()
            .filter_map(|(ns, devs)| links.get(*ns).map(|l| (*ns, devs, l)))
            .map(|(ns, devs, l)| async move {
                let ready: Vec<String> = match l.links().await {
                    Ok(ms) => ms
                        .iter()
                        .filter(|m| crate::kernel::netlink::is_operational(m))
                        .filter_map(|m| crate::kernel::netlink::link_name(m).map(String::from))
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
            return;
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = pending
                .iter()
                .flat_map(|(ns, d)| d.iter().map(move |x| format!("{ns}:{x}")))
                .take(8)
                .collect();
            eprintln!(
                "warning: after {}s these links are still not operational: {}",
                READY_TIMEOUT.as_secs(),
                names.join(", ")
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Kernel features the plan needs, checked before anything of the lab exists, so a kernel that
/// lacks one refuses the lab with the fix rather than halfway through building it.
async fn preflight(plan: &Plan) -> Result<()> {
    let vlans = plan
        .objects
        .iter()
        .any(|o| matches!(o, Object::Vlan { .. }));
    if vlans && !vlan_supported().await? {
        bail!(NO_VLAN);
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

/// Remove every namespace the journal says this lab created. Returns what could not be removed.
///
/// Each unmount waits for an RCU grace period in the kernel (~1 ms), so they run on several
/// threads at once: at N=1000 this takes `down` from ~0.8 s to ~0.2 s.
fn remove_namespaces(st: &LabState) -> Result<Vec<String>> {
    const REMOVERS: usize = 32;
    let names = st.owned_namespaces()?;
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..REMOVERS.min(names.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                if let Err(e) = netns::remove(name) {
                    failed.lock().unwrap().push(format!("{name}: {e}"));
                }
            });
        }
    });
    Ok(failed.into_inner().unwrap())
}

pub enum DownReport {
    Removed { namespaces: usize },
    NotUp,
}

/// Take a lab down from its journal alone (the lab file may have changed or be gone).
pub fn down(lab: &str) -> Result<DownReport> {
    if !state::dir(lab).exists() {
        return Ok(DownReport::NotUp);
    }
    let st = LabState::lock(lab)?;
    let names = st.owned_namespaces()?;
    let failed = remove_namespaces(&st)?;
    if !failed.is_empty() {
        bail!("could not remove {} of lab {lab}: {}; the journal is kept, run `netlab down {lab}` again", failed.len(), failed.join("; "));
    }
    st.remove()?;
    Ok(DownReport::Removed {
        namespaces: names.len(),
    })
}
