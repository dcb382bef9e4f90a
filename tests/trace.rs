//! Root tests of `netlab trace`: for every pair of containers of each sample lab, the predicted
//! disposition matches a real ping (iputils, independent of netlab); broken labs give the right
//! first failing hop.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// `trace --json`, whose exit status must say what the disposition says: 0 delivered, 1 not.
fn trace_json(from: &str, to: &str) -> Value {
    let o = netlab(&["trace", from, to, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("trace {from} {to}: no JSON ({e}): {}", text(&o)));
    let delivered = v["trace"]["disposition"] == "DELIVERED";
    assert_eq!(
        o.status.code(),
        Some(if delivered { 0 } else { 1 }),
        "trace {from} {to}: exit status 0 only when delivered: {}",
        text(&o)
    );
    v
}

/// 802.1Q is not on every kernel (not on the development machine's): such tests are ignored
/// there, with this reason, and the full-kernel tier (tests/vm/run) runs them with
/// --include-ignored. Run without 802.1Q anyway, they fail rather than pass having done nothing.
fn need_vlan(test: &str) {
    assert!(
        kernel_has_vlan(),
        "{test} needs 802.1Q (CONFIG_VLAN_8021Q), which this kernel lacks: tests/vm/run runs it"
    );
}

/// Every (container, address of another container) pair: prediction == reality.
fn all_pairs_agree(file: &str, prefix: &str) {
    let lab = unique(prefix);
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, file);
    let rec: Value =
        serde_json::from_slice(&std::fs::read(format!("/run/netlab/{lab}/lab.json")).unwrap())
            .unwrap();
    let containers = rec["lab"]["containers"].as_array().unwrap();
    // Destinations: every container address, and every host's underlay address.
    let mut dests: Vec<String> = containers
        .iter()
        .flat_map(|c| c["endpoints"].as_array().unwrap().iter())
        .map(|e| {
            e["address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    dests.extend(rec["lab"]["hosts"].as_array().unwrap().iter().map(|h| {
        h["address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    }));
    // Every pair, four at a time: under TCG (the VM tier) a trace process and an unanswered
    // ping's wait are seconds each, and the pairs are independent. iputils is asked after the
    // prediction, and again while it disagrees (ping_ttl_judging), so a reply lost to the
    // load is not a disagreement.
    let work: Vec<(String, String)> = containers
        .iter()
        .flat_map(|c| {
            let sname = c["name"].as_str().unwrap().to_string();
            dests.iter().map(move |a| (sname.clone(), a.clone()))
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, Option<String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((sname, addr)) = work.get(i) else {
                            return out;
                        };
                        let ns = format!("{lab}.{sname}");
                        let t = trace_json(&ns, addr);
                        let predicted = t["trace"]["disposition"] == "DELIVERED";
                        let real = ping_ttl_judging(&ns, addr, predicted).is_some();
                        out.push((
                            i,
                            (predicted != real).then(|| {
                                format!(
                                    "{sname} -> {addr}: ping says {real}, trace says {}: {}",
                                    t["trace"]["disposition"], t["trace"]["reason"]
                                )
                            }),
                        ));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let pairs = results.len();
    let mut mismatches: Vec<(usize, String)> = results
        .into_iter()
        .filter_map(|(i, m)| Some((i, m?)))
        .collect();
    mismatches.sort();
    let mismatches: Vec<String> = mismatches.into_iter().map(|(_, m)| m).collect();
    assert_eq!(pairs, containers.len() * dests.len());
    assert!(pairs >= 8, "{pairs} pairs");
    assert!(
        mismatches.is_empty(),
        "{file}: predictions that disagree with ping:\n{}",
        mismatches.join("\n")
    );
    assert!(netlab(&["down", &lab]).status.success());
}

#[test]
fn overlay_predictions_match_real_pings_for_every_pair() {
    if require_root("overlay_predictions_match_real_pings_for_every_pair") {
        all_pairs_agree("labs/overlay.toml", "ttrov");
    }
}

/// Seed 004's swarm: the tasks and each node's ingress_sbox, over ingress, uber-svc and
/// docker_gwbridge.
#[test]
fn swarm_predictions_match_real_pings_for_every_pair() {
    if require_root("swarm_predictions_match_real_pings_for_every_pair") {
        all_pairs_agree("labs/swarm.toml", "ttrsw");
    }
}

#[test]
fn macvlan_predictions_match_real_pings_for_every_pair() {
    if require_root("macvlan_predictions_match_real_pings_for_every_pair") {
        all_pairs_agree("labs/macvlan.toml", "ttrmv");
        all_pairs_agree("labs/macvlan-nodes.toml", "ttrmn");
    }
}

/// VM tier (CONFIG_IPVLAN): ipvlan L2, L3 and internal networks; the parents' hosts are among
/// the destinations, so the "never its parent's host" rule is checked both ways.
#[test]
#[ignore = "needs CONFIG_IPVLAN (the VM tier runs it)"]
fn ipvlan_lab_predictions_match_real_pings_for_every_pair() {
    if require_root("ipvlan_lab_predictions_match_real_pings_for_every_pair") {
        assert!(
            kernel_has_ipvlan(),
            "needs ipvlan (CONFIG_IPVLAN), which this kernel lacks: tests/vm/run runs it"
        );
        all_pairs_agree("labs/ipvlan.toml", "ttripv");
    }
}

/// VM tier (802.1Q): macvlan on VLAN sub-interfaces, with and without the router, and with a
/// parent per host (seed 003).
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn vlan_predictions_match_real_pings_for_every_pair() {
    if require_root("vlan_predictions_match_real_pings_for_every_pair") {
        need_vlan("vlan_predictions_match_real_pings_for_every_pair");
        all_pairs_agree("labs/macvlan-vlan.toml", "ttrvl");
        all_pairs_agree("labs/routed-gateway.toml", "ttrrg");
        all_pairs_agree("labs/macvlan-trunk.toml", "ttrmt");
    }
}

/// The path seed 000 walks by hand: bbox1's default route -> the gateway on vm-vpn's ens38.10
/// (tag 10) -> vm-vpn's route to ens38.20 (tag 20) -> nas5's ens38.20 -> bbox4's eth0, TTL 63;
/// then the router broken by turning forwarding off.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn routed_gateway_path_is_the_articles() {
    if !require_root("routed_gateway_path_is_the_articles") {
        return;
    }
    need_vlan("routed_gateway_path_is_the_articles");
    let lab = unique("ttrpath");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/routed-gateway.toml");
    let b1 = format!("{lab}.bbox1");
    let vpn = format!("{lab}.vm-vpn");
    let t = trace_json(&b1, "172.16.20.11");
    let tr = &t["trace"];
    assert_eq!(tr["disposition"], "DELIVERED", "{t}");
    assert_eq!(tr["delivered_to"], format!("{lab}.bbox4"));
    assert_eq!(tr["ttl"], 63);
    assert_eq!(
        Some(63),
        ping_ttl(&b1, "172.16.20.11")
            .map(u64::from)
            .and(tr["reply_ttl"].as_u64())
    );
    let actions: Vec<String> = tr["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["namespace"].as_str().unwrap(),
                h["action"].as_str().unwrap()
            )
        })
        .collect();
    let find = |needle: &str| {
        actions
            .iter()
            .position(|a| a.contains(needle))
            .unwrap_or_else(|| panic!("no hop with {needle:?} in:\n{}", actions.join("\n")))
    };
    let route = find(&format!("{b1} route default via 172.16.10.254 dev eth0"));
    let tag10 = find("pushes tag 10");
    let pop10 = find(&format!("{vpn} 802.1Q: tag 10 popped into ens38.10"));
    let fwd = find(&format!(
        "{vpn} route 172.16.20.0/24 dev ens38.20 (forwarded, TTL - 1)"
    ));
    // The router's masquerade rule (postrouting, oif ens38.20), predicted where it rewrites;
    // the capture below sees the same rewrite.
    assert!(
        actions[fwd].ends_with("; postrouting: masquerade, source 172.16.10.10 -> 172.16.20.254"),
        "{}",
        actions[fwd]
    );
    let tag20 = find("pushes tag 20");
    let pop20 = find(&format!("{lab}.nas5 802.1Q: tag 20 popped into ens38.20"));
    let take = find(&format!("{lab}.bbox4 macvlan eth0"));
    assert!(
        route < tag10
            && tag10 < pop10
            && pop10 < fwd
            && fwd < tag20
            && tag20 < pop20
            && pop20 < take,
        "{}",
        actions.join("\n")
    );

    // --minimal: vm-vpn twice, in on VLAN 10, then forwarding out of ens38.20 at TTL 63.
    let o = netlab(&["trace", &b1, "172.16.20.11", "--minimal"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = String::from_utf8_lossy(&o.stdout).to_string();
    let vpn_lines: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with(&format!("{vpn} ")))
        .collect();
    assert_eq!(vpn_lines.len(), 2, "{m}");
    assert!(vpn_lines[0].ends_with("ttl 64"), "{m}");
    assert_eq!(
        vpn_lines[1],
        format!("{vpn} (ens38.10 -> ens38.20) ttl 63, forwarded"),
        "{m}"
    );

    // --probe: TTL 1 expires at vm-vpn, TTL 2 reaches bbox4.
    let o = netlab(&["trace", &b1, "172.16.20.11", "--probe", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["agree"], true, "{p}");
    assert_eq!(p["probe_hops"][0]["kind"], "time-exceeded");
    assert_eq!(p["probe_hops"][0]["namespace"], vpn.as_str());
    assert_eq!(p["probe_hops"][0]["expected_from"], "172.16.10.254");
    assert_eq!(p["probe_hops"][1]["kind"], "echo-reply");
    let o = netlab(&["trace", &b1, "172.16.20.11", "--probe"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!(
            "probe ttl 1: time exceeded from 172.16.10.254 ({vpn}), predicted time exceeded from {vpn} (172.16.10.254)\n"
        )),
        "{}",
        text(&o)
    );

    // --capture: tag 10 on the wire to the router, tag 20 after it; TTL 64 into vm-vpn and
    // 63 out of it, as predicted; the router's masquerade rewrites the request's source as it
    // leaves by ens38.20, and conntrack restores the reply's destination as it leaves by
    // ens38.10 (tcpdump in bbox4 the oracle: the request comes from the router).
    let b4 = format!("{lab}.bbox4");
    let dump = Dump::start(&b4, "eth0", "icmp");
    let (code, c) = trace_capture(&b1, "172.16.20.11");
    let in_bbox4 = dump.stop();
    let id = c["capture"]["id"].as_u64().unwrap();
    assert!(
        in_bbox4.contains(&format!(
            "172.16.20.254 > 172.16.20.11: ICMP echo request, id {id},"
        )),
        "tcpdump in {b4}:\n{in_bbox4}\nnetlab: {c}"
    );
    let rewrites: Vec<String> = c["capture"]["rewrites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {} -> {}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap(),
                r["direction"].as_str().unwrap(),
                r["device"].as_str().unwrap(),
                r["field"].as_str().unwrap(),
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        rewrites,
        [
            format!("request {vpn} out ens38.20 source 172.16.10.10 -> 172.16.20.254"),
            format!("reply {vpn} out ens38.10 destination 172.16.20.254 -> 172.16.10.10"),
        ],
        "{c}"
    );
    assert_eq!(code, Some(0), "{c}");
    assert_eq!(c["capture"]["agrees"], true, "{c}");
    let hops = c["trace"]["hops"].as_array().unwrap();
    let seen = |needle: &str| {
        hops.iter()
            .find(|h| h["action"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no hop with {needle:?}: {c}"))["seen"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(seen("pushes tag 10")[0]["packet"]["vlan"], 10, "{c}");
    assert_eq!(seen("pushes tag 20")[0]["packet"]["vlan"], 20, "{c}");
    let fwd = seen("(forwarded, TTL - 1)");
    assert_eq!(
        (&fwd[0]["direction"], &fwd[0]["packet"]["ttl"]),
        (&Value::from("in"), &Value::from(64)),
        "{c}"
    );
    assert_eq!(
        (&fwd[1]["direction"], &fwd[1]["packet"]["ttl"]),
        (&Value::from("out"), &Value::from(63)),
        "{c}"
    );

    let o = netlab(&["trace", &b1, "172.16.20.11", "--capture"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("NAT: source 172.16.10.10 -> 172.16.20.254)")
            && out.contains("the request's source rewritten 172.16.10.10 -> 172.16.20.254 at hop"),
        "{out}"
    );

    // Forwarding off on the router: the first failing hop is vm-vpn.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &vpn,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = trace_json(&b1, "172.16.20.11");
    assert_eq!(t["trace"]["disposition"], "FORWARDING_DISABLED", "{t}");
    assert!(
        t["trace"]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{vpn} received the packet on ens38.10")),
        "{t}"
    );
    assert!(!ping(&b1, "172.16.20.11"));
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

#[test]
fn bridge_predictions_match_real_pings_for_every_pair() {
    if require_root("bridge_predictions_match_real_pings_for_every_pair") {
        all_pairs_agree("labs/bridge.toml", "ttrbr");
    }
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(o.status.success(), "ip {args:?}: {}", text(&o));
}

/// Break a running lab in several ways; each time the trace names the first failing hop, and a
/// real ping agrees that the path is broken.
#[test]
fn broken_overlay_lab_gives_the_first_failing_hop() {
    if !require_root("broken_overlay_lab_gives_the_first_failing_hop") {
        return;
    }
    let lab = unique("ttrbrk");
    let _guard = LabGuard(lab.clone());
    let o = netlab(&["up", "-q", "--name", &lab, "labs/overlay.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let id = &net_id(&lab, "ov_net1")[..10];
    let (ov4, ov5) = (format!("{lab}.nas4.1-{id}"), format!("{lab}.nas5.1-{id}"));
    let b2 = format!("{lab}.bbox2");
    let path = trace_json(&b2, "10.0.0.2");
    assert_eq!(path["trace"]["disposition"], "DELIVERED");
    let hops = path["trace"]["hops"].as_array().unwrap();
    let encap = hops
        .iter()
        .find(|h| h["action"].as_str().unwrap().contains("encap"))
        .unwrap();
    assert_eq!(encap["namespace"], ov5.as_str());
    assert!(
        encap["action"].as_str().unwrap().contains("VNI 256"),
        "{encap}"
    );

    // Text mode exits 1 too when the packet is not delivered; a probe that gets nothing back
    // says so (and agrees: nas5 forwards it to the outside, which does not forward, and
    // sends nothing).
    let b3 = format!("{lab}.bbox3");
    let o = netlab(&["trace", &b3, "10.0.0.2", "--probe"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("probe ttl 2: no reply, predicted no reply\n")
            && out.contains("agrees with the prediction")
            && !out.contains("nobody"),
        "{}",
        text(&o)
    );

    // Destinations by name: LAB.NODE, and a bare name from the source's own lab.
    for to in [format!("{lab}.bbox1"), "bbox1".to_string()] {
        let t = trace_json(&b2, &to);
        assert_eq!(
            t["trace"]["delivered_to"],
            format!("{lab}.bbox1"),
            "{to}: {t}"
        );
        assert_eq!(t["trace"]["to"], "10.0.0.2", "{to}: {t}");
    }
    let t = trace_json(&format!("{lab}.bbox1"), &format!("{lab}.nas5"));
    assert_eq!(t["trace"]["to"], "10.1.1.15", "{t}");
    let o = netlab(&["trace", &b2, &format!("{lab}/bbox1")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("did you mean \"{lab}.bbox1\"?")),
        "{}",
        text(&o)
    );

    // 1. A link set down: bbox1's port on br0 in nas4's overlay namespace.
    ip(&["-n", &ov4, "link", "set", "veth0", "down"]);
    let t = trace_json(&b2, "10.0.0.2");
    assert_eq!(t["trace"]["disposition"], "LINK_DOWN", "{t}");
    assert!(
        t["trace"]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{ov4}: veth0 is down")),
        "{t}"
    );
    assert!(!ping(&b2, "10.0.0.2"));
    ip(&["-n", &ov4, "link", "set", "veth0", "up"]);
    assert_eq!(
        trace_json(&b2, "10.0.0.2")["trace"]["disposition"],
        "DELIVERED"
    );

    // 2. A removed FDB entry: nas5's VTEP no longer knows where bbox1 is.
    ip(&["-n", &ov5, "neigh", "flush", "dev", "vxlan0"]);
    let o = Command::new("bridge")
        .args([
            "-n",
            &ov5,
            "fdb",
            "del",
            "02:42:0a:00:00:02",
            "dev",
            "vxlan0",
            "self",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The container may still have bbox1's MAC in its neighbour cache; the VTEP cannot send either way.
    let t = trace_json(&b2, "10.0.0.2");
    let d = t["trace"]["disposition"].as_str().unwrap().to_string();
    assert!(d == "ISOLATED" || d == "NEIGHBOR_UNREACHABLE", "{t}");
    assert!(
        t["trace"]["reason"].as_str().unwrap().contains("vxlan0"),
        "{t}"
    );
    assert!(!ping(&b2, "10.0.0.2"));

    // 3. A removed route: bbox3 loses its default route.
    ip(&["-n", &b3, "route", "del", "default"]);
    let t = trace_json(&b3, "10.0.0.2");
    assert_eq!(t["trace"]["disposition"], "NO_ROUTE", "{t}");
    assert!(
        t["trace"]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{b3} has no route to 10.0.0.2")),
        "{t}"
    );

    // 4. A container on another network: isolated through docker_gwbridge.
    let t = trace_json(&b3, "172.18.0.2");
    assert_eq!(t["trace"]["disposition"], "ISOLATED", "{t}");

    // --probe reports agreement, and --minimal is one line per namespace.
    let o = netlab(&[
        "trace",
        &format!("{lab}.bbox1"),
        "172.18.0.1",
        "--probe",
        "--minimal",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("DELIVERED") && out.contains("agrees with the prediction"),
        "{out}"
    );
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// A destination resolves in the source's lab first: with two copies of the overlay lab up,
/// `trace B.bbox2 bbox1` is B's bbox1, delivered along B's own namespaces (it was resolved in
/// the other lab and reported NEIGHBOR_UNREACHABLE); the other lab's bbox1 is still reachable
/// by its qualified name and, being another lab, is not delivered.
#[test]
fn destination_resolves_in_the_source_lab_first() {
    if !require_root("destination_resolves_in_the_source_lab_first") {
        return;
    }
    let (a, b) = (unique("trsa"), unique("trsb"));
    let (_ga, _gb) = (LabGuard(a.clone()), LabGuard(b.clone()));
    for l in [&a, &b] {
        up_ok(l, "labs/overlay.toml");
    }
    for (src, other) in [(&b, &a), (&a, &b)] {
        let v = trace_json(&format!("{src}.bbox2"), "bbox1");
        assert_eq!(v["trace"]["disposition"], "DELIVERED", "{v}");
        let prefix = format!("{src}.");
        for hop in v["trace"]["hops"].as_array().unwrap() {
            let ns = hop["namespace"].as_str().unwrap();
            assert!(ns.starts_with(&prefix), "hop in {ns}, outside {src}: {v}");
        }
        // The same address, checked with iputils from the source: it is the source lab's.
        assert!(ping(&format!("{src}.bbox2"), "10.0.0.2"));
        // The other lab's bbox1 has the same address on another network: the packet to that
        // address lands in the source's own lab, so the named node is not reached (exit 1).
        let o = netlab(&[
            "trace",
            &format!("{src}.bbox2"),
            &format!("{other}.bbox1"),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["reached_target"], false, "{v}");
        assert_eq!(v["target"], format!("{other}.bbox1"), "{v}");
        assert_eq!(v["trace"]["delivered_to"], format!("{src}.bbox1"), "{v}");
    }
}

/// iputils `ping -M do -s N -c 1` from `ns`: its output, the oracle for what a DF packet of N
/// bytes of payload meets.
fn ping_df(ns: &str, dst: &str, size: u32) -> String {
    let o = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-n", "-M", "do", "-c", "1", "-W", "2",
        ])
        .args(["-s", &size.to_string(), dst])
        .output()
        .unwrap();
    text(&o)
}

/// `trace --size N --json --probe`: the disposition and MTU it predicts, and whether the real
/// probe (DF set, N bytes) agreed.
fn trace_sized(from: &str, to: &str, size: u32) -> (String, Option<u64>, Value) {
    let o = netlab(&[
        "trace",
        from,
        to,
        "--size",
        &size.to_string(),
        "--json",
        "--probe",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("trace --size {size}: no JSON ({e}): {}", text(&o)));
    let d = v["trace"]["disposition"].as_str().unwrap().to_string();
    assert_eq!(
        o.status.code(),
        Some(if d == "DELIVERED" { 0 } else { 1 }),
        "{}",
        text(&o)
    );
    assert_eq!(v["trace"]["size"], size + 28, "{v}");
    assert_eq!(v["agree"], true, "the probe disagrees: {v}");
    (d, v["trace"]["mtu"].as_u64(), v)
}

/// `trace --size`: the overlay's MTU (1450, the underlay's 1500 less VXLAN's 50) stops a DF
/// packet one byte larger at the source, as iputils says; an underlay NIC lowered to 1400
/// makes the VXLAN port answer "fragmentation needed" (mtu 1350) from the destination, after
/// which the source knows that path MTU, and trace says so.
#[test]
fn sized_traces_meet_the_mtus_iputils_meets() {
    if !require_root("sized_traces_meet_the_mtus_iputils_meets") {
        return;
    }
    let lab = unique("trmtu");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let (src, dst) = (format!("{lab}.bbox2"), format!("{lab}.bbox1"));
    // 1422 + 28 = 1450: fits.
    let (d, mtu, _) = trace_sized(&src, &dst, 1422);
    assert_eq!((d.as_str(), mtu), ("DELIVERED", None));
    let p = ping_df(&src, "10.0.0.2", 1422);
    assert!(p.contains("1430 bytes from 10.0.0.2"), "{p}");
    // One byte more: the source refuses it.
    let (d, mtu, v) = trace_sized(&src, &dst, 1423);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1450)), "{v}");
    assert_eq!(v["trace"]["mtu_answer"], "local-error", "{v}");
    assert_eq!(v["trace"]["hops"][0]["namespace"], src.as_str());
    let p = ping_df(&src, "10.0.0.2", 1423);
    assert!(p.contains("message too long, mtu=1450"), "{p}");

    // The container's peer in the sandbox at 1400: it passes 1404 bytes, drops more unseen;
    // the probe, like iputils, hears nothing.
    let sandbox = format!("{lab}.nas5.1-{}", &net_id(&lab, "ov_net1")[..10]);
    ip(&["-n", &sandbox, "link", "set", "veth0", "mtu", "1400"]);
    let (d, mtu, v) = trace_sized(&src, &dst, 1376);
    assert_eq!((d.as_str(), mtu), ("DELIVERED", None), "{v}");
    let (d, mtu, v) = trace_sized(&src, &dst, 1377);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1400)), "{v}");
    assert_eq!(v["trace"]["mtu_answer"], "silent", "{v}");
    assert!(
        v["trace"]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{sandbox}:veth0 (mtu 1400)")),
        "{v}"
    );
    let p = ping_df(&src, "10.0.0.2", 1377);
    assert!(
        p.contains("1 packets transmitted, 0 received") && !p.contains("mtu"),
        "{p}"
    );
    ip(&["-n", &sandbox, "link", "set", "veth0", "mtu", "1450"]);

    // The underlay NIC of bbox2's host at 1400: the inner packet may be 1350 bytes.
    ip(&[
        "-n",
        &format!("{lab}.nas5"),
        "link",
        "set",
        "ens33",
        "mtu",
        "1400",
    ]);
    let (d, mtu, v) = trace_sized(&src, &dst, 1322);
    assert_eq!((d.as_str(), mtu), ("DELIVERED", None), "{v}");
    let (d, mtu, v) = trace_sized(&src, &dst, 1323);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1350)), "{v}");
    assert_eq!(v["trace"]["mtu_answer"], "frag-needed", "{v}");
    let why = v["trace"]["reason"].as_str().unwrap();
    assert!(
        why.contains("vxlan0") && why.contains("(mtu = 1350) from 10.0.0.2"),
        "{why}"
    );
    assert!(
        v["probe"]["error"]
            .as_str()
            .unwrap()
            .contains("fragmentation needed (mtu = 1350) (ICMP from 10.0.0.2)"),
        "{v}"
    );
    // The probe taught the source the path MTU: now the send itself fails, for trace as for
    // iputils (whose own first try had taught it nothing new).
    let (d, mtu, v) = trace_sized(&src, &dst, 1323);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1350)), "{v}");
    assert!(
        v["trace"]["reason"]
            .as_str()
            .unwrap()
            .contains("path MTU 1350"),
        "{v}"
    );
    let p = ping_df(&src, "10.0.0.2", 1323);
    assert!(p.contains("message too long, mtu=1350"), "{p}");
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// Docker's jumbo-overlay trap, from a lab file: `mtu = 9000` on an overlay
/// (com.docker.network.driver.mtu) gives its devices 8950 over an underlay of 1500. A
/// 1500-byte DF packet leaves the container and is refused at the VXLAN port with
/// "fragmentation needed" (mtu 1450) from the destination, as iputils sees; then the source
/// knows that path MTU.
#[test]
fn jumbo_overlay_on_a_1500_underlay_needs_fragmentation_at_the_vxlan_port() {
    if !require_root("jumbo_overlay_on_a_1500_underlay_needs_fragmentation_at_the_vxlan_port") {
        return;
    }
    let lab = unique("trjmb");
    let _guard = LabGuard(lab.clone());
    let file = std::env::temp_dir().join(format!("{lab}.toml"));
    let lab_file = std::fs::read_to_string("labs/overlay.toml")
        .unwrap()
        .replace("[networks.ov_net1]\n", "[networks.ov_net1]\nmtu = 9000\n");
    std::fs::write(&file, lab_file).unwrap();
    let o = netlab(&["up", "-q", "--name", &lab, file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert!(o.status.success(), "{}", text(&o));
    let (b1, b2) = (format!("{lab}.bbox1"), format!("{lab}.bbox2"));
    assert_eq!(link(&b2, "eth0")["mtu"], 8950);
    let sandbox = format!("{lab}.nas5.1-{}", &net_id(&lab, "ov_net1")[..10]);
    assert_eq!(link(&sandbox, "vxlan0")["mtu"], 8950);
    let o = netlab(&["inspect", &format!("{lab}/ov_net1")]);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(
        v[0]["Options"]["com.docker.network.driver.mtu"], "9000",
        "{v}"
    );
    // iputils first, on a path the source knows nothing of yet.
    let p = ping_df(&b2, "10.0.0.2", 1472);
    assert!(
        p.contains("From 10.0.0.2") && p.contains("Frag needed and DF set (mtu = 1450)"),
        "{p}"
    );
    let (d, mtu, v) = trace_sized(&b2, &b1, 1472);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1450)), "{v}");
    assert_eq!(v["trace"]["mtu_answer"], "local-error", "{v}");
    // The other way, fresh: trace predicts the VXLAN port's answer and its probe meets it.
    let (d, mtu, v) = trace_sized(&b1, &b2, 1472);
    assert_eq!((d.as_str(), mtu), ("MTU_EXCEEDED", Some(1450)), "{v}");
    assert_eq!(v["trace"]["mtu_answer"], "frag-needed", "{v}");
    // What fits the underlay is delivered.
    let (d, _, v) = trace_sized(&b1, &b2, 1422);
    assert_eq!(d, "DELIVERED", "{v}");
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// `trace --capture --json` (exit status as for any trace: 0 delivered, 1 not).
/// The kernel's list of loaded BPF programs, as bpftool shows it (JSON).
/// The running kernel's version (uname -r), major and minor.
fn kernel_release() -> (u32, u32) {
    let o = Command::new("uname").arg("-r").output().unwrap();
    let r = String::from_utf8_lossy(&o.stdout);
    let mut n = r
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

fn bpf_programs() -> String {
    let o = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("this test needs bpftool (apt install bpftool)");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `trace FROM TO --capture --json`; whatever it found, its BPF program (named for its
/// process) is gone once it has ended.
fn trace_capture(from: &str, to: &str) -> (Option<i32>, Value) {
    trace_capture_with(from, to, &[])
}

/// `trace_capture` with more options (`--size N`).
fn trace_capture_with(from: &str, to: &str, more: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["trace", from, to, "--capture", "--detailed", "--json"];
    args.extend(more);
    let child = spawn_netlab(&args, &[]);
    let program = format!("\"nldrops_{}\"", child.id());
    let o = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("trace {from} {to} --capture: no JSON ({e}): {}", text(&o)));
    assert_unloaded(&program, &format!("trace {from} {to} --capture"));
    (o.status.code(), v)
}

/// The BPF program named `program` ("\"nldrops_PID\"") is not loaded, once the kernel has had
/// a moment to free it: a program whose last descriptor closed goes after an RCU grace
/// period, on a loaded machine a little after its process has been reaped.
fn assert_unloaded(program: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while bpf_programs().contains(program) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let left = bpf_programs();
    assert!(
        !left.contains(program),
        "{what} left its BPF program loaded: {left}"
    );
}

/// A tcpdump in `ns` on `dev` with `filter`, printing everything it decodes (-v: VXLAN and
/// the frame inside), until it is stopped.
struct Dump {
    child: std::process::Child,
}

impl Dump {
    fn start(ns: &str, dev: &str, filter: &str) -> Dump {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-nn", "-l", "-i", dev, filter,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running tcpdump: install tcpdump");
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("tcpdump did not start in {ns}");
            }
        }
        // Keep reading stderr so tcpdump never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Dump { child }
    }

    /// What it printed (after a moment for the last packets).
    fn stop(mut self) -> String {
        use std::io::Read;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut out = String::new();
        let _ = self.child.stdout.take().unwrap().read_to_string(&mut out);
        let _ = self.child.wait();
        out
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The packet sockets open in namespace `ns` (/proc/net/packet, which is per namespace).
fn packet_sockets(ns: &str) -> usize {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/packet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).lines().count() - 1
}

fn all_observed(hops: &Value) -> bool {
    hops.as_array()
        .unwrap()
        .iter()
        .all(|h| h["observed"] == true)
}

/// `--capture` on the overlay: every predicted device sees the probe, in order, with the TTL
/// predicted; the underlay devices see it inside VXLAN with the network's VNI (iproute2's) and
/// the hosts' underlay addresses (iproute2's), as tcpdump also sees it there.
#[test]
fn capture_sees_the_overlay_probe_on_every_predicted_device() {
    if !require_root("capture_sees_the_overlay_probe_on_every_predicted_device") {
        return;
    }
    let lab = unique("trcap");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let (b1, underlay) = (format!("{lab}.bbox1"), format!("{lab}.underlay"));
    let sandbox = format!("{lab}.nas4.1-{}", &net_id(&lab, "ov_net1")[..10]);
    let vni = ip_json(&sandbox, &["-d", "link", "show", "vxlan0"])[0]["linkinfo"]["info_data"]
        ["id"]
        .as_u64()
        .unwrap();
    let underlay_ip = |host: &str| {
        addrs(&format!("{lab}.{host}"), "ens33")[0]
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let (vtep4, vtep5) = (underlay_ip("nas4"), underlay_ip("nas5"));
    let dump = Dump::start(&underlay, "nas5", "udp port 4789");
    let (code, v) = trace_capture(&b1, "bbox2");
    let seen_by_tcpdump = dump.stop();
    assert_eq!(code, Some(0), "{v}");
    let t = &v["trace"];
    let c = &v["capture"];
    assert_eq!(t["disposition"], "DELIVERED", "{v}");
    assert_eq!(c["agrees"], true, "{v}");
    assert_eq!(c["in_order"], true, "{v}");
    assert_eq!(c["lost_at"], Value::Null, "{v}");
    assert_eq!(v["agree"], true, "{v}");
    assert!(c["devices"].as_u64().unwrap() >= 10, "{v}");
    assert!(
        all_observed(&t["hops"]) && all_observed(&t["reply_hops"]),
        "{v}"
    );
    let mut underlay_seen = 0;
    for (leg, (src, dst)) in [("hops", (&vtep4, &vtep5)), ("reply_hops", (&vtep5, &vtep4))] {
        for h in t[leg].as_array().unwrap() {
            for s in h["seen"].as_array().unwrap() {
                let p = &s["packet"];
                assert_eq!(p["ttl"], s["expected_ttl"], "{h}");
                assert_eq!(p["ttl"], 64, "{h}");
                if h["layer"] == "underlay" {
                    underlay_seen += 1;
                    assert_eq!(p["vxlan"]["vni"], vni, "{h}");
                    assert_eq!(p["vxlan"]["port"], 4789, "{h}");
                    assert_eq!(p["vxlan"]["src"].as_str(), Some(src.as_str()), "{h}");
                    assert_eq!(p["vxlan"]["dst"].as_str(), Some(dst.as_str()), "{h}");
                } else {
                    assert_eq!(p["vxlan"], Value::Null, "{h}");
                }
            }
        }
    }
    assert!(underlay_seen >= 8, "{v}");
    // tcpdump on the underlay saw that very probe (its echo id) in VXLAN with that VNI.
    let id = c["id"].as_u64().unwrap();
    assert!(
        seen_by_tcpdump.contains(&format!("vni {vni}"))
            && seen_by_tcpdump.contains(&format!("ICMP echo request, id {id},")),
        "tcpdump on {underlay}:nas5 saw:\n{seen_by_tcpdump}\nnetlab: {v}"
    );
    // The text: each hop marked, and the verdict.
    let o = netlab(&["trace", &b1, "bbox2", "--capture"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "-- seen out ens33 (ttl 64, VXLAN VNI {vni} {vtep4} -> {vtep5}:4789)"
        )) && out.contains("seen on every device predicted, in order, with the TTL predicted"),
        "{out}"
    );
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// What the prediction cannot know (a drop rule on the underlay switch): the capture names
/// the first device that did not see the packet. What it does know (an FDB entry removed):
/// the capture sees the packet up to the hop where the prediction stops it. No packet socket
/// outlives a capture, even one interrupted by Ctrl-C.
#[test]
fn capture_names_the_first_device_that_did_not_see_the_packet() {
    if !require_root("capture_names_the_first_device_that_did_not_see_the_packet") {
        return;
    }
    assert!(have_nft(), "this test needs nft (apt install nftables)");
    let lab = unique("trcapx");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let (b1, underlay) = (format!("{lab}.bbox1"), format!("{lab}.underlay"));
    let nft = |rule: &str| {
        let o = Command::new("ip")
            .args(["netns", "exec", &underlay, "nft", rule])
            .output()
            .unwrap();
        assert!(o.status.success(), "nft {rule}: {}", text(&o));
    };
    nft("add table bridge drop_vxlan");
    nft("add chain bridge drop_vxlan fw { type filter hook forward priority 0; }");
    nft("add rule bridge drop_vxlan fw oifname nas5 udp dport 4789 drop");
    let (code, v) = trace_capture(&b1, "bbox2");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "DELIVERED", "{v}");
    assert_eq!(v["agree"], false, "{v}");
    let lost = &v["capture"]["lost_at"];
    assert_eq!(lost["kind"], "request", "{v}");
    assert_eq!(lost["namespace"], underlay.as_str(), "{v}");
    assert_eq!(
        (lost["device"].as_str(), lost["direction"].as_str()),
        (Some("nas5"), Some("out")),
        "{v}"
    );
    // Every hop before it saw the packet.
    let hops = v["trace"]["hops"].as_array().unwrap();
    let at = lost["hop"].as_u64().unwrap() as usize;
    assert!(hops[..at - 1].iter().all(|h| h["observed"] == true), "{v}");
    assert_eq!(hops[at - 1]["observed"], false, "{v}");
    // The kernel says where and why: nftables dropped it on the underlay switch's nas5.
    let drop = &v["drop"];
    assert_eq!(drop["kind"], "request", "{v}");
    assert_eq!(drop["namespace"], underlay.as_str(), "{v}");
    assert_eq!(drop["device"], "nas5", "{v}");
    assert_eq!(drop["reason"], "NETFILTER_DROP", "{v}");
    // Where: nftables' own chain walk since 6.4 (nft_do_chain, which names the reason),
    // netfilter's hook before (nf_hook_slow).
    let at = drop["location"].as_str().unwrap();
    assert!(
        at.starts_with("nft_") || at.starts_with("nf_hook_slow"),
        "{v}"
    );
    assert!(!ping(&b1, "10.0.0.3"));
    nft("delete table bridge drop_vxlan");
    assert!(ping_eventually(&b1, "10.0.0.3"));

    // The FDB entry for bbox2 removed on bbox1's VTEP: the prediction stops at br0's port
    // vxlan0, and the capture saw the packet on every device before.
    let sandbox = format!("{lab}.nas4.1-{}", &net_id(&lab, "ov_net1")[..10]);
    ip(&["-n", &sandbox, "neigh", "flush", "dev", "vxlan0"]);
    let o = Command::new("bridge")
        .args([
            "-n",
            &sandbox,
            "fdb",
            "del",
            "02:42:0a:00:00:03",
            "dev",
            "vxlan0",
            "self",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (code, v) = trace_capture(&b1, "bbox2");
    assert_eq!(code, Some(1), "{v}");
    let hops = v["trace"]["hops"].as_array().unwrap();
    assert!(
        hops.len() >= 3,
        "the trace shows the way to where it stops: {v}"
    );
    let last = hops.last().unwrap();
    assert_eq!(last["namespace"], sandbox.as_str(), "{v}");
    assert_eq!(last["out_dev"], "vxlan0", "{v}");
    assert_eq!(v["capture"]["stops_at"], hops.len(), "{v}");
    assert_eq!(v["capture"]["agrees"], true, "{v}");
    assert!(
        hops[..hops.len() - 1].iter().all(|h| h["observed"] == true),
        "{v}"
    );
    // The VXLAN device has nowhere to send it: the kernel's reason (6.12 and later; older
    // kernels free it without one).
    let drop = &v["drop"];
    assert_eq!(drop["namespace"], sandbox.as_str(), "{v}");
    assert_eq!(drop["device"], "vxlan0", "{v}");
    // Linux 6.12 gave vxlan_xmit its reasons; before, it freed the packet with none.
    let reason = if kernel_release() >= (6, 12) {
        "NO_TX_TARGET"
    } else {
        "NOT_SPECIFIED"
    };
    assert_eq!(drop["reason"], reason, "{v}");
    assert!(
        drop["location"].as_str().unwrap().starts_with("vxlan_xmit"),
        "{v}"
    );

    // An address nobody answers ARP for: the request waits in the neighbour's queue until
    // the neighbour fails, and the kernel says so.
    let (code, v) = trace_capture(&b1, "10.0.0.77");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "NEIGHBOR_UNREACHABLE", "{v}");
    let drop = &v["drop"];
    assert_eq!(drop["namespace"], b1.as_str(), "{v}");
    assert_eq!(drop["device"], "eth0", "{v}");
    assert_eq!(drop["reason"], "NEIGH_FAILED", "{v}");
    // The request itself never left bbox1 (it waited for ARP), as predicted.
    assert_eq!(v["capture"]["stops_at"], 0, "{v}");
    assert_eq!(v["agree"], true, "{v}");

    // Ctrl-C in the middle of a capture (it waits a second for a reply that never comes):
    // no packet socket is left in any namespace of the lab.
    let mut child = spawn_netlab(&["trace", &b1, "bbox2", "--capture"], &[]);
    // Its BPF program is named for its process; it is loaded before the taps open and the
    // probe is sent, so the capture is under way once it shows (a loaded machine may take
    // a while to get there).
    let program = format!("\"nldrops_{}\"", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let programs = bpf_programs();
        if programs.contains(&program) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            panic!(
                "the trace ended ({status}) before its BPF program was seen: {}\n{programs}",
                text(&o)
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the capture watches for drops while it runs: {programs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    for ns in lab_namespaces(&lab) {
        assert_eq!(packet_sockets(&ns), 0, "{ns} still has a packet socket");
    }
    // Nor the BPF program that watched for drops.
    assert_unloaded(&program, "a capture interrupted by SIGINT");
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// The seeds' overlay broken in the other ways a user meets: each time the prediction names
/// the failure, the capture sees the packet up to it, and the kernel's drop reason is where
/// the prediction stops it.
#[test]
fn capture_and_the_kernel_agree_where_a_broken_overlay_stops_the_packet() {
    if !require_root("capture_and_the_kernel_agree_where_a_broken_overlay_stops_the_packet") {
        return;
    }
    let lab = unique("trcapb");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let b1 = format!("{lab}.bbox1");
    let id = net_id(&lab, "ov_net1");
    let (here, there) = (
        format!("{lab}.nas4.1-{}", &id[..10]),
        format!("{lab}.nas5.1-{}", &id[..10]),
    );
    let new = kernel_release() >= (6, 12);
    let forget_bbox2 = || ip(&["-n", &b1, "neigh", "flush", "dev", "eth0"]);

    // bbox2's neighbour entry removed from bbox1's VTEP (Docker writes one per remote
    // container; vxlan0 answers ARP from them, proxy l3miss): nobody answers bbox1's ARP.
    ip(&["-n", &here, "neigh", "del", "10.0.0.3", "dev", "vxlan0"]);
    forget_bbox2();
    let (code, v) = trace_capture(&b1, "bbox2");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "NEIGHBOR_UNREACHABLE", "{v}");
    assert!(
        v["trace"]["reason"]
            .as_str()
            .unwrap()
            .contains("vxlan0 has no neighbour entry for 10.0.0.3"),
        "{v}"
    );
    assert_eq!(v["capture"]["stops_at"], 0, "{v}");
    assert_eq!(v["agree"], true, "{v}");
    let drop = &v["drop"];
    assert_eq!(drop["namespace"], b1.as_str(), "{v}");
    assert_eq!(drop["device"], "eth0", "{v}");
    assert_eq!(drop["reason"], "NEIGH_FAILED", "{v}");
    assert!(!ping(&b1, "10.0.0.3"));
    ip(&[
        "-n",
        &here,
        "neigh",
        "replace",
        "10.0.0.3",
        "lladdr",
        "02:42:0a:00:00:03",
        "dev",
        "vxlan0",
        "nud",
        "permanent",
    ]);
    assert!(ping_eventually(&b1, "10.0.0.3"));

    // bbox2's bridge port on nas5 taken down: the frame crosses the underlay and nas5's
    // br0 has nowhere to send it (a reason since 6.12; before, none).
    ip(&["-n", &there, "link", "set", "veth0", "down"]);
    let (code, v) = trace_capture(&b1, "bbox2");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "LINK_DOWN", "{v}");
    let hops = v["trace"]["hops"].as_array().unwrap();
    let last = hops.last().unwrap();
    assert_eq!(
        (last["namespace"].as_str(), last["out_dev"].as_str()),
        (Some(there.as_str()), Some("veth0")),
        "{v}"
    );
    assert_eq!(v["capture"]["stops_at"], hops.len(), "{v}");
    assert_eq!(v["capture"]["agrees"], true, "{v}");
    assert_eq!(v["agree"], true, "{v}");
    let drop = &v["drop"];
    assert_eq!(drop["namespace"], there.as_str(), "{v}");
    assert_eq!(drop["device"], "vxlan0", "{v}");
    assert_eq!(
        drop["reason"],
        if new { "NO_TX_TARGET" } else { "NOT_SPECIFIED" },
        "{v}"
    );
    assert!(drop["location"].as_str().unwrap().starts_with("br_"), "{v}");
    ip(&["-n", &there, "link", "set", "veth0", "up"]);
    assert!(ping_eventually(&b1, "10.0.0.3"));

    // bbox1's route to ov_net1 removed: the default route takes the packet to nas4 over
    // docker_gwbridge; nas4 forwards it (Docker's, for docker_gwbridge) by its own default
    // route, masqueraded, to the outside, which does not forward.
    ip(&["-n", &b1, "route", "del", "10.0.0.0/24"]);
    let (code, v) = trace_capture(&b1, "bbox2");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "FORWARDING_DISABLED", "{v}");
    assert_eq!(v["capture"]["agrees"], true, "{v}");
    assert_eq!(v["agree"], true, "{v}");
    let drop = &v["drop"];
    assert_eq!(drop["namespace"], format!("{lab}.outside").as_str(), "{v}");
    assert_eq!(drop["device"], "eth0", "{v}");
    assert_eq!(drop["reason"], "IP_INADDRERRORS", "{v}");
    assert!(
        drop["location"].as_str().unwrap().starts_with("ip_error"),
        "{v}"
    );
    ip(&[
        "-n",
        &b1,
        "route",
        "add",
        "10.0.0.0/24",
        "dev",
        "eth0",
        "proto",
        "kernel",
        "scope",
        "link",
        "src",
        "10.0.0.2",
    ]);
    assert!(ping_eventually(&b1, "10.0.0.3"));

    // MTU too small: bbox2's bridge port in nas5's sandbox at 1400. nas5's br0 cannot send a
    // DF packet over its limit out of veth0: MTU_EXCEEDED there, silently (a bridge sends no
    // ICMP), seen up to nas5's vxlan0, and the kernel drops it in the bridge. The limit is 1404
    // bytes (is_skb_forwardable leaves room for a VLAN tag), or 1400 where br_netfilter hands
    // bridged IPv4 to netfilter (the namespace's bridge-nf-call-iptables, as Docker sets it, or
    // the bridge's own nf_call_iptables): br_nf_dev_queue_xmit refragments it to the port's
    // MTU, and DF forbids that.
    ip(&["-n", &there, "link", "set", "veth0", "mtu", "1400"]);
    let edge = |limit: u64, location: &str, reasons: &[&str]| {
        let (code, v) = trace_capture_with(&b1, "bbox2", &["--size", &(limit - 28).to_string()]);
        assert_eq!(code, Some(0), "{limit} bytes: {v}");
        assert_eq!(v["capture"]["agrees"], true, "{v}");
        assert_eq!(v["drop"], Value::Null, "{v}");
        let (code, v) = trace_capture_with(&b1, "bbox2", &["--size", &(limit - 27).to_string()]);
        assert_eq!(code, Some(1), "{} bytes: {v}", limit + 1);
        assert_eq!(v["trace"]["disposition"], "MTU_EXCEEDED", "{v}");
        assert_eq!(v["trace"]["mtu_answer"], "silent", "{v}");
        let hops = v["trace"]["hops"].as_array().unwrap();
        assert_eq!(v["capture"]["stops_at"], hops.len(), "{v}");
        assert_eq!(v["capture"]["agrees"], true, "{v}");
        assert_eq!(v["capture"]["errors"], serde_json::json!([]), "{v}");
        assert_eq!(v["agree"], true, "{v}");
        let drop = &v["drop"];
        assert_eq!(
            (&drop["kind"], &drop["namespace"], &drop["device"]),
            (
                &Value::from("request"),
                &Value::from(there.as_str()),
                &Value::from("veth0")
            ),
            "{v}"
        );
        assert!(
            reasons.contains(&drop["reason"].as_str().unwrap()),
            "{reasons:?}: {v}"
        );
        assert!(
            drop["location"].as_str().unwrap().starts_with(location),
            "{location}: {v}"
        );
    };
    let sysctl = |value: Option<&str>| {
        let mut args = vec!["netns", "exec", &there, "sysctl", "-n"];
        let set;
        if let Some(v) = value {
            set = format!("net.bridge.bridge-nf-call-iptables={v}");
            args.extend(["-w", set.as_str()]);
        } else {
            args.push("net.bridge.bridge-nf-call-iptables");
        }
        let o = Command::new("ip").args(&args).output().unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // Without netfilter, the bridge's own drop (is_skb_forwardable): no reason on 6.1 or 6.18.
    let plain = ["NOT_SPECIFIED"];
    match sysctl(None) {
        Some(was) => {
            sysctl(Some("1")).unwrap();
            edge(1400, "br_nf_dev_queue_xmit", &["NOT_SPECIFIED"]);
            sysctl(Some("0")).unwrap();
            edge(1404, "br_dev_queue_push_xmit", &plain);
            ip(&[
                "-n",
                &there,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "nf_call_iptables",
                "1",
            ]);
            edge(1400, "br_nf_dev_queue_xmit", &["NOT_SPECIFIED"]);
            ip(&[
                "-n",
                &there,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "nf_call_iptables",
                "0",
            ]);
            sysctl(Some(&was)).unwrap();
        }
        // br_netfilter not loaded (the VM's kernel has it as a module nobody loaded).
        None => edge(1404, "br_dev_queue_push_xmit", &plain),
    }
    ip(&["-n", &there, "link", "set", "veth0", "mtu", "1450"]);

    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// `trace FROM TO --capture` in lab `file` (up as a lab of its own): delivered, and every
/// device of the path saw the probe, in order, each with the TTL predicted there; no VXLAN
/// off the underlay, no tag but on the devices the prediction tags. What the capture said.
fn capture_delivers(file: &str, prefix: &str, from: &str, to: &str) -> Value {
    let lab = unique(prefix);
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, file);
    let (code, v) = trace_capture(&format!("{lab}.{from}"), to);
    assert_eq!(code, Some(0), "{file}: {from} -> {to}: {v}");
    let (t, c) = (&v["trace"], &v["capture"]);
    assert_eq!(t["disposition"], "DELIVERED", "{file}: {v}");
    assert_eq!(
        (&c["agrees"], &c["in_order"], &c["lost_at"], &v["agree"]),
        (
            &Value::from(true),
            &Value::from(true),
            &Value::Null,
            &Value::from(true)
        ),
        "{file}: {from} -> {to}: {v}"
    );
    assert!(
        all_observed(&t["hops"]) && all_observed(&t["reply_hops"]),
        "{file}: {v}"
    );
    for h in t["hops"]
        .as_array()
        .unwrap()
        .iter()
        .chain(t["reply_hops"].as_array().unwrap())
    {
        for s in h["seen"].as_array().unwrap() {
            let p = &s["packet"];
            assert_eq!(p["ttl"], s["expected_ttl"], "{file}: {h}");
            if h["layer"] != "underlay" {
                assert_eq!(p["vxlan"], Value::Null, "{file}: {h}");
            }
        }
    }
    assert_eq!(c["rewrites"], serde_json::json!([]), "{file}: {v}");
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
    v
}

/// For each sample lab the host kernel can run, `--capture` on a delivered path sees the
/// probe on every predicted device, in order, with the TTL predicted: a user bridge (through
/// its bridge), macvlan on one NIC and on a NIC per host (across the underlay switch), and
/// both of network-modes' overlays (one without docker_gwbridge).
#[test]
fn capture_sees_the_probe_on_every_device_of_each_sample_lab() {
    if !require_root("capture_sees_the_probe_on_every_device_of_each_sample_lab") {
        return;
    }
    for (file, prefix, from, to, at_least) in [
        ("labs/bridge.toml", "tcsbr", "web", "172.18.0.10", 2),
        ("labs/macvlan.toml", "tcsmv", "bbox11", "10.1.1.121", 3),
        ("labs/macvlan-nodes.toml", "tcsmn", "bbox-1", "10.0.0.12", 3),
        ("labs/network-modes.toml", "tcsnm", "db1", "10.0.1.3", 8),
    ] {
        let v = capture_delivers(file, prefix, from, to);
        let devices = v["capture"]["devices"].as_u64().unwrap();
        assert!(devices >= at_least, "{file}: {devices} devices: {v}");
        let underlay = v["trace"]["hops"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["layer"] == "underlay")
            .count();
        if file.contains("network-modes") {
            // Across hosts, the overlay's frames on the underlay are VXLAN.
            assert!(underlay >= 2, "{v}");
        }
    }

    // quiet_net has icc off: the bridge drops db's ARP request for cache between its isolated
    // ports, so the echo request waits in db's neighbour queue and never leaves; the kernel
    // then frees it as NEIGH_FAILED on db's eth1.
    let lab = unique("tcsbq");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let db = format!("{lab}.db");
    let (code, v) = trace_capture(&db, "172.22.16.3");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["trace"]["disposition"], "ISOLATED", "{v}");
    let c = &v["capture"];
    assert_eq!(
        (&c["agrees"], &c["stops_at"], &c["lost_at"], &v["agree"]),
        (
            &Value::from(true),
            &Value::from(0),
            &Value::Null,
            &Value::from(true)
        ),
        "{v}"
    );
    assert_eq!(
        (
            &v["drop"]["kind"],
            &v["drop"]["namespace"],
            &v["drop"]["device"],
            &v["drop"]["reason"]
        ),
        (
            &Value::from("request"),
            &Value::from(db.as_str()),
            &Value::from("eth1"),
            &Value::from("NEIGH_FAILED")
        ),
        "{v}"
    );
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// The same on the sample labs only the full kernel runs: macvlan on 802.1Q sub-interfaces
/// (one VLAN; a trunk with a parent per host), and ipvlan (L2 beside its parent's segment).
/// On the trunk, the frames carry the network's tag.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q) and CONFIG_IPVLAN: tests/vm/run runs it"]
fn capture_sees_the_probe_on_every_device_of_the_vlan_and_ipvlan_labs() {
    if !require_root("capture_sees_the_probe_on_every_device_of_the_vlan_and_ipvlan_labs") {
        return;
    }
    need_vlan("capture_sees_the_probe_on_every_device_of_the_vlan_and_ipvlan_labs");
    assert!(
        kernel_has_ipvlan(),
        "needs CONFIG_IPVLAN: tests/vm/run runs it"
    );
    for (file, prefix, from, to, tag) in [
        (
            "labs/macvlan-vlan.toml",
            "tcsvl",
            "bbox1",
            "172.16.10.11",
            Some(10),
        ),
        (
            "labs/macvlan-trunk.toml",
            "tcsmt",
            "bbox-12",
            "172.16.12.12",
            Some(20),
        ),
        ("labs/ipvlan.toml", "tcsiv", "ipv1", "192.168.1.103", None),
        ("labs/ipvlan.toml", "tcsil", "l3a", "192.168.214.9", None),
    ] {
        let v = capture_delivers(file, prefix, from, to);
        let tags: Vec<u64> = v["trace"]["hops"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["seen"].as_array().unwrap().clone())
            .filter_map(|s| s["packet"]["vlan"].as_u64())
            .collect();
        match tag {
            Some(t) => assert!(
                !tags.is_empty() && tags.iter().all(|&x| x == t),
                "{file}: tags {tags:?}: {v}"
            ),
            None => assert!(tags.is_empty(), "{file}: tags {tags:?}: {v}"),
        }
    }
}
