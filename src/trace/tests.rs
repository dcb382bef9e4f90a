//! The tracer on the recorded snapshot of labs/overlay.toml (lab "fx"), intact and broken.

use super::*;

fn snap() -> Snapshot {
    serde_json::from_str(include_str!("../diag/fixtures/overlay-snapshot.json")).unwrap()
}

fn ns_mut<'a>(s: &'a mut Snapshot, name: &str) -> &'a mut Namespace {
    s.namespaces.iter_mut().find(|n| n.name == name).unwrap()
}

fn overlay_ns(s: &Snapshot, host: &str, vni_local: &str) -> String {
    // The overlay namespace of ov_net1 on a host is the one whose vxlan0 has VNI 256.
    s.namespaces
        .iter()
        .find(|n| {
            n.name.starts_with(&format!("fx.{host}.1-"))
                && n.link("vxlan0")
                    .and_then(|l| l.vxlan.as_ref())
                    .and_then(|v| v.id)
                    == Some(256)
        })
        .map(|n| n.name.clone())
        .unwrap_or_else(|| panic!("no ov_net1 namespace on {host} ({vni_local})"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ip4(s: &str) -> std::net::Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn overlay_path_crosses_the_vtep_of_each_host() {
    let s = snap();
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(
        t.disposition,
        Disposition::Delivered,
        "{}",
        render(&t, true)
    );
    assert_eq!(t.delivered_to.as_deref(), Some("fx.bbox1"));
    assert_eq!((t.ttl, t.reply_ttl), (Some(64), Some(64)));
    let encap = t
        .hops
        .iter()
        .find(|h| h.action.contains("encap"))
        .expect("an encap hop");
    assert_eq!(encap.namespace, overlay_ns(&s, "nas5", "10.1.1.15"));
    assert!(
        encap.action.contains("VNI 256")
            && encap.action.contains("VTEP 10.1.1.14")
            && encap.action.contains("from 10.1.1.15"),
        "{}",
        encap.action
    );
    let decap = t
        .hops
        .iter()
        .find(|h| h.action.contains("decap"))
        .expect("a decap hop");
    assert_eq!(decap.namespace, overlay_ns(&s, "nas4", "10.1.1.14"));
    assert!(
        t.hops
            .iter()
            .any(|h| h.layer == "underlay" && h.namespace == "fx.underlay"),
        "the underlay switch is crossed"
    );
    assert!(t
        .reply_hops
        .iter()
        .any(|h| h.action.contains("encap VNI 256")));
    let m = render_minimal(&t);
    assert!(
        m.starts_with("fx.bbox2 (-> eth0) ttl 64\n") && m.ends_with("DELIVERED (reply ttl 64)"),
        "{m}"
    );
}

#[test]
fn other_overlay_goes_to_the_gateway_which_does_not_forward() {
    let s = snap();
    let t = trace(&s, &SnapshotRoutes, "fx.bbox3", ip("10.0.0.2"));
    assert_eq!(
        t.disposition,
        Disposition::ForwardingDisabled,
        "{}",
        render(&t, true)
    );
    assert!(
        t.reason.as_deref().unwrap().contains("fx.nas5"),
        "{:?}",
        t.reason
    );
}

#[test]
fn gwbridge_ports_are_isolated() {
    let s = snap();
    let t = trace(&s, &SnapshotRoutes, "fx.bbox3", ip("172.18.0.2"));
    assert_eq!(t.disposition, Disposition::Isolated, "{}", render(&t, true));
    assert!(t.reason.as_deref().unwrap().contains("docker_gwbridge"));
    // The gateway itself is reachable.
    assert_eq!(
        trace(&s, &SnapshotRoutes, "fx.bbox3", ip("172.18.0.1")).disposition,
        Disposition::Delivered
    );
}

#[test]
fn a_link_set_down_is_the_first_failing_hop() {
    let mut s = snap();
    let o = overlay_ns(&s, "nas4", "");
    let veth = ns_mut(&mut s, &o)
        .links
        .iter_mut()
        .find(|l| l.name == "veth0")
        .unwrap();
    veth.flags.retain(|f| f != "UP");
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(t.disposition, Disposition::LinkDown, "{}", render(&t, true));
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .contains(&format!("{o}: veth0 is down")),
        "{:?}",
        t.reason
    );
}

#[test]
fn a_removed_fdb_entry_leaves_no_vtep() {
    let mut s = snap();
    let o = overlay_ns(&s, "nas5", "");
    ns_mut(&mut s, &o)
        .fdb
        .retain(|f| !(f.dev == "vxlan0" && f.mac == "02:42:0a:00:00:02"));
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(t.disposition, Disposition::Isolated, "{}", render(&t, true));
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .contains("no FDB entry for 02:42:0a:00:00:02"),
        "{:?}",
        t.reason
    );
    // The way up to where it stops: bbox2's route, its veth to the sandbox, and br0
    // forwarding to vxlan0.
    let last = t.hops.last().unwrap();
    assert_eq!(
        (last.namespace.as_str(), last.out_dev.as_deref()),
        (o.as_str(), Some("vxlan0")),
        "{}",
        render(&t, false)
    );
    assert!(t.hops.len() >= 3, "{}", render(&t, false));
}

#[test]
fn a_removed_route_is_no_route() {
    let mut s = snap();
    ns_mut(&mut s, "fx.bbox3")
        .routes
        .retain(|r| r.dst != "default");
    let t = trace(&s, &SnapshotRoutes, "fx.bbox3", ip("10.0.0.2"));
    assert_eq!(t.disposition, Disposition::NoRoute);
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .starts_with("fx.bbox3 has no route to 10.0.0.2"),
        "{:?}",
        t.reason
    );
}

