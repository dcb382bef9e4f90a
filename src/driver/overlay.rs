//! Docker's overlay driver: per host, a namespace `1-<netid>` holding `br0` (the gateway),
//! `vxlan0` (created from the host namespace so its UDP socket stays there) and one veth per
//! local container. Remote endpoints are programmed statically, as libnetwork does from its
//! k-v store: an FDB entry (MAC -> remote VTEP) and a permanent neighbour entry each.
//! Containers on overlays only get docker_gwbridge for their way out.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use std::net::Ipv4Addr;

use super::{AddressPool, NetworkDriver, Options};
use crate::kernel::xfrm::{Policy, Sa};
use crate::observe::{Link, Snapshot};
use crate::plan::{endpoint_in_container, gateway_on, Object, Plan, Role};
use crate::spec::{span, Driver, Lab, Name, NetDraft, RawNetwork, Reporter, BRIDGE_MAX_PORTS};
use crate::trace::l2::{hop, Fail, Found, Walk, Want};
use crate::trace::{one_way, Disposition};

/// The first VNI given to an overlay without `vni`, as libnetwork's VXLAN id allocator starts.
pub(crate) const FIRST_VNI: u32 = 256;
/// Swarm's ingress network's VNI; the swarm's other overlays count up from the next one
/// (seed 004: ingress 4096, uber-svc 4097).
pub(crate) const INGRESS_VNI: u32 = 4096;
const MAX_VNI: i64 = (1 << 24) - 1;

pub(crate) struct Overlay;

