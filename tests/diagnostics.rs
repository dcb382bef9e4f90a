//! Root integration tests of the read side: netlab's netns / find-link / inspect / vxlan /
//! exec output compared field by field with iproute2's JSON, on a running lab and on
//! namespaces the test creates itself with `ip netns add`, outside any lab.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn json_of(args: &[&str]) -> Value {
    let o = netlab(args);
    assert!(o.status.success(), "netlab {args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("netlab {args:?} did not print JSON ({e}): {}", text(&o)))
}

/// Namespaces made by the test with iproute2; removed on drop, even when an assertion fails.
struct Scratch(Vec<String>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// An overlay sandbox's namespace, `LAB.HOST.1-<id>`.
fn cs_ns(lab: &str, host: &str, net: &str) -> String {
    format!("{lab}.{host}.1-{}", &net_id(lab, net)[..10])
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(o.status.success(), "ip {args:?}: {}", text(&o));
}

#[test]
fn find_link_netns_and_inspect_agree_with_iproute2() {
    if !require_root("find_link_netns_and_inspect_agree_with_iproute2") {
        return;
    }
    let lab = unique("tdiag");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let nss = lab_namespaces(&lab);
    assert_eq!(nss.len(), 10);

    // Every link of every lab namespace, field by field against `ip -j -d link`.
    let found = json_of(&["find-link", "--json"]);
    let found = found["links"].as_array().unwrap();
    for ns in &nss {
        let truth = ip_json(ns, &["link", "show"]);
        let mine: Vec<&Value> = found
            .iter()
            .filter(|f| f["namespace"] == ns.as_str())
            .collect();
        assert_eq!(
            mine.len(),
            truth.as_array().unwrap().len(),
            "link count in {ns}"
        );
        for t in truth.as_array().unwrap() {
            let m = mine
                .iter()
                .find(|f| f["link"]["index"] == t["ifindex"])
                .unwrap_or_else(|| panic!("{ns}: no link {}", t["ifindex"]));
            let l = &m["link"];
            assert_eq!(l["name"], t["ifname"], "{ns}");
            assert_eq!(l["mtu"], t["mtu"], "{ns} {}", t["ifname"]);
            assert_eq!(l["mac"], t["address"], "{ns} {}", t["ifname"]);
            assert_eq!(
                l["master"],
                t.get("master").cloned().unwrap_or(Value::Null),
                "{ns} {}",
                t["ifname"]
            );
            assert_eq!(
                l["link_netnsid"],
                t.get("link_netnsid").cloned().unwrap_or(Value::Null),
                "{ns} {}",
                t["ifname"]
            );
            let kind = t["linkinfo"]["info_kind"].clone();
            assert_eq!(l["kind"], kind, "{ns} {}", t["ifname"]);
            if kind == "vxlan" {
                assert_eq!(l["vxlan"]["id"], t["linkinfo"]["info_data"]["id"]);
                assert_eq!(l["vxlan"]["local"], t["linkinfo"]["info_data"]["local"]);
                assert_eq!(l["vxlan"]["port"], t["linkinfo"]["info_data"]["port"]);
            }
        }
    }

    // One index: every namespace holding it, and nothing else.
    let two = json_of(&["find-link", "2", "--json"]);
    for f in two["links"].as_array().unwrap() {
        assert_eq!(f["link"]["index"], 2);
        assert!(f["line"].as_str().unwrap().starts_with("2: "));
    }
    let holders: Vec<&str> = two["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["namespace"].as_str())
        .collect();
    for ns in &nss {
        let has = ip_json(ns, &["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["ifindex"] == 2);
        assert_eq!(has, holders.contains(&ns.as_str()), "{ns}");
    }

    // netns: roles, lab and IPv4 addresses against `ip -j addr`.
    let rows = json_of(&["netns", "--json"]);
    for ns in &nss {
        let row = rows["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == ns.as_str())
            .unwrap();
        assert_eq!(row["lab"], lab.as_str());
        let truth = ip_json(ns, &["-4", "addr", "show"]);
        let mut want: Vec<String> = truth
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["ifname"] != "lo")
            .flat_map(|l| {
                l["addr_info"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            })
            .collect();
        let mut got: Vec<String> = row["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .filter(|a| !a.contains(':'))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{ns}");
    }
    let b1 = rows["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("{lab}.bbox1"))
        .unwrap();
    assert_eq!(b1["role"], "container");

    // inspect NETWORK: MACs and addresses of the containers, from the kernel. Names are
    // qualified: other labs with the same networks and containers may be up.
    let v = json_of(&["inspect", &format!("{lab}/ov_net1"), "--json"]);
    let cs = v[0]["Containers"].as_object().unwrap();
    for c in cs.values() {
        let ns = format!("{lab}.{}", c["Name"].as_str().unwrap());
        assert_eq!(c["MacAddress"], link(&ns, "eth0")["address"]);
        assert_eq!(c["IPv4Address"].as_str().unwrap(), addrs(&ns, "eth0")[0]);
    }
    // The VNI, as the kernel has it, is netlab's own fact (`--netlab`), not an Option of a
    // k-v store overlay's (seed 000: "Options": {}).
    let v = json_of(&["inspect", &format!("{lab}/ov_net1"), "--json", "--netlab"]);
    assert_eq!(
        v[0]["Netlab"]["VNI"],
        link(&cs_ns(&lab, "nas4", "ov_net1"), "vxlan0")["linkinfo"]["info_data"]["id"]
    );
    assert_eq!(v[0]["Netlab"]["Lab"], lab.as_str());

    // vxlan: attributes and FDB against `ip -d link` / `bridge fdb`.
    let vx = json_of(&["vxlan", &format!("{lab}/ov_net1"), "--json"]);
    for view in vx["vxlans"].as_array().unwrap() {
        let ns = view["namespace"].as_str().unwrap();
        let t = link(ns, "vxlan0");
        assert_eq!(view["vxlan"]["id"], t["linkinfo"]["info_data"]["id"]);
        assert_eq!(
            view["vxlan"]["learning"],
            t["linkinfo"]["info_data"]["learning"]
        );
        assert_eq!(view["vxlan"]["proxy"], t["linkinfo"]["info_data"]["proxy"]);
        assert_eq!(
            view["vxlan"]["ageing"],
            t["linkinfo"]["info_data"]["ageing"]
        );
        let fdb = bridge_json(ns, &["fdb", "show", "dev", "vxlan0"]);
        let remote: Vec<(String, String)> = fdb
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.get("dst").is_some())
            .map(|e| {
                (
                    e["mac"].as_str().unwrap().to_string(),
                    e["dst"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mine: Vec<(String, String)> = view["fdb"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["mac"].as_str().unwrap().to_string(),
                    e["dst"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(mine, remote, "{ns}");
        assert_eq!(
            view["socket_namespace"].as_str().unwrap(),
            format!("{lab}.{}", view["host"].as_str().unwrap())
        );
    }

    // exec: same view as `ip netns exec`, with or without `--`, exit status passed through.
    let b1ns = format!("{lab}.bbox1");
    let theirs = Command::new("ip")
        .args(["-j", "-n", &b1ns, "addr"])
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    for args in [
        &["exec", &b1ns, "--", "ip", "-j", "addr"][..],
        &["exec", &b1ns, "ip", "-j", "addr"],
    ] {
        let o = netlab(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let ours: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)));
        assert_eq!(ours, theirs, "{args:?}");
    }
    let o = netlab(&["exec", &b1ns, "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = netlab(&["exec", &b1ns, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));

    // Unknown names: exit 2 and a close match.
    let o = netlab(&["inspect", &format!("{lab}.bbox7")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("did you mean \"{lab}.bbox1\"")),
        "{}",
        text(&o)
    );
    let o = netlab(&["exec", "nosuchthing", "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Nodes are LAB.NODE, networks LAB/NETWORK: the other spelling gets the right one as a hint.
    for (args, want) in [
        (
            vec!["vxlan".to_string(), format!("{lab}.ov_net1")],
            format!("did you mean \"{lab}/ov_net1\"?"),
        ),
        (
            vec!["inspect".to_string(), format!("{lab}.ov_net1")],
            format!("did you mean \"{lab}/ov_net1\"?"),
        ),
        (
            vec!["bridge".to_string(), format!("{lab}/nas4")],
            format!("did you mean \"{lab}.nas4\"?"),
        ),
        (
            vec![
                "exec".to_string(),
                format!("{lab}/bbox1"),
                "true".to_string(),
            ],
            format!("did you mean \"{lab}.bbox1\"?"),
        ),
        (
            vec![
                "find-link".to_string(),
                "--peer-of".to_string(),
                format!("{lab}/bbox1"),
                "eth0".to_string(),
            ],
            format!("did you mean \"{lab}.bbox1\"?"),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        let o = netlab(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&want),
            "{args:?}: wants {want:?}: {}",
            text(&o)
        );
    }
}

/// Two copies of one lab: a bare container name is ambiguous (exit 2, naming both), a
/// qualified one is exact.
#[test]
fn bare_names_in_two_labs_are_refused_and_qualified_ones_work() {
    if !require_root("bare_names_in_two_labs_are_refused_and_qualified_ones_work") {
        return;
    }
    let (a, b) = (unique("tdua"), unique("tdub"));
    let (_ga, _gb) = (LabGuard(a.clone()), LabGuard(b.clone()));
    for lab in [&a, &b] {
        up_ok(lab, "labs/bridge.toml");
    }
    for args in [
        &["exec", "web", "true"][..],
        &["inspect", "web"],
        &["bridge", "host1"],
        &["inspect", "my_net2"],
    ] {
        let o = netlab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("exists in several labs"),
            "{args:?}: {}",
            text(&o)
        );
        let sep = if args[1] == "my_net2" { '/' } else { '.' };
        for lab in [&a, &b] {
            assert!(
                err.contains(&format!("{lab}{sep}{}", args[1])),
                "{args:?}: {}",
                text(&o)
            );
        }
    }
    let o = netlab(&[
        "exec",
        &format!("{b}.web"),
        "ip",
        "-br",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("172.18.0.2/16"),
        "{}",
        text(&o)
    );
    let v = json_of(&["inspect", &format!("{b}/my_net2"), "--json", "--netlab"]);
    assert_eq!(v[0]["Netlab"]["Lab"], b.as_str());
    assert!(netlab(&["down", &a]).status.success());
    assert!(netlab(&["down", &b]).status.success());
    assert_clean(&a);
    assert_clean(&b);
}

/// Read-only commands create nothing: run without root, they say what they need root for.
#[test]
fn read_only_commands_without_root_say_what_they_need_it_for() {
    if !require_root("read_only_commands_without_root_say_what_they_need_it_for") {
        return;
    }
    for args in [
        &["netns"][..],
        &["find-link", "1"],
        &["trace", "10.0.0.1", "10.0.0.2"],
    ] {
        // setpriv (util-linux) drops to nobody for this one command.
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("running setpriv (util-linux)");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("needs root to read other network namespaces")
                && err.contains("entering a network namespace takes CAP_SYS_ADMIN"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(!err.contains("create namespaces"), "{args:?}: {}", text(&o));
    }
}

/// Peer resolution against the truth the test set up, on namespaces outside any lab, built so
/// that interface indexes collide: two identical pairs of namespaces.
#[test]
fn peer_of_is_exact_on_foreign_namespaces_with_colliding_indexes() {
    if !require_root("peer_of_is_exact_on_foreign_namespaces_with_colliding_indexes") {
        return;
    }
    let p = std::process::id() % 100000;
    let names: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|x| format!("tpeer{p}{x}"))
        .collect();
    let _scratch = Scratch(names.clone());
    for n in &names {
        ip(&["netns", "add", n]);
    }
    // a:x0 <-> b:y0 and c:x0 <-> d:y0 get the same ifindexes in each pair.
    ip(&[
        "-n", &names[0], "link", "add", "x0", "type", "veth", "peer", "name", "y0", "netns",
        &names[1],
    ]);
    ip(&[
        "-n", &names[2], "link", "add", "x0", "type", "veth", "peer", "name", "y0", "netns",
        &names[3],
    ]);
    // And a veth with both ends in one namespace.
    ip(&[
        "-n", &names[0], "link", "add", "in0", "type", "veth", "peer", "name", "in1",
    ]);
    let xa = link(&names[0], "x0")["ifindex"].clone();
    let xc = link(&names[2], "x0")["ifindex"].clone();
    assert_eq!(xa, xc, "the test wants colliding indexes");

    for (from, to) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
        let dev = if from % 2 == 0 { "x0" } else { "y0" };
        let want_dev = if from % 2 == 0 { "y0" } else { "x0" };
        let v = json_of(&["find-link", "--peer-of", &names[from], dev, "--json"]);
        assert_eq!(
            v["peer"]["namespace"],
            names[to].as_str(),
            "{} {dev}: {v}",
            names[from]
        );
        assert_eq!(v["peer_link"]["name"], want_dev);
        assert_eq!(
            v["peer_link"]["index"],
            link(&names[to], want_dev)["ifindex"]
        );
    }
    let v = json_of(&["find-link", "--peer-of", &names[0], "in0", "--json"]);
    assert_eq!(v["peer"]["namespace"], names[0].as_str());
    assert_eq!(v["peer_link"]["name"], "in1");
    // Plain text, the way a user reads it.
    let o = netlab(&["find-link", "--peer-of", &names[2], "x0"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!(
            "{}:x0 -> {}:y0 (veth peer, ifindex {})",
            names[2],
            names[3],
            link(&names[3], "y0")["ifindex"]
        )
    );
}

/// Seed 000's `docker network inspect ov_net1` (created without a subnet, before any
/// container) and `docker network inspect docker_gwbridge` on nas4 (bbox1 running), as printed.
const SEED_OV_NET1: &str = r#"[{"Name": "ov_net1","Id": "c2ad1635250ffe3e3c17a08e8ce13ad6ee76b7581653712aa85fa0de39068aa6","Created": "2019-08-13T17:06:33.782594971+08:00","Scope": "global","Driver": "overlay","EnableIPv6": false,"IPAM": {"Driver": "default","Options": {},"Config": [{"Subnet": "10.0.0.0/24","Gateway": "10.0.0.1"}]},"Internal": false,"Attachable": false,"Ingress": false,"ConfigFrom": {"Network": ""},"ConfigOnly": false,"Containers": {},"Options": {},"Labels": {}}]"#;
const SEED_GWBRIDGE: &str = r#"[{"Name": "docker_gwbridge","Id": "a3e0ded2d587f27894be98688efb7cf6a0adb163dd75adcba303b90f23ecec79","Created": "2019-08-13T17:17:37.996698552+08:00","Scope": "local","Driver": "bridge","EnableIPv6": false,"IPAM": {"Driver": "default","Options": null,"Config": [{"Subnet": "172.18.0.0/16","Gateway": "172.18.0.1"}]},"Internal": false,"Attachable": false,"Ingress": false,"ConfigFrom": {"Network": ""},"ConfigOnly": false,"Containers": {"03c88352b5613833018a591837846954da5c9c67a8cbfb271f185b384e8942dc": {"Name": "gateway_7b2ca5aab1af","EndpointID": "c8bc719fb26ff1a24690f5ca0271e3bdff985afbf9ff83fad54f27efd6defb30","MacAddress": "02:42:ac:12:00:02","IPv4Address": "172.18.0.2/16","IPv6Address": ""}},"Options": {"com.docker.network.bridge.enable_icc": "false","com.docker.network.bridge.enable_ip_masquerade": "true","com.docker.network.bridge.name": "docker_gwbridge"},"Labels": {}}]"#;

/// `value` with what differs between any two runs of Docker taken out: ids, times, the
/// containers map's keys and endpoint ids (each checked for its form first).
fn docker_invariant(mut v: Value) -> Value {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    for o in v.as_array_mut().unwrap() {
        assert!(hex(o["Id"].as_str().unwrap(), 64), "{o}");
        o["Id"] = Value::Null;
        assert!(o["Created"].as_str().unwrap().starts_with("20"), "{o}");
        o["Created"] = Value::Null;
        let cs = std::mem::take(o["Containers"].as_object_mut().unwrap());
        let mut list: Vec<Value> = Vec::new();
        for (id, mut c) in cs {
            assert!(hex(&id, 64), "{id}");
            assert!(hex(c["EndpointID"].as_str().unwrap(), 64), "{c}");
            c["EndpointID"] = Value::Null;
            if let Some(suffix) = c["Name"].as_str().unwrap().strip_prefix("gateway_") {
                assert!(hex(suffix, 12), "{c}");
                c["Name"] = Value::String("gateway_<12 hex>".into());
            }
            list.push(c);
        }
        o["Containers"] = Value::Array(list);
    }
    v
}

/// `inspect` prints Docker's objects as the seed's daemons printed them: the same keys in the
/// same order, the same values but for ids and times; docker_gwbridge is each host's own (nas4
/// shows only bbox1's gateway_ endpoint, not every host's 172.18.0.2 merged), with the IPAM
/// options of a network the daemon made (null) and its options sorted as Go writes them.
/// Its enable_ip_masquerade "true" is real: the host's docker-postrouting masquerade.
#[test]
fn inspect_prints_the_seeds_docker_objects() {
    if !require_root("inspect_prints_the_seeds_docker_objects") {
        return;
    }
    let lab = unique("tsi");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");

    let ours = json_of(&["inspect", &format!("{lab}/ov_net1"), "--json"]);
    let keys = |v: &Value| -> Vec<String> { v[0].as_object().unwrap().keys().cloned().collect() };
    let seed: Value = serde_json::from_str(SEED_OV_NET1).unwrap();
    assert_eq!(keys(&ours), keys(&seed));
    let mut ours = docker_invariant(ours);
    let seed = docker_invariant(seed);
    // The seed ran no container yet; ours has bbox1 and bbox2: compared on their own below.
    assert_eq!(ours[0]["Containers"].as_array().unwrap().len(), 2);
    ours[0]["Containers"] = Value::Array(vec![]);
    assert_eq!(ours, seed);

    let seed: Value = serde_json::from_str(SEED_GWBRIDGE).unwrap();
    let ours = json_of(&["inspect", &format!("{lab}/docker_gwbridge"), "--json"]);
    assert_eq!(
        ours.as_array().unwrap().len(),
        2,
        "one object per host: {ours}"
    );
    let nas4 = json_of(&[
        "inspect",
        &format!("{lab}/docker_gwbridge"),
        "--json",
        "--host",
        "nas4",
    ]);
    assert_eq!(nas4[0], ours[0], "nas4's view is the first");
    assert_eq!(keys(&nas4), keys(&seed));
    let bbox1_id = nas4[0]["Containers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        nas4[0]["Containers"][&bbox1_id]["Name"],
        format!("gateway_{}", &bbox1_id[..12])
    );
    let opts: Vec<&String> = nas4[0]["Options"].as_object().unwrap().keys().collect();
    let seed_opts: Vec<&String> = seed[0]["Options"].as_object().unwrap().keys().collect();
    assert_eq!(opts, seed_opts, "Options sorted as Go writes a map");
    assert_eq!(docker_invariant(nas4), docker_invariant(seed.clone()));
    // nas5's daemon: bbox2 and bbox3, each its own 172.18.0.x, not nas4's.
    let nas5 = &ours[1]["Containers"];
    let mut addrs: Vec<&str> = nas5
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["IPv4Address"].as_str().unwrap())
        .collect();
    addrs.sort();
    assert_eq!(addrs, ["172.18.0.2/16", "172.18.0.3/16"]);

    // vxlan0's IFLA_LINK is its own index, which some device of the host namespace has too
    // (ens33 or docker_gwbridge): its other side is its socket's namespace, no device of it
    // (it is bound to none).
    let sandbox = cs_ns(&lab, "nas4", "ov_net1");
    let vx = link(&sandbox, "vxlan0");
    let host = format!("{lab}.nas4");
    if let Some(i) = vx.get("link_index") {
        assert_eq!(
            i, &vx["ifindex"],
            "a VXLAN's IFLA_LINK is its own index: {vx}"
        );
    }
    let v = json_of(&["find-link", "--peer-of", &sandbox, "vxlan0", "--json"]);
    assert_eq!(v["relation"], "underlay (UDP socket namespace)", "{v}");
    assert_eq!(v["peer"]["namespace"], host.as_str(), "{v}");
    assert_eq!(v["peer"]["name"], Value::Null, "{v}");
    assert_eq!(v["peer_link"], Value::Null, "{v}");

    // A global network is every host's (seed 003: node-3 sees ov_net1), with that host's
    // containers: nas4 has none on ov_net2. An unknown host is bad input.
    let v = json_of(&[
        "inspect",
        &format!("{lab}/ov_net2"),
        "--host",
        "nas4",
        "--json",
    ]);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["Containers"], serde_json::json!({}), "{v}");
    let o = netlab(&[
        "inspect",
        &format!("{lab}/docker_gwbridge"),
        "--host",
        "nas9",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}