#[test]
fn forwarding_on_lets_the_host_route_and_ttl_drops() {
    // Turn forwarding on in nas4: bbox1 -> nas4's underlay address is local there (TTL 64),
    // and bbox1 -> nas5's underlay address is routed by nas4 (TTL 63 on arrival).
    let mut s = snap();
    ns_mut(&mut s, "fx.nas4").forwarding = Some(true);
    let t = trace(&s, &SnapshotRoutes, "fx.bbox1", ip("10.1.1.15"));
    assert_eq!(t.ttl, Some(63), "{}", render(&t, true));
    // ...but the reply to 172.18.0.2 goes to nas5's own docker_gwbridge, where bbox2 holds that
    // address: the ping fails, and the trace says why.
    assert_eq!(t.disposition, Disposition::NoRoute, "{}", render(&t, true));
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .contains("fx.bbox2, which also has 172.18.0.2"),
        "{:?}",
        t.reason
    );
}

/// nas4 with forwarding on is a router between docker_gwbridge and ens33: `--minimal` shows it
/// twice, in from bbox1 at TTL 64 and forwarding out of ens33 at TTL 63.
#[test]
fn minimal_shows_the_router_forwarding_the_packet_on() {
    let mut s = snap();
    ns_mut(&mut s, "fx.nas4").forwarding = Some(true);
    let t = trace(&s, &SnapshotRoutes, "fx.bbox1", ip("10.1.1.15"));
    let m = render_minimal(&t);
    let lines: Vec<&str> = m.lines().collect();
    let nas4: Vec<&&str> = lines.iter().filter(|l| l.starts_with("fx.nas4 ")).collect();
    assert_eq!(nas4.len(), 2, "{m}\n\n{}", render(&t, false));
    assert!(nas4[0].ends_with("ttl 64"), "{m}");
    assert_eq!(
        *nas4[1], "fx.nas4 (docker_gwbridge -> ens33) ttl 63, forwarded",
        "{m}"
    );
    assert_eq!(routers(&t), vec!["fx.nas4".to_string()]);
}

fn ttl_probe(ttl: u8, kind: &str, from: Option<&str>) -> crate::kernel::icmp::TtlProbe {
    crate::kernel::icmp::TtlProbe {
        ttl,
        kind: kind.into(),
        from: from.map(ip),
        error: None,
    }
}

#[test]
fn a_probe_with_no_reply_says_what_was_expected_from_whom() {
    let mut s = snap();
    ns_mut(&mut s, "fx.nas4").forwarding = Some(true);
    let t = trace(&s, &SnapshotRoutes, "fx.bbox1", ip("10.1.1.15"));
    let h = probe::judge(&s, &t, &ttl_probe(1, "none", None));
    assert!(!h.agrees);
    assert_eq!(h.expected_namespace.as_deref(), Some("fx.nas4"));
    assert_eq!(h.expected_from, Some(ip("172.18.0.1")));
    assert_eq!(
        probe::render_hop(&h),
        "probe ttl 1: no reply, predicted time exceeded from fx.nas4 (172.18.0.1)  <-- DISAGREES"
    );
    // 172.18.0.1 is every host's docker_gwbridge address: the predicted router holds it, so
    // the answer is taken to be its.
    let h = probe::judge(&s, &t, &ttl_probe(1, "time-exceeded", Some("172.18.0.1")));
    assert!(h.agrees, "{h:?}");
    assert_eq!(
        probe::render_hop(&h),
        "probe ttl 1: time exceeded from 172.18.0.1 (fx.nas4), predicted time exceeded from fx.nas4 (172.18.0.1)"
    );
}

#[test]
fn a_delivered_trace_predicts_the_echo_reply_past_the_last_router() {
    let s = snap();
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    let h = probe::judge(&s, &t, &ttl_probe(1, "echo-reply", Some("10.0.0.2")));
    assert!(h.agrees, "{h:?}");
    assert_eq!(h.namespace.as_deref(), Some("fx.bbox1"));
    assert_eq!(
        probe::render_hop(&h),
        "probe ttl 1: echo reply from 10.0.0.2 (fx.bbox1), predicted echo reply from the destination"
    );
    let h = probe::judge(&s, &t, &ttl_probe(1, "none", None));
    assert!(!h.agrees);
    assert!(probe::render_hop(&h).starts_with("probe ttl 1: no reply, predicted echo reply"));
}

#[test]
fn a_probe_the_kernel_refused_to_send_says_why() {
    let mut s = snap();
    ns_mut(&mut s, "fx.bbox3")
        .routes
        .retain(|r| r.dst != "default");
    let t = trace(&s, &SnapshotRoutes, "fx.bbox3", ip("10.0.0.2"));
    let got = crate::kernel::icmp::TtlProbe {
        error: Some("Network is unreachable (os error 101)".into()),
        ..ttl_probe(1, "unreachable", None)
    };
    let h = probe::judge(&s, &t, &got);
    assert!(h.agrees, "{h:?}");
    assert_eq!(
        probe::render_hop(&h),
        "probe ttl 1: not sent (Network is unreachable (os error 101)), predicted no reply"
    );
}