impl NetworkDriver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["vni", "encrypted", "mtu", "ingress"]
    }
    /// `vni`: 0 in the settings until [`Overlay::allocate`] gives one.
    fn options(&self, r: &mut Reporter, _name: &Name, raw: &RawNetwork) -> Options {
        let encrypted = raw.encrypted.as_ref().is_some_and(|e| *e.get_ref());
        let mut vni = 0;
        let mut ok = true;
        if let Some(v) = &raw.vni {
            if !(1..=MAX_VNI).contains(v.get_ref()) {
                r.error(
                    span(v),
                    format!(
                        "vni {} is out of range: VXLAN ids are 1 to {MAX_VNI}",
                        v.get_ref()
                    ),
                );
                ok = false;
            } else {
                vni = *v.get_ref() as u32;
            }
        }
        let mut spans: Vec<(&'static str, _)> = raw.vni.iter().map(|v| ("vni", span(v))).collect();
        spans.extend(raw.encrypted.iter().map(|e| ("encrypted", span(e))));
        Options {
            settings: Driver::Overlay { vni, encrypted },
            spans,
            host_spans: Vec::new(),
            ok,
        }
    }
    /// VNIs written are unique; the others get the lowest free ones from 256 up, in file order.
    fn allocate(&self, r: &mut Reporter, drafts: &mut [NetDraft]) {
        let vni_of = |d: &NetDraft| match d.options.settings {
            Driver::Overlay { vni, .. } if vni != 0 => Some(vni),
            _ => None,
        };
        let mut used: HashMap<u32, String> = HashMap::new();
        for d in drafts.iter() {
            let Some(v) = vni_of(d) else { continue };
            if let Some(other) = used.get(&v) {
                r.error_help(
                    d.options.span("vni").cloned().unwrap_or(d.span.clone()),
                    format!(
                        "network {} uses vni {v}, already used by network {other}",
                        d.name
                    ),
                    "give each overlay network its own vni, or leave vni out to get a free one",
                );
            }
            used.insert(v, d.name.clone());
        }
        // A swarm's: ingress 4096 (when free), the others from 4097.
        let swarm = drafts.iter().any(|d| d.ingress);
        let mut next = if swarm { INGRESS_VNI + 1 } else { FIRST_VNI };
        for d in drafts.iter_mut().filter(|d| d.ingress) {
            if let Driver::Overlay { vni: vni @ 0, .. } = &mut d.options.settings {
                if let std::collections::hash_map::Entry::Vacant(e) = used.entry(INGRESS_VNI) {
                    e.insert(d.name.clone());
                    *vni = INGRESS_VNI;
                }
            }
        }
        for d in drafts.iter_mut() {
            let Driver::Overlay { vni, .. } = &mut d.options.settings else {
                continue;
            };
            if *vni != 0 {
                continue;
            }
            while used.contains_key(&next) {
                next += 1;
            }
            used.insert(next, d.name.clone());
            *vni = next;
        }
        // Each encrypted overlay's VXLAN leaves from a source port of its own (its policy's
        // selector): two whose VNIs give the same port cannot both be told apart.
        let mut ports: HashMap<u16, (String, u32)> = HashMap::new();
        for d in drafts.iter() {
            let Driver::Overlay {
                vni,
                encrypted: true,
            } = d.options.settings
            else {
                continue;
            };
            let port = encrypted_src_port(vni);
            if let Some((other, ovni)) = ports.get(&port) {
                r.error_help(
                    d.options.span("vni").cloned().unwrap_or(d.span.clone()),
                    format!(
                        "encrypted networks {other} (vni {ovni}) and {} (vni {vni}) would send VXLAN from the same UDP source port {port}, which is how their IPsec policies tell them apart",
                        d.name
                    ),
                    format!("give one of them a vni that differs from the other's by other than a multiple of {ENCRYPTED_PORTS}"),
                );
            }
            ports.insert(port, (d.name.clone(), vni));
        }
    }
    fn pool(&self) -> AddressPool {
        AddressPool::Global
    }
    fn spans_hosts(&self) -> bool {
        true
    }
    fn gives_default_route(&self) -> bool {
        false
    }
    /// br0 holds vxlan0 besides the containers' veths.
    fn container_limit(&self) -> Option<usize> {
        Some(BRIDGE_MAX_PORTS - 1)
    }
    fn sandbox_per_host(&self) -> bool {
        true
    }
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan) {
        plan(lab, ni, p)
    }
    fn docker_scope(&self) -> &'static str {
        "global"
    }
    fn link_kinds(&self) -> &'static [&'static str] {
        &["vxlan"]
    }
    fn transmit(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        want: &Want,
        _vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        vxlan_tx(w, ns, l, want)
    }
    fn docker_options(
        &self,
        snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        hosts: &[usize],
    ) -> (Map<String, Value>, Map<String, Value>) {
        let Driver::Overlay { vni, encrypted } = lab.networks[ni].driver else {
            return Default::default();
        };
        // The VNI as the kernel has it, on the first host where the network exists.
        let live_vni = hosts
            .iter()
            .filter_map(|h| snap.namespace(&lab.overlay_ns(*h, ni)))
            .find_map(|n| {
                n.link("vxlan0")
                    .and_then(|l| l.vxlan.as_ref())
                    .and_then(|v| v.id)
            })
            .unwrap_or(vni);
        // Seed 000's `docker network inspect ov_net1` (a k-v store overlay): "Options": {}.
        // Swarm's overlays show the VNI there; netlab's own section always has it.
        let mut options = Map::new();
        if encrypted {
            // As `docker network inspect` shows `--opt encrypted`: the option, with no value.
            options.insert("encrypted".into(), json!(""));
        }
        if let Some(m) = lab.networks[ni].mtu {
            options.insert("com.docker.network.driver.mtu".into(), json!(m.to_string()));
        }
        let peers: Vec<Value> = hosts
            .iter()
            .map(|h| json!({ "Name": lab.hosts[*h].name, "IP": lab.hosts[*h].address.ip().to_string() }))
            .collect();
        let mut own = Map::new();
        own.insert("VNI".into(), json!(live_vni));
        own.insert("Peers".into(), json!(peers));
        (options, own)
    }
}

