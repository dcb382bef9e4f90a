//! Root integration tests of swarm's ingress network and a service (seed 004, labs/swarm.toml):
//! the article's lines, quoted, against the live lab, with iproute2's JSON, `ip netns` inside a
//! node, netlab inspect's JSON and TCP connections (python3 servers in the tasks) as the
//! oracles. Overlays work on this machine's kernel; the VM tier
//! runs the same test on Debian's.

mod common;

use common::*;
use serde_json::Value;

const LAB: &str = "labs/swarm.toml";
const MANAGER: &str = "mysql-nginx";
const WORKER: &str = "MyTest03";
/// The article's `docker ps` NAMES of task 1.
const TASK1: &str = "uber-svc.1.kh8zs9a2umwf9cix381zr9x38";

/// Accepts connections on the port it is given and writes back its own name and the peer.
const NAMED_SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(("%s %s" % (sys.argv[1], peer[0])).encode())
    c.close()
"#;

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
    up_passing(&lab, LAB, 4);
    let node = |h: &str, ns: &str| format!("{lab}.{h}.{ns}");

    // The manager's `ip netns`: "d2feb68e3183 (id: 3)", "1-kzxwwwtunp (id: 2)", "lb_kzxwwwtun",
    // "1-8lyfiluksq (id: 0)", "ingress_sbox (id: 1)": the task's sandbox, both overlays'
    // sandboxes, the load balancer's and ingress_sbox; the worker runs task 2, so the same.
    for h in [MANAGER, WORKER] {
        let o = netlab(&["exec", &format!("{lab}.{h}"), "--", "ip", "netns"]);
        assert!(o.status.success(), "{}", text(&o));
        let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        for want in [
            "1-8lyfiluksq",
            "1-kzxwwwtunp",
            "ingress_sbox",
            "lb_kzxwwwtun",
        ] {
            assert!(listed.iter().any(|n| n == want), "{h}: {listed:?}");
        }
        assert_eq!(listed.len(), 5, "{h}: {listed:?}");
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
    // The service's virtual IP on ingress: "inet 10.255.0.4/32 brd 10.255.0.4 scope global
    // eth0", on each node's ingress_sbox.
    for h in [MANAGER, WORKER] {
        let a = ip_json(
            &node(h, "ingress_sbox"),
            &["-4", "addr", "show", "dev", "eth0"],
        );
        let vip = a[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["local"] == "10.255.0.4")
            .unwrap_or_else(|| panic!("{h}: no 10.255.0.4 in {a}"))
            .clone();
        assert_eq!(vip["prefixlen"], 32, "{vip}");
        assert_eq!(vip["broadcast"], "10.255.0.4", "{vip}");
        assert_eq!(vip["scope"], "global", "{vip}");
    }
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
    let task = format!("{lab}.{TASK1}");
    assert_eq!(addr(&task, "eth0"), "10.255.0.5/16");
    assert_eq!(addr(&task, "eth1"), "10.0.0.3/24");
    assert_eq!(addr(&task, "eth2"), "172.18.0.3/16");
    let routes = ip_json(&task, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.18.0.1", "{routes}");
    assert_eq!(routes[0]["dev"], "eth2", "{routes}");

    // `brctl show` in 1-kzxwwwtunp: "br0 ... veth0 veth1 vxlan0", veth0 the load balancer's
    // (made first) and veth1 the task's eth1.
    let svc_sb = node(MANAGER, "1-kzxwwwtunp");
    let ports = ip_json(&svc_sb, &["link", "show", "master", "br0"]);
    let mut names: Vec<String> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ifname"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["veth0", "veth1", "vxlan0"], "{ports}");
    let index_of = |n: &str| {
        ports
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ifname"] == n)
            .unwrap()["ifindex"]
            .clone()
    };
    let lb = node(MANAGER, "lb_kzxwwwtun");
    assert_eq!(link(&lb, "eth0")["link_index"], index_of("veth0"));
    assert_eq!(link(&task, "eth1")["link_index"], index_of("veth1"));
    // The load balancer holds the service's virtual IP on uber-svc, after its own address.
    assert_eq!(addrs(&lb, "eth0"), ["10.0.0.5/24", "10.0.0.2/32"]);

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
    let lbe = &svc["Containers"]["lb-uber-svc"];
    assert_eq!(lbe["Name"], "uber-svc-endpoint", "{svc}");
    assert_eq!(lbe["IPv4Address"], "10.0.0.5/24", "{svc}");
    assert_eq!(
        svc["Containers"].as_object().unwrap().len(),
        2,
        "the manager's view: its load balancer and task 1: {svc}"
    );
    let gw = inspect(&lab, "docker_gwbridge", MANAGER);
    assert_eq!(
        gw["Containers"]["ingress-sbox"]["Name"], "gateway_ingress-sbox",
        "{gw}"
    );

    // The sandbox is no container: connecting it is refused, and ingress takes no connect.
    let o = netlab(&[
        "connect",
        &format!("{lab}/uber-svc"),
        &format!("{lab}.{MANAGER}.ingress_sbox"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("ingress sandbox"), "{}", text(&o));
    // Nor are the load balancer and the tasks: swarm decides their networks.
    for who in [format!("{MANAGER}.lb_kzxwwwtun"), TASK1.to_string()] {
        let o = netlab(&[
            "disconnect",
            &format!("{lab}/uber-svc"),
            &format!("{lab}.{who}"),
        ]);
        assert_eq!(o.status.code(), Some(2), "{who}: {}", text(&o));
        assert!(text(&o).contains("swarm"), "{who}: {}", text(&o));
    }

    // Names, as swarm's embedded DNS answers them: the service's name is its virtual IP on
    // uber-svc, a task's name its address there; ingress resolves nothing.
    let getent = |ns: &str, name: &str| -> String {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "getent", "hosts", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(getent(&task, "uber-svc"), "10.0.0.2");
    assert_eq!(getent(&task, TASK1), "10.0.0.3");

    // trace follows the balancing: from task 1, the virtual IP is DNAT'd in its own output
    // hook, rerouted, and (the first backend) delivered to itself; the mesh takes the
    // worker's connection to the manager's port 80 through its ingress_sbox to a task.
    let trace = |args: &[&str]| -> Value {
        let mut a = vec!["trace"];
        a.extend_from_slice(args);
        a.push("--json");
        let o = netlab(&a);
        assert!(!o.stdout.is_empty(), "{args:?}: {}", text(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let t = trace(&[&task, "10.0.0.2"])["trace"].clone();
    assert_eq!(t["delivered_to"], task.as_str(), "{t}");
    assert!(
        t["hops"][0]["action"]
            .as_str()
            .unwrap()
            .contains("round robin"),
        "{t}"
    );
    let t = trace(&[
        &format!("{lab}.{WORKER}"),
        &format!("{lab}.{MANAGER}"),
        "--proto",
        "tcp",
        "--port",
        "80",
        "--probe",
    ]);
    // No server yet: the task answers the real SYN with a RST, as predicted, and the DNAT'd
    // delivery counts as reaching the node (the probe cannot tell which task answered).
    assert_eq!(t["probe"]["kind"], "rst", "{t}");
    assert_eq!(t["reached_target"], true, "{t}");
    let t = t["trace"].clone();
    assert_eq!(t["delivered_to"], task.as_str(), "{t}");
    let through: Vec<&str> = t["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["namespace"].as_str().unwrap())
        .collect();
    assert!(through.contains(&sbox.as_str()), "{through:?}");

    // The routing mesh: port 80 of the manager, from the worker, reaches both tasks in
    // turn (task 2 runs on the worker itself), from the manager's ingress_sbox (10.255.0.2).
    let task2 = lab_namespaces(&lab)
        .into_iter()
        .find(|n| n.starts_with(&format!("{lab}.uber-svc.2.")))
        .expect("task 2's namespace");
    let _s1 = Ready::spawn_with(&task, NAMED_SERVER, &["task1", "80"], "listening");
    let _s2 = Ready::spawn_with(&task2, NAMED_SERVER, &["task2", "80"], "listening");
    let answers = |from: &str, to: &str| -> Vec<String> {
        let mut v: Vec<String> = (0..4)
            .map(|_| {
                connect_in(from, to.parse().unwrap())
                    .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        answers(&format!("{lab}.{WORKER}"), "192.168.246.194:80"),
        [
            "task1 10.255.0.2",
            "task1 10.255.0.2",
            "task2 10.255.0.2",
            "task2 10.255.0.2"
        ]
    );
    // The virtual IP on uber-svc, from task 1: both tasks in turn, each seeing task 1.
    assert_eq!(
        answers(&task, "10.0.0.2:80"),
        [
            "task1 10.0.0.3",
            "task1 10.0.0.3",
            "task2 10.0.0.3",
            "task2 10.0.0.3"
        ]
    );
    drop((_s1, _s2));

    down_restoring(&lab, &before);
}