/// An encrypted overlay's encap hop says ESP: the recorded snapshot with nas5's vxlan0 on one
/// source port, an outbound policy in nas5 selecting it towards 10.1.1.14, and its SA. The
/// same policy without its SA drops the datagram, as the kernel does (no state to send it by).
#[test]
fn encrypted_overlay_encap_hop_says_esp() {
    use crate::kernel::xfrm::{ObservedPolicy, ObservedSa};
    let mut s = snap();
    let ov = overlay_ns(&s, "nas5", "10.1.1.15");
    let vx = ns_mut(&mut s, &ov)
        .links
        .iter_mut()
        .find(|l| l.name == "vxlan0")
        .unwrap();
    vx.vxlan.as_mut().unwrap().port_range = Some((16640, 16641));
    let sock = vx.peer.as_ref().unwrap().namespace.clone();
    let host = ns_mut(&mut s, &sock);
    host.xfrm.policies.push(ObservedPolicy {
        src: "10.1.1.15".into(),
        src_prefix: 32,
        dst: "10.1.1.14".into(),
        dst_prefix: 32,
        proto: 17,
        sport: (16640, 0xffff),
        dport: (4789, 0xffff),
        dir: "out".into(),
        tmpl: vec![("esp".into(), 0x42420b17, "10.1.1.14".into())],
    });
    let without_sa = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_ne!(without_sa.disposition, Disposition::Delivered);
    assert!(
        without_sa
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("no SA to send through (spi 0x42420b17)"),
        "{}",
        render(&without_sa, true)
    );
    ns_mut(&mut s, &sock).xfrm.states.push(ObservedSa {
        src: "10.1.1.15".into(),
        dst: "10.1.1.14".into(),
        spi: 0x42420b17,
        proto: "esp".into(),
        mode: "transport".into(),
        reqid: crate::kernel::xfrm::REQID,
        algorithm: Some("rfc4106(gcm(aes))".into()),
        icv_bits: Some(128),
    });
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(
        t.disposition,
        Disposition::Delivered,
        "{}",
        render(&t, true)
    );
    let encap = t.hops.iter().find(|h| h.action.contains("encap")).unwrap();
    assert!(
        encap
            .action
            .ends_with("; ESP (spi 0x42420b17) to VTEP 10.1.1.14"),
        "{}",
        encap.action
    );
    // A plain overlay (a port per flow) is never taken for an encrypted one.
    let mut plain = snap();
    let sock = ns_mut(&mut plain, &ov)
        .link("vxlan0")
        .and_then(|l| l.peer.clone())
        .unwrap()
        .namespace;
    ns_mut(&mut plain, &sock).xfrm = ns_mut(&mut s, &sock).xfrm.clone();
    let t = trace(&plain, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(
        t.disposition,
        Disposition::Delivered,
        "{}",
        render(&t, true)
    );
    assert!(!t.hops.iter().any(|h| h.action.contains("ESP")));
}

/// A trace of a DF packet of `size` bytes, and that it ends in `want` (rendered if not).
fn sized(s: &Snapshot, from: &str, to: &str, size: u32, want: Disposition) -> Trace {
    let t = trace_sized(s, &SnapshotRoutes, from, ip(to), Some(size));
    assert_eq!(t.disposition, want, "{}", render(&t, true));
    t
}

fn link_mut<'a>(s: &'a mut Snapshot, ns: &str, dev: &str) -> &'a mut crate::observe::Link {
    ns_mut(s, ns)
        .links
        .iter_mut()
        .find(|l| l.name == dev)
        .unwrap()
}

/// The source's own egress MTU is strict: 1450 bytes leave eth0 (mtu 1450), 1451 do not, and
/// the send itself fails, as `ping -M do -s 1423` says "local error: message too long, mtu=1450".
#[test]
fn a_sized_packet_over_the_source_mtu_is_refused_at_the_source() {
    let s = snap();
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1450, Disposition::Delivered);
    assert_eq!((t.size, t.mtu), (Some(1450), None));
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1451, Disposition::MtuExceeded);
    assert_eq!(
        (t.mtu, t.mtu_answer),
        (Some(1450), Some(MtuAnswer::LocalError))
    );
    // The route lookup, then the refusal, both in the source.
    assert_eq!(t.hops.len(), 2, "{}", render(&t, true));
    assert!(
        t.hops[1].action.contains("EMSGSIZE"),
        "{}",
        render(&t, true)
    );
    let why = t.reason.as_deref().unwrap();
    assert!(
        why.starts_with("fx.bbox2: the 1451-byte packet exceeds the MTU 1450 of eth0")
            && why.contains("local error: message too long, mtu=1450"),
        "{why}"
    );
    assert!(render_minimal(&t).ends_with(&format!("MTU_EXCEEDED: {why}")));
    // Unsized, ping lets the kernel fragment: nothing stops it.
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(
        (t.disposition, t.size, t.mtu),
        (Disposition::Delivered, None, None)
    );
}

