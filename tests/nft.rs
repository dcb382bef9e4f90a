//! kernel::nft on a real kernel: tables written through nfnetlink in namespaces this test makes
//! (`ip netns add`, removed by a guard even on panic), read back with `nft -j list ruleset`, and
//! their effect seen on the wire with tcpdump. The root namespace's ruleset must not change.

mod common;

use std::process::Command;

use common::{connect_in, echo_source, require_root, text, ForeignNs, Ready};
use netlab::kernel::netns;
use netlab::kernel::nft::{
    self, Action, Chain, CtState, Hook, L4Proto, Match, Policy, Rule, Table,
};
use serde_json::{json, Value};

fn ns_name(tag: &str) -> String {
    format!("nlh-nft-{}-{tag}", std::process::id())
}

/// `nft -j list ruleset`, in a namespace or (None) in the root one: the objects, without
/// metainfo.
fn ruleset(ns: Option<&str>) -> Vec<Value> {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft"]);
            c
        }
        None => Command::new("nft"),
    };
    let o = c
        .args(["-j", "list", "ruleset"])
        .output()
        .expect("running nft: install nftables (.ci/run does)");
    assert!(o.status.success(), "nft -j list ruleset: {}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("nft -j output");
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("metainfo").is_none())
        .cloned()
        .collect()
}

/// The ruleset with the kernel's handles taken out, to compare two namespaces.
fn without_handles(v: Vec<Value>) -> Vec<Value> {
    v.into_iter()
        .map(|mut x| {
            for o in x.as_object_mut().unwrap().values_mut() {
                o.as_object_mut().unwrap().remove("handle");
            }
            x
        })
        .collect()
}

fn objects<'a>(v: &'a [Value], kind: &str) -> Vec<&'a Value> {
    v.iter().filter_map(|x| x.get(kind)).collect()
}

fn gateway(oif_server: &str) -> Table {
    Table {
        name: "netlab".into(),
        chains: vec![
            Chain::nat(
                "postrouting",
                Hook::Postrouting,
                vec![Rule::new(
                    vec![Match::Oif(oif_server.into())],
                    Action::Masquerade,
                )],
            ),
            Chain::filter(
                "forward",
                Hook::Forward,
                Policy::Drop,
                vec![
                    Rule::new(
                        vec![Match::CtState(vec![CtState::Established, CtState::Related])],
                        Action::Accept,
                    ),
                    Rule::new(
                        vec![Match::Iif("r-c".into()), Match::Oif(oif_server.into())],
                        Action::Accept,
                    ),
                ],
            ),
            Chain::nat(
                "prerouting",
                Hook::Prerouting,
                vec![Rule::new(
                    vec![
                        Match::Daddr("10.2.0.0/23".parse().unwrap()),
                        Match::Dport {
                            proto: L4Proto::Tcp,
                            port: 8080,
                        },
                    ],
                    Action::Dnat {
                        addr: "10.2.0.2".parse().unwrap(),
                        port: Some(80),
                    },
                )],
            ),
        ],
    }
}

