//! Root integration tests for ipvlan networks (seed 002): build labs/ipvlan.toml in the real
//! kernel and check it with iproute2's JSON and iputils ping as independent oracles: every
//! container's `ip -d -j link` (ipvlan, its mode, IFLA_LINK = the parent's index on its host,
//! the parent's MAC), `ip -j route` (L2 via the gateway, L3 `default dev eth0`, none on the
//! internal network), the dummy parent of the internal network, and the lab's checks against a
//! real ping of each.
//!
//! ipvlan needs CONFIG_IPVLAN, which the development machine's kernel lacks: those tests are
//! ignored with that reason and the full-kernel tier (`tests/vm/run ipvlan`) runs them with
//! --include-ignored. On a kernel without ipvlan a test checks that `up` refuses the lab before
//! anything exists.

mod common;

use common::*;
use serde_json::Value;

const NO_IPVLAN: &str = "this kernel has no ipvlan support (CONFIG_IPVLAN)";
const FILE: &str = "labs/ipvlan.toml";

fn ns(lab: &str, node: &str) -> String {
    format!("{lab}.{node}")
}

fn need_ipvlan(test: &str) {
    assert!(
        kernel_has_ipvlan(),
        "{test} needs ipvlan (CONFIG_IPVLAN), which this kernel lacks: tests/vm/run runs it"
    );
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

/// `eth0` of `container` is an ipvlan in `mode` of `parent` in `host`: the kernel's IFLA_LINK
/// is the parent's index there, and the MAC is the parent's.
fn assert_ipvlan(container: &str, host: &str, parent: &str, mode: &str) {
    let l = link(container, "eth0");
    assert_eq!(l["linkinfo"]["info_kind"], "ipvlan", "{container}: {l}");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{container}: {l}");
    let p = link(host, parent);
    assert_eq!(
        l["link_index"], p["ifindex"],
        "{container}: eth0@if<{parent}>: {l}"
    );
    assert_eq!(peer_namespace(container, &l["link_netnsid"]), host, "{l}");
    assert_eq!(
        l["address"], p["address"],
        "{container}: the parent's MAC: {l}"
    );
    let noarp = flags(&l).iter().any(|f| f == "NOARP");
    assert_eq!(
        noarp,
        mode == "l3",
        "{container}: L3 children are NOARP: {l}"
    );
    assert!(flags(&l).iter().any(|f| f == "UP"), "{l}");
}

/// The default route of a container: (gateway, device), from `ip -j route show default`.
fn default_route(container: &str) -> Option<(Option<String>, String)> {
    let r = ip_json(container, &["route", "show", "default"]);
    let r = r.as_array().unwrap().first()?.clone();
    Some((
        r["gateway"].as_str().map(String::from),
        r["dev"].as_str().unwrap().to_string(),
    ))
}

#[test]
#[ignore = "needs CONFIG_IPVLAN (the VM tier runs it)"]
fn ipvlan_lab_matches_docker() {
    if !require_root("ipvlan_lab_matches_docker") {
        return;
    }
    need_ipvlan("ipvlan_lab_matches_docker");
    let lab = unique("tipv");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    let o = netlab(&["up", "-q", "--name", &lab, FILE]);
    assert!(o.status.success(), "up failed: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("9 passed, 0 failed"),
        "{}",
        text(&o)
    );
    let (node1, node2) = (ns(&lab, "node1"), ns(&lab, "node2"));
    for (c, h, parent, mode) in [
        ("ipv1", &node1, "ens33", "l2"),
        ("ipv2", &node1, "ens33", "l2"),
        ("ipv3", &node2, "ens33", "l2"),
        ("l3a", &node1, "ens34", "l3"),
        ("l3b", &node1, "ens34", "l3"),
        ("l3c", &node2, "ens34", "l3"),
    ] {
        assert_ipvlan(&ns(&lab, c), h, parent, mode);
    }
    // No promiscuous parents (ipvlan needs none, unlike macvlan).
    for h in [&node1, &node2] {
        for nic in ["ens33", "ens34"] {
            let l = link(h, nic);
            assert!(!flags(&l).iter().any(|f| f == "PROMISC"), "{h} {nic}: {l}");
        }
    }
    // The internal network: a dummy parent on node2 only (node1 has no container on it).
    let d = dummy_names(&node2);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("di-") && d[0].len() == 15, "{d:?}");
    assert!(dummy_names(&node1).is_empty());
    for c in ["cid1", "cid2"] {
        assert_ipvlan(&ns(&lab, c), &node2, &d[0], "l2");
        // Not internal: the gateway's route stays (it leads nowhere, the dummy has no wire).
        assert_eq!(
            default_route(&ns(&lab, c)),
            Some((Some("192.168.10.1".into()), "eth0".into())),
            "{c}"
        );
    }
    // Docker's default routes: L2 via the gateway, L3 out of the device.
    for c in ["ipv1", "ipv2", "ipv3"] {
        assert_eq!(
            default_route(&ns(&lab, c)),
            Some((Some("192.168.1.1".into()), "eth0".into())),
            "{c}"
        );
    }
    for c in ["l3a", "l3b", "l3c"] {
        assert_eq!(
            default_route(&ns(&lab, c)),
            Some((None, "eth0".into())),
            "{c}"
        );
    }

    // The lab's checks against real pings (iputils), one by one.
    let addr = |c: &str| -> String {
        let a = addrs(&ns(&lab, c), "eth0");
        a[0].split('/').next().unwrap().to_string()
    };
    let matrix = [
        ("ipv1", addr("ipv2"), true),
        ("ipv1", addr("ipv3"), true),
        ("ipv3", "192.168.1.11".to_string(), true),
        ("ipv1", "192.168.1.11".to_string(), false),
        ("l3a", addr("l3b"), true),
        ("l3a", "192.168.1.11".to_string(), false),
        ("l3a", addr("l3c"), false),
        ("cid1", addr("cid2"), true),
        ("cid1", "192.168.1.12".to_string(), false),
    ];
    for (from, to, want) in &matrix {
        assert_eq!(
            ping(&ns(&lab, from), to),
            *want,
            "{from} -> {to}: the lab's check says {}",
            if *want { "reachable" } else { "unreachable" }
        );
    }
    // TTL 64: no router in between, even L3 between children (the parent is no router hop).
    assert_eq!(ping_ttl(&ns(&lab, "l3a"), &addr("l3b")), Some(64));
    assert_eq!(ping_ttl(&ns(&lab, "ipv1"), &addr("ipv3")), Some(64));

    // find-link --peer-of: a container's eth0 leads to its parent on its host.
    let o = netlab(&["find-link", "--peer-of", &ns(&lab, "l3a"), "eth0", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["peer"]["namespace"], node1.as_str(), "{v}");
    assert_eq!(v["peer_link"]["name"], "ens34", "{v}");
    // inspect: Docker's options.
    let o = netlab(&["inspect", &format!("{lab}/ipnet210"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(v["Driver"], "ipvlan", "{v}");
    assert_eq!(v["Options"]["parent"], "ens34", "{v}");
    assert_eq!(v["Options"]["ipvlan_mode"], "l3", "{v}");
    assert_eq!(v["Internal"], false, "{v}");
    let o = netlab(&["inspect", &format!("{lab}/isolated1"), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    // No parent is not --internal (libnetwork: --internal empties the parent, not the reverse).
    assert_eq!(v["Internal"], false, "{v}");
    assert!(v["Options"].get("parent").is_none(), "{v}");
    // Its scenario: an L2 container joins the L3 network at run time, and leaves it.
    scenarios_pass(&lab, 1);

    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// On a kernel without ipvlan, the lab is refused before anything exists, naming the option.
#[test]
fn ipvlan_lab_on_a_kernel_without_ipvlan_is_refused_before_anything_exists() {
    let test = "ipvlan_lab_on_a_kernel_without_ipvlan_is_refused_before_anything_exists";
    if !require_root(test) {
        return;
    }
    if kernel_has_ipvlan() {
        not_applicable(test, "this kernel has ipvlan");
        return;
    }
    let before = root_snapshot();
    let lab = unique("tnoipv");
    let _guard = LabGuard(lab.clone());
    assert_refused_up(&lab, FILE, NO_IPVLAN);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// Seed 002's dual-stack ipvlan examples: L2 `v6ipvlan139` (`--ipv6 --subnet=2001:db8:abc2::/64
/// --gateway=2001:db8:abc2::22`: the containers get ::1 and ::2, `default via` the gateway) and
/// L3 `ipnet110` (`--subnet=2001:db8:abc6::/64`, `--ip6=2001:db8:abc6::10`: `default dev
/// eth0` for both families; IPAM keeps ::1 as on L2, so the next container is ::2). Each
/// container's IPv6 address is nodad, and they reach each other
/// over IPv6, on one host and across hosts.
#[test]
#[ignore = "needs CONFIG_IPVLAN (the VM tier runs it)"]
fn ipvlan_dual_stack_as_the_seed_shows_it() {
    if !require_root("ipvlan_dual_stack_as_the_seed_shows_it") {
        return;
    }
    need_ipvlan("ipvlan_dual_stack_as_the_seed_shows_it");
    let (lab, _guard, _dir, file) = lab_file(
        "tip6",
        r#"
[lab]
name = "tip6"

[underlay]
subnet = "192.168.1.0/24"
nic = "ens33"

[hosts.node1]
nics = ["ens33", "ens34"]

[hosts.node2]
nics = ["ens33", "ens34"]

[networks.v6ipvlan139]
driver = "ipvlan"
parent = "ens33"
subnet = "192.168.1.0/24"
gateway = "192.168.1.254"
ipv6 = true
subnet6 = "2001:db8:abc2::/64"
gateway6 = "2001:db8:abc2::22"

[networks.ipnet110]
driver = "ipvlan"
mode = "l3"
parent = "ens34"
subnet = "192.168.110.0/24"
ipv6 = true
subnet6 = "2001:db8:abc6::/64"

[containers.a]
host = "node1"
networks = ["v6ipvlan139"]
ip = { v6ipvlan139 = "192.168.1.101" }

[containers.b]
host = "node2"
networks = ["v6ipvlan139"]
ip = { v6ipvlan139 = "192.168.1.102" }

[containers.c]
host = "node1"
networks = ["ipnet110"]
ip6 = { ipnet110 = "2001:db8:abc6::10" }

[containers.d]
host = "node1"
networks = ["ipnet110"]

[[checks]]
from = "a"
to = "2001:db8:abc2::2"
ttl = 64

[[checks]]
from = "d"
to = "2001:db8:abc6::10"
ttl = 64
"#,
    );
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 2);
    for (node, want) in [
        ("a", "2001:db8:abc2::1/64"),
        ("b", "2001:db8:abc2::2/64"),
        ("c", "2001:db8:abc6::10/64"),
        ("d", "2001:db8:abc6::2/64"),
    ] {
        let (got, usable) = global6(&ns(&lab, node), "eth0");
        assert_eq!(got, vec![want.to_string()], "{node}");
        assert!(usable, "{node}: nodad");
    }
    assert_eq!(
        defaults6(&ns(&lab, "a")),
        vec![(Some("2001:db8:abc2::22".to_string()), "eth0".to_string())]
    );
    assert_eq!(
        defaults6(&ns(&lab, "c")),
        vec![(None, "eth0".to_string())],
        "L3: default dev eth0"
    );
    assert_eq!(
        default_route(&ns(&lab, "c")),
        Some((None, "eth0".to_string())),
        "L3 IPv4 too"
    );
    // iputils over IPv6: L2 across hosts, L3 on one parent; trace predicts each the same
    // (delivered to the address's holder, the reply's hop limit 64).
    for (from, to, holder) in [
        ("b", "2001:db8:abc2::1", "a"),
        ("c", "2001:db8:abc6::2", "d"),
    ] {
        assert_eq!(
            ping_ttl_judging(&ns(&lab, from), to, true),
            Some(64),
            "{from} -> {to}"
        );
        let o = netlab(&["trace", &ns(&lab, from), to, "--json"]);
        assert!(o.status.success(), "trace {from} {to}: {}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["trace"]["delivered_to"], ns(&lab, holder), "{v}");
        assert_eq!(v["trace"]["reply_ttl"], 64, "{v}");
    }
    down_restoring(&lab, &before);
}

/// Seed 002's ipvlan networks on `-o parent=eth0`: each container's ipvlan is called eth0, like
/// its parent. Debian's 6.1 refuses such a child from the host with EEXIST (it looks the name up
/// in the requester's namespace); netlab creates it under a temporary name and renames it in the
/// container. L2 across two hosts and L3 on one parent, as the seed's two examples.
#[test]
#[ignore = "needs CONFIG_IPVLAN (the VM tier runs it)"]
fn ipvlan_child_named_like_its_parent_as_seed_002() {
    if !require_root("ipvlan_child_named_like_its_parent_as_seed_002") {
        return;
    }
    need_ipvlan("ipvlan_child_named_like_its_parent_as_seed_002");
    let (lab, _guard, _dir, file) = lab_file(
        "tieth",
        r#"
[lab]
name = "ieth"

[underlay]
subnet = "192.168.1.0/24"
nic = "eth0"

[hosts.node1]
nics = ["eth0", "eth1"]

[hosts.node2]
nics = ["eth0", "eth1"]

[networks.db_net]
driver = "ipvlan"
parent = "eth0"
subnet = "192.168.1.0/24"
gateway = "192.168.1.1"

[networks.ipnet210]
driver = "ipvlan"
mode = "l3"
parent = "eth1"
subnet = "192.168.214.0/24"

[containers.a]
host = "node1"
networks = ["db_net"]
ip = { db_net = "192.168.1.101" }

[containers.b]
host = "node2"
networks = ["db_net"]
ip = { db_net = "192.168.1.102" }

[containers.c]
host = "node1"
networks = ["ipnet210"]

[containers.d]
host = "node1"
networks = ["ipnet210"]

[[checks]]
from = "a"
to = "b"
ttl = 64

[[checks]]
from = "c"
to = "d"
ttl = 64
"#,
    );
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 2);
    for (c, host, parent, mode) in [
        ("a", "node1", "eth0", "l2"),
        ("b", "node2", "eth0", "l2"),
        ("c", "node1", "eth1", "l3"),
        ("d", "node1", "eth1", "l3"),
    ] {
        assert_ipvlan(&ns(&lab, c), &ns(&lab, host), parent, mode);
        assert_eq!(
            link_names(&ns(&lab, c)),
            ["lo", "eth0"],
            "no temporary name left in {c}"
        );
    }
    assert_eq!(
        ping_ttl_judging(&ns(&lab, "b"), "192.168.1.101", true),
        Some(64)
    );
    down_restoring(&lab, &before);
}

/// Seed 002's ipnet210: an ipvlan L3 network with two subnets and no parent (a dummy one),
/// `--subnet=192.168.214.0/24 --subnet=10.1.214.0/24 -o ipvlan_mode=l3`. L3 routes between the
/// children of one parent by IP, so the two subnets reach each other ("Test L3 connectivity from
/// 10.1.214.0/24 to 192.168.214.0/24"); each child has its own subnet's prefix and `default dev
/// eth0`. And ipvlan114, L2 with two subnets and their gateways: one subnet's containers reach
/// each other, the other subnet needs a router.
#[test]
#[ignore = "needs CONFIG_IPVLAN (the VM tier runs it)"]
fn ipvlan_networks_with_two_subnets_as_seed_002() {
    if !require_root("ipvlan_networks_with_two_subnets_as_seed_002") {
        return;
    }
    need_ipvlan("ipvlan_networks_with_two_subnets_as_seed_002");
    let (lab, _guard, _dir, file) = lab_file(
        "tisub",
        r#"
[lab]
name = "isub"

[underlay]
subnet = "192.168.1.0/24"
nic = "eth0"

[hosts.node1]
nics = ["eth0", "eth1"]

[networks.ipnet210]
driver = "ipvlan"
mode = "l3"
subnet = ["192.168.214.0/24", "10.1.214.0/24"]

[networks.ipvlan114]
driver = "ipvlan"
parent = "eth1"
subnet = ["192.168.114.0/24", "192.168.116.0/24"]
gateway = ["192.168.114.254", "192.168.116.254"]

[containers.a]
host = "node1"
networks = ["ipnet210"]
ip = { ipnet210 = "192.168.214.10" }

[containers.b]
host = "node1"
networks = ["ipnet210"]
ip = { ipnet210 = "10.1.214.10" }

[containers.c]
host = "node1"
networks = ["ipvlan114"]
ip = { ipvlan114 = "192.168.114.10" }

[containers.d]
host = "node1"
networks = ["ipvlan114"]
ip = { ipvlan114 = "192.168.114.11" }

[containers.e]
host = "node1"
networks = ["ipvlan114"]
ip = { ipvlan114 = "192.168.116.10" }

[[checks]]
from = "a"
to = "b"
ttl = 64

[[checks]]
from = "b"
to = "a"
ttl = 64

[[checks]]
from = "c"
to = "d"
ttl = 64
"#,
    );
    let before = root_snapshot();
    up_passing(&lab, file.to_str().unwrap(), 3);
    for (c, want) in [
        ("a", "192.168.214.10/24"),
        ("b", "10.1.214.10/24"),
        ("e", "192.168.116.10/24"),
    ] {
        assert_eq!(addrs(&ns(&lab, c), "eth0"), vec![want.to_string()], "{c}");
    }
    assert_eq!(
        default_route(&ns(&lab, "b")),
        Some((None, "eth0".to_string()))
    );
    assert_eq!(
        default_route(&ns(&lab, "e")),
        Some((Some("192.168.116.254".to_string()), "eth0".to_string()))
    );
    // iputils: L3 across its subnets; L2 not across its subnets (no router).
    assert_eq!(
        ping_ttl_judging(&ns(&lab, "a"), "10.1.214.10", true),
        Some(64)
    );
    assert_eq!(
        ping_ttl_judging(&ns(&lab, "c"), "192.168.116.10", false),
        None
    );
    // trace predicts both as ping finds them.
    let o = netlab(&["trace", &ns(&lab, "b"), "192.168.214.10", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = netlab(&["trace", &ns(&lab, "c"), "192.168.116.10", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    down_restoring(&lab, &before);
}