/// A veth peer and a bridge port let a frame pass up to MTU + 4 (the kernel's
/// is_skb_forwardable) and drop a larger one silently; the first such device is named.
#[test]
fn a_veth_peer_or_bridge_port_with_a_smaller_mtu_drops_the_frame() {
    let sandbox = overlay_ns(&snap(), "nas5", "10.1.1.15");
    // The container's peer in the sandbox: 1450 + 4 passes, one byte more is dropped.
    let mut s = snap();
    link_mut(&mut s, &sandbox, "veth0").mtu = Some(1446);
    sized(&s, "fx.bbox2", "10.0.0.2", 1450, Disposition::Delivered);
    link_mut(&mut s, &sandbox, "veth0").mtu = Some(1445);
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1450, Disposition::MtuExceeded);
    assert_eq!((t.mtu, t.mtu_answer), (Some(1445), Some(MtuAnswer::Silent)));
    let why = t.reason.as_deref().unwrap();
    assert!(
        why.starts_with(&format!(
            "{sandbox}:veth0 (mtu 1445) receiving it drops the 1450-byte packet"
        )),
        "{why}"
    );
    // The bridge's way out: vxlan0 as a port of br0.
    let mut s = snap();
    link_mut(&mut s, &sandbox, "vxlan0").mtu = Some(1400);
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1405, Disposition::MtuExceeded);
    assert_eq!(t.mtu, Some(1400));
    assert!(
        t.reason.as_deref().unwrap().starts_with(&format!(
            "{sandbox}:vxlan0 (mtu 1400) as a port of br0 drops"
        )),
        "{:?}",
        t.reason
    );
    sized(&s, "fx.bbox2", "10.0.0.2", 1404, Disposition::Delivered);
}

/// With br_netfilter on (Docker loads it and sets bridge-nf-call-iptables), a bridge forwarding
/// IPv4 between ports refragments it to the out port's MTU itself: no slack of 4, and a DF
/// packet over it is dropped, silently. The namespace's sysctl or the bridge's own option turns
/// it on; a namespace without the sysctl (br_netfilter not loaded) keeps the slack.
#[test]
fn br_netfilter_limits_a_bridged_packet_to_the_port_mtu() {
    let sandbox = overlay_ns(&snap(), "nas5", "10.1.1.15");
    let mut s = snap();
    link_mut(&mut s, &sandbox, "vxlan0").mtu = Some(1400);
    sized(&s, "fx.bbox2", "10.0.0.2", 1404, Disposition::Delivered);
    ns_mut(&mut s, &sandbox).bridge_nf_call_iptables = Some(true);
    sized(&s, "fx.bbox2", "10.0.0.2", 1400, Disposition::Delivered);
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1401, Disposition::MtuExceeded);
    assert_eq!((t.mtu, t.mtu_answer), (Some(1400), Some(MtuAnswer::Silent)));
    let why = t.reason.as_deref().unwrap();
    assert!(
        why.starts_with(&format!(
            "{sandbox}:vxlan0 (mtu 1400) as a port of br0 drops the 1401-byte packet without a word: larger than its MTU: br_netfilter (bridge-nf-call-iptables) refragments"
        )),
        "{why}"
    );
    // The sysctl off, the bridge's own nf_call_iptables on: the same.
    ns_mut(&mut s, &sandbox).bridge_nf_call_iptables = Some(false);
    sized(&s, "fx.bbox2", "10.0.0.2", 1401, Disposition::Delivered);
    link_mut(&mut s, &sandbox, "br0").nf_call_iptables = Some(true);
    sized(&s, "fx.bbox2", "10.0.0.2", 1401, Disposition::MtuExceeded);
    // br_netfilter not loaded: the bridge's option does nothing.
    ns_mut(&mut s, &sandbox).bridge_nf_call_iptables = None;
    sized(&s, "fx.bbox2", "10.0.0.2", 1404, Disposition::Delivered);
}

/// A VXLAN bridge port whose encapsulated packet exceeds the underlay's MTU: the kernel answers
/// "fragmentation needed" for the destination (mtu = underlay - 50) when DF is set.
#[test]
fn an_underlay_smaller_than_the_overlay_needs_fragmentation_at_the_vxlan_port() {
    let mut s = snap();
    link_mut(&mut s, "fx.nas5", "ens33").mtu = Some(1400);
    sized(&s, "fx.bbox2", "10.0.0.2", 1350, Disposition::Delivered);
    let t = sized(&s, "fx.bbox2", "10.0.0.2", 1351, Disposition::MtuExceeded);
    assert_eq!(
        (t.mtu, t.mtu_answer),
        (Some(1350), Some(MtuAnswer::FragNeeded))
    );
    let why = t.reason.as_deref().unwrap();
    assert!(
        why.contains("vxlan0: the 1351-byte packet, encapsulated (1401 bytes), exceeds the MTU 1400 of fx.nas5's route to VTEP 10.1.1.14 (dev ens33)")
            && why.contains("(mtu = 1350) from 10.0.0.2, the destination"),
        "{why}"
    );
    // Without DF (unsized) the outer packet is fragmented: delivered.
    let t = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    assert_eq!(
        t.disposition,
        Disposition::Delivered,
        "{}",
        render(&t, true)
    );
}