/// The kernel's `skb_tunnel_check_pmtu` for a VXLAN device: the inner packet must fit the MTU
/// of the underlay route to the VTEP less the encapsulation. When it does not, a VXLAN device
/// that is a bridge port answers, for a packet with DF set, an ICMP "fragmentation needed"
/// from the inner destination's address and drops it (the sender learns that path MTU);
/// otherwise, or below 576 bytes, the outer packet is sent and fragmented on the way.
fn tunnel_pmtu(
    w: &mut Walk<'_>,
    ns: &str,
    l: &Link,
    sock_ns: &str,
    vtep: Ipv4Addr,
    len: u32,
    pre: &mut Vec<crate::trace::Hop>,
) -> Result<(), Fail> {
    let Some(sock) = w.snap.namespace(sock_ns) else {
        return Ok(());
    };
    let crate::trace::RouteResult::Via { dev, mtu, .. } = w.routes.lookup(sock, vtep.into()) else {
        return Ok(());
    };
    let Some(under) = mtu.or_else(|| sock.link(&dev).and_then(|d| d.mtu)) else {
        return Ok(());
    };
    let room = under.saturating_sub(VXLAN_OVERHEAD);
    if len <= room {
        return Ok(());
    }
    if l.master.is_some() && room >= 576 {
        w.mtu_hit = Some((room, crate::trace::MtuAnswer::FragNeeded));
        return Err(Fail::from((
            Disposition::MtuExceeded,
            format!(
                "{ns}:{}: the {len}-byte packet, encapsulated ({} bytes), exceeds the MTU {under} of {sock_ns}'s route to VTEP {vtep} (dev {dev}); with DF set the kernel answers ICMP \"fragmentation needed\" (mtu = {room}) from {}, the destination, and drops it; the source keeps {room} as the path MTU to it",
                l.name,
                len + VXLAN_OVERHEAD,
                w.dst
            ),
        )));
    }
    pre.push(hop(
        ns,
        None,
        Some(&l.name),
        format!(
            "{}: encapsulated {} bytes > underlay mtu {under}: the outer packet is fragmented",
            l.name,
            len + VXLAN_OVERHEAD
        ),
        w.ttl,
        "l2",
    ));
    Ok(())
}

