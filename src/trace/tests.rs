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

fn ip(s: &str) -> Ipv4Addr {
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