/// A router checks the egress MTU strictly and answers "fragmentation needed" itself.
#[test]
fn a_router_with_a_smaller_egress_mtu_needs_fragmentation() {
    let mut s = snap();
    ns_mut(&mut s, "fx.nas4").forwarding = Some(true);
    link_mut(&mut s, "fx.nas4", "ens33").mtu = Some(1400);
    // bbox1 -> nas5's underlay address: routed by nas4 out of ens33.
    let t = sized(&s, "fx.bbox1", "10.1.1.15", 1401, Disposition::MtuExceeded);
    assert_eq!(
        (t.mtu, t.mtu_answer),
        (Some(1400), Some(MtuAnswer::FragNeeded))
    );
    let last = t.hops.last().unwrap();
    assert_eq!(
        (last.namespace.as_str(), last.out_dev.as_deref()),
        ("fx.nas4", Some("ens33"))
    );
    assert!(
        t.reason.as_deref().unwrap().starts_with(
            "fx.nas4 cannot forward the 1401-byte packet out of ens33 (mtu 1400) with DF set"
        ),
        "{:?}",
        t.reason
    );
    let t = trace_sized(&s, &SnapshotRoutes, "fx.bbox1", ip("10.1.1.15"), Some(1400));
    assert_ne!(
        t.disposition,
        Disposition::MtuExceeded,
        "{}",
        render(&t, true)
    );
}

/// What the capture of `t` would see if every device on its way saw the packet with the TTL
/// predicted, but for `missing`.
fn sightings(t: &Trace, missing: Option<(&str, &str)>) -> Vec<capture::Seen> {
    let mut out = Vec::new();
    let mut at = 0;
    for (hops, kind) in [
        (&t.hops, capture::Kind::Request),
        (&t.reply_hops, capture::Kind::Reply),
    ] {
        for h in hops {
            for (dev, dir, ttl) in capture::points(h) {
                if missing == Some((h.namespace.as_str(), dev.as_str())) {
                    continue;
                }
                at += 1;
                out.push(capture::Seen {
                    namespace: h.namespace.clone(),
                    device: dev,
                    outgoing: dir == "out",
                    at_ns: at,
                    packet: capture::Packet {
                        kind,
                        src: ip4("10.0.0.3"),
                        dst: ip4("10.0.0.2"),
                        ttl,
                        vlan: None,
                        vxlan: None,
                        error: None,
                        tcp: None,
                        len: 84,
                    },
                });
            }
        }
    }
    out
}

#[test]
fn capture_marks_every_hop_and_names_the_first_device_that_missed_the_packet() {
    let s = snap();
    let t0 = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &sightings(&t0, None), capture::Mark::Echo(7), 10);
    assert!(o.agrees && o.in_order && o.lost_at.is_none(), "{o:?}");
    assert!(t
        .hops
        .iter()
        .chain(&t.reply_hops)
        .all(|h| h.observed == Some(true)));
    assert!(render(&t, false).contains("-- seen out eth0 (ttl 64)"));

    // The underlay switch's port to nas4 never sent it: that is the first device named.
    let mut t = t0.clone();
    let o = capture::judge(
        &mut t,
        &sightings(&t0, Some(("fx.underlay", "nas4"))),
        capture::Mark::Echo(7),
        10,
    );
    let lost = o.lost_at.clone().unwrap();
    assert_eq!(
        (
            lost.kind,
            lost.namespace.as_str(),
            lost.device.as_str(),
            lost.direction
        ),
        (capture::Kind::Request, "fx.underlay", "nas4", "out"),
        "{o:?}"
    );
    assert_eq!(t.hops[lost.hop - 1].observed, Some(false));
    assert!(!o.agrees);
    assert!(capture::render(&o).contains("NOT SEEN at hop"));

    // Out of order (the kernel's timestamps disagree with the path): not agreeing either.
    let mut seen = sightings(&t0, None);
    seen.reverse();
    for (i, s) in seen.iter_mut().enumerate() {
        s.at_ns = i as u128 + 1;
    }
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &seen, capture::Mark::Echo(7), 10);
    assert!(!o.in_order && !o.agrees, "{o:?}");
}

#[test]
fn a_router_is_seen_with_one_ttl_more_coming_in_than_going_out() {
    let mut s = snap();
    ns_mut(&mut s, "fx.nas4").forwarding = Some(true);
    let t = trace(&s, &SnapshotRoutes, "fx.bbox1", ip("10.1.1.15"));
    let fwd = t.hops.iter().find(|h| is_forwarding(h)).unwrap();
    let p = capture::points(fwd);
    assert_eq!(p.len(), 2, "{fwd:?}");
    assert_eq!((p[0].1, p[0].2, p[1].1, p[1].2), ("in", 64, "out", 63));
}

#[test]
fn a_request_waiting_for_arp_is_expected_on_no_device() {
    let s = snap();
    // Nobody has 10.0.0.77: bbox2's ARP goes out, and the echo request waits for it.
    let t0 = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.77"));
    assert_eq!(
        t0.disposition,
        Disposition::NeighborUnreachable,
        "{}",
        render(&t0, true)
    );
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &[], capture::Mark::Echo(7), 3);
    assert!(o.agrees && o.lost_at.is_none(), "{o:?}");
    assert_eq!(o.stops_at, Some(0));
    assert!(capture::render(&o).contains("never left the source"));
    // Seen on the way after all (something answered the ARP): the prediction was wrong.
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &sightings(&t0, None), capture::Mark::Echo(7), 3);
    assert!(!o.agrees, "{o:?}");
}

