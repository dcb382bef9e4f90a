//! Observe: read live kernel state of every network namespace into a serialisable
//! [`Snapshot`]. Works on any namespace (netlab's, Docker's in /var/run/docker/netns, a user's
//! `ip netns add`, a process's /proc/PID/ns/net). Every diagnostic is a function of a snapshot,
//! so it can be tested on a recorded one without root. Nothing here changes the kernel.

mod convert;
mod routes;

pub use routes::KernelRoutes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::kernel::dump::Dumper;
use crate::kernel::netns;

pub const DOCKER_NETNS_DIR: &str = "/var/run/docker/netns";
const WORKERS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub namespaces: Vec<Namespace>,
    /// The nftables tables netlab wrote, by namespace (a host's firewall rules, Docker's
    /// published ports and isolation), for trace to evaluate: filled from the labs' plans by
    /// whoever traces (observe reads no rules), empty otherwise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub firewalls: std::collections::BTreeMap<String, Vec<crate::kernel::nft::Table>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A bind mount in /run/netns (`ip netns add`, netlab).
    Named,
    /// Docker's /var/run/docker/netns.
    Docker,
    /// Held only by a process (`--all`).
    Process,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub path: String,
    pub source: Source,
    pub inode: u64,
    /// The id the observing namespace has for this one, as `ip netns` shows `(id: N)`.
    pub id: Option<i32>,
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub lab: Option<String>,
    pub role: Option<String>,
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    pub neighbours: Vec<Neighbour>,
    pub fdb: Vec<Fdb>,
    /// net.ipv4.ip_forward inside the namespace.
    #[serde(default)]
    pub forwarding: Option<bool>,
    /// net.ipv6.conf.all.forwarding inside the namespace (None: no IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding6: Option<bool>,
    /// net.bridge.bridge-nf-call-iptables inside the namespace: bridged IPv4 goes through
    /// netfilter (br_netfilter), which refragments it to the out port's MTU. None when
    /// br_netfilter is not loaded (the sysctl does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_nf_call_iptables: Option<bool>,
    /// IPsec SAs and policies (`ip xfrm state`, `ip xfrm policy`), keys left out.
    #[serde(default, skip_serializing_if = "is_no_xfrm")]
    pub xfrm: crate::kernel::xfrm::Observed,
    /// Set when the namespace could not be read (it vanished, or permission).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    pub flags: Vec<String>,
    pub operstate: String,
    pub qdisc: Option<String>,
    pub master: Option<String>,
    /// IFLA_LINK: the peer (veth), lower device (macvlan, ipvlan, vlan); a VXLAN's is its own
    /// index (see [`Link::lower`]).
    pub link: Option<u32>,
    /// IFLA_LINK_NETNSID: `link` is in another namespace, known here by this id.
    pub link_netnsid: Option<i32>,
    pub promiscuity: Option<u32>,
    pub vxlan: Option<Vxlan>,
    pub macvlan_mode: Option<String>,
    /// IFLA_IPVLAN_MODE of an ipvlan: "l2", "l3" or "l3s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvlan_mode: Option<String>,
    pub vlan_id: Option<u16>,
    /// A bridge's own IFLA_BR_NF_CALL_IPTABLES (`ip link set BR type bridge nf_call_iptables
    /// 1`): bridged IPv4 goes through netfilter even when the namespace's sysctl is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nf_call_iptables: Option<bool>,
    pub bridge_port: Option<BridgePort>,
    /// Where `link` actually is, resolved across namespaces.
    pub peer: Option<Peer>,
    /// MAC and name of the far end as the kernel reported it from here (IFLA_TARGET_NETNSID),
    /// read during observation to match the peer without a second visit.
    #[serde(skip)]
    pub far_end: Option<(Option<String>, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Peer {
    pub namespace: String,
    pub index: Option<u32>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Vxlan {
    pub id: Option<u32>,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub group: Option<String>,
    pub port: Option<u16>,
    pub port_range: Option<(u16, u16)>,
    pub learning: Option<bool>,
    pub proxy: Option<bool>,
    pub rsc: Option<bool>,
    pub l2miss: Option<bool>,
    pub l3miss: Option<bool>,
    pub ageing: Option<u32>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    pub udp_csum: Option<bool>,
    pub udp6_zero_csum_tx: Option<bool>,
    pub udp6_zero_csum_rx: Option<bool>,
    /// Index of the underlay device, if the VXLAN is bound to one.
    pub underlay: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BridgePort {
    pub state: Option<String>,
    pub learning: Option<bool>,
    pub isolated: Option<bool>,
    pub hairpin: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Address {
    pub dev: String,
    pub index: u32,
    /// `10.0.0.2/24`
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    /// `default` or `10.0.0.0/24`
    pub dst: String,
    pub gateway: Option<String>,
    pub dev: Option<String>,
    pub table: u32,
    pub protocol: String,
    pub scope: String,
    pub kind: String,
    pub prefsrc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Neighbour {
    pub dev: String,
    pub ip: String,
    pub mac: Option<String>,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fdb {
    pub dev: String,
    pub mac: String,
    /// Remote VTEP of a VXLAN entry.
    pub dst: Option<String>,
    pub vlan: Option<u16>,
    pub master: Option<String>,
    /// NTF_SELF: the entry is the device's own (vxlan), not its bridge's.
    pub is_self: bool,
    pub state: String,
}

/// What to read from each namespace (each costs requests in every namespace).
#[derive(Debug, Clone, Copy)]
pub struct Want {
    /// The id the observing namespace has for each namespace (`ip netns` "(id: N)").
    pub ids: bool,
    pub addresses: bool,
    pub routes: bool,
    pub neighbours: bool,
    pub fdb: bool,
    /// Resolve where every cross-namespace link leads (`Link::peer`).
    pub peers: bool,
    /// net.ipv4.ip_forward of each namespace.
    pub forwarding: bool,
    /// IPsec SAs and policies.
    pub xfrm: bool,
}

fn is_no_xfrm(x: &crate::kernel::xfrm::Observed) -> bool {
    x.states.is_empty() && x.policies.is_empty()
}

impl Want {
    pub const ALL: Want = Want {
        ids: true,
        addresses: true,
        routes: true,
        neighbours: true,
        fdb: true,
        peers: true,
        forwarding: true,
        xfrm: true,
    };
    /// What `netns` shows.
    pub const LISTING: Want = Want {
        ids: true,
        addresses: true,
        routes: false,
        neighbours: false,
        fdb: false,
        peers: false,
        forwarding: false,
        xfrm: false,
    };
    /// `find-link IFINDEX`: links only.
    pub const LINKS: Want = Want {
        ids: false,
        addresses: false,
        routes: false,
        neighbours: false,
        fdb: false,
        peers: false,
        forwarding: false,
        xfrm: false,
    };
    /// `find-link --peer-of`: links, their peers, and addresses to place VXLAN sockets.
    pub const PEERS: Want = Want {
        ids: false,
        addresses: true,
        routes: false,
        neighbours: false,
        fdb: false,
        peers: true,
        forwarding: false,
        xfrm: false,
    };
}

/// A namespace to read: where it is mounted or held, and what it is called.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// Inode of the namespace (nsfs), read once at discovery.
    pub inode: u64,
    pub path: PathBuf,
    pub source: Source,
    pub pid: Option<u32>,
    pub command: Option<String>,
}

/// A path in a namespace directory that is not a namespace, and what it is instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What discovery found: namespaces to read, and entries that are not namespaces (a FIFO, a
/// plain file, a directory, a symbolic link), which are never opened for reading or followed.
pub struct Discovery {
    pub targets: Vec<Target>,
    pub skipped: Vec<Skipped>,
}

/// Every namespace with a name (/run/netns, /var/run/docker/netns); with `all`, also the
/// unnamed ones held by processes. Deduplicated by inode.
pub fn discover(all: bool) -> Vec<Target> {
    discover_all(all).targets
}

/// The named namespaces of lab `lab` (its `<lab>.` prefix), among `targets`.
pub fn of_lab(targets: &[Target], lab: &str) -> Vec<Target> {
    let prefix = format!("{lab}.");
    targets
        .iter()
        .filter(|t| t.name.starts_with(&prefix))
        .cloned()
        .collect()
}

/// [`discover`], with what was skipped and why.
pub fn discover_all(all: bool) -> Discovery {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut add =
        |mut t: Target, out: &mut Vec<Target>, skipped: &mut Vec<Skipped>| match netns::probe_path(
            &t.path,
        ) {
            Ok(netns::Found::Namespace(id)) => {
                if seen.insert((id.dev, id.ino)) {
                    t.inode = id.ino;
                    out.push(t);
                }
            }
            Ok(netns::Found::Missing) => {}
            Ok(other) if t.source != Source::Process => skipped.push(Skipped {
                path: t.path.display().to_string(),
                reason: format!("{}, not a network namespace", other.describe()),
            }),
            Ok(_) => {}
            Err(e) if t.source != Source::Process => skipped.push(Skipped {
                path: t.path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(_) => {}
        };
    let mut named = netns::list().unwrap_or_default();
    named.sort();
    for n in named {
        add(
            Target {
                inode: 0,
                path: netns::path(&n),
                name: n,
                source: Source::Named,
                pid: None,
                command: None,
            },
            &mut out,
            &mut skipped,
        );
    }
    if let Ok(rd) = std::fs::read_dir(DOCKER_NETNS_DIR) {
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let path = Path::new(DOCKER_NETNS_DIR).join(&n);
            add(
                Target {
                    inode: 0,
                    name: n,
                    path,
                    source: Source::Docker,
                    pid: None,
                    command: None,
                },
                &mut out,
                &mut skipped,
            );
        }
    }
    if all {
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort();
        for pid in pids {
            let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|c| c.trim().to_string());
            add(
                Target {
                    inode: 0,
                    name: format!("pid:{pid}"),
                    path,
                    source: Source::Process,
                    pid: Some(pid),
                    command,
                },
                &mut out,
                &mut skipped,
            );
        }
    }
    Discovery {
        targets: out,
        skipped,
    }
}

/// Read the given namespaces in parallel, then resolve every cross-namespace link.
pub fn snapshot(targets: &[Target], want: Want) -> Snapshot {
    let roles = lab_roles();
    let mut namespaces = parallel(targets, |t| read_one(t, want, &roles));
    if want.ids {
        if let Ok(mut d) = Dumper::here() {
            for (ns, t) in namespaces.iter_mut().zip(targets) {
                if let Ok(f) = netns::open_path(&t.path) {
                    ns.id = d.nsid_of(f.as_raw_fd()).ok().flatten();
                }
            }
        }
    }
    if want.peers {
        resolve_peers(&mut namespaces, targets);
    }
    Snapshot {
        namespaces,
        firewalls: Default::default(),
    }
}

/// Run `f` for every target on a few scoped worker threads, in target order. Workers enter
/// namespaces one after another and exit at the end, so no thread outlives its stay.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = items.get(i) else { break };
                let r = f(t);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut v = results.into_inner().unwrap();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

/// `(lab, role)` of every namespace netlab records as its own.
fn lab_roles() -> HashMap<String, (String, String)> {
    let mut m = HashMap::new();
    for lab in crate::state::labs().unwrap_or_default() {
        if let Ok(Some(r)) = crate::state::read_record(&lab) {
            for n in r.namespaces {
                m.insert(n.name, (lab.clone(), n.role.as_str().to_string()));
            }
        }
    }
    m
}

fn read_one(t: &Target, want: Want, roles: &HashMap<String, (String, String)>) -> Namespace {
    let inode = t.inode;
    let (lab, role) = roles
        .get(&t.name)
        .cloned()
        .map(|(l, r)| (Some(l), Some(r)))
        .unwrap_or((None, None));
    let mut ns = Namespace {
        name: t.name.clone(),
        path: t.path.display().to_string(),
        source: t.source,
        inode,
        id: None,
        pid: t.pid,
        command: t.command.clone(),
        lab,
        role,
        links: vec![],
        addresses: vec![],
        routes: vec![],
        neighbours: vec![],
        fdb: vec![],
        forwarding: None,
        forwarding6: None,
        bridge_nf_call_iptables: None,
        xfrm: Default::default(),
        error: None,
    };
    let read = (|| -> io::Result<_> {
        netns::enter_path(&t.path)?;
        let mut d = Dumper::here()?;
        let links = d.links()?;
        // The far end of every cross-namespace link, asked now while we are inside.
        let mut far = Vec::new();
        for m in &links {
            let l = convert::link(m);
            if let (true, Some(nsid), Some(peer)) = (want.peers, l.link_netnsid, l.lower()) {
                if let Ok(Some(pm)) = d.link_in(nsid, peer) {
                    let p = convert::link(&pm);
                    far.push((l.index, (p.mac, p.name)));
                }
            }
        }
        let addrs = if want.addresses {
            d.addresses()?
        } else {
            vec![]
        };
        let routes = if want.routes { d.routes()? } else { vec![] };
        let neigh = if want.neighbours {
            // ARP's and IPv6 neighbour discovery's (AF_UNSPEC: every neighbour table).
            d.neighbours(netlink_packet_route::AddressFamily::Unspec)?
        } else {
            vec![]
        };
        let fdb = if want.fdb {
            d.neighbours(netlink_packet_route::AddressFamily::Bridge)?
        } else {
            vec![]
        };
        // /proc/sys/net is the namespace of the thread that reads it: this worker's.
        let read_flag = |path: &str| std::fs::read_to_string(path).ok().map(|v| v.trim() == "1");
        let (fwd, fwd6) = if want.forwarding {
            (
                read_flag("/proc/sys/net/ipv4/ip_forward"),
                read_flag("/proc/sys/net/ipv6/conf/all/forwarding"),
            )
        } else {
            (None, None)
        };
        let brnf = if want.forwarding {
            read_flag("/proc/sys/net/bridge/bridge-nf-call-iptables")
        } else {
            None
        };
        // XFRM netlink, from this worker too: its socket is of the namespace it entered.
        let xfrm = if want.xfrm {
            crate::kernel::xfrm::dump_here().unwrap_or_default()
        } else {
            Default::default()
        };
        Ok((
            links,
            addrs,
            routes,
            neigh,
            fdb,
            (fwd, fwd6, brnf),
            far,
            xfrm,
        ))
    })();
    match read {
        Ok((links, addrs, routes, neigh, fdb, (fwd, fwd6, brnf), far, xfrm)) => {
            ns.forwarding = fwd;
            ns.forwarding6 = fwd6;
            ns.bridge_nf_call_iptables = brnf;
            ns.xfrm = xfrm;
            ns.links = links.iter().map(convert::link).collect();
            for (index, f) in far {
                if let Some(l) = ns.links.iter_mut().find(|l| l.index == index) {
                    l.far_end = Some(f);
                }
            }
            let names: BTreeMap<u32, String> =
                ns.links.iter().map(|l| (l.index, l.name.clone())).collect();
            for l in &mut ns.links {
                if let Some(m) = l.master.take() {
                    l.master = m
                        .parse::<u32>()
                        .ok()
                        .and_then(|i| names.get(&i).cloned())
                        .or(Some(m));
                }
            }
            ns.addresses = addrs
                .iter()
                .filter_map(|a| convert::address(a, &names))
                .collect();
            ns.routes = routes
                .iter()
                .filter_map(|r| convert::route(r, &names))
                .collect();
            ns.neighbours = neigh
                .iter()
                .filter_map(|n| convert::neighbour(n, &names))
                .collect();
            ns.fdb = fdb.iter().filter_map(|n| convert::fdb(n, &names)).collect();
        }
        Err(e) => ns.error = Some(e.to_string()),
    }
    ns
}

/// Every namespace but `ni`, those whose names share the longest dot-separated prefix with
/// its name first.
fn nearest_first(namespaces: &[Namespace], ni: usize) -> Vec<usize> {
    let me: Vec<&str> = namespaces[ni].name.split('.').collect();
    let shared = |n: &str| n.split('.').zip(&me).take_while(|(a, b)| a == *b).count();
    let mut out: Vec<usize> = (0..namespaces.len()).filter(|&c| c != ni).collect();
    out.sort_by_key(|&c| std::cmp::Reverse(shared(&namespaces[c].name)));
    out
}

/// A link (by position) and the namespaces (by position) that may hold its other end.
type LinkCandidates = (usize, Vec<usize>);

/// For each link that points into another namespace (IFLA_LINK_NETNSID), find that namespace
/// exactly. Candidates are the namespaces holding a link with the right index (a veth's other
/// end points back); from inside this namespace the kernel then hands over the peer link itself
/// (IFLA_TARGET_NETNSID, read while observing), whose MAC and name narrow the candidates,
/// usually to one; only when several are left does the kernel say, from inside this namespace,
/// which id it uses for each (RTM_GETNSID by fd).
fn resolve_peers(namespaces: &mut [Namespace], targets: &[Target]) {
    let mut by_index: HashMap<u32, Vec<usize>> = HashMap::new();
    for (ni, ns) in namespaces.iter().enumerate() {
        for l in &ns.links {
            by_index.entry(l.index).or_default().push(ni);
        }
    }
    let mut by_addr: HashMap<&str, Vec<usize>> = HashMap::new();
    for (ni, ns) in namespaces.iter().enumerate() {
        for a in &ns.addresses {
            by_addr
                .entry(a.address.split('/').next().unwrap_or(""))
                .or_default()
                .push(ni);
        }
    }
    // Per namespace: (link position, candidate namespaces) still to verify with the kernel.
    let mut work: Vec<(usize, Vec<LinkCandidates>)> = Vec::new();
    let mut direct: Vec<(usize, usize, usize)> = Vec::new();
    for (ni, ns) in namespaces.iter().enumerate() {
        let mut items = Vec::new();
        for (li, l) in ns.links.iter().enumerate() {
            if l.link_netnsid.is_none() {
                continue;
            }
            let mut cands: Vec<usize> = match l.lower() {
                Some(peer) => by_index.get(&peer).cloned().unwrap_or_default(),
                _ => match l.vxlan.as_ref().map(|v| v.local.as_deref()) {
                    Some(Some(ip)) => by_addr.get(ip).cloned().unwrap_or_default(),
                    // A VXLAN without a local address (Docker's) names nothing of its socket's
                    // namespace: ask the kernel about each, nearest by name first (a sandbox
                    // `lab.host.1-id` was made from `lab.host`), stopping at the first.
                    Some(None) => nearest_first(namespaces, ni),
                    None => Vec::new(),
                },
            };
            cands.retain(|c| *c != ni);
            if l.kind.as_deref() == Some("veth") {
                cands.retain(|c| {
                    namespaces[*c]
                        .links
                        .iter()
                        .any(|x| Some(x.index) == l.link && x.link == Some(l.index))
                });
            }
            // The far end's MAC and name, read during observation, usually leave one candidate:
            // that is the answer without entering this namespace again.
            if let (Some((mac, name)), Some(peer)) = (&l.far_end, l.lower()) {
                cands.retain(|c| {
                    namespaces[*c]
                        .links
                        .iter()
                        .any(|x| x.index == peer && &x.mac == mac && &x.name == name)
                });
                if cands.len() == 1 {
                    direct.push((ni, li, cands[0]));
                    continue;
                }
            }
            if !cands.is_empty() {
                items.push((li, cands));
            }
        }
        if !items.is_empty() {
            work.push((ni, items));
        }
    }
    let ns_ref: &[Namespace] = namespaces;
    let found: Vec<Vec<(usize, usize, usize)>> = parallel(&work, |(ni, items)| {
        let mut out = Vec::new();
        if netns::enter_path(&targets[*ni].path).is_err() {
            return out;
        }
        let Ok(mut d) = Dumper::here() else {
            return out;
        };
        for (li, cands) in items {
            let l = &ns_ref[*ni].links[*li];
            let nsid = l.link_netnsid.unwrap();
            let mut cands = cands.clone();
            if let (Some(peer), true) = (l.lower(), cands.len() > 1) {
                if let Ok(Some(m)) = d.link_in(nsid, peer) {
                    let p = convert::link(&m);
                    cands.retain(|c| {
                        ns_ref[*c]
                            .links
                            .iter()
                            .any(|x| x.index == peer && x.mac == p.mac && x.name == p.name)
                    });
                }
            }
            let hit = cands.iter().copied().find(|c| {
                netns::open_path(&targets[*c].path)
                    .ok()
                    .and_then(|f| d.nsid_of(f.as_raw_fd()).ok().flatten())
                    == Some(nsid)
            });
            if let Some(c) = hit {
                out.push((*ni, *li, c));
            }
        }
        out
    });
    for (ni, li, target) in found.into_iter().flatten().chain(direct) {
        let peer_index = namespaces[ni].links[li].lower();
        let tname = namespaces[target].name.clone();
        let pname = peer_index.and_then(|pi| {
            namespaces[target]
                .links
                .iter()
                .find(|x| x.index == pi)
                .map(|x| x.name.clone())
        });
        namespaces[ni].links[li].peer = Some(Peer {
            namespace: tname,
            index: peer_index,
            name: pname,
        });
    }
    // Links whose other end is in the same namespace (no netnsid): veth pairs, macvlan/vlan lower devices.
    for ns in namespaces.iter_mut() {
        let names: HashMap<u32, String> =
            ns.links.iter().map(|l| (l.index, l.name.clone())).collect();
        let me = ns.name.clone();
        for l in ns.links.iter_mut() {
            if l.peer.is_none() && l.link_netnsid.is_none() {
                if let Some(i) = l.lower().filter(|i| *i != l.index) {
                    l.peer = Some(Peer {
                        namespace: me.clone(),
                        index: Some(i),
                        name: names.get(&i).cloned(),
                    });
                }
            }
        }
    }
}

impl Link {
    /// The index of the device this one leads to (in its IFLA_LINK_NETNSID namespace, or its
    /// own): a veth's peer, a macvlan's, ipvlan's or VLAN's lower device. A VXLAN's IFLA_LINK
    /// is its own index (the kernel's default iflink), not a device of the socket's namespace
    /// that happens to have that index: its lower device is the one its socket is bound to
    /// (IFLA_VXLAN_LINK), if any.
    pub fn lower(&self) -> Option<u32> {
        match &self.vxlan {
            Some(v) => v.underlay,
            None => self.link,
        }
        .filter(|i| *i != 0)
    }
}

impl Snapshot {
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }
}

impl Namespace {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
}
