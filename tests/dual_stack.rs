//! IPv6 dual stack (labs/dual-stack.toml, seed 002's --ipv6): every container on a v6 network
//! has an address of each family, added with nodad; bridges and br0 hold the v6 gateway; the
//! v6 default route follows the v4 one; pings cross bridge, overlay and macvlan over IPv6;
//! inspect says EnableIPv6; a run-time connect gives a v6 address too. iproute2's JSON and
//! iputils ping are the oracles.

mod common;

use common::*;
use serde_json::Value;

fn ns(lab: &str, node: &str) -> String {
    format!("{lab}.{node}")
}

#[test]
fn dual_stack_containers_have_both_families_and_ping_over_ipv6() {
    if !require_root("dual_stack_containers_have_both_families_and_ping_over_ipv6") {
        return;
    }
    let lab = unique("tds");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    let o = netlab(&["up", "-q", "--name", &lab, "labs/dual-stack.toml"]);
    assert!(o.status.success(), "up failed: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("7 passed, 0 failed"),
        "{}",
        text(&o)
    );

    // Addresses as planned: in file order from ::1 (web's gateway ::1 and the overlay's ::1
    // skipped, the macvlan's ::22 gateway skipped), the static one as given; all nodad.
    for (node, dev, want) in [
        ("web1", "eth0", "2001:db8:1::2/64"),
        ("web2", "eth0", "2001:db8:1::10/64"),
        ("web1", "eth1", "2001:db8:9::2/64"),
        ("app1", "eth0", "2001:db8:9::3/64"),
        ("mac1", "eth0", "2001:db8:abc1::1/64"),
        ("mac2", "eth0", "2001:db8:abc1::2/64"),
    ] {
        let (got, usable) = global6(&ns(&lab, node), dev);
        assert_eq!(got, vec![want.to_string()], "{node} {dev}");
        assert!(usable, "{node} {dev}: added without DAD, usable at once");
    }
    // Each container still has its IPv4 address beside it.
    let v4 = ip_json(&ns(&lab, "web1"), &["-4", "addr", "show", "dev", "eth0"]);
    assert_eq!(v4[0]["addr_info"][0]["local"], "172.28.0.2", "{v4}");
    // app1 is on no IPv6 network but ov6: its docker_gwbridge leg has no IPv6 address.
    assert_eq!(global6(&ns(&lab, "app1"), "eth1").0, Vec::<String>::new());

    // The gateways: web's bridge in node1, ov6's br0 in node1's overlay sandbox.
    let bridge = format!("br-{}", &net_id(&lab, "web")[..12]);
    assert_eq!(
        global6(&ns(&lab, "node1"), &bridge).0,
        vec!["2001:db8:1::1/64".to_string()]
    );
    let sandbox = format!("{lab}.node1.1-{}", &net_id(&lab, "ov6")[..10]);
    assert_eq!(
        global6(&sandbox, "br0").0,
        vec!["2001:db8:9::1/64".to_string()]
    );

    // The v6 default route follows the v4 one: web's gateway for web1 and web2, the
    // macvlan's router for mac1; app1's v4 way out (docker_gwbridge) has no IPv6.
    for (node, want) in [
        (
            "web1",
            vec![(Some("2001:db8:1::1".to_string()), "eth0".to_string())],
        ),
        (
            "web2",
            vec![(Some("2001:db8:1::1".to_string()), "eth0".to_string())],
        ),
        (
            "mac1",
            vec![(Some("2001:db8:abc1::22".to_string()), "eth0".to_string())],
        ),
        ("app1", vec![]),
    ] {
        assert_eq!(defaults6(&ns(&lab, node)), want, "{node}");
    }

    // iputils over IPv6: on the bridge, across hosts on the overlay and on the macvlan's
    // segment (hop limit 64: no router between); app1 has no route to web's subnet.
    for (from, to) in [
        ("web1", "2001:db8:1::10"),
        ("web1", "2001:db8:9::3"),
        ("app1", "2001:db8:9::2"),
        ("mac2", "2001:db8:abc1::1"),
    ] {
        assert_eq!(
            ping_ttl_judging(&ns(&lab, from), to, true),
            Some(64),
            "ping -6 {from} -> {to}"
        );
    }
    assert_eq!(
        ping_ttl_judging(&ns(&lab, "app1"), "2001:db8:1::10", false),
        None
    );

    // docker network inspect: EnableIPv6, the v6 subnet in IPAM.Config, each IPv6Address.
    let o = netlab(&["inspect", &format!("{lab}/web"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["EnableIPv6"], true, "{v}");
    assert_eq!(
        v[0]["IPAM"]["Config"],
        serde_json::json!([{"Subnet": "172.28.0.0/16"}, {"Subnet": "2001:db8:1::/64"}]),
        "{v}"
    );
    let by_name = |v: &Value, name: &str| -> Value {
        v[0]["Containers"]
            .as_object()
            .unwrap()
            .values()
            .find(|c| c["Name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in inspect: {v}"))
    };
    assert_eq!(by_name(&v, "web2")["IPv6Address"], "2001:db8:1::10/64");
    let o = netlab(&["inspect", &format!("{lab}/docker_gwbridge"), "--json"]);
    let gw: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(gw[0]["EnableIPv6"], false, "{gw}");

    // At run time: app1 joins web on node2 (a bridge of its own there, a per-host pool) and
    // gets web's first free IPv6 address there, ::2, and reaches the bridge's ::1.
    let o = netlab(&["connect", &format!("{lab}/web"), &format!("{lab}.app1")]);
    assert!(o.status.success(), "connect: {}", text(&o));
    let (got, usable) = global6(&ns(&lab, "app1"), "eth2");
    assert_eq!(got, vec!["2001:db8:1::2/64".to_string()]);
    assert!(usable);
    assert_eq!(
        ping_ttl_judging(&ns(&lab, "app1"), "2001:db8:1::1", true),
        Some(64)
    );
    let o = netlab(&["disconnect", &format!("{lab}/web"), &format!("{lab}.app1")]);
    assert!(o.status.success(), "disconnect: {}", text(&o));
    let gone = std::process::Command::new("ip")
        .args(["-n", &ns(&lab, "app1"), "link", "show", "dev", "eth2"])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "eth2 is gone after disconnect");

    // trace follows IPv4 only, and says so (exit 2) for an IPv6 destination.
    let o = netlab(&["trace", &format!("{lab}.web1"), "2001:db8:1::10"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("IPv4 paths only"), "{}", text(&o));

    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    assert_clean(&lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}