#[test]
fn an_address_rewritten_on_the_way_is_named_where_it_was_first_seen() {
    let s = snap();
    let t0 = trace(&s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"));
    let mut seen = sightings(&t0, None);
    // From the underlay switch on, the request's source is another (a NAT on the way).
    let first = seen
        .iter()
        .position(|s| s.namespace == "fx.underlay" && s.packet.kind == capture::Kind::Request)
        .unwrap();
    for s in seen[first..]
        .iter_mut()
        .filter(|s| s.packet.kind == capture::Kind::Request)
    {
        s.packet.src = ip4("198.51.100.9");
    }
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &seen, capture::Mark::Echo(7), 10);
    assert!(o.agrees, "a rewrite is observed, not a disagreement: {o:?}");
    assert_eq!(o.rewrites.len(), 1, "{o:?}");
    let r = &o.rewrites[0];
    assert_eq!(
        (
            r.kind,
            r.namespace.as_str(),
            r.field,
            r.from,
            r.to,
            r.device.as_str()
        ),
        (
            capture::Kind::Request,
            "fx.underlay",
            "source",
            ip4("10.0.0.3"),
            ip4("198.51.100.9"),
            seen[first].device.as_str()
        )
    );
    assert!(
        render(&t, false).contains("NAT: source 10.0.0.3 -> 198.51.100.9"),
        "{}",
        render(&t, false)
    );
    assert!(capture::render(&o).contains("the request's source rewritten 10.0.0.3 -> 198.51.100.9"));
    // Unchanged addresses: nothing said.
    let mut t = t0.clone();
    let o = capture::judge(&mut t, &sightings(&t0, None), capture::Mark::Echo(7), 10);
    assert!(o.rewrites.is_empty(), "{o:?}");
}

/// The trace of `from` -> `to`, which must end in `want`.
fn traced(s: &Snapshot, from: &str, to: &str, want: Disposition) -> Trace {
    let t = trace(s, &SnapshotRoutes, from, ip(to));
    assert_eq!(t.disposition, want, "{}", render(&t, true));
    t
}

/// A firewall table of one chain, as netlab writes a host's rules.
fn wall(s: &mut Snapshot, ns: &str, chain: crate::kernel::nft::Chain) {
    s.firewalls
        .entry(ns.to_string())
        .or_default()
        .push(crate::kernel::nft::Table {
            name: "netlab".into(),
            chains: vec![chain],
        });
}

#[test]
fn a_drop_rule_in_the_sources_output_chain_filters_the_request() {
    use crate::kernel::nft::{Action, Chain, Hook, Match, Policy, Rule};
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::filter(
            "output",
            Hook::Output,
            Policy::Accept,
            vec![
                Rule::new(
                    vec![Match::Daddr("10.0.0.9/32".parse().unwrap())],
                    Action::Drop,
                ),
                Rule::new(
                    vec![Match::Daddr("10.0.0.0/24".parse().unwrap())],
                    Action::Drop,
                ),
            ],
        ),
    );
    let t = traced(&s, "fx.bbox2", "10.0.0.2", Disposition::Filtered);
    let f = t.filtered.as_ref().unwrap();
    assert_eq!(
        (f.namespace.as_str(), f.chain.as_str(), f.hook, f.rule),
        ("fx.bbox2", "output", "output", Some(2))
    );
    assert_eq!(f.text, "ip daddr 10.0.0.0/24 drop");
    assert_eq!(t.hops.len(), 1, "it never leaves: {}", render(&t, true));
    assert_eq!(t.hops[0].out_dev, None);
    assert!(t.reason.as_deref().unwrap().contains(
        "fx.bbox2 drops it: table inet netlab chain output (hook output) rule 2: ip daddr 10.0.0.0/24 drop"
    ));
    // Another protocol's rule does not match an echo request.
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::filter(
            "output",
            Hook::Output,
            Policy::Accept,
            vec![Rule::new(
                vec![Match::Proto(crate::kernel::nft::L4Proto::Tcp)],
                Action::Drop,
            )],
        ),
    );
    traced(&s, "fx.bbox2", "10.0.0.2", Disposition::Delivered);
}

#[test]
fn the_reply_meets_the_input_chain_as_an_established_connection() {
    use crate::kernel::nft::{Action, Chain, CtState, Hook, Match, Policy, Rule};
    let established = Rule::new(
        vec![Match::CtState(vec![CtState::Established, CtState::Related])],
        Action::Accept,
    );
    // bbox2 accepts only what answers its own connections: its ping comes back...
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::filter("input", Hook::Input, Policy::Drop, vec![established]),
    );
    traced(&s, "fx.bbox2", "10.0.0.2", Disposition::Delivered);
    // ...but bbox1's echo request to it is new, and the policy drops it on the way in.
    let t = traced(&s, "fx.bbox1", "10.0.0.3", Disposition::Filtered);
    let f = t.filtered.as_ref().unwrap();
    assert_eq!(
        (f.namespace.as_str(), f.hook, f.rule),
        ("fx.bbox2", "input", None)
    );
    assert_eq!(f.text, "policy drop");
    let last = t.hops.last().unwrap();
    assert_eq!(
        (
            last.namespace.as_str(),
            last.in_dev.as_deref(),
            last.out_dev.as_deref()
        ),
        ("fx.bbox2", Some("eth0"), None)
    );
    assert!(t.reply_hops.is_empty());
    // Without the established rule, bbox2's own ping reaches bbox1 and its reply is dropped.
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::filter("input", Hook::Input, Policy::Drop, vec![]),
    );
    let t = traced(&s, "fx.bbox2", "10.0.0.2", Disposition::Filtered);
    assert_eq!(t.delivered_to.as_deref(), Some("fx.bbox1"));
    assert!(!t.reply_hops.is_empty());
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .starts_with("the echo reaches fx.bbox1, but the reply"),
        "{:?}",
        t.reason
    );
    assert_eq!(t.filtered.as_ref().unwrap().hook, "input");
}

