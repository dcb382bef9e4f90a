//! kernel::nft on a real kernel: tables written through nfnetlink in namespaces this test makes
//! (`ip netns add`, removed by a guard even on panic), read back with `nft -j list ruleset`, and
//! their effect seen on the wire with tcpdump. The root namespace's ruleset must not change.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{require_root, text, ForeignNs};
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
    let rules: Vec<Value> = objects(&got, "rule")
        .into_iter()
        .map(|r| json!([r["chain"], r["expr"]]))
        .collect();
    let eq =
        |left: Value, right: Value| json!({"match": {"op": "==", "left": left, "right": right}});
    assert_eq!(
        rules,
        [
            json!(["postrouting", [eq(json!({"meta": {"key": "oifname"}}), json!("r-s")), {"masquerade": null}]]),
            json!(["forward", [
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
                {"accept": null}
            ]]),
            json!(["forward", [
                eq(json!({"meta": {"key": "iifname"}}), json!("r-c")),
                eq(json!({"meta": {"key": "oifname"}}), json!("r-s")),
                {"accept": null}
            ]]),
            json!(["prerouting", [
                eq(json!({"payload": {"protocol": "ip", "field": "daddr"}}), json!({"prefix": {"addr": "10.2.0.0", "len": 23}})),
                eq(json!({"payload": {"protocol": "tcp", "field": "dport"}}), json!(8080)),
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

/// A tcpdump in `ns` on `dev`, started and ready: `first_echo` waits for the first ICMP echo
/// request it sees and returns its line.
/// (Its stderr stays open, so its closing summary never meets a closed pipe.)
struct Capture {
    child: std::process::Child,
    line: std::sync::mpsc::Receiver<String>,
    _stderr: BufReader<std::process::ChildStderr>,
}

impl Capture {
    fn start(ns: &str, dev: &str) -> Capture {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "tcpdump",
                "-n",
                "-l",
                "-i",
                dev,
                "-c",
                "1",
                "icmp[icmptype] == icmp-echo",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tcpdump: install tcpdump");
        // tcpdump says "listening on" once its filter is attached.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !line.contains("listening on") {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                let _ = child.kill();
                panic!("tcpdump did not start in {ns}: {line}");
            }
        }
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut l = String::new();
            let _ = BufReader::new(out).read_line(&mut l);
            let _ = tx.send(l);
        });
        Capture {
            child,
            line: rx,
            _stderr: err,
        }
    }

    fn first_echo(mut self) -> String {
        let got = self.line.recv_timeout(Duration::from_secs(5));
        let _ = self.child.kill();
        let _ = self.child.wait();
        got.expect("tcpdump saw no echo request")
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(ns: &str, dst: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-n", "-q", "-c", "2", "-W", "1", dst,
        ])
        .output()
        .unwrap()
        .status
        .success()
}

/// The source address of the echo request the server sees, and whether the ping came back.
fn seen_by_server(client: &str, server: &str) -> (String, bool) {
    let cap = Capture::start(server, "s-r");
    let answered = ping(client, "10.2.0.2");
    let line = cap.first_echo();
    // "12:00:00.000000 IP 10.2.0.1 > 10.2.0.2: ICMP echo request, ..."
    let src = line
        .split_whitespace()
        .skip_while(|w| *w != "IP")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected tcpdump line {line:?}"))
        .to_string();
    (src, answered)
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