/// A frame sent out of a VXLAN device: FDB -> VTEP, underlay, decapsulation.
fn vxlan_tx(w: &mut Walk<'_>, ns: &str, l: &Link, want: &Want) -> Result<Found, Fail> {
    let n = w.ns(ns)?;
    let v = l.vxlan.clone().unwrap_or_default();
    let vni = v.id.unwrap_or(0);
    let mut pre = Vec::new();
    let mac = match want {
        Want::Mac(m) => m.clone(),
        Want::Ip(ip) => {
            let entry = n
                .neighbours
                .iter()
                .find(|x| x.dev == l.name && x.ip == ip.to_string() && x.mac.is_some());
            match (v.proxy, entry) {
                (Some(true), Some(e)) => {
                    let m = e.mac.clone().unwrap();
                    pre.push(hop(
                        ns,
                        None,
                        Some(&l.name),
                        format!(
                            "{}: proxy answers {} for {ip}: {m}",
                            l.name,
                            crate::trace::resolution(*ip)
                        ),
                        w.ttl,
                        "l2",
                    ));
                    m
                }
                _ => {
                    return Err(Fail::from((
                        Disposition::NeighborUnreachable,
                        format!(
                            "{ns}:{} has no neighbour entry for {ip}{}",
                            l.name,
                            if v.l3miss == Some(true) {
                                " (l3miss)"
                            } else {
                                ""
                            }
                        ),
                    )))
                }
            }
        }
    };
    let entry = n
        .fdb
        .iter()
        .find(|f| f.dev == l.name && f.is_self && f.mac == mac && f.dst.is_some());
    let entry = entry.or_else(|| {
        n.fdb.iter().find(|f| {
            f.dev == l.name && f.is_self && f.mac == "00:00:00:00:00:00" && f.dst.is_some()
        })
    });
    let Some(entry) = entry else {
        return Err(Fail::from((
            Disposition::Isolated,
            format!(
                "{ns}:{} has no FDB entry for {mac}: no VTEP to send it to (l2miss)",
                l.name
            ),
        )));
    };
    let vtep: Ipv4Addr = entry.dst.as_deref().unwrap_or("").parse().map_err(|_| {
        (
            Disposition::NeighborUnreachable,
            "bad VTEP address".to_string(),
        )
    })?;
    let port = v.port.unwrap_or(4789);
    let sock_ns = l
        .peer
        .as_ref()
        .map(|p| p.namespace.clone())
        .unwrap_or_else(|| ns.to_string());
    // The source: the device's own `local`, or (Docker sets none) the address routing picks
    // in the socket's namespace for the remote VTEP.
    let local = v
        .local
        .as_deref()
        .and_then(|l| l.parse::<Ipv4Addr>().ok())
        .or_else(|| {
            crate::trace::v4(crate::trace::source_address(
                w.snap,
                w.routes,
                &sock_ns,
                vtep.into(),
            ))
        });
    let esp = esp_to(w, &sock_ns, &v, local, vtep, port)?;
    pre.push(hop(
        ns,
        None,
        Some(&l.name),
        format!(
            "{}: fdb {mac} -> VTEP {vtep}; encap VNI {vni}, UDP {}:{port} from {}{}",
            l.name,
            vtep,
            local.map_or("?".to_string(), |l| l.to_string()),
            esp.map(|spi| format!("; ESP (spi {spi:#010x}) to VTEP {vtep}"))
                .unwrap_or_default()
        ),
        w.ttl,
        "l2",
    ));
    if let Some(len) = w.size {
        tunnel_pmtu(w, ns, l, &sock_ns, vtep, len, &mut pre)?;
    }
    // The outer packet crosses the underlay like any packet from the socket's namespace (not
    // sized: VXLAN sets no DF on it, so a router may fragment it).
    let under = one_way(w.snap, w.routes, &sock_ns, vtep.into());
    if under.disposition != Disposition::Delivered {
        return Err(Fail::from((
            under.disposition,
            format!(
                "underlay to VTEP {vtep}: {}",
                under.reason.unwrap_or_default()
            ),
        )));
    }
    for mut h in under.hops {
        h.layer = "underlay";
        pre.push(h);
    }
    let remote = under.delivered_to.unwrap_or_default();
    // Decapsulation: the VXLAN device with this VNI whose socket lives in the remote namespace.
    for rn in &w.snap.namespaces {
        for rl in &rn.links {
            let Some(rv) = &rl.vxlan else { continue };
            let rsock = rl
                .peer
                .as_ref()
                .map(|p| p.namespace.as_str())
                .unwrap_or(rn.name.as_str());
            if rsock == remote && rv.id == Some(vni) && rv.port.unwrap_or(4789) == port {
                pre.push(hop(
                    &rn.name,
                    Some(&rl.name),
                    None,
                    format!("{}: decap VNI {vni} (socket in {remote})", rl.name),
                    w.ttl,
                    "l2",
                ));
                let (rname, lname) = (rn.name.clone(), rl.name.clone());
                let mut r = w.receive(&rname, &lname, &Want::Mac(mac.clone()), None)?;
                pre.append(&mut r.2);
                return Ok((r.0, r.1, pre));
            }
        }
    }
    Err(Fail::from((
        Disposition::Isolated,
        format!("no VXLAN with VNI {vni} listens on UDP {port} in {remote}"),
    )))
}

/// ESP in transport mode with AES-GCM adds up to 34 bytes: SPI 4, sequence number 4, IV 8,
/// pad length 1, next header 1, ICV 16 (libnetwork's pktExpansion is 26, with an 8-byte ICV),
/// and pads its payload to 4 bytes.
pub const ESP_OVERHEAD: u32 = 34;
/// Encrypted overlays send VXLAN from one source port each, 16384 + (VNI mod 16384): below the
/// ephemeral range (32768-60999 in a fresh namespace) a plain VXLAN device picks per-flow ports
/// from, so that an outbound policy on the source port takes exactly one network's datagrams.
pub(crate) const ENCRYPTED_PORTS: u32 = 16384;