#[test]
fn source_nat_is_said_on_the_hop_that_makes_it() {
    use crate::kernel::nft::{Action, Chain, Hook, Match, Rule};
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::nat(
            "postrouting",
            Hook::Postrouting,
            vec![Rule::new(
                vec![Match::Oif("eth0".into())],
                Action::Snat {
                    addr: ip4("10.0.0.99"),
                },
            )],
        ),
    );
    // bbox1 answers the address it saw, which nobody holds: the reply is lost there.
    let t = traced(&s, "fx.bbox2", "10.0.0.2", Disposition::NeighborUnreachable);
    assert!(
        t.hops[0]
            .action
            .ends_with("; postrouting: snat, source 10.0.0.3 -> 10.0.0.99"),
        "{}",
        t.hops[0].action
    );
    let why = t.reason.as_deref().unwrap();
    assert!(
        why.contains("the reply to 10.0.0.99 (the source NAT's, for 10.0.0.3)")
            && why.contains("nobody answers ARP for 10.0.0.99"),
        "{why}"
    );
    // The reply is conntrack's: no NAT chain sees it.
    assert!(t.reply_hops.iter().all(|h| !h.action.contains("snat")));
}

#[test]
fn a_udp_or_tcp_flow_meets_the_rules_of_its_protocol_and_port() {
    use crate::kernel::nft::{Action, Chain, CtState, Hook, L4Proto, Match, Policy, Rule};
    let flow = |s: &Snapshot, f: Flow, want: Disposition| {
        let t = trace_flow(s, &SnapshotRoutes, "fx.bbox2", ip("10.0.0.2"), None, f);
        assert_eq!(t.disposition, want, "{}", render(&t, true));
        t
    };
    // A published port: bbox1 DNATs tcp 8080 to its port 80; an echo is not rewritten.
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox1",
        Chain::nat(
            "prerouting",
            Hook::Prerouting,
            vec![Rule::new(
                vec![Match::Dport {
                    proto: L4Proto::Tcp,
                    port: 8080,
                }],
                Action::Dnat {
                    addr: ip4("10.0.0.2"),
                    port: Some(80),
                },
            )],
        ),
    );
    let t = flow(&s, Flow::Tcp(8080), Disposition::Delivered);
    let end = t.hops.last().unwrap();
    assert_eq!(
        end.action,
        "10.0.0.2 is local: delivered to tcp port 80; prerouting: dnat, destination 10.0.0.2 -> 10.0.0.2 port 8080 -> 80"
    );
    assert!(render(&t, false).starts_with("trace fx.bbox2 -> 10.0.0.2, tcp port 8080\n"));
    assert!(t.reply_hops[0]
        .action
        .starts_with("reply (SYN-ACK, or RST): "));
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        (json["proto"].as_str(), json["port"].as_u64()),
        (Some("tcp"), Some(8080))
    );
    let echo = flow(&s, Flow::Icmp, Disposition::Delivered);
    assert!(!echo.hops.last().unwrap().action.contains("dnat"));
    assert_eq!(serde_json::to_value(&echo).unwrap()["proto"], "icmp");
    flow(&s, Flow::Udp(8080), Disposition::Delivered);
    // A drop on udp port 53 at bbox1's input: 53 is filtered, 54 is not, nor tcp 53.
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox1",
        Chain::filter(
            "input",
            Hook::Input,
            Policy::Accept,
            vec![Rule::new(
                vec![Match::Dport {
                    proto: L4Proto::Udp,
                    port: 53,
                }],
                Action::Drop,
            )],
        ),
    );
    let t = flow(&s, Flow::Udp(53), Disposition::Filtered);
    assert_eq!(t.filtered.as_ref().unwrap().text, "udp dport 53 drop");
    let t = flow(&s, Flow::Udp(54), Disposition::Delivered);
    assert!(t.reply_hops[0]
        .action
        .starts_with("reply (ICMP port unreachable, if nothing listens): "));
    flow(&s, Flow::Tcp(53), Disposition::Delivered);
    // The answers come back through an input chain that accepts only established and related
    // packets: TCP's SYN-ACK is established, UDP's port unreachable related.
    let mut s = snap();
    wall(
        &mut s,
        "fx.bbox2",
        Chain::filter(
            "input",
            Hook::Input,
            Policy::Drop,
            vec![Rule::new(
                vec![Match::CtState(vec![CtState::Related])],
                Action::Accept,
            )],
        ),
    );
    flow(&s, Flow::Udp(54), Disposition::Delivered);
    let t = flow(&s, Flow::Tcp(80), Disposition::Filtered);
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .starts_with("the packet reaches fx.bbox1, but the reply"),
        "{:?}",
        t.reason
    );
}

/// The snapshot's routes, and a socket table that takes every port (`true`) or none.
struct Sockets(bool);

impl RouteOracle for Sockets {
    fn lookup(&self, ns: &Namespace, dst: IpAddr) -> RouteResult {
        SnapshotRoutes.lookup(ns, dst)
    }

