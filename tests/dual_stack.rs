//! IPv6 dual stack (labs/dual-stack.toml, seed 002's --ipv6): every container on a v6 network
//! has an address of each family, added with nodad; bridges and br0 hold the v6 gateway; the
//! v6 default route follows the v4 one; pings cross bridge, overlay and macvlan over IPv6;
//! inspect says EnableIPv6; a run-time connect gives a v6 address too; hosts with an IPv6
//! bridge forward IPv6; trace predicts every IPv6 pair as ping -6 finds it. iproute2's JSON,
//! sysctl and iputils ping are the oracles.

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
    up_passing(&lab, "labs/dual-stack.toml", 7);

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

    // Docker turns IPv6 forwarding on for a bridge network with IPv6: node1 (web's bridge),
    // not node2 (docker_gwbridge only, no IPv6). sysctl is the oracle.
    assert_eq!(
        sysctl_in(&ns(&lab, "node1"), "net.ipv6.conf.all.forwarding"),
        "1"
    );
    assert_eq!(
        sysctl_in(&ns(&lab, "node2"), "net.ipv6.conf.all.forwarding"),
        "0"
    );

    // trace over IPv6: for every container and every IPv6 address of another container, the
    // prediction (delivered, with the reply's hop limit) is what iputils' ping -6 sees.
    let v6 = [
        ("web1", "2001:db8:1::2"),
        ("web2", "2001:db8:1::10"),
        ("web1", "2001:db8:9::2"),
        ("app1", "2001:db8:9::3"),
        ("mac1", "2001:db8:abc1::1"),
        ("mac2", "2001:db8:abc1::2"),
    ];
    let sources = ["web1", "web2", "app1", "mac1", "mac2"];
    let mut delivered = 0;
    for from in sources {
        for (owner, to) in v6.iter().filter(|(o, _)| *o != from) {
            let o = netlab(&["trace", &format!("{lab}.{from}"), to, "--json"]);
            let v: Value = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|e| panic!("trace {from} {to}: {e}: {}", text(&o)));
            let t = &v["trace"];
            let predicted = (t["disposition"] == "DELIVERED").then(|| t["reply_ttl"].as_u64());
            let reachable = predicted.is_some();
            let seen = ping_ttl_judging(&ns(&lab, from), to, reachable).map(u64::from);
            assert_eq!(
                predicted.flatten(),
                seen,
                "trace {from} -> {to} ({owner}) predicts {}, ping -6 says {seen:?}: {t}",
                t["disposition"]
            );
            if reachable {
                delivered += 1;
                assert_eq!(t["delivered_to"], ns(&lab, owner), "{t}");
                assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            } else {
                assert_eq!(o.status.code(), Some(1), "{}", text(&o));
            }
        }
    }
    // On web, over the overlay and on the macvlan segment, both ways.
    assert_eq!(delivered, 6, "delivered IPv6 pairs");
    // The way across the overlay: vxlan0's proxy answers the neighbour solicitation from the
    // permanent entry netlab wrote (ip neigh is the oracle), then the FDB sends it to node2.
    let o = netlab(&["trace", &format!("{lab}.web1"), "2001:db8:9::3"]);
    let said = text(&o);
    let neigh = ip_json(
        &sandbox,
        &["-6", "neigh", "show", "dev", "vxlan0", "2001:db8:9::3"],
    );
    let mac = neigh[0]["lladdr"]
        .as_str()
        .unwrap_or_else(|| panic!("{neigh}"));
    assert!(
        said.contains(&format!(
            "proxy answers neighbour solicitation for 2001:db8:9::3: {mac}"
        )) || said.contains(&format!("fdb {mac} -> VTEP 10.1.1.12")),
        "{said}"
    );
    assert!(said.contains("VTEP 10.1.1.12"), "{said}");
    // Between web's bridge and the overlay, node1 forwards IPv6 but has no route to ov6's
    // subnet (it is in the overlay's sandbox): no route, as ping finds.
    let o = netlab(&["trace", &format!("{lab}.web2"), "2001:db8:9::3", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["trace"]["disposition"], "NO_ROUTE", "{v}");
    assert_eq!(
        v["trace"]["hops"].as_array().unwrap().last().unwrap()["namespace"],
        ns(&lab, "node1"),
        "{v}"
    );
    // -6 names a container by its IPv6 address (web2's on web, shared with web1); --probe
    // sends ICMPv6 echo and agrees. A host has none: exit 2.
    let o = netlab(&[
        "trace",
        &format!("{lab}.web1"),
        "web2",
        "-6",
        "--probe",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["trace"]["to"], "2001:db8:1::10", "{v}");
    assert_eq!(v["agree"], true, "{v}");
    assert_eq!(v["probe"]["received"], v["probe"]["sent"], "{v}");
    assert_eq!(v["probe_hops"][0]["from"], "2001:db8:1::10", "{v}");
    let o = netlab(&["trace", &format!("{lab}.web1"), "node1", "-6"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no IPv6 address"), "{}", text(&o));
    // The lab's scenarios: app1 joins web (IPv6 at run time), mac2's link down and up.
    scenarios_pass(&lab, 2);
    // mac2's eth0 went down and up: what the kernel flushed (its IPv6 address, its routes of
    // both families) is back, as iproute2 shows.
    assert_eq!(
        global6(&ns(&lab, "mac2"), "eth0").0,
        vec!["2001:db8:abc1::2/64".to_string()]
    );
    assert_eq!(
        defaults6(&ns(&lab, "mac2")),
        vec![(Some("2001:db8:abc1::22".to_string()), "eth0".to_string())]
    );
    let v4 = ip_json(&ns(&lab, "mac2"), &["route", "show", "default"]);
    assert_eq!(v4[0]["gateway"], "10.1.1.1", "{v4}");
    // --capture and --proto follow IPv4 only, and say so (exit 2).
    let o = netlab(&[
        "trace",
        &format!("{lab}.web1"),
        "2001:db8:1::10",
        "--capture",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("follow IPv4 only"), "{}", text(&o));

    down_restoring(&lab, &before);
}
