//! Root integration tests: build the sample labs in the real kernel, check them with iproute2's
//! JSON output and iputils ping as independent oracles, and check that nothing is left behind.

mod common;

use common::*;
use netlab::spec::network_id;

fn ns(lab: &str, node: &str) -> String {
    format!("{lab}.{node}")
}

fn overlay_ns(lab: &str, host: &str, net: &str) -> String {
    format!("{lab}.{host}.1-{}", &network_id(lab, net)[..10])
}

#[test]
fn overlay_lab_matches_the_article() {
    if !require_root("overlay_lab_matches_the_article") {
        return;
    }
    let lab = unique("tov");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    let o = netlab(&["up", "-q", "--name", &lab, "labs/overlay.toml"]);
    assert!(o.status.success(), "up failed: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("3 passed, 0 failed"), "lab checks: {out}");

    // Namespaces, named like Docker's, visible to `ip netns`.
    let mut expected = vec![
        ns(&lab, "underlay"),
        ns(&lab, "nas4"),
        ns(&lab, "nas5"),
        ns(&lab, "bbox1"),
        ns(&lab, "bbox2"),
        ns(&lab, "bbox3"),
        overlay_ns(&lab, "nas4", "ov_net1"),
        overlay_ns(&lab, "nas5", "ov_net1"),
        overlay_ns(&lab, "nas5", "ov_net2"),
    ];
    expected.sort();
    assert_eq!(lab_namespaces(&lab), expected);

    // vxlan0 as `ip -d link show vxlan0` shows it in the article.
    let ov1_nas4 = overlay_ns(&lab, "nas4", "ov_net1");
    let vx = link(&ov1_nas4, "vxlan0");
    let info = &vx["linkinfo"]["info_data"];
    assert_eq!(vx["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(info["id"], 256);
    assert_eq!(info["port"], 4789);
    assert_eq!(info["local"], "10.1.1.14");
    assert_eq!(info["proxy"], true);
    assert_eq!(info["l2miss"], true);
    assert_eq!(info["l3miss"], true);
    assert_eq!(info["learning"], false);
    assert_eq!(info["udp_csum"], false);
    assert_eq!(vx["mtu"], 1450);
    assert_eq!(vx["master"], "br0");
    assert!(
        vx.get("link_netnsid").is_some(),
        "vxlan0 must have a link-netnsid (socket in the host namespace): {vx}"
    );
    let vx2 = link(&overlay_ns(&lab, "nas5", "ov_net2"), "vxlan0");
    assert_eq!(
        vx2["linkinfo"]["info_data"]["id"], 257,
        "VNIs count up from 256"
    );

    // br0 holds the gateway; the container veth is on br0.
    assert_eq!(addrs(&ov1_nas4, "br0"), vec!["10.0.0.1/24"]);
    assert_eq!(link(&ov1_nas4, "veth0")["master"], "br0");

    // Remote endpoints: static FDB (MAC -> VTEP) and permanent neighbour entries.
    let fdb = bridge_json(&ov1_nas4, &["fdb", "show", "dev", "vxlan0"]);
    let entry = fdb
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mac"] == "02:42:0a:00:00:03" && e.get("dst").is_some())
        .unwrap_or_else(|| panic!("no fdb entry for bbox2: {fdb}"));
    assert_eq!(entry["dst"], "10.1.1.15");
    assert!(
        entry["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "self"),
        "{entry}"
    );
    assert_eq!(entry["state"], "permanent");
    let neigh = ip_json(&ov1_nas4, &["neigh", "show", "dev", "vxlan0"]);
    let n = neigh
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dst"] == "10.0.0.3")
        .unwrap_or_else(|| panic!("no neighbour for bbox2: {neigh}"));
    assert_eq!(n["lladdr"], "02:42:0a:00:00:03");
    assert!(
        n["state"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "PERMANENT"),
        "{n}"
    );

    // Containers: eth0 on the overlay, eth1 on docker_gwbridge with the default route.
    let b1 = ns(&lab, "bbox1");
    assert_eq!(addrs(&b1, "eth0"), vec!["10.0.0.2/24"]);
    assert_eq!(link(&b1, "eth0")["address"], "02:42:0a:00:00:02");
    assert_eq!(link(&b1, "eth0")["mtu"], 1450);
    assert_eq!(addrs(&b1, "eth1"), vec!["172.18.0.2/16"]);
    let routes = ip_json(&b1, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.18.0.1");
    assert_eq!(routes[0]["dev"], "eth1");
    assert_eq!(addrs(&ns(&lab, "bbox2"), "eth0"), vec!["10.0.0.3/24"]);
    assert_eq!(addrs(&ns(&lab, "bbox3"), "eth0"), vec!["10.0.1.2/24"]);
    assert_eq!(addrs(&ns(&lab, "bbox3"), "eth1"), vec!["172.18.0.3/16"]);

    // docker_gwbridge per host, with icc off as isolated ports.
    let nas5 = ns(&lab, "nas5");
    assert_eq!(addrs(&nas5, "docker_gwbridge"), vec!["172.18.0.1/16"]);
    let ports = ip_json(&nas5, &["link", "show", "master", "docker_gwbridge"]);
    assert_eq!(ports.as_array().unwrap().len(), 2);
    for p in ports.as_array().unwrap() {
        assert_eq!(p["linkinfo"]["info_slave_data"]["isolated"], true, "{p}");
    }
    assert_eq!(addrs(&ns(&lab, "nas4"), "ens33"), vec!["10.1.1.14/24"]);

    // The ping matrix, by iputils ping (independent of netlab's own ICMP).
    assert!(
        ping(&ns(&lab, "bbox2"), "10.0.0.2"),
        "bbox2 -> bbox1 across hosts"
    );
    assert!(ping(&b1, "10.0.0.3"), "bbox1 -> bbox2 across hosts");
    assert!(ping(&b1, "10.0.0.1"), "bbox1 -> its overlay gateway");
    assert!(ping(&b1, "172.18.0.1"), "bbox1 -> docker_gwbridge gateway");
    assert!(
        !ping(&ns(&lab, "bbox3"), "10.0.0.2"),
        "overlays are isolated"
    );
    assert!(
        !ping(&ns(&lab, "bbox3"), "172.18.0.2"),
        "gwbridge ports are isolated"
    );
    assert!(
        !ping(&ns(&lab, "bbox3"), "10.0.0.3"),
        "overlays are isolated on the same host"
    );

    // netlab's own checks agree, as JSON.
    let o = netlab(&["check", &lab, "--json"]);
    assert!(o.status.success(), "check: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checks"].as_array().unwrap().len(), 3);
    assert_eq!(v["checks"][0]["ttl"], 64);

    // Up again: refused, nothing changed.
    let o = netlab(&["up", "-q", "--name", &lab, "labs/overlay.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already up"),
        "{}",
        text(&o)
    );
    assert_eq!(lab_namespaces(&lab), expected);

    let o = netlab(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let me = v["labs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == lab.as_str())
        .expect("lab in status");
    assert_eq!(me["state"], "up");
    assert_eq!(me["namespaces"].as_array().unwrap().len(), 9);

    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    assert_clean(&lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down is idempotent: {}", text(&o));
}

#[test]
fn bridge_lab_isolation_and_static_addresses() {
    if !require_root("bridge_lab_isolation_and_static_addresses") {
        return;
    }
    let lab = unique("tbr");
    let before = root_snapshot();
    let _guard = LabGuard(lab.clone());
    let o = netlab(&["up", "-q", "--name", &lab, "labs/bridge.toml"]);
    assert!(o.status.success(), "up failed: {}", text(&o));
    let host = ns(&lab, "host1");
    let br = format!("br-{}", &network_id(&lab, "my_net2")[..12]);
    assert_eq!(link(&host, &br)["linkinfo"]["info_kind"], "bridge");
    assert_eq!(addrs(&host, &br), vec!["172.18.0.1/16"]);
    let db = ns(&lab, "db");
    assert_eq!(addrs(&db, "eth0"), vec!["172.18.0.10/16"], "static address");
    assert_eq!(
        addrs(&db, "eth1"),
        vec!["172.22.16.2/24"],
        "first free address in file order"
    );
    assert_eq!(addrs(&ns(&lab, "cache"), "eth0"), vec!["172.22.16.3/24"]);
    assert_eq!(addrs(&ns(&lab, "web"), "eth0"), vec!["172.18.0.2/16"]);
    let quiet = format!("br-{}", &network_id(&lab, "quiet_net")[..12]);
    for p in ip_json(&host, &["link", "show", "master", &quiet])
        .as_array()
        .unwrap()
    {
        assert_eq!(
            p["linkinfo"]["info_slave_data"]["isolated"], true,
            "icc=false isolates ports: {p}"
        );
    }
    for p in ip_json(&host, &["link", "show", "master", &br])
        .as_array()
        .unwrap()
    {
        assert_eq!(
            p["linkinfo"]["info_slave_data"]["isolated"], false,
            "icc on by default: {p}"
        );
    }
    assert!(ping(&ns(&lab, "web"), "172.18.0.10"));
    assert!(ping(&ns(&lab, "cache"), "172.22.16.1"));
    assert!(!ping(&ns(&lab, "cache"), "172.22.16.2"));
    assert!(!ping(&ns(&lab, "web"), "172.22.16.3"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "0"
    );

    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    assert_clean(&lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// Every kernel operation of `up` can fail; each failure leaves nothing behind.
#[test]
fn failed_up_leaves_nothing_behind_at_every_step() {
    if !require_root("failed_up_leaves_nothing_behind_at_every_step") {
        return;
    }
    let lab = unique("tfail");
    let _guard = LabGuard(lab.clone());
    let total = assert_rollback_at_every_step(&lab, "labs/overlay.toml", 50);
    // One past the end: nothing is injected and the lab builds.
    let ks = (total + 1).to_string();
    let o = netlab_env(
        &[
            "up",
            "-q",
            "--no-check",
            "--name",
            &lab,
            "labs/overlay.toml",
        ],
        &[("NETLAB_FAIL_AT", &ks)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// A namespace with a name the lab would use is not the lab's: refused, and left alone.
#[test]
fn foreign_namespace_is_refused_and_untouched() {
    if !require_root("foreign_namespace_is_refused_and_untouched") {
        return;
    }
    let lab = unique("tfor");
    let _guard = LabGuard(lab.clone());
    let foreign = ns(&lab, "nas5");
    struct Foreign(String);
    impl Drop for Foreign {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .output();
        }
    }
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &foreign])
        .status()
        .unwrap();
    assert!(st.success());
    let _f = Foreign(foreign.clone());
    let o = netlab(&["up", "-q", "--name", &lab, "labs/overlay.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("namespace {foreign} already exists")),
        "{}",
        text(&o)
    );
    assert_eq!(
        lab_namespaces(&lab),
        vec![foreign.clone()],
        "only the foreign namespace exists"
    );
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        lab_namespaces(&lab),
        vec![foreign.clone()],
        "down left the foreign namespace alone"
    );
}

/// `down` works from the record when the lab file is gone.
#[test]
fn down_works_after_the_lab_file_is_deleted() {
    if !require_root("down_works_after_the_lab_file_is_deleted") {
        return;
    }
    let lab = unique("tgone");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.toml");
    std::fs::copy("labs/bridge.toml", &file).unwrap();
    let o = netlab(&[
        "up",
        "-q",
        "--no-check",
        "--name",
        &lab,
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
    let o = netlab(&["check", &lab]);
    assert!(o.status.success(), "check needs no lab file: {}", text(&o));
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean(&lab);
}

/// Two `up` of the same lab at once: exactly one builds it.
#[test]
fn concurrent_up_of_one_lab_builds_it_once() {
    if !require_root("concurrent_up_of_one_lab_builds_it_once") {
        return;
    }
    let lab = unique("tconc");
    let _guard = LabGuard(lab.clone());
    let spawn = || {
        std::process::Command::new(BIN)
            .args([
                "up",
                "-q",
                "--no-check",
                "--name",
                &lab,
                "labs/overlay.toml",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(
        ok,
        1,
        "exactly one up succeeds:\n{}\n{}",
        text(&a),
        text(&b)
    );
    let loser = if a.status.success() { &b } else { &a };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("another netlab process") || err.contains("already up"),
        "{}",
        text(loser)
    );
    assert_eq!(lab_namespaces(&lab).len(), 9);
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}