    fn listening(
        &self,
        _ns: &Namespace,
        _proto: crate::kernel::nft::L4Proto,
        _dst: IpAddr,
        _port: u16,
        _in_dev: Option<&str>,
    ) -> Option<bool> {
        Some(self.0)
    }
}

#[test]
fn the_answer_is_the_one_of_the_destinations_sockets() {
    let s = snap();
    let flow = |listens: bool, f: Flow| {
        let t = trace_flow(&s, &Sockets(listens), "fx.bbox2", ip("10.0.0.2"), None, f);
        assert_eq!(
            t.disposition,
            Disposition::Delivered,
            "{}",
            render(&t, true)
        );
        assert_eq!(t.listening, Some(listens));
        assert_eq!(serde_json::to_value(&t).unwrap()["listening"], listens);
        t
    };
    // TCP: a listening socket answers SYN-ACK, none RST; both come back.
    let t = flow(true, Flow::Tcp(80));
    assert_eq!(
        t.hops.last().unwrap().action,
        "10.0.0.2 is local: delivered to tcp port 80 (a socket listens)"
    );
    assert!(t.reply_hops[0].action.starts_with("reply (SYN-ACK): "));
    assert!(render_minimal(&t).ends_with("(reply ttl 64)"));
    let t = flow(false, Flow::Tcp(80));
    assert!(t.reply_hops[0].action.starts_with("reply (RST): "));
    // UDP: a bound socket takes the datagram and the kernel answers nothing.
    let t = flow(true, Flow::Udp(53));
    assert!(t.reply_hops.is_empty(), "{}", render(&t, true));
    assert!(render_minimal(&t).ends_with("DELIVERED (taken by a socket)"));
    assert!(render(&t, false).contains("where a socket takes it: nothing is predicted to answer"));
    let t = flow(false, Flow::Udp(53));
    assert_eq!(
        t.hops.last().unwrap().action,
        "10.0.0.2 is local: delivered to udp port 53 (no socket listens)"
    );
    assert!(t.reply_hops[0]
        .action
        .starts_with("reply (ICMP port unreachable): "));
    // An echo is answered by the kernel whatever the sockets.
    let t = trace_flow(
        &s,
        &Sockets(true),
        "fx.bbox2",
        ip("10.0.0.2"),
        None,
        Flow::Icmp,
    );
    assert_eq!(t.listening, None);
    assert!(!t.reply_hops.is_empty());
}

/// IPv6 packets and netlab's IPv4 rules: `ip saddr`/`ip daddr` (guarded by `meta nfproto
/// ipv4`) never match one, a `dnat ip to` is skipped for it (the next rule decides), while an
/// interface match and masquerade are of both families.
#[test]
fn ipv4_rules_do_not_match_ipv6_packets_but_interface_rules_do() {
    use crate::kernel::nft::{Action, Chain, Hook, Match, Policy, Rule, Table};
    let s = snap();
    let ns = s.namespace("fx.nas4").unwrap();
    let v6: IpAddr = "2001:db8:1::10".parse().unwrap();
    let packet = || netfilter::Packet {
        saddr: Some("2001:db8:1::2".parse().unwrap()),
        daddr: v6,
        proto: L4Proto::Icmp,
        dport: None,
        ct: CtState::New,
    };
    let table = |rules: Vec<Rule>, hook: Hook| Table {
        name: "t".into(),
        chains: vec![match hook {
            Hook::Prerouting => Chain::nat("pre", hook, rules),
            _ => Chain::filter("fwd", hook, Policy::Accept, rules),
        }],
    };
    // A drop of an IPv4 subnet lets it pass; a drop by interface stops it.
    let by_addr = table(
        vec![Rule::new(
            vec![Match::Daddr("0.0.0.0/0".parse().unwrap())],
            Action::Drop,
        )],
        Hook::Forward,
    );
    let mut p = packet();
    let o = netfilter::run(ns, &[by_addr], Hook::Forward, &mut p, Some("a"), Some("b"));
    assert!(
        o.dropped.is_none(),
        "ip daddr 0.0.0.0/0 does not match IPv6"
    );
    let by_dev = table(
        vec![Rule::new(
            vec![Match::Iif("a".into()), Match::Oif("b".into())],
            Action::Drop,
        )],
        Hook::Forward,
    );
    let o = netfilter::run(ns, &[by_dev], Hook::Forward, &mut p, Some("a"), Some("b"));
    assert_eq!(o.dropped.map(|f| f.rule), Some(Some(1)));
    // A DNAT to an IPv4 address is skipped: the destination stays, no rewrite said.
    let dnat = || {
        table(
            vec![Rule::new(
                vec![Match::Iif("a".into())],
                Action::Dnat {
                    addr: "10.0.0.2".parse().unwrap(),
                    port: None,
                },
            )],
            Hook::Prerouting,
        )
    };
    let mut p = packet();
    let o = netfilter::run(ns, &[dnat()], Hook::Prerouting, &mut p, Some("a"), None);
    assert_eq!((p.daddr, o.rewrites.len()), (v6, 0));
    // The same packet of IPv4 is rewritten.
    let mut p4 = netfilter::Packet {
        daddr: "10.0.0.9".parse().unwrap(),
        saddr: Some("10.0.0.3".parse().unwrap()),
        ..packet()
    };

    netfilter::run(ns, &[dnat()], Hook::Prerouting, &mut p4, Some("a"), None);
    assert_eq!(p4.daddr, ip("10.0.0.2"));
}
