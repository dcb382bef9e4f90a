//! Root integration tests for macvlan networks, 802.1Q sub-interfaces and router hosts: build
//! labs/macvlan.toml, labs/macvlan-vlan.toml, labs/routed-gateway.toml and seed 003's
//! labs/macvlan-nodes.toml and labs/macvlan-trunk.toml (a parent per host) in the real kernel and
//! check them with iproute2's JSON, procps' sysctl and iputils ping as independent oracles.
//!
//! The VLAN labs need 802.1Q, which not every kernel has (this project's development machine's
//! has not): their tests are ignored, with that reason, and the full-kernel tier, `tests/vm/run`,
//! runs them in a VM with --include-ignored. Run on a kernel without 802.1Q, they fail.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const NO_VLAN: &str =
    "this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q); try 'modprobe 8021q'";

fn ns(lab: &str, node: &str) -> String {
    format!("{lab}.{node}")
}

fn flags(link: &Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The namespace a link's `link_netnsid` names, as seen from `ns` (`ip netns list-id`).
fn peer_namespace(ns: &str, nsid: &Value) -> String {
    let ids = ip_json(ns, &["netns", "list-id"]);
    ids.as_array()
        .unwrap()
        .iter()
        .find(|e| &e["nsid"] == nsid)
        .and_then(|e| e["name"].as_str())
        .unwrap_or_else(|| panic!("nsid {nsid} unknown in {ns}: {ids}"))
        .to_string()
}

/// Tests that need 802.1Q: fail, naming the test and the reason, on a kernel without it (they
/// run only when asked for, with --include-ignored, as tests/vm/run does).
fn need_vlan(test: &str) {
    assert!(
        kernel_has_vlan(),
        "{test} needs 802.1Q (CONFIG_VLAN_8021Q), which this kernel lacks: tests/vm/run runs it"
    );
}

/// A container's `dev` is a macvlan of `parent` on host namespace `host_ns`, in `mode`, with
/// the Docker MAC `mac`: `eth0@ifN` where N is the parent's index on the host.
fn assert_macvlan(
    container_ns: &str,
    dev: &str,
    host_ns: &str,
    parent: &str,
    mode: &str,
    mac: &str,
) {
    let l = link(container_ns, dev);
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{l}");
    assert_eq!(l["address"], mac, "{l}");
    let p = link(host_ns, parent);
    assert_eq!(
        l["link_index"], p["ifindex"],
        "{dev}@ifN must be {parent}: {l}"
    );
    assert_eq!(
        peer_namespace(container_ns, &l["link_netnsid"]),
        host_ns,
        "the lower device lives in the host: {l}"
    );
}

/// Every ordered pair of `nodes` (namespace, address) pinged at once; returns the TTL seen
/// (None: unreachable) per (from, to) address.
fn ping_matrix(nodes: &[(String, &str)]) -> BTreeMap<(String, String), Option<u8>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .flat_map(|(from_ns, from)| {
                nodes
                    .iter()
                    .filter(move |(_, to)| to != from)
                    .map(move |(_, to)| {
                        let key = (from.to_string(), to.to_string());
                        s.spawn(move || (key, ping_ttl(from_ns, to)))
                    })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_no_bridges(host_ns: &str) {
    let bridges = ip_json(host_ns, &["link", "show", "type", "bridge"]);
    assert_eq!(
        bridges.as_array().map(|a| a.len()),
        Some(0),
        "macvlan creates no bridge in {host_ns}: {bridges}"
    );
}

#[test]
fn macvlan_lab_matches_the_article() {
    if !require_root("macvlan_lab_matches_the_article") {
        return;
    }
    let lab = unique("tmv");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, "labs/macvlan.toml", 4);

    let mut expected = vec![
        ns(&lab, "underlay"),
        ns(&lab, "nas4"),
        ns(&lab, "nas5"),
        ns(&lab, "bbox11"),
        ns(&lab, "bbox21"),
    ];
    expected.sort();
    assert_eq!(lab_namespaces(&lab), expected, "no per-network namespaces");

    let (nas4, nas5) = (ns(&lab, "nas4"), ns(&lab, "nas5"));
    let (b11, b21) = (ns(&lab, "bbox11"), ns(&lab, "bbox21"));
    assert_macvlan(&b11, "eth0", &nas4, "ens33", "bridge", "02:42:0a:01:01:6f");
    assert_macvlan(&b21, "eth0", &nas5, "ens33", "bridge", "02:42:0a:01:01:79");
    for h in [&nas4, &nas5] {
        let nic = link(h, "ens33");
        assert!(
            flags(&nic).iter().any(|f| f == "PROMISC"),
            "ens33 promisc in {h}: {nic}"
        );
        assert_no_bridges(h);
        assert_eq!(
            sysctl_in(h, "net.ipv4.ip_forward"),
            "0",
            "{h} does not route"
        );
    }
    assert_eq!(addrs(&b11, "eth0"), vec!["10.1.1.111/24"]);
    assert_eq!(addrs(&b21, "eth0"), vec!["10.1.1.121/24"]);
    assert_eq!(addrs(&nas4, "ens33"), vec!["10.1.1.14/24"]);
    // Docker's route: default via the network's gateway, which nothing in the lab holds.
    let routes = ip_json(&b11, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.1.1.1", "{routes}");
    assert_eq!(routes[0]["dev"], "eth0", "{routes}");

    // The ping matrix, with TTLs: containers and the other host reachable in one hop; a
    // macvlan never reaches its own parent's host.
    let nodes = [
        (b11.clone(), "10.1.1.111"),
        (b21.clone(), "10.1.1.121"),
        (nas4.clone(), "10.1.1.14"),
        (nas5.clone(), "10.1.1.15"),
    ];
    let m = ping_matrix(&nodes);
    let want = |from: &str, to: &str| -> Option<u8> {
        let own_host = matches!(
            (from, to),
            ("10.1.1.111", "10.1.1.14")
                | ("10.1.1.14", "10.1.1.111")
                | ("10.1.1.121", "10.1.1.15")
                | ("10.1.1.15", "10.1.1.121")
        );
        (!own_host).then_some(64)
    };
    for ((from, to), got) in &m {
        assert_eq!(*got, want(from, to), "ping {from} -> {to}: {m:?}");
    }

    down_restoring(&lab, &before);
}

/// Every kernel operation of a macvlan `up` can fail; each failure leaves nothing behind.
#[test]
fn failed_macvlan_up_leaves_nothing_behind_at_every_step() {
    if !require_root("failed_macvlan_up_leaves_nothing_behind_at_every_step") {
        return;
    }
    let lab = unique("tmvf");
    let _guard = LabGuard(lab.clone());
    assert_rollback_at_every_step(&lab, "labs/macvlan.toml", 20);
}

/// On a kernel without 802.1Q, a VLAN lab is refused before anything exists, with the fix.
/// On a kernel with it there is nothing to refuse: the VLAN lab tests below build them.
#[test]
fn vlan_labs_on_a_kernel_without_8021q_are_refused_before_anything_exists() {
    if !require_root("vlan_labs_on_a_kernel_without_8021q_are_refused_before_anything_exists") {
        return;
    }
    if kernel_has_vlan() {
        not_applicable(
            "vlan_labs_on_a_kernel_without_8021q_are_refused_before_anything_exists",
            "this kernel has 802.1Q",
        );
        return;
    }
    let before = root_snapshot();
    for file in [
        "labs/macvlan-vlan.toml",
        "labs/routed-gateway.toml",
        "labs/macvlan-trunk.toml",
    ] {
        let lab = unique("tnovlan");
        let _guard = LabGuard(lab.clone());
        assert_refused_up(&lab, file, NO_VLAN);
    }
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// VLAN `id` sub-interface `name` of `nic` in a host namespace.
fn assert_vlan(host_ns: &str, name: &str, nic: &str, id: u64) {
    let l = link(host_ns, name);
    assert_eq!(l["linkinfo"]["info_kind"], "vlan", "{l}");
    assert_eq!(l["linkinfo"]["info_data"]["protocol"], "802.1Q", "{l}");
    assert_eq!(l["linkinfo"]["info_data"]["id"], id, "{l}");
    assert_eq!(l["link"], nic, "{name} sits on {nic}: {l}");
    assert!(flags(&l).iter().any(|f| f == "UP"), "{name} is up: {l}");
}

/// The four containers of the VLAN labs: (namespace, address, VLAN).
fn vlan_containers(lab: &str) -> Vec<(String, &'static str, u16)> {
    vec![
        (ns(lab, "bbox1"), "172.16.10.10", 10),
        (ns(lab, "bbox2"), "172.16.20.10", 20),
        (ns(lab, "bbox3"), "172.16.10.11", 10),
        (ns(lab, "bbox4"), "172.16.20.11", 20),
    ]
}

/// What the VLAN labs share: sub-interfaces, macvlans on them, promisc on the trunk NIC.
fn assert_vlan_hosts(lab: &str) {
    let (nas4, nas5) = (ns(lab, "nas4"), ns(lab, "nas5"));
    for h in [&nas4, &nas5] {
        assert_vlan(h, "ens38.10", "ens38", 10);
        assert_vlan(h, "ens38.20", "ens38", 20);
        let trunk = link(h, "ens38");
        assert!(
            flags(&trunk).iter().any(|f| f == "PROMISC"),
            "ens38 promisc in {h}: {trunk}"
        );
        assert_no_bridges(h);
        assert_eq!(
            sysctl_in(h, "net.ipv4.ip_forward"),
            "0",
            "{h} does not route"
        );
    }
    assert_macvlan(
        &ns(lab, "bbox1"),
        "eth0",
        &nas4,
        "ens38.10",
        "bridge",
        "02:42:ac:10:0a:0a",
    );
    assert_macvlan(
        &ns(lab, "bbox2"),
        "eth0",
        &nas4,
        "ens38.20",
        "bridge",
        "02:42:ac:10:14:0a",
    );
    assert_macvlan(
        &ns(lab, "bbox3"),
        "eth0",
        &nas5,
        "ens38.10",
        "bridge",
        "02:42:ac:10:0a:0b",
    );
    assert_macvlan(
        &ns(lab, "bbox4"),
        "eth0",
        &nas5,
        "ens38.20",
        "bridge",
        "02:42:ac:10:14:0b",
    );
    let routes = ip_json(&ns(lab, "bbox1"), &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.16.10.254", "{routes}");
    // The underlay switch is a plain bridge: no VLAN filtering, tagged frames pass untouched.
    let sw = link(&ns(lab, "underlay"), "switch0");
    assert_eq!(sw["linkinfo"]["info_data"]["vlan_filtering"], 0, "{sw}");
}

#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn macvlan_vlan_lab_matches_the_article() {
    if !require_root("macvlan_vlan_lab_matches_the_article") {
        return;
    }
    need_vlan("macvlan_vlan_lab_matches_the_article");
    let lab = unique("tmvv");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, "labs/macvlan-vlan.toml", 4);
    assert_vlan_hosts(&lab);

    // Same VLAN: TTL 64 across hosts (and on one host); different VLANs: nothing, no router.
    let nodes = vlan_containers(&lab);
    let pairs: Vec<(String, &str)> = nodes.iter().map(|(n, a, _)| (n.clone(), *a)).collect();
    let vlan_of = |a: &str| nodes.iter().find(|n| n.1 == a).unwrap().2;
    let m = ping_matrix(&pairs);
    assert_eq!(m.len(), 12);
    for ((from, to), got) in &m {
        let want = (vlan_of(from) == vlan_of(to)).then_some(64);
        assert_eq!(*got, want, "ping {from} -> {to}: {m:?}");
    }

    down_restoring(&lab, &before);
}

#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn routed_gateway_lab_routes_between_vlans() {
    if !require_root("routed_gateway_lab_routes_between_vlans") {
        return;
    }
    need_vlan("routed_gateway_lab_routes_between_vlans");
    let lab = unique("tmvr");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, "labs/routed-gateway.toml", 6);
    assert_vlan_hosts(&lab);

    // The router: gateways on its sub-interfaces, forwarding on in its namespace only.
    let vpn = ns(&lab, "vm-vpn");
    assert_vlan(&vpn, "ens38.10", "ens38", 10);
    assert_vlan(&vpn, "ens38.20", "ens38", 20);
    assert_eq!(addrs(&vpn, "ens38.10"), vec!["172.16.10.254/24"]);
    assert_eq!(addrs(&vpn, "ens38.20"), vec!["172.16.20.254/24"]);
    assert_eq!(sysctl_in(&vpn, "net.ipv4.ip_forward"), "1");
    assert_eq!(sysctl_in(&vpn, "net.ipv4.conf.ens38/10.forwarding"), "1");
    for node in ["underlay", "bbox1", "bbox4"] {
        assert_eq!(
            sysctl_in(&ns(&lab, node), "net.ipv4.ip_forward"),
            "0",
            "{node}"
        );
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        before
            .lines()
            .find_map(|l| l.strip_prefix("/proc/sys/net/ipv4/ip_forward="))
            .unwrap(),
        "the root namespace's forwarding is untouched"
    );

    // The full matrix: same VLAN one hop (64), across VLANs through vm-vpn (63), as the article.
    let nodes = vlan_containers(&lab);
    let pairs: Vec<(String, &str)> = nodes.iter().map(|(n, a, _)| (n.clone(), *a)).collect();
    let vlan_of = |a: &str| nodes.iter().find(|n| n.1 == a).unwrap().2;
    let m = ping_matrix(&pairs);
    assert_eq!(m.len(), 12);
    for ((from, to), got) in &m {
        let want = if vlan_of(from) == vlan_of(to) { 64 } else { 63 };
        assert_eq!(*got, Some(want), "ping {from} -> {to}: {m:?}");
    }
    assert_eq!(
        ping_ttl(&ns(&lab, "bbox4"), "172.16.20.254"),
        Some(64),
        "own gateway"
    );
    assert_eq!(
        ping_ttl(&ns(&lab, "bbox4"), "172.16.10.254"),
        Some(64),
        "the router's other leg"
    );
    // The article's MASQUERADE on ens38.20: bbox4 sees bbox1's pings from vm-vpn's address,
    // and the rules are in vm-vpn's namespace only (nft -j is the oracle).
    let (src, answered) = echo_source(
        &ns(&lab, "bbox1"),
        &ns(&lab, "bbox4"),
        "eth0",
        "172.16.20.11",
    );
    assert_eq!(src, "172.16.20.254", "masqueraded by vm-vpn");
    assert!(answered);
    let o = std::process::Command::new("ip")
        .args([
            "netns", "exec", &vpn, "nft", "-j", "list", "table", "inet", "netlab",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "nft list in vm-vpn: {}", text(&o));
    let rules = String::from_utf8_lossy(&o.stdout)
        .matches("\"rule\"")
        .count();
    assert_eq!(rules, 6, "the article's six rules");
    // The masquerade on ens38.20 counted the pings that crossed to VLAN 20 (the first packet
    // of each flow, as a nat chain sees it): netlab firewall says what nft -j says.
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let nft_counter = listed["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| {
            let expr = r["expr"].as_array().unwrap();
            expr.iter().any(|e| e.get("masquerade").is_some())
                && expr.iter().any(|e| e["match"]["right"] == "ens38.20")
        })
        .and_then(|r| {
            r["expr"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e.get("counter"))
        })
        .cloned()
        .expect("the masquerade on ens38.20 has a counter");
    let o = netlab(&["firewall", &format!("{lab}.vm-vpn"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let fw: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rule = fw["tables"][0]["chains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["rules"].as_array().unwrap())
        .find(|r| r["rule"] == "oifname \"ens38.20\" masquerade")
        .unwrap_or_else(|| panic!("the masquerade on ens38.20 in netlab firewall: {fw}"));
    assert_eq!(
        rule["packets"], nft_counter["packets"],
        "{fw} vs {nft_counter}"
    );
    assert!(rule["packets"].as_u64().unwrap() >= 1, "{fw}");

    down_restoring(&lab, &before);
}

/// `netlab inspect LAB/NET --host H --json`'s Options.parent: the parent that host's daemon
/// was given.
fn inspected_parent(lab: &str, net: &str, host: &str) -> Value {
    let args = ["inspect", &format!("{lab}/{net}"), "--host", host, "--json"];
    let o = netlab(&args);
    assert!(o.status.success(), "netlab {args:?}: {}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("inspect --json is not JSON ({e}): {}", text(&o)));
    v[0]["Options"]["parent"].clone()
}

/// Seed 003: one macvlan network on two nodes whose NICs are named differently, a parent per
/// host. Each container's eth0 sits on its own host's NIC (the kernel's link index), pings
/// cross with TTL 64, and inspect on each host shows that host's parent.
#[test]
fn macvlan_with_a_parent_per_host_sits_on_each_hosts_own_nic() {
    if !require_root("macvlan_with_a_parent_per_host_sits_on_each_hosts_own_nic") {
        return;
    }
    let lab = unique("tmvn");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, "labs/macvlan-nodes.toml", 2);
    let (n1, n2) = (ns(&lab, "node-1"), ns(&lab, "node-2"));
    let (b1, b2) = (ns(&lab, "bbox-1"), ns(&lab, "bbox-2"));
    // Each host has only its own NIC: node-2 has no ens33 for a lab-wide parent to use.
    let names: Vec<Value> = ip_json(&n2, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].clone())
        .collect();
    assert!(
        names.contains(&"ens32".into()) && !names.contains(&"ens33".into()),
        "{names:?}"
    );
    assert_macvlan(&b1, "eth0", &n1, "ens33", "bridge", "02:42:0a:00:00:0b");
    assert_macvlan(&b2, "eth0", &n2, "ens32", "bridge", "02:42:0a:00:00:0c");
    assert_eq!(addrs(&b2, "eth0"), vec!["10.0.0.12/24"]);
    let m = ping_matrix(&[(b1.clone(), "10.0.0.11"), (b2.clone(), "10.0.0.12")]);
    for ((from, to), got) in &m {
        assert_eq!(*got, Some(64), "ping {from} -> {to}: {m:?}");
    }
    assert_eq!(inspected_parent(&lab, "mac_net1", "node-1"), "ens33");
    assert_eq!(inspected_parent(&lab, "mac_net1", "node-2"), "ens32");

    down_restoring(&lab, &before);
}

/// Seed 003's VLAN half: VLANs 10 and 20 on ens33 of node-1 and on ens32 of node-2, one
/// macvlan network per VLAN with a parent per host; same VLAN reaches across, the other not.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn macvlan_trunk_with_a_parent_per_host_matches_the_article() {
    if !require_root("macvlan_trunk_with_a_parent_per_host_matches_the_article") {
        return;
    }
    need_vlan("macvlan_trunk_with_a_parent_per_host_matches_the_article");
    let lab = unique("tmvt");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    up_passing(&lab, "labs/macvlan-trunk.toml", 3);
    let (n1, n2) = (ns(&lab, "node-1"), ns(&lab, "node-2"));
    for (h, nic) in [(&n1, "ens33"), (&n2, "ens32")] {
        assert_vlan(h, &format!("{nic}.10"), nic, 10);
        assert_vlan(h, &format!("{nic}.20"), nic, 20);
    }
    let c = |name: &str| ns(&lab, name);
    assert_macvlan(
        &c("bbox-11"),
        "eth0",
        &n1,
        "ens33.10",
        "bridge",
        "02:42:ac:10:0b:0b",
    );
    assert_macvlan(
        &c("bbox-12"),
        "eth0",
        &n1,
        "ens33.20",
        "bridge",
        "02:42:ac:10:0c:0b",
    );
    assert_macvlan(
        &c("bbox-21"),
        "eth0",
        &n2,
        "ens32.10",
        "bridge",
        "02:42:ac:10:0b:0c",
    );
    assert_macvlan(
        &c("bbox-22"),
        "eth0",
        &n2,
        "ens32.20",
        "bridge",
        "02:42:ac:10:0c:0c",
    );
    let nodes = [
        (c("bbox-11"), "172.16.11.11"),
        (c("bbox-12"), "172.16.12.11"),
        (c("bbox-21"), "172.16.11.12"),
        (c("bbox-22"), "172.16.12.12"),
    ];
    let m = ping_matrix(&nodes);
    assert_eq!(m.len(), 12);
    let vlan = |a: &str| a.split('.').nth(2).unwrap().to_string();
    for ((from, to), got) in &m {
        let want = (vlan(from) == vlan(to)).then_some(64);
        assert_eq!(*got, want, "ping {from} -> {to}: {m:?}");
    }
    assert_eq!(inspected_parent(&lab, "mac_net12", "node-2"), "ens32.20");

    down_restoring(&lab, &before);
}

/// Seed 002's `docker network create -d macvlan ... -o parent=eth0 pub_net`: each container's
/// macvlan is called eth0, like its parent on the host. Kernels before the name lookup moved to
/// the new link's namespace (Debian's 6.1) refuse such a child from the host with EEXIST;
/// netlab creates it under a temporary name and renames it inside the container. Runs on both
/// tiers: the VM's kernel is the one that needs the rename.
#[test]
fn macvlan_child_named_like_its_parent_as_seed_002() {
    if !require_root("macvlan_child_named_like_its_parent_as_seed_002") {
        return;
    }
    let (lab, _guard, _dir, file) = lab_file(
        "tmeth",
        r#"
[lab]
name = "meth"

[underlay]
subnet = "192.168.0.0/24"
nic = "eth0"

[hosts.host1]
address = "192.168.0.11"

[hosts.host2]
address = "192.168.0.12"

[networks.pub_net]
driver = "macvlan"
parent = "eth0"
subnet = "192.168.0.0/24"
gateway = "192.168.0.1"

[containers.c1]
host = "host1"
networks = ["pub_net"]
ip = { pub_net = "192.168.0.101" }

[containers.c2]
host = "host2"
networks = ["pub_net"]
ip = { pub_net = "192.168.0.102" }

[[checks]]
from = "c1"
to = "c2"
ttl = 64
"#,
    );
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 1);
    for (c, host, mac) in [
        ("c1", "host1", "02:42:c0:a8:00:65"),
        ("c2", "host2", "02:42:c0:a8:00:66"),
    ] {
        assert_macvlan(&ns(&lab, c), "eth0", &ns(&lab, host), "eth0", "bridge", mac);
        assert_eq!(
            link_names(&ns(&lab, c)),
            ["lo", "eth0"],
            "no temporary name left in {c}"
        );
        assert_eq!(addrs(&ns(&lab, c), "eth0").len(), 1, "{c}");
    }
    assert_eq!(ping_ttl(&ns(&lab, "c2"), "192.168.0.101"), Some(64));
    down_restoring(&lab, &before);
}

/// Several subnets on one network, as seed 002's `--subnet=192.168.114.0/24
/// --subnet=192.168.116.0/24 --gateway=192.168.114.254 --gateway=192.168.116.254`: a container
/// without `ip` gets the first subnet's first free address, one with an `ip` in the second gets
/// its prefix and its gateway as default route; inspect lists both in IPAM.Config; a run-time
/// connect takes the next free address. iproute2's JSON and iputils ping are the oracles.
#[test]
fn macvlan_network_with_two_subnets_as_seed_002() {
    if !require_root("macvlan_network_with_two_subnets_as_seed_002") {
        return;
    }
    let (lab, _guard, _dir, file) = lab_file(
        "tmsub",
        r#"
[lab]
name = "msub"

[underlay]
subnet = "10.1.1.0/24"
nic = "ens33"

[hosts.host1]
address = "10.1.1.11"
nics = ["ens33", "ens34"]

[hosts.host2]
address = "10.1.1.12"
nics = ["ens33", "ens34"]

[networks.mac114]
driver = "macvlan"
parent = "ens33"
subnet = ["192.168.114.0/24", "192.168.116.0/24"]
gateway = ["192.168.114.254", "192.168.116.254"]

[networks.spare]
driver = "macvlan"
parent = "ens34"
subnet = "192.168.50.0/24"

[containers.a]
host = "host1"
networks = ["mac114"]

[containers.b]
host = "host2"
networks = ["mac114"]
ip = { mac114 = "192.168.116.10" }

[containers.c]
host = "host2"
networks = ["mac114"]

[containers.d]
host = "host1"
networks = ["spare"]

[[checks]]
from = "a"
to = "c"
ttl = 64

[[checks]]
from = "a"
to = "192.168.116.10"
expect = "unreachable"
"#,
    );
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 2);
    for (c, want, gw) in [
        ("a", "192.168.114.1/24", "192.168.114.254"),
        ("b", "192.168.116.10/24", "192.168.116.254"),
        ("c", "192.168.114.2/24", "192.168.114.254"),
    ] {
        assert_eq!(addrs(&ns(&lab, c), "eth0"), vec![want.to_string()], "{c}");
        let routes = ip_json(&ns(&lab, c), &["route", "show", "default"]);
        assert_eq!(routes[0]["gateway"], gw, "{c}: {routes}");
    }
    // Different subnets on one macvlan segment need a router (seed 002): ping says so.
    assert_eq!(ping_ttl(&ns(&lab, "c"), "192.168.114.1"), Some(64));
    assert_eq!(ping_ttl(&ns(&lab, "a"), "192.168.116.10"), None);
    let o = netlab(&["inspect", &format!("{lab}/mac114"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v[0]["IPAM"]["Config"],
        serde_json::json!([
            {"Subnet": "192.168.114.0/24", "Gateway": "192.168.114.254"},
            {"Subnet": "192.168.116.0/24", "Gateway": "192.168.116.254"}
        ]),
        "{v}"
    );
    // At run time: d joins mac114 and gets the first subnet's next free address.
    let o = netlab(&["connect", &format!("{lab}/mac114"), &format!("{lab}.d")]);
    assert!(o.status.success(), "connect: {}", text(&o));
    assert_eq!(
        addrs(&ns(&lab, "d"), "eth1"),
        vec!["192.168.114.3/24".to_string()]
    );
    assert_eq!(ping_ttl(&ns(&lab, "d"), "192.168.114.1"), Some(64));
    down_restoring(&lab, &before);
}

/// Seed 002's and libnetwork's macvlan network without a parent, with and without
/// `--internal`: two networks of one subnet each, on two hosts.
const PARENTLESS: &str = r#"
[lab]
name = "mdummy"

[underlay]
subnet = "10.1.1.0/24"
nic = "ens33"

[hosts.host1]
address = "10.1.1.11"

[hosts.host2]
address = "10.1.1.12"

# docker network create -d macvlan --subnet=192.168.30.0/24 loose
[networks.loose]
driver = "macvlan"
subnet = "192.168.30.0/24"

# docker network create -d macvlan --internal --subnet=192.168.31.0/24 sealed
[networks.sealed]
driver = "macvlan"
subnet = "192.168.31.0/24"
internal = true

[containers.a]
host = "host1"
networks = ["loose"]

[containers.b]
host = "host1"
networks = ["loose"]

[containers.c]
host = "host2"
networks = ["loose"]

[containers.s1]
host = "host1"
networks = ["sealed"]

[containers.s2]
host = "host1"
networks = ["sealed"]

[[checks]]
from = "a"
to = "b"
ttl = 64

[[checks]]
from = "a"
to = "c"
expect = "unreachable"

[[checks]]
from = "s1"
to = "s2"
ttl = 64
"#;

/// A macvlan network without a parent, as libnetwork builds it: on each host with a container
/// on it, a dummy device `dm-` and the network id's first 12 hex digits (seed 003's "network
/// dm-b34ee1020a96 is already using parent interface") is the parent, up and not promiscuous;
/// the containers on one host reach each other (bridge mode switches between the children) and
/// nothing else, not even the network's containers on another host. Without `internal` they
/// keep the gateway's default route, which leads nowhere; with it they have none. inspect
/// shows no parent. The trace's prediction equals iputils ping for every pair.
#[test]
#[ignore = "needs CONFIG_DUMMY (the VM tier runs it)"]
fn macvlan_without_a_parent_sits_on_a_dummy_as_docker_builds_it() {
    if !require_root("macvlan_without_a_parent_sits_on_a_dummy_as_docker_builds_it") {
        return;
    }
    assert!(
        kernel_has_dummy(),
        "this test needs dummy devices (CONFIG_DUMMY): tests/vm/run runs it"
    );
    let (lab, _guard, _dir, file) = lab_file("tmdum", PARENTLESS);
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 3);
    let (host1, host2) = (ns(&lab, "host1"), ns(&lab, "host2"));
    let dummy = |net: &str| format!("dm-{}", &net_id(&lab, net)[..12]);
    let (loose, sealed) = (dummy("loose"), dummy("sealed"));
    let mut both = vec![loose.clone(), sealed.clone()];
    both.sort();
    assert_eq!(dummy_names(&host1), both);
    assert_eq!(dummy_names(&host2), vec![loose.clone()]);
    for (h, d) in [(&host1, &loose), (&host1, &sealed), (&host2, &loose)] {
        let l = link(h, d);
        let f = flags(&l);
        assert!(f.iter().any(|f| f == "UP"), "{h} {d}: {l}");
        assert!(!f.iter().any(|f| f == "PROMISC"), "{h} {d}: {l}");
    }
    // The lab's NIC is left as it is: no macvlan network sits on it.
    for h in [&host1, &host2] {
        let l = link(h, "ens33");
        assert!(!flags(&l).iter().any(|f| f == "PROMISC"), "{h}: {l}");
        assert_no_bridges(h);
    }
    let addr = |c: &str| -> String {
        let a = addrs(&ns(&lab, c), "eth0");
        assert_eq!(a.len(), 1, "{c}: {a:?}");
        a[0].split('/').next().unwrap().to_string()
    };
    for (c, h, d) in [
        ("a", &host1, &loose),
        ("b", &host1, &loose),
        ("c", &host2, &loose),
        ("s1", &host1, &sealed),
        ("s2", &host1, &sealed),
    ] {
        // Docker's MAC: 02:42 and the IPv4 address.
        let o: Vec<u8> = addr(c).split('.').map(|x| x.parse().unwrap()).collect();
        let mac = format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
        assert_macvlan(&ns(&lab, c), "eth0", h, d, "bridge", &mac);
    }
    let default = |c: &str| ip_json(&ns(&lab, c), &["route", "show", "default"]);
    for c in ["a", "b", "c"] {
        let r = default(c);
        assert_eq!(r[0]["gateway"], "192.168.30.1", "{c}: {r}");
    }
    for c in ["s1", "s2"] {
        assert_eq!(default(c), serde_json::json!([]), "{c}");
    }
    // Every pair: iputils ping, and the trace's prediction of it.
    let all = ["a", "b", "c", "s1", "s2"];
    let mut delivered = 0;
    for from in all {
        for to in all.iter().filter(|t| **t != from) {
            let dst = addr(to);
            let real = ping(&ns(&lab, from), &dst);
            let same_host_and_net = matches!(
                (from, *to),
                ("a", "b") | ("b", "a") | ("s1", "s2") | ("s2", "s1")
            );
            assert_eq!(real, same_host_and_net, "{from} -> {to} ({dst})");
            let o = netlab(&["trace", &format!("{lab}.{from}"), &dst, "--json"]);
            let v: Value = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|_| panic!("trace {from} {dst}: {}", text(&o)));
            let d = &v["trace"]["disposition"];
            assert_eq!(d == "DELIVERED", real, "{from} -> {to} ({dst}): {v}");
            delivered += usize::from(real);
        }
    }
    assert_eq!(delivered, 4);
    // Across hosts the trace names the dummy: what leaves it goes nowhere.
    let o = netlab(&["trace", &format!("{lab}.a"), &addr("c"), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["trace"]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{loose} is a dummy device")),
        "{v}"
    );
    // inspect: no parent option; Internal only for the --internal one.
    for (net, internal) in [("loose", false), ("sealed", true)] {
        let o = netlab(&["inspect", &format!("{lab}/{net}"), "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v[0]["Driver"], "macvlan", "{v}");
        assert_eq!(v[0]["Internal"], internal, "{v}");
        assert!(v[0]["Options"].get("parent").is_none(), "{v}");
    }
    // A container of host2 joins the sealed network at run time: host2 gets its dummy.
    let o = netlab(&["connect", &format!("{lab}/sealed"), &format!("{lab}.c")]);
    assert!(o.status.success(), "connect: {}", text(&o));
    let mut two = vec![loose.clone(), sealed.clone()];
    two.sort();
    assert_eq!(dummy_names(&host2), two);
    assert!(!ping(&ns(&lab, "c"), &addr("s1")), "another host's dummy");
    down_restoring(&lab, &before);
}

/// On a kernel without dummy devices, a macvlan network without a parent is refused before
/// anything exists, naming the option.
#[test]
fn macvlan_without_a_parent_on_a_kernel_without_dummy_is_refused_before_anything_exists() {
    let test =
        "macvlan_without_a_parent_on_a_kernel_without_dummy_is_refused_before_anything_exists";
    if !require_root(test) {
        return;
    }
    if kernel_has_dummy() {
        not_applicable(test, "this kernel has dummy devices");
        return;
    }
    let (lab, _guard, _dir, file) = lab_file("tmnodum", PARENTLESS);
    let before = root_snapshot();
    assert_refused_up(
        &lab,
        file.to_str().unwrap(),
        "this kernel has no dummy device support (CONFIG_DUMMY)",
    );
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// Seed 003's nodes with networks created on both (`hosts`), before node-2 has a container on
/// them: `docker network create -d macvlan -o parent=ens32.10` on node-2 makes the
/// sub-interface there at once, and an internal macvlan network its dummy `dm-<id>`.
const NAMED_HOSTS: &str = r#"
[lab]
name = "mnamed"

[hosts.node-1]
nic = "ens33"

[hosts.node-2]
nic = "ens32"

[networks.mac_vlan10]
driver = "macvlan"
parent = { node-1 = "ens33.10", node-2 = "ens32.10" }
subnet = "172.16.10.0/24"
hosts = ["node-1", "node-2"]

[networks.mac_int]
driver = "macvlan"
internal = true
subnet = "172.16.99.0/24"
hosts = ["node-2"]

[networks.local]
driver = "bridge"

[containers.bbox-1]
host = "node-1"
networks = ["mac_vlan10"]
ip = { mac_vlan10 = "172.16.10.10" }

[containers.bbox-2]
host = "node-2"
networks = ["local"]
"#;

/// On node-2, which has no container on either network, `up` creates ens32.10 (VLAN 10 of
/// ens32, up) and mac_int's dummy; node-1 has ens33.10 and no dummy. bbox-2 connected at run
/// time sits on ens32.10 and reaches bbox-1 across VLAN 10 with TTL 64.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q) and CONFIG_DUMMY: tests/vm/run runs it"]
fn networks_named_on_a_host_make_its_sub_interface_and_dummy_without_containers() {
    let test = "networks_named_on_a_host_make_its_sub_interface_and_dummy_without_containers";
    if !require_root(test) {
        return;
    }
    need_vlan(test);
    assert!(
        kernel_has_dummy(),
        "{test} needs CONFIG_DUMMY: tests/vm/run runs it"
    );
    let (lab, _guard, _dir, file) = lab_file("tmnamed", NAMED_HOSTS);
    let before = root_snapshot();
    let o = netlab(&["up", "-q", "--name", &lab, file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (n1, n2) = (ns(&lab, "node-1"), ns(&lab, "node-2"));
    assert_vlan(&n1, "ens33.10", "ens33", 10);
    assert_vlan(&n2, "ens32.10", "ens32", 10);
    let dummy = format!("dm-{}", &net_id(&lab, "mac_int")[..12]);
    assert_eq!(dummy_names(&n2), vec![dummy.clone()]);
    assert!(flags(&link(&n2, &dummy)).iter().any(|f| f == "UP"));
    assert_eq!(dummy_names(&n1), Vec::<String>::new());

    let b2 = ns(&lab, "bbox-2");
    let o = netlab(&["connect", "mac_vlan10", &b2]);
    assert!(o.status.success(), "{}", text(&o));
    let l = link(&b2, "eth1");
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
    assert_eq!(l["link_index"], link(&n2, "ens32.10")["ifindex"], "{l}");
    let to = addrs(&b2, "eth1")[0].split('/').next().unwrap().to_string();
    assert_eq!(
        ping_ttl(&ns(&lab, "bbox-1"), &to),
        Some(64),
        "bbox-1 -> bbox-2 on VLAN 10"
    );

    down_restoring(&lab, &before);
}
