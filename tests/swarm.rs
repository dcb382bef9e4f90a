//! Root integration tests of swarm's ingress network (seed 004, labs/swarm.toml): the article's
//! lines, quoted, against the live lab, with iproute2's JSON, `ip netns` inside a node and
//! netlab inspect's JSON as the oracles. Overlays work on this machine's kernel; the VM tier
//! runs the same test on Debian's.

mod common;

use common::*;
use serde_json::Value;

const LAB: &str = "labs/swarm.toml";
const MANAGER: &str = "mysql-nginx";
const WORKER: &str = "MyTest03";

/// The first address of `dev` in `ns` with its prefix, as `ip -j addr` lists it.
fn addr(ns: &str, dev: &str) -> String {
    addrs(ns, dev)
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{ns}: {dev} has no IPv4 address"))
}

fn inspect(lab: &str, net: &str, host: &str) -> Value {
    let args = ["inspect", &format!("{lab}/{net}"), "--host", host, "--json"];
    let o = netlab(&args);
    assert!(o.status.success(), "netlab {args:?}: {}", text(&o));
    serde_json::from_slice::<Value>(&o.stdout).unwrap()[0].clone()
}

#[test]
fn the_swarm_lab_matches_the_article() {
    if !require_root("the_swarm_lab_matches_the_article") {
        return;
    }
    let lab = unique("tswm");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, LAB, 3);
    let node = |h: &str, ns: &str| format!("{lab}.{h}.{ns}");

    // "1-8lyfiluksq (id: 0)" / "ingress_sbox (id: 1)" on both nodes, and on the manager,
    // with the task running, "1-kzxwwwtunp (id: 2)" and the task's sandbox (the article's
    // "d2feb68e3183 (id: 3)"; its lb_kzxwwwtun is not modelled).
    for h in [MANAGER, WORKER] {
        let o = netlab(&["exec", &format!("{lab}.{h}"), "--", "ip", "netns"]);
        assert!(o.status.success(), "{}", text(&o));
        let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        for want in ["1-8lyfiluksq", "1-kzxwwwtunp", "ingress_sbox"] {
            assert!(listed.iter().any(|n| n == want), "{h}: {listed:?}");
        }
        assert_eq!(listed.len(), 4, "{h}: {listed:?}");
    }

    // "***** vxlan id 4096 *****" in 1-8lyfiluksq, "***** vxlan id 4097 *****" in
    // 1-kzxwwwtunp; "inet 10.255.0.1/16 ... scope global br0".
    for h in [MANAGER, WORKER] {
        let vx = link(&node(h, "1-8lyfiluksq"), "vxlan0");
        assert_eq!(vx["linkinfo"]["info_data"]["id"], 4096, "{vx}");
        let vx = link(&node(h, "1-kzxwwwtunp"), "vxlan0");
        assert_eq!(vx["linkinfo"]["info_data"]["id"], 4097, "{vx}");
        assert_eq!(addr(&node(h, "1-8lyfiluksq"), "br0"), "10.255.0.1/16");
        assert_eq!(addr(&node(h, "1-kzxwwwtunp"), "br0"), "10.0.0.1/24");
    }

    // ingress_sbox: "46: eth0@if47 ... link/ether 02:42:0a:ff:00:02 ... inet 10.255.0.2/16
    // ... eth0" and "49: eth1@if50 ... inet 172.19.0.2/16 ... eth1" (172.18 here, see the lab).
    let sbox = node(MANAGER, "ingress_sbox");
    assert_eq!(addr(&sbox, "eth0"), "10.255.0.2/16");
    assert_eq!(link(&sbox, "eth0")["address"], "02:42:0a:ff:00:02");
    assert_eq!(addr(&sbox, "eth1"), "172.18.0.2/16");
    assert_eq!(addr(&node(WORKER, "ingress_sbox"), "eth0"), "10.255.0.3/16");
    // eth0 sits on ingress's br0 (find_links.sh 47: "1-8lyfiluksq:47: veth0@if46 ... master
    // br0"), eth1 on the node's docker_gwbridge.
    let peer = link(&sbox, "eth0")["link_index"].clone();
    let ports = ip_json(
        &node(MANAGER, "1-8lyfiluksq"),
        &["link", "show", "master", "br0"],
    );
    assert!(
        ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ifindex"] == peer),
        "{ports}"
    );

    // The task: "eth0 10.255.0.5/16", "eth1 10.0.0.3/24", "eth2 172.19.0.3/16", and
    // "default via 172.19.0.1 dev eth2".
    let task = format!("{lab}.uber-svc-1");
    assert_eq!(addr(&task, "eth0"), "10.255.0.5/16");
    assert_eq!(addr(&task, "eth1"), "10.0.0.3/24");
    assert_eq!(addr(&task, "eth2"), "172.18.0.3/16");
    let routes = ip_json(&task, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.18.0.1", "{routes}");
    assert_eq!(routes[0]["dev"], "eth2", "{routes}");

    // docker network inspect ingress: "Id": "8lyfiluksqu09jfdjndhj68hl", "Scope": "swarm",
    // "Options": null, "Subnet": "10.255.0.0/16", "Gateway": "10.255.0.1".
    let ingress = inspect(&lab, "ingress", MANAGER);
    assert_eq!(ingress["Id"], "8lyfiluksqu09jfdjndhj68hl");
    assert_eq!(ingress["Scope"], "swarm");
    assert_eq!(ingress["Ingress"], true);
    assert_eq!(ingress["IPAM"]["Options"], Value::Null);
    assert_eq!(
        ingress["IPAM"]["Config"],
        serde_json::json!([{ "Subnet": "10.255.0.0/16", "Gateway": "10.255.0.1" }])
    );
    let sb = &ingress["Containers"]["ingress-sbox"];
    assert_eq!(sb["Name"], "ingress-endpoint", "{ingress}");
    assert_eq!(sb["IPv4Address"], "10.255.0.2/16", "{ingress}");
    let svc = inspect(&lab, "uber-svc", MANAGER);
    assert_eq!(svc["Scope"], "swarm");
    assert_eq!(svc["Ingress"], false);
    assert_eq!(svc["IPAM"]["Options"], Value::Null);
    assert_eq!(
        svc["IPAM"]["Config"],
        serde_json::json!([{ "Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1" }])
    );
    let gw = inspect(&lab, "docker_gwbridge", MANAGER);
    assert_eq!(
        gw["Containers"]["ingress-sbox"]["Name"], "gateway_ingress-sbox",
        "{gw}"
    );

    // The sandbox is no container: connecting it is refused, and ingress takes no connect.
    let o = netlab(&[
        "connect",
        "uber-svc",
        &format!("{lab}/{MANAGER}.ingress_sbox"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    down_restoring(&lab, &before);
}