pub(crate) fn encrypted_src_port(vni: u32) -> u16 {
    (ENCRYPTED_PORTS + vni % ENCRYPTED_PORTS) as u16
}

/// A lab's IPsec secret: 32 random bytes, drawn when a lab file with an encrypted overlay is
/// checked. Its keys are secret because this is; they are identical at both ends of each SA
/// because both are derived from it in one plan.
pub(crate) fn new_secret() -> String {
    crate::kernel::xfrm::random_hex(32)
}

/// SHA-256 of (purpose, lab secret, network id, source, destination): one value per direction
/// of each pair of VTEPs of each network.
fn derive(secret: &str, purpose: &str, net_id: &str, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in ["netlab overlay esp", purpose, secret, net_id] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.update(src.octets());
    h.update(dst.octets());
    h.finalize().to_vec()
}

/// The SA that carries network `ni`'s VXLAN from VTEP `src` to VTEP `dst`: its SPI (per
/// direction, as libnetwork's buildSPI; never below 256, which RFC 4303 reserves) and its key
/// and salt.
pub(crate) fn sa_for(lab: &Lab, ni: usize, src: Ipv4Addr, dst: Ipv4Addr) -> Sa {
    let secret = lab
        .ipsec_secret
        .as_deref()
        .expect("a lab with an encrypted overlay has its IPsec secret (spec::load draws it)");
    let id = &lab.networks[ni].id;
    let s = derive(secret, "spi", id, src, dst);
    let mut spi = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    if spi < 0x100 {
        spi |= 0x100;
    }
    let key = derive(secret, "key", id, src, dst)[..crate::kernel::xfrm::KEY_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Sa { src, dst, spi, key }
}

/// The SPI of the ESP SA a VXLAN datagram of `v` to `vtep` goes out through, when an outbound
/// policy of the socket's namespace `sock_ns` selects it (an encrypted overlay: one source port,
/// [`encrypted_src_port`]). A policy without its SA drops the datagram, as the kernel does.
fn esp_to(
    w: &Walk<'_>,
    sock_ns: &str,
    v: &crate::observe::Vxlan,
    local: Option<Ipv4Addr>,
    vtep: Ipv4Addr,
    port: u16,
) -> Result<Option<u32>, Fail> {
    let (Some(sock), Some(local), Some((sport, hi))) =
        (w.snap.namespace(sock_ns), local, v.port_range)
    else {
        return Ok(None);
    };
    // One port: the kernel's range is [low, high).
    if hi != sport.wrapping_add(1) {
        return Ok(None);
    }
    let Some(policy) = sock
        .xfrm
        .policies
        .iter()
        .find(|p| p.matches_udp(local, sport, vtep, port))
    else {
        return Ok(None);
    };
    for (proto, spi, dst) in &policy.tmpl {
        if sock
            .xfrm
            .states
            .iter()
            .any(|s| s.proto == *proto && s.spi == *spi && s.dst == *dst)
        {
            return Ok(Some(*spi));
        }
    }
    Err(Fail::from((
        Disposition::NeighborUnreachable,
        format!(
            "{sock_ns}: the IPsec policy for UDP {local}:{sport} -> {vtep}:{port} has no SA to send through (spi {})",
            policy
                .tmpl
                .iter()
                .map(|t| format!("{:#010x}", t.1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )))
}

pub const VXLAN_PORT: u16 = 4789;
/// VXLAN over IPv4 adds 50 bytes (outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8).
pub const VXLAN_OVERHEAD: u32 = 50;

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Overlay { vni, encrypted } = net.driver else {
        return;
    };
    // libnetwork's maxMTU: (the network's mtu option, else 1500: here the underlay's, 1500
    // by default) less VXLAN's overhead.
    let mut mtu = net.mtu.unwrap_or(lab.underlay.mtu) - VXLAN_OVERHEAD;
    if encrypted {
        // As libnetwork's maxMTU: room for ESP, and a multiple of 4 so its padding fits.
        mtu -= ESP_OVERHEAD;
        mtu -= mtu % 4;
    }
    let src_port = encrypted.then(|| encrypted_src_port(vni));
    let endpoints = lab.endpoints_on(ni);
    let vteps = lab.hosts_of(ni);
    for &hi in &vteps {
        let ons = lab.overlay_ns(hi, ni);
        p.ns(ons.clone(), Role::OverlayNetwork);
        if encrypted {
            // libnetwork's setupEncryption, per remote VTEP: the SA in (remote -> here), the
            // SA out (here -> remote) and the policy that sends this network's VXLAN through it,
            // in the host's namespace, where the VXLAN socket is.
            let here = lab.hosts[hi].address.ip();
            for &ri in vteps.iter().filter(|r| **r != hi) {
                let there = lab.hosts[ri].address.ip();
                let ns = lab.host_ns(hi);
                p.add(Object::XfrmState {
                    ns: ns.clone(),
                    sa: sa_for(lab, ni, there, here),
                });
                // The SA out before the policy that sends through it (and, removed in reverse,
                // the policy first): a policy without its SA would drop the datagrams.
                let out = sa_for(lab, ni, here, there);
                let spi = out.spi;
                p.add(Object::XfrmState {
                    ns: ns.clone(),
                    sa: out,
                });
                p.add(Object::XfrmPolicy {
                    ns,
                    policy: Policy {
                        src: here,
                        dst: there,
                        sport: encrypted_src_port(vni),
                        dport: VXLAN_PORT,
                        spi,
                    },
                });
            }
        }
        // br0 keeps the kernel's MAC, as Docker's (seed 000: designated_root 8000.66:ef:..).
        p.add(Object::Bridge {
            ns: ons.clone(),
            name: "br0".into(),
            mac: None,
        });
        p.add(Object::Vxlan {
            ns: lab.host_ns(hi),
            target_ns: ons.clone(),
            name: "vxlan0".into(),
            vni,
            vtep: lab.hosts[hi].address.ip(),
            port: VXLAN_PORT,
            mtu,
            src_port,
        });
        let local = lab.endpoints_on_host(ni, hi);
        let veth = |k: usize, e: &crate::spec::Endpoint| {
            format!("veth{}", e.sandbox_if.map_or(k as u64, u64::from))
        };
        for (k, (ci, ei)) in local.iter().enumerate() {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Veth {
                ns: ons.clone(),
                name: veth(k, e),
                master: Some("br0".into()),
                mtu,
                peer_ns: lab.container_ns(*ci),
                peer: e.ifname.clone(),
                peer_mac: Some(e.mac),
            });
        }
        p.add(Object::Master {
            ns: ons.clone(),
            dev: "vxlan0".into(),
            master: "br0".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "lo".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "br0".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "vxlan0".into(),
        });
        gateway_on(net, &ons, "br0", p);
        for (k, (ci, ei)) in local.iter().enumerate() {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Up {
                ns: ons.clone(),
                dev: veth(k, e),
            });
            endpoint_in_container(lab, *ci, e, p);
        }
        for (ci, ei) in endpoints
            .iter()
            .filter(|(ci, _)| lab.containers[*ci].host != hi)
        {
            let c = &lab.containers[*ci];
            let e = &c.endpoints[*ei];
            let vtep = lab.hosts[c.host].address.ip();
            p.add(Object::Fdb {
                ns: ons.clone(),
                dev: "vxlan0".into(),
                mac: e.mac,
                dst: vtep,
            });
            p.add(Object::Neigh {
                ns: ons.clone(),
                dev: "vxlan0".into(),
                ip: e.address.ip().into(),
                mac: e.mac,
            });
            // The vxlan device's proxy answers neighbour solicitations from these, as it
            // answers ARP (libnetwork's peerAdd programs each of the peer's addresses).
            if let Some(a6) = e.address6 {
                p.add(Object::Neigh {
                    ns: ons.clone(),
                    dev: "vxlan0".into(),
                    ip: a6.ip().into(),
                    mac: e.mac,
                });
            }
        }
    }
}