#[test]
fn table_reads_back_as_written_and_as_its_nft_commands_build_it() {
    if !require_root("table_reads_back_as_written_and_as_its_nft_commands_build_it") {
        return;
    }
    let root_before = ruleset(None);
    let a = ForeignNs::add(&ns_name("read"));
    let b = ForeignNs::add(&ns_name("cmds"));
    let table = gateway("r-s");
    let handle = netns::open(&a.0).unwrap();
    nft::apply_in(&handle, &table).unwrap();
    let got = ruleset(Some(&a.0));

    let tables = objects(&got, "table");
    assert_eq!(tables.len(), 1, "{got:?}");
    assert_eq!(tables[0]["family"], "inet");
    assert_eq!(tables[0]["name"], "netlab");
    let chains: Vec<Value> = objects(&got, "chain")
        .into_iter()
        .map(|c| json!([c["name"], c["type"], c["hook"], c["prio"], c["policy"]]))
        .collect();
    assert_eq!(
        chains,
        [
            json!(["postrouting", "nat", "postrouting", 100, "accept"]),
            json!(["forward", "filter", "forward", 0, "drop"]),
            json!(["prerouting", "nat", "prerouting", -100, "accept"]),
        ]
    );
    // Every rule has a counter before its action, zero before any packet.
    let rules: Vec<Value> = objects(&got, "rule")
        .into_iter()
        .map(|r| json!([r["chain"], r["expr"]]))
        .collect();
    let eq =
        |left: Value, right: Value| json!({"match": {"op": "==", "left": left, "right": right}});
    assert_eq!(
        rules,
        [
            json!(["postrouting", [eq(json!({"meta": {"key": "oifname"}}), json!("r-s")), {"counter": {"packets": 0, "bytes": 0}}, {"masquerade": null}]]),
            json!(["forward", [
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
                {"counter": {"packets": 0, "bytes": 0}},
                {"accept": null}
            ]]),
            json!(["forward", [
                eq(json!({"meta": {"key": "iifname"}}), json!("r-c")),
                eq(json!({"meta": {"key": "oifname"}}), json!("r-s")),
                {"counter": {"packets": 0, "bytes": 0}},
                {"accept": null}
            ]]),
            json!(["prerouting", [
                eq(json!({"payload": {"protocol": "ip", "field": "daddr"}}), json!({"prefix": {"addr": "10.2.0.0", "len": 23}})),
                eq(json!({"payload": {"protocol": "tcp", "field": "dport"}}), json!(8080)),
                {"counter": {"packets": 0, "bytes": 0}},
                {"dnat": {"family": "ip", "addr": "10.2.0.2", "port": 80}}
            ]]),
        ],
        "{got:#?}"
    );

    // Applying again replaces the table: the same ruleset, not every rule twice.
    nft::apply_in(&handle, &table).unwrap();
    assert_eq!(
        without_handles(ruleset(Some(&a.0))),
        without_handles(got.clone())
    );

    // The dry-run text, run by a shell and nft in another namespace, builds the same ruleset.
    for cmd in table.commands() {
        let o = Command::new("sh")
            .args(["-c", &format!("ip netns exec {} {cmd}", b.0)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd}: {}", text(&o));
    }
    assert_eq!(without_handles(ruleset(Some(&b.0))), without_handles(got));

    assert_eq!(
        ruleset(None),
        root_before,
        "the root namespace's ruleset changed"
    );
}

/// The source address of the echo request the server sees, and whether the ping came back.
fn seen_by_server(client: &str, server: &str) -> (String, bool) {
    echo_source(client, server, "s-r", "10.2.0.2")
}

#[test]
fn masquerade_rewrites_the_source_the_server_sees() {
    if !require_root("masquerade_rewrites_the_source_the_server_sees") {
        return;
    }
    let root_before = ruleset(None);
    let client = ForeignNs::add(&ns_name("client"));
    let router = ForeignNs::add(&ns_name("router"));
    let server = ForeignNs::add(&ns_name("server"));
    client.ip(&[
        "link", "add", "c-r", "type", "veth", "peer", "name", "r-c", "netns", &router.0,
    ]);
    server.ip(&[
        "link", "add", "s-r", "type", "veth", "peer", "name", "r-s", "netns", &router.0,
    ]);
    client.ip(&["addr", "add", "10.1.0.2/24", "dev", "c-r"]);
    router.ip(&["addr", "add", "10.1.0.1/24", "dev", "r-c"]);
    router.ip(&["addr", "add", "10.2.0.1/24", "dev", "r-s"]);
    server.ip(&["addr", "add", "10.2.0.2/24", "dev", "s-r"]);
    for (ns, dev) in [
        (&client, "c-r"),
        (&router, "r-c"),
        (&router, "r-s"),
        (&server, "s-r"),
    ] {
        ns.ip(&["link", "set", dev, "up"]);
    }
    client.ip(&["route", "add", "default", "via", "10.1.0.1"]);
    // The server has no route back to the client's subnet: only a masqueraded ping returns.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &router.0,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let (src, answered) = seen_by_server(&client.0, &server.0);
    assert_eq!(
        src, "10.1.0.2",
        "without the table the server sees the client"
    );
    assert!(!answered, "the server has no route back to the client");

    let handle = netns::open(&router.0).unwrap();
    nft::apply_in(&handle, &gateway("r-s")).unwrap();
    let (src, answered) = seen_by_server(&client.0, &server.0);
    assert_eq!(src, "10.2.0.1", "masquerade: the server sees the router");
    assert!(answered, "the reply is translated back to the client");

    nft::delete_in(&handle, "netlab").unwrap();
    let (src, _) = seen_by_server(&client.0, &server.0);
    assert_eq!(
        src, "10.1.0.2",
        "after delete_in the server sees the client again"
    );

    assert_eq!(
        ruleset(None),
        root_before,
        "the root namespace's ruleset changed"
    );
}

#[test]
fn a_refused_rule_leaves_nothing_of_its_batch() {
    if !require_root("a_refused_rule_leaves_nothing_of_its_batch") {
        return;
    }
    let ns = ForeignNs::add(&ns_name("atomic"));
    let handle = netns::open(&ns.0).unwrap();
    let mut bad = gateway("r-s");
    // snat in a filter chain: the kernel refuses it (EOPNOTSUPP), after the table, the chains
    // and the earlier rules of the same batch were accepted.
    bad.chains[1].rules.push(Rule::new(
        vec![Match::Oif("x".into())],
        Action::Snat {
            addr: "192.0.2.1".parse().unwrap(),
        },
    ));
    let e = nft::apply_in(&handle, &bad).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
    assert!(
        msg.contains("rule 3 of chain forward")
            && msg.contains("snat ip to 192.0.2.1")
            && msg.contains("Operation not supported")
            && msg.contains("snat works only in a nat chain"),
        "{msg}"
    );
    assert_eq!(
        ruleset(Some(&ns.0)),
        Vec::<Value>::new(),
        "a refused batch left a table"
    );

    // Replacing a good table with a bad one keeps the good one, whole.
    nft::apply_in(&handle, &gateway("r-s")).unwrap();
    let good = ruleset(Some(&ns.0));
    assert!(!good.is_empty());
    nft::apply_in(&handle, &bad).unwrap_err();
    assert_eq!(ruleset(Some(&ns.0)), good);
}

#[test]
fn delete_removes_only_its_table_and_is_idempotent() {
    if !require_root("delete_removes_only_its_table_and_is_idempotent") {
        return;
    }
    let ns = ForeignNs::add(&ns_name("delete"));
    let handle = netns::open(&ns.0).unwrap();
    // Somebody else's table, which must stay.
    let o = Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "nft", "add", "table", "inet", "other",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    nft::apply_in(&handle, &gateway("r-s")).unwrap();
    assert_eq!(objects(&ruleset(Some(&ns.0)), "table").len(), 2);

    nft::delete_in(&handle, "netlab").unwrap();
    let left = ruleset(Some(&ns.0));
    let names: Vec<&Value> = objects(&left, "table").iter().map(|t| &t["name"]).collect();
    assert_eq!(names, [&json!("other")], "{left:?}");
    assert!(objects(&left, "chain").is_empty() && objects(&left, "rule").is_empty());

    nft::delete_in(&handle, "netlab").expect("deleting a missing table is Ok");
}

/// A lab file's `[[hosts.H.firewall]]` rules, as Docker's docker0 MASQUERADE: a container's
/// pings to another host leave its host with the host's address (tcpdump on the far host sees
/// it, and the replies come back although that host has no route to the container's subnet).
/// `apply` without the rules deletes the table: the far host then sees the container's address
/// and cannot answer. `down` removes everything; the root namespace's ruleset never changes.
#[test]
fn lab_firewall_masquerades_and_apply_and_down_remove_it() {
    use common::{netlab, unique, LabGuard};
    if !require_root("lab_firewall_masquerades_and_apply_and_down_remove_it") {
        return;
    }
    let root_before = ruleset(None);
    let lab = unique("tfw");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("{lab}-fw"));
    std::fs::create_dir_all(&dir).unwrap();
    let base = r#"
[lab]
name = "fw"

[hosts.h1]
address = "10.1.1.21"
forwarding = true
RULES
[hosts.h2]
address = "10.1.1.22"

[networks.n1]
driver = "bridge"
subnet = "172.30.0.0/24"
masquerade = false

[containers.c1]
host = "h1"
networks = ["n1"]
"#;
    let rules = r#"
[[hosts.h1.firewall]]
chain = "postrouting"
saddr = "172.30.0.0/24"
oif = "ens33"
action = "masquerade"

[[hosts.h1.firewall]]
chain = "forward"
ct = ["established", "related"]
action = "accept"

[[hosts.h1.firewall]]
chain = "forward"
oif = "ens33"
proto = "icmp"
action = "accept"
"#;
    let with = dir.join("with.toml");
    let without = dir.join("without.toml");
    std::fs::write(&with, base.replace("RULES", rules)).unwrap();
    std::fs::write(&without, base.replace("RULES", "")).unwrap();
    let o = netlab(&[
        "up",
        "-q",
        "--no-check",
        "--name",
        &lab,
        with.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "up: {}", text(&o));
    let (h1, h2, c1) = (
        format!("{lab}.h1"),
        format!("{lab}.h2"),
        format!("{lab}.c1"),
    );

    let rs = ruleset(Some(&h1));
    let chains: Vec<(&str, &str, &str)> = rs
        .iter()
        .filter_map(|o| o.get("chain"))
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["hook"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        chains,
        [
            ("forward", "filter", "forward"),
            ("postrouting", "nat", "postrouting")
        ],
        "{rs:?}"
    );
    let masq = rs
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| r["chain"] == "postrouting")
        .expect("the postrouting rule");
    assert!(
        masq["expr"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.get("masquerade").is_some()),
        "{masq}"
    );
    let (src, answered) = echo_source(&c1, &h2, "ens33", "10.1.1.22");
    assert_eq!(src, "10.1.1.21", "masqueraded to h1's address");
    assert!(answered, "the replies come back to c1");

    // The dry run of apply says what it deletes; apply does it.
    let o = netlab(&[
        "apply",
        "--dry-run",
        "--name",
        &lab,
        without.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "apply --dry-run: {}", text(&o));
    assert!(
        text(&o).contains(&format!("ip netns exec {h1} nft delete table inet netlab")),
        "{}",
        text(&o)
    );
    let o = netlab(&["apply", "--name", &lab, without.to_str().unwrap()]);
    assert!(o.status.success(), "apply: {}", text(&o));
    assert_eq!(ruleset(Some(&h1)), Vec::<Value>::new(), "the table is gone");
    let (src, answered) = echo_source(&c1, &h2, "ens33", "10.1.1.22");
    assert_eq!(
        src, "172.30.0.2",
        "no masquerade: the container's own address"
    );
    assert!(!answered, "h2 has no route back to 172.30.0.0/24");

    let o = netlab(&["apply", "--name", &lab, with.to_str().unwrap()]);
    assert!(o.status.success(), "apply back: {}", text(&o));
    assert_eq!(echo_source(&c1, &h2, "ens33", "10.1.1.22").0, "10.1.1.21");
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    common::assert_clean(&lab);
    assert_eq!(
        ruleset(None),
        root_before,
        "the root namespace's ruleset changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ports = ["8080:80"]` as `docker run -p`: a connection from another host to the container's
/// host, port 8080, reaches the container's port 80 with its own source address (DNAT, not
/// a proxy); the host forwards, as Docker's daemon makes it, and still drops traffic between
/// its bridges (DOCKER-ISOLATION). Oracles: a TCP server and client (python3) in the lab's
/// namespaces, iputils ping, nft -j; nothing is left after down.
#[test]
fn published_ports_are_dnat_and_bridges_stay_isolated() {
    use common::{netlab, ping_eventually, sysctl_in};
    if !require_root("published_ports_are_dnat_and_bridges_stay_isolated") {
        return;
    }
    let root_before = ruleset(None);
    let (lab, _guard, dir, file) = common::lab_file(
        "tpub",
        r#"
[lab]
name = "pub"

[hosts.h1]
address = "10.1.1.21"

[hosts.h2]
address = "10.1.1.22"

[networks.front]
driver = "bridge"
subnet = "172.30.0.0/24"

[networks.back]
driver = "bridge"
subnet = "172.31.0.0/24"

[containers.web]
host = "h1"
networks = ["front"]
ports = ["8080:80", "5353:53/udp"]

[containers.db]
host = "h1"
networks = ["back"]
"#,
    );
    let o = netlab(&[
        "up",
        "-q",
        "--no-check",
        "--name",
        &lab,
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "up: {}", text(&o));
    let (h1, h2, web, db) = (
        format!("{lab}.h1"),
        format!("{lab}.h2"),
        format!("{lab}.web"),
        format!("{lab}.db"),
    );
    assert_eq!(
        sysctl_in(&h1, "net.ipv4.ip_forward"),
        "1",
        "Docker forwards for -p"
    );
    assert_eq!(sysctl_in(&h2, "net.ipv4.ip_forward"), "0");

    // A TCP server in web on port 80 answers with the peer address it sees.
    let server = Ready::spawn(&web, SERVER, "listening");
    let connect = |ns: &str, addr: &str, port: &str| {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", CLIENT, addr, port])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    };
    assert_eq!(
        connect(&h2, "10.1.1.21", "8080"),
        (true, "10.1.1.22".to_string()),
        "h2 -> h1:8080 reaches web:80, which sees h2's own address"
    );
    assert!(
        !connect(&h2, "10.1.1.21", "80").0,
        "only the published port is DNAT'd"
    );
    assert_eq!(
        connect(&h1, "10.1.1.21", "8080"),
        (true, "10.1.1.21".to_string()),
        "the host's own connection to its address is DNAT'd too (output)"
    );
    // trace --proto predicts what those connections did: tcp 8080 is DNAT'd at h1's prerouting
    // and delivered to web's port 80 (where the server answered), tcp 80 ends at h1 itself
    // (which refused it), udp 5353 goes to web's port 53; an echo is not rewritten. With
    // --capture (and so --probe) it sends a real SYN or datagram, hop by hop too.
    let traced = |port: &str, proto: &str| -> Value {
        let o = netlab(&[
            "trace",
            &h2,
            "10.1.1.21",
            "--proto",
            proto,
            "--port",
            port,
            "--capture",
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).expect("trace json")
    };
    let end = |v: &Value| -> String {
        v["trace"]["hops"].as_array().unwrap().last().unwrap()["action"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Whether a socket takes it is read from the destination's socket table: the server
    // listens on web's tcp 80 (the connection above was answered), nothing on h1's tcp 80
    // (refused) nor on web's udp 53 (ss lists no socket there).
    let first_reply = |v: &Value| -> String {
        v["trace"]["reply_hops"][0]["action"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let udp_bound = |ns: &str| {
        let o = std::process::Command::new("ss")
            .args(["-N", ns, "-H", "-uln", "sport", "= :53"])
            .output()
            .expect("ss");
        !String::from_utf8_lossy(&o.stdout).trim().is_empty()
    };
    assert!(!udp_bound(&web), "a socket is bound to web's udp 53");
    for (proto, port, to, inner, listens, reply, answer) in [
        (
            "tcp",
            "8080",
            &web,
            "tcp port 80",
            true,
            "reply (SYN-ACK): ",
            "syn-ack",
        ),
        (
            "tcp",
            "80",
            &h1,
            "tcp port 80",
            false,
            "reply (RST): ",
            "rst",
        ),
        (
            "udp",
            "5353",
            &web,
            "udp port 53",
            false,
            "reply (ICMP port unreachable): ",
            "port-unreachable",
        ),
    ] {
        let v = traced(port, proto);
        // The real SYN (datagram) got what the python client got above (and what ss says):
        // answered from h1's address, NAT undone; the last TTL-limited one too, after a time
        // exceeded from h1 where it forwards to web.
        assert_eq!(v["agree"], true, "{proto} {port}: {v}");
        assert_eq!(
            (
                &v["probe"]["kind"],
                &v["probe"]["from"],
                &v["probe"]["port"]
            ),
            (
                &json!(answer),
                &json!("10.1.1.21"),
                &json!(port.parse::<u16>().unwrap())
            ),
            "{proto} {port}: {v}"
        );
        let hops = v["probe_hops"].as_array().unwrap();
        assert_eq!(hops.last().unwrap()["kind"], answer, "{v}");
        assert_eq!(hops.last().unwrap()["namespace"], json!(to), "{v}");
        assert_eq!(hops.len(), if to == &web { 2 } else { 1 }, "{v}");
        // The capture saw the SYN (datagram) and its answer on every predicted device, from
        // a port of its own, and h1's DNAT rewriting it.
        let c = &v["capture"];
        assert_eq!(c["agrees"], true, "{proto} {port}: {v}");
        assert!(c["source_port"].as_u64().is_some_and(|p| p > 0), "{v}");
        assert_eq!(c["id"], Value::Null, "{v}");
        let rewrote = c["rewrites"].as_array().unwrap().iter().any(|r| {
            r["kind"] == "request" && r["field"] == "destination" && r["namespace"] == json!(h1)
        });
        assert_eq!(rewrote, to == &web, "{v}");
        let answered = v["trace"]["reply_hops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["observed"] == true);
        assert!(answered, "{v}");
        assert_eq!(v["trace"]["delivered_to"], json!(to), "{proto} {port}: {v}");
        assert_eq!(
            (v["trace"]["proto"].as_str(), v["trace"]["port"].as_u64()),
            (Some(proto), port.parse().ok())
        );
        assert_eq!(
            v["trace"]["listening"],
            json!(listens),
            "{proto} {port}: {v}"
        );
        assert!(first_reply(&v).starts_with(reply), "{proto} {port}: {v}");
        let end = end(&v);
        assert!(end.contains(&format!("delivered to {inner}")), "{end}");
        let dnat = v["trace"]["hops"].as_array().unwrap().iter().find(|h| {
            h["action"]
                .as_str()
                .unwrap()
                .contains("dnat, destination 10.1.1.21 -> ")
        });
        assert_eq!(
            dnat.map(|h| h["namespace"].clone()),
            (to == &web).then(|| json!(h1)),
            "{v}"
        );
    }
    let o = netlab(&["trace", &h2, "10.1.1.21", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            v["trace"]["delivered_to"].clone(),
            v["trace"]["proto"].clone()
        ),
        (json!(h1), json!("icmp"))
    );
    // A UDP socket bound to web's port 53 takes the datagram: the kernel answers nothing.
    let bound = Ready::spawn(&web, UDP_BOUND, "bound");
    assert!(udp_bound(&web), "ss lists no socket on web's udp 53");
    let v = traced("5353", "udp");
    assert_eq!(v["trace"]["listening"], json!(true), "{v}");
    assert_eq!(v["trace"]["reply_hops"], json!([]), "{v}");
    // Nothing answers, as predicted; the datagrams wait in the socket's receive queue (ss).
    assert_eq!(
        (&v["agree"], &v["probe"]["kind"]),
        (&json!(true), &json!("none")),
        "{v}"
    );
    assert_eq!(v["capture"]["agrees"], true, "{v}");
    let queued = {
        let o = std::process::Command::new("ss")
            .args(["-N", &web, "-H", "-uln", "sport", "= :53"])
            .output()
            .expect("ss");
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        line.split_whitespace()
            .nth(1)
            .and_then(|q| q.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("ss: {line}"))
    };
    // Recv-Q is the memory the queued datagrams take, more than their payload.
    assert!(
        queued >= 2 * netlab::kernel::l4::UDP_PAYLOAD.len() as u64,
        "the probes' datagrams are not queued (Recv-Q {queued})"
    );
    assert!(
        end(&v).ends_with("delivered to udp port 53 (a socket listens)"),
        "{v}"
    );
    drop(bound);
    // Bad usage: a port without a protocol, a protocol without a port, a sized TCP SYN.
    for args in [
        vec!["--port", "80"],
        vec!["--proto", "tcp"],
        vec!["--proto", "tcp", "--port", "80", "--size", "100"],
    ] {
        let mut all = vec!["trace", h2.as_str(), "10.1.1.21"];
        all.extend(args.iter().copied());
        let o = netlab(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }

    let rs = ruleset(Some(&h1));
    let dnats: Vec<String> = rs
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| {
            r["expr"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.get("dnat").is_some())
        })
        .map(|r| r["chain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        dnats,
        [
            "docker-prerouting",
            "docker-prerouting",
            "docker-output",
            "docker-output"
        ],
        "{rs:?}"
    );

    // Forwarding is on, yet the two bridges stay apart.
    assert!(ping_eventually(&web, "172.30.0.1"));
    assert!(
        !common::ping(&web, "172.31.0.2"),
        "web reaches db across bridges"
    );
    assert!(
        !common::ping(&db, "172.30.0.2"),
        "db reaches web across bridges"
    );
    // trace evaluates the rules: FILTERED at h1's forward hook, by the DOCKER-ISOLATION rule
    // nft lists for those two bridges, both ways; the probe and the capture agree, and the
    // kernel names the drop.
    let bridge_of = |gateway: &str| -> String {
        let links = common::ip_json(&h1, &["-4", "addr", "show"]);
        links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["addr_info"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["local"] == gateway)
            })
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no device of {h1} has {gateway}: {links}"))
    };
    let (front, back) = (bridge_of("172.30.0.1"), bridge_of("172.31.0.1"));
    let isolation: Vec<&Value> = rs
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == "docker-isolation")
        .collect();
    // The 1-based place of the rule that drops iif -> oif, as nft lists the chain.
    let place = |iif: &str, oif: &str| -> usize {
        let names = |r: &Value, key: &str| -> Vec<String> {
            r["expr"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e.get("match"))
                .filter(|m| m["left"]["meta"]["key"] == key)
                .map(|m| m["right"].as_str().unwrap().to_string())
                .collect()
        };
        1 + isolation
            .iter()
            .position(|r| names(r, "iifname") == [iif] && names(r, "oifname") == [oif])
            .unwrap_or_else(|| panic!("no isolation rule {iif} -> {oif}: {isolation:?}"))
    };
    for (from, to, iif, oif, flow) in [
        (&web, "172.31.0.2", &front, &back, &[][..]),
        (&db, "172.30.0.2", &back, &front, &[][..]),
        (
            &web,
            "172.31.0.2",
            &front,
            &back,
            &["--proto", "tcp", "--port", "5432"][..],
        ),
    ] {
        let mut args = vec!["trace", from.as_str(), to, "--capture", "--json"];
        args.extend(flow);
        let o = netlab(&args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("trace json");
        assert_eq!(v["trace"]["disposition"], "FILTERED", "{v}");
        assert_eq!(
            v["trace"]["filtered"],
            json!({
                "namespace": h1,
                "table": "netlab",
                "chain": "docker-isolation",
                "hook": "forward",
                "rule": place(iif, oif),
                "text": format!("iifname \"{iif}\" oifname \"{oif}\" drop"),
            }),
            "{v}"
        );
        // The router's hop: in on the source's bridge, TTL already one less, out nowhere.
        let last = v["trace"]["hops"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (
                &last["namespace"],
                &last["in_dev"],
                &last["out_dev"],
                &last["ttl"]
            ),
            (&json!(h1), &json!(iif), &Value::Null, &json!(63)),
            "{v}"
        );
        assert_eq!(v["agree"], true, "{v}");
        if flow.is_empty() {
            assert_eq!(v["probe"]["received"], 0, "{v}");
        } else {
            assert_eq!(v["probe"]["kind"], "none", "no SYN-ACK nor RST: {v}");
        }
        // ip_forward answers a TTL of 1 before the forward hook: time exceeded from h1.
        assert_eq!(v["probe_hops"][0]["kind"], "time-exceeded", "{v}");
        assert_eq!(v["probe_hops"][0]["namespace"], json!(h1), "{v}");
        assert_eq!(v["capture"]["agrees"], true, "{v}");
        assert_eq!(v["firewalls_not_evaluated"], json!([]), "{v}");
        assert_eq!(v["drop"]["namespace"], json!(h1), "{v}");
        assert_eq!(v["drop"]["reason"], "NETFILTER_DROP", "{v}");
    }

    drop(server);
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    common::assert_clean(&lab);
    assert_eq!(
        ruleset(None),
        root_before,
        "the root namespace's ruleset changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Accepts connections on port 80 and writes each peer's address back.
const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(8)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(peer[0].encode())
    c.close()
"#;

/// Binds a UDP socket to port 53 and keeps it until killed.
const UDP_BOUND: &str = r#"
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
print("bound", flush=True)
time.sleep(600)
"#;

/// Connects to argv[1]:argv[2] (2 s at most) and prints what the server says.
const CLIENT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
print(c.recv(64).decode())
"#;

/// `[outside]`, seed 000's `ping www.baidu.com` inside the lab: an overlay container reaches
/// the outside through docker_gwbridge, and a bridge container through its bridge, both
/// masqueraded (tcpdump in the outside sees each host's underlay address, and the replies come
/// back although the outside has no route into the lab); the outside answers every address of
/// its subnet; trace predicts the masquerade and conntrack's way back, and the probe agrees; a
/// TCP connection from the outside (made in this process) reaches a published port by DNAT;
/// docker_gwbridge's masquerade is the rule Docker writes. Nothing is left after down, and the
/// root namespace's ruleset never changes.
#[test]
fn the_outside_sees_containers_as_their_host_and_reaches_published_ports() {
    use common::netlab;
    if !require_root("the_outside_sees_containers_as_their_host_and_reaches_published_ports") {
        return;
    }
    let root_before = ruleset(None);
    let (lab, _guard, dir, file) = common::lab_file(
        "tout",
        r#"
[lab]
name = "out"

[outside]
name = "internet"

[hosts.h1]
address = "10.1.1.21"

[hosts.h2]
address = "10.1.1.22"

[networks.ov]
driver = "overlay"

[networks.front]
driver = "bridge"
subnet = "172.30.0.0/24"

[containers.c1]
host = "h1"
networks = ["ov"]

[containers.web]
host = "h2"
networks = ["front"]
ports = ["8080:80"]

[[checks]]
from = "c1"
to = "internet"
ttl = 63

[[checks]]
from = "web"
to = "203.0.113.77"
ttl = 63

[[checks]]
from = "internet"
to = "h1"
"#,
    );
    let o = netlab(&["up", "--name", &lab, file.to_str().unwrap()]);
    assert!(o.status.success(), "up and its checks: {}", text(&o));
    let (h1, c1, web, out) = (
        format!("{lab}.h1"),
        format!("{lab}.c1"),
        format!("{lab}.web"),
        format!("{lab}.internet"),
    );

    // The outside: eth0 on the switch with the hosts' gateway, its subnet on lo, and no route
    // into the lab (iproute2 is the oracle).
    let routes = common::ip_json(&out, &["route", "show"]);
    let dsts: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dst"].as_str().unwrap())
        .collect();
    assert_eq!(dsts, ["10.1.1.0/24"], "{routes}");
    // On lo, the kernel makes the whole prefix local: every address of it answers.
    let local = common::ip_json(&out, &["route", "show", "table", "local", "203.0.113.0/24"]);
    assert_eq!(local[0]["type"], "local", "{local}");
    assert_eq!(common::addrs(&out, "eth0"), ["10.1.1.254/24"]);
    assert_eq!(common::addrs(&out, "lo"), ["127.0.0.1/8", "203.0.113.1/24"]);
    let default = common::ip_json(&h1, &["route", "show", "default"]);
    assert_eq!(default[0]["gateway"], "10.1.1.254", "{default}");

    // Masqueraded: the outside sees each container's host.
    let (src, answered) = echo_source(&c1, &out, "eth0", "203.0.113.1");
    assert_eq!(src, "10.1.1.21", "c1 leaves through docker_gwbridge as h1");
    assert!(answered, "the replies come back to c1");
    let (src, answered) = echo_source(&web, &out, "eth0", "203.0.113.77");
    assert_eq!(src, "10.1.1.22", "web leaves through its bridge as h2");
    assert!(answered);

    // docker_gwbridge's rule, as Docker writes it: -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE.
    let rs = ruleset(Some(&h1));
    let masq = objects(&rs, "rule")
        .into_iter()
        .find(|r| r["chain"] == "docker-postrouting")
        .expect("the docker-postrouting rule");
    let expr = masq["expr"].as_array().unwrap();
    assert!(
        expr.iter()
            .any(|e| e["match"]["right"]["prefix"]["addr"] == "172.18.0.0")
            && expr
                .iter()
                .any(|e| e["match"]["op"] == "!=" && e["match"]["right"] == "docker_gwbridge")
            && expr.iter().any(|e| e.get("masquerade").is_some()),
        "{masq}"
    );
    let o = netlab(&["inspect", &format!("{lab}/docker_gwbridge"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v[0]["Options"]["com.docker.network.bridge.enable_ip_masquerade"],
        "true"
    );
    // `netlab firewall` reads the rule's counter back: what nft -j says, and c1's pings (one
    // connection, whose first packet the NAT chain sees) are there.
    let nft_counter = masq["expr"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.get("counter"))
        .expect("a counter on the rule")
        .clone();
    let o = netlab(&["firewall", &format!("{lab}.h1"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let fw: Value = serde_json::from_slice(&o.stdout).unwrap();
    let chain = fw["tables"][0]["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docker-postrouting")
        .expect("docker-postrouting in netlab firewall");
    assert_eq!(chain["hook"], "postrouting", "{fw}");
    let rule = &chain["rules"][0];
    assert_eq!(
        rule["rule"], "ip saddr 172.18.0.0/16 oifname != \"docker_gwbridge\" masquerade",
        "{fw}"
    );
    assert_eq!(
        rule["packets"], nft_counter["packets"],
        "{fw} vs {nft_counter}"
    );
    assert_eq!(rule["bytes"], nft_counter["bytes"], "{fw} vs {nft_counter}");
    assert!(rule["packets"].as_u64().unwrap() >= 1, "{fw}");
    let o = netlab(&["firewall", &format!("{lab}.h1")]);
    assert!(
        text(&o).contains("docker-postrouting (nat postrouting, policy accept)"),
        "{}",
        text(&o)
    );
    let o = netlab(&["firewall", &format!("{lab}.nohost")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // trace: the masquerade on h1's hop, the reply translated back by conntrack, and the probe
    // (and capture) agree.
    let o = netlab(&["trace", &c1, "internet", "--capture", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["trace"]["disposition"], "DELIVERED", "{v}");
    assert_eq!(v["trace"]["delivered_to"], out.as_str(), "{v}");
    assert_eq!(v["agree"], true, "{v}");
    assert_eq!(v["capture"]["agrees"], true, "{v}");
    let hops = v["trace"]["hops"].as_array().unwrap();
    assert!(
        hops.iter().any(|h| h["namespace"] == h1.as_str()
            && h["action"]
                .as_str()
                .unwrap()
                .contains("masquerade, source 172.18.0.2 -> 10.1.1.21")),
        "{v}"
    );
    let back = v["trace"]["reply_hops"].as_array().unwrap();
    assert!(
        back.iter().any(|h| h["namespace"] == h1.as_str()
            && h["action"]
                .as_str()
                .unwrap()
                .contains("conntrack: destination 10.1.1.21 -> 172.18.0.2")),
        "{v}"
    );

    // From the outside to web's published port: DNAT at h2, and web sees the outside's address.
    let server = Ready::spawn(&web, SERVER, "listening");
    assert_eq!(
        connect_in(&out, "10.1.1.22:8080".parse().unwrap()).expect("connect to h2:8080"),
        "10.1.1.254"
    );
    let refused = connect_in(&out, "10.1.1.21:8080".parse().unwrap());
    assert_eq!(
        refused.as_ref().map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "h1 publishes nothing: {refused:?}"
    );
    drop(server);

    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    common::assert_clean(&lab);
    assert_eq!(
        ruleset(None),
        root_before,
        "the root namespace's ruleset changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
