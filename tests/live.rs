//! Root tests of runtime changes (issue "Live labs and scenarios", first part): `connect`,
//! `disconnect` and `link` on a running lab, checked with iproute2 (`ip -j`, `bridge -j`) and
//! iputils `ping` as oracles; bad input changes nothing (exit 2); a kernel failure at any step
//! of a change leaves the lab exactly as it was (exit 1).

mod common;

use common::*;
use serde_json::Value;

/// Addresses of `dev` in `ns`, as `ip -j addr` shows them ("a.b.c.d/len").
fn addr_of(ns: &str, dev: &str) -> Vec<String> {
    addrs(ns, dev)
}

fn has_link(ns: &str, dev: &str) -> bool {
    ip_json(ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["ifname"] == dev)
}

/// What a change may touch, as iproute2 shows it: every link (name, kind, master, state, MAC),
/// IPv4 address, route, permanent neighbour and static FDB entry of every namespace of the lab.
/// What the kernel changes by itself (learned FDB entries, IPv6 link-local addresses, timers)
/// is left out.
fn lab_state(lab: &str) -> String {
    let mut out_all = String::new();
    let list = |v: Value| v.as_array().cloned().unwrap_or_default();
    for ns in lab_namespaces(lab) {
        out_all.push_str(&format!("== {ns}\n"));
        // Sorted: links made again on undo may get their indexes in another order, which
        // no attribute of the lab depends on.
        let mut lines = String::new();
        let out = &mut lines;
        for l in list(ip_json(&ns, &["link"])) {
            out.push_str(&format!(
                "link {} {} master={} flags={} mac={}\n",
                l["ifname"], l["linkinfo"]["info_kind"], l["master"], l["flags"], l["address"]
            ));
        }
        for a in list(ip_json(&ns, &["-4", "addr"])) {
            for i in list(a["addr_info"].clone()) {
                out.push_str(&format!(
                    "addr {} {}/{}\n",
                    a["ifname"], i["local"], i["prefixlen"]
                ));
            }
        }
        for r in list(ip_json(&ns, &["route"])) {
            out.push_str(&format!(
                "route {} via {} dev {}\n",
                r["dst"], r["gateway"], r["dev"]
            ));
        }
        for n in list(ip_json(&ns, &["neigh"])) {
            if n["state"].to_string().contains("PERMANENT") {
                out.push_str(&format!(
                    "neigh {} {} {}\n",
                    n["dst"], n["dev"], n["lladdr"]
                ));
            }
        }
        for f in list(bridge_json(&ns, &["fdb", "show"])) {
            let learned = f["state"] == "";
            let multicast = f["mac"]
                .as_str()
                .is_some_and(|m| m.starts_with("33:33") || m.starts_with("01:00:5e"));
            if !learned && !multicast {
                out.push_str(&format!(
                    "fdb {} {} dst={} {}\n",
                    f["mac"], f["ifname"], f["dst"], f["state"]
                ));
            }
        }
        let mut sorted: Vec<&str> = lines.lines().collect();
        sorted.sort();
        for l in sorted {
            out_all.push_str(l);
            out_all.push('\n');
        }
    }
    out_all
}

/// Seed 002's user-defined bridge: a running container joins a second network (next ethN,
/// next free address, Docker's MAC), reaches a container there, and leaves it again.
#[test]
fn connect_and_disconnect_on_a_bridge() {
    if !require_root("connect_and_disconnect_on_a_bridge") {
        return;
    }
    let lab = unique("lcb");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let cache = format!("{lab}.cache");
    assert!(
        !ping(&cache, "172.18.0.2"),
        "cache reaches web before connect"
    );
    let o = netlab(&["connect", &format!("{lab}/my_net2"), &cache]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(addr_of(&cache, "eth1"), vec!["172.18.0.3/16".to_string()]);
    let l = link(&cache, "eth1");
    assert_eq!(l["address"], "02:42:ac:12:00:03", "{l}");
    assert_eq!(l["operstate"], "UP", "{l}");
    assert!(
        ping_eventually(&cache, "172.18.0.2"),
        "cache cannot reach web after connect"
    );
    // The live model: status and inspect see the new endpoint.
    let r = netlab::state::read_record(&lab).unwrap().unwrap();
    let c = r.lab.containers.iter().find(|c| c.name == "cache").unwrap();
    assert_eq!(c.endpoints.len(), 2);

    let o = netlab(&["disconnect", "my_net2", &cache]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!has_link(&cache, "eth1"));
    assert!(!ping(&cache, "172.18.0.2"), "cache still reaches web");
    assert!(
        ping_eventually(&format!("{lab}.web"), "172.18.0.10"),
        "web lost db"
    );
    // `--ip` and reconnecting after a disconnect.
    let o = netlab(&["connect", "--ip", "172.18.0.77", "my_net2", &cache]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(addr_of(&cache, "eth1"), vec!["172.18.0.77/16".to_string()]);
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert_clean(&lab);
}

/// Seed 000: bbox3 (on ov_net2) is connected to ov_net1 at run time: it gets eth2 and reaches
/// bbox1 on the other host; that host's overlay sandbox learns the new endpoint (FDB entry to
/// bbox3's VTEP and a permanent neighbour), and forgets it on disconnect.
#[test]
fn connect_to_an_overlay_programs_the_other_hosts() {
    if !require_root("connect_to_an_overlay_programs_the_other_hosts") {
        return;
    }
    let lab = unique("lco");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let bbox3 = format!("{lab}.bbox3");
    assert!(!ping(&bbox3, "10.0.0.2"));
    let o = netlab(&["connect", "ov_net1", &bbox3]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(addr_of(&bbox3, "eth2"), vec!["10.0.0.4/24".to_string()]);
    assert!(
        ping_eventually(&bbox3, "10.0.0.2"),
        "bbox3 cannot reach bbox1 after connect"
    );
    assert!(
        ping_eventually(&format!("{lab}.bbox1"), "10.0.0.4"),
        "bbox1 cannot reach bbox3"
    );
    let remote = lab_namespaces(&lab)
        .into_iter()
        .find(|n| n.starts_with(&format!("{lab}.nas4.1-")))
        .unwrap();
    let fdb = |ns: &str| -> Vec<Value> {
        bridge_json(ns, &["fdb", "show", "dev", "vxlan0"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["mac"] == "02:42:0a:00:00:04")
            .cloned()
            .collect()
    };
    let entries = fdb(&remote);
    assert!(
        entries.iter().any(|e| e["dst"] == "10.1.1.15"),
        "no FDB entry for bbox3 on nas4: {entries:?}"
    );
    let neigh = ip_json(&remote, &["neigh", "show", "dev", "vxlan0"]);
    assert!(
        neigh
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["dst"] == "10.0.0.4" && n["lladdr"] == "02:42:0a:00:00:04"),
        "{neigh}"
    );
    let o = netlab(&["disconnect", &format!("{lab}/ov_net1"), &bbox3]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(fdb(&remote).iter().all(|e| e["dst"] != "10.1.1.15"));
    let neigh = ip_json(&remote, &["neigh", "show", "dev", "vxlan0"]);
    assert!(
        neigh
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["dst"] != "10.0.0.4"),
        "{neigh}"
    );
    assert!(!has_link(&bbox3, "eth2"));
    assert!(!ping(&bbox3, "10.0.0.2"));
    let o = netlab(&["check", &lab]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Bad input exits 2 and changes nothing: connecting twice, disconnecting what is not
/// connected, an address outside the subnet or in use, unknown names (with the close match).
#[test]
fn bad_changes_are_refused_and_change_nothing() {
    if !require_root("bad_changes_are_refused_and_change_nothing") {
        return;
    }
    let lab = unique("lcbad");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let before = lab_state(&lab);
    let web = format!("{lab}.web");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["connect".into(), "my_net2".into(), web.clone()],
            "already connected",
        ),
        (
            vec!["disconnect".into(), "quiet_net".into(), web.clone()],
            "not connected",
        ),
        (
            vec![
                "connect".into(),
                "--ip".into(),
                "10.9.9.9".into(),
                "quiet_net".into(),
                web.clone(),
            ],
            "not a usable address",
        ),
        (
            vec![
                "connect".into(),
                "--ip".into(),
                "172.22.16.2".into(),
                "quiet_net".into(),
                web.clone(),
            ],
            "already in use",
        ),
        (
            vec![
                "connect".into(),
                "--ip".into(),
                "172.22.16.1".into(),
                "quiet_net".into(),
                web.clone(),
            ],
            "not a usable address",
        ),
        (
            vec!["connect".into(), "quiet_nte".into(), web.clone()],
            "did you mean",
        ),
        (
            vec!["connect".into(), "quiet_net".into(), format!("{lab}.wbe")],
            "did you mean",
        ),
        (
            vec!["link".into(), web.clone(), "eth7".into(), "down".into()],
            "has no interface eth7",
        ),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = netlab(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{a:?}: want {want:?}: {}",
            text(&o)
        );
        assert_eq!(lab_state(&lab), before, "{a:?} changed the lab");
    }
}

/// A kernel failure at any operation of a change (NETLAB_FAIL_AT=k) leaves the lab exactly as
/// it was: exit 1, says so, the kernel state and the record unchanged; then the change works.
#[test]
fn failed_change_leaves_the_lab_as_it_was_at_every_step() {
    if !require_root("failed_change_leaves_the_lab_as_it_was_at_every_step") {
        return;
    }
    let lab = unique("lcfail");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let bbox3 = format!("{lab}.bbox3");
    let record =
        || serde_json::to_string(&netlab::state::read_record(&lab).unwrap().unwrap().lab).unwrap();
    // Fail the k-th operation for k = 1, 2, ... until the change succeeds; every failure must
    // leave the kernel state and the record as they were. The number of failures is returned.
    let fail_every_step = |verb: &str, net: &str| -> usize {
        let before = lab_state(&lab);
        let rec = record();
        for k in 1.. {
            let o = netlab_env(&[verb, net, &bbox3], &[("NETLAB_FAIL_AT", &k.to_string())]);
            if o.status.success() {
                return k - 1;
            }
            assert_eq!(o.status.code(), Some(1), "{verb} k={k}: {}", text(&o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("exactly as it was"),
                "{verb} k={k}: {}",
                text(&o)
            );
            assert_eq!(lab_state(&lab), before, "{verb} k={k}: the lab changed");
            assert_eq!(record(), rec, "{verb} k={k}: the record changed");
            assert!(k < 60, "{verb} {net}: never succeeded");
        }
        unreachable!()
    };
    assert_eq!(fail_every_step("connect", "ov_net1"), 6);
    assert_eq!(fail_every_step("disconnect", "ov_net1"), 3);
    // Leaving its last overlay (with its docker_gwbridge leg and ov_net2's sandbox on nas5),
    // then joining a first overlay again (a new sandbox, a new leg).
    let n = fail_every_step("disconnect", "ov_net2");
    assert!(n >= 4, "disconnect ov_net2: only {n} operations failed");
    let n = fail_every_step("connect", "ov_net1");
    assert!(n >= 8, "connect ov_net1: only {n} operations failed");
}

/// `link NODE DEV down|up`: the device's state as iproute2 sees it, and pings stop and start.
#[test]
fn link_down_and_up() {
    if !require_root("link_down_and_up") {
        return;
    }
    let lab = unique("llink");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = format!("{lab}.web");
    assert!(ping_eventually(&web, "172.18.0.10"));
    let o = netlab(&["link", &web, "eth0", "down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(link(&web, "eth0")["operstate"], "DOWN");
    assert!(!ping(&web, "172.18.0.10"));
    let o = netlab(&["link", &web, "eth0", "up"]);
    assert!(o.status.success(), "{}", text(&o));
    let start = std::time::Instant::now();
    while link(&web, "eth0")["operstate"] != "UP" {
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ping_eventually(&web, "172.18.0.10"));
}

/// A copy of a sample lab file with `extra` appended, in a directory of the test's own.
fn edited_copy(lab: &str, file: &str, extra: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lab.toml");
    let mut text_ = std::fs::read_to_string(file).unwrap();
    text_.push_str(extra);
    std::fs::write(&path, text_).unwrap();
    path
}

const EXTRA: &str =
    "\n[containers.extra]\nhost = \"host1\"\nnetworks = [\"my_net2\", \"quiet_net\"]\n";

/// `apply FILE`: a container added to the lab file while the lab runs gets its namespace (made
/// by identity, like `up`'s) and endpoints, and reaches the others; taken out of the file
/// again, it goes; `--dry-run` prints the change and changes nothing.
#[test]
fn apply_adds_and_removes_a_container() {
    if !require_root("apply_adds_and_removes_a_container") {
        return;
    }
    let lab = unique("lap");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let edited = edited_copy(&lab, "labs/bridge.toml", EXTRA);
    let edited = edited.to_str().unwrap();
    let before = lab_state(&lab);
    let o = netlab(&["apply", "--name", &lab, edited, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("+ container extra (on host1)"), "{}", text(&o));
    assert!(
        out.contains(&format!("ip netns add {lab}.extra")),
        "{}",
        text(&o)
    );
    assert_eq!(lab_state(&lab), before, "--dry-run changed the lab");

    let o = netlab(&["apply", "--name", &lab, edited]);
    assert!(o.status.success(), "{}", text(&o));
    let extra = format!("{lab}.extra");
    assert!(lab_namespaces(&lab).contains(&extra));
    assert_eq!(addrs(&extra, "eth0"), vec!["172.18.0.3/16".to_string()]);
    assert_eq!(addrs(&extra, "eth1"), vec!["172.22.16.4/24".to_string()]);
    assert!(
        ping_eventually(&extra, "172.18.0.2"),
        "extra cannot reach web"
    );
    let s = netlab(&["status", &lab]);
    assert!(
        String::from_utf8_lossy(&s.stdout).contains(" up "),
        "{}",
        text(&s)
    );

    let o = netlab(&["apply", "--name", &lab, "labs/bridge.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("- container extra"));
    assert!(!lab_namespaces(&lab).contains(&extra));
    assert_eq!(lab_state(&lab), before);
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert!(
        !String::from_utf8_lossy(&d.stderr).contains("ignored"),
        "{}",
        text(&d)
    );
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("netlab-{lab}")));
    assert_clean(&lab);
}

/// `apply` failing at any step (namespace creation included) leaves the lab exactly as it was,
/// the new namespace gone; a change that would rename other containers' overlay veths is
/// refused with the reason (exit 2) and changes nothing.
#[test]
fn failed_or_impossible_apply_changes_nothing() {
    if !require_root("failed_or_impossible_apply_changes_nothing") {
        return;
    }
    let lab = unique("lapf");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let edited = edited_copy(&lab, "labs/bridge.toml", EXTRA);
    let edited = edited.to_str().unwrap();
    let before = lab_state(&lab);
    let rec =
        || serde_json::to_string(&netlab::state::read_record(&lab).unwrap().unwrap().lab).unwrap();
    let rec_before = rec();
    // One namespace and eleven objects.
    for k in 1..=12 {
        let o = netlab_env(
            &["apply", "--name", &lab, edited],
            &[("NETLAB_FAIL_AT", &k.to_string())],
        );
        assert_eq!(o.status.code(), Some(1), "k={k}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("exactly as it was"),
            "k={k}: {}",
            text(&o)
        );
        assert_eq!(lab_state(&lab), before, "k={k}");
        assert_eq!(rec(), rec_before, "k={k}");
    }
    // The namespaces the failed applies made and removed are still the lab's in the journal:
    // nothing in it is reported as naming another lab's namespace.
    {
        let st = netlab::state::LabState::lock(&lab).unwrap();
        let owned = st.owned().unwrap();
        assert!(owned.problems.is_empty(), "{:?}", owned.problems);
    }
    let o = netlab_env(
        &["apply", "--name", &lab, edited],
        &[("NETLAB_FAIL_AT", "13")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert_clean(&lab);

    let ov = unique("lapo");
    let _g2 = LabGuard(ov.clone());
    up_ok(&ov, "labs/overlay.toml");
    let before = lab_state(&ov);
    // bbox0 before bbox2 on nas5: the file's order gives bbox0 the docker_gwbridge address
    // bbox2 holds (and its MAC), so bbox2's leg would be made again: not in place.
    let text_ = std::fs::read_to_string("labs/overlay.toml")
        .unwrap()
        .replace(
            "[containers.bbox2]",
            "[containers.bbox0]\nhost = \"nas5\"\nnetworks = [\"ov_net1\"]\n\n[containers.bbox2]",
        );
    let path = std::env::temp_dir().join(format!("netlab-{ov}.toml"));
    std::fs::write(&path, text_).unwrap();
    let o = netlab(&["apply", "--name", &ov, path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be made in place"),
        "{}",
        text(&o)
    );
    assert_eq!(lab_state(&ov), before);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("netlab-{lab}")));
}

/// Names of the links in `ns`, sorted.
fn link_names(ns: &str) -> Vec<String> {
    let mut v: Vec<String> = ip_json(ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The overlay sandboxes (`<lab>.<host>.1-<id>`) of `host`.
fn sandboxes(lab: &str, host: &str) -> Vec<String> {
    lab_namespaces(lab)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{lab}.{host}.1-")))
        .collect()
}

/// Docker's docker_gwbridge at run time (seed 000): a container leaving its last overlay loses
/// its docker_gwbridge leg and default route with it, and its host's sandbox of that overlay
/// goes when empty; joining an overlay again, it gets the leg back (next ethN, next free
/// address on that host, default route through 172.18.0.1) and reaches across hosts. In the
/// sandbox, veths keep their names as others leave and join (libnetwork's counter: veth1
/// stays, the next is veth2).
#[test]
fn first_overlay_brings_the_gwbridge_leg_and_the_last_takes_it() {
    if !require_root("first_overlay_brings_the_gwbridge_leg_and_the_last_takes_it") {
        return;
    }
    let lab = unique("lgw");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let bbox3 = format!("{lab}.bbox3");
    let nas5 = format!("{lab}.nas5");
    let gw_ports = || -> usize {
        bridge_json(&nas5, &["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["master"] == "docker_gwbridge")
            .count()
    };
    assert_eq!(gw_ports(), 2, "bbox2 and bbox3 on nas5's docker_gwbridge");
    assert_eq!(sandboxes(&lab, "nas5").len(), 2);

    let o = netlab(&["disconnect", "ov_net2", &bbox3]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!has_link(&bbox3, "eth0") && !has_link(&bbox3, "eth1"));
    assert_eq!(ip_json(&bbox3, &["route"]), serde_json::json!([]));
    assert_eq!(gw_ports(), 1, "bbox3's leg is gone");
    assert_eq!(
        sandboxes(&lab, "nas5").len(),
        1,
        "ov_net2's sandbox on nas5 is gone"
    );

    let o = netlab(&["connect", "ov_net1", &bbox3]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(addr_of(&bbox3, "eth0"), vec!["10.0.0.4/24".to_string()]);
    assert_eq!(addr_of(&bbox3, "eth1"), vec!["172.18.0.3/16".to_string()]);
    let routes = ip_json(&bbox3, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.18.0.1", "{routes}");
    assert_eq!(routes[0]["dev"], "eth1", "{routes}");
    assert_eq!(gw_ports(), 2);
    assert!(
        ping_eventually(&bbox3, "10.0.0.2"),
        "bbox3 -> bbox1 across hosts"
    );
    assert!(
        ping_eventually(&bbox3, "172.18.0.1"),
        "bbox3 -> its gwbridge gateway"
    );
    let sandbox = sandboxes(&lab, "nas5").pop().unwrap();
    let names = link_names(&sandbox);
    assert!(
        names.contains(&"veth0".into()) && names.contains(&"veth1".into()),
        "{names:?}"
    );

    // bbox2 leaves: bbox3's veth1 is not renamed.
    let o = netlab(&["disconnect", "ov_net1", &format!("{lab}.bbox2")]);
    assert!(o.status.success(), "{}", text(&o));
    let names = link_names(&sandbox);
    assert!(
        names.contains(&"veth1".into()) && !names.contains(&"veth0".into()),
        "{names:?}"
    );
    assert!(
        ping_eventually(&bbox3, "10.0.0.2"),
        "bbox3 -> bbox1 after bbox2 left"
    );
    // And comes back: the sandbox's next number.
    let o = netlab(&["connect", "ov_net1", &format!("{lab}.bbox2")]);
    assert!(o.status.success(), "{}", text(&o));
    let names = link_names(&sandbox);
    assert!(
        names.contains(&"veth1".into()) && names.contains(&"veth2".into()),
        "{names:?}"
    );
    assert!(ping_eventually(&format!("{lab}.bbox2"), "10.0.0.2"));
    assert!(ping_eventually(&bbox3, "10.0.0.2"));
}

const MACVLAN_LAB: &str = r#"
[hosts.h1]
address = "10.1.1.11"
nics = ["ens33", "ens38"]

[hosts.h2]
address = "10.1.1.12"
nics = ["ens33", "ens38"]

[networks.mac1]
driver = "macvlan"
parent = "ens38"
subnet = "192.168.50.0/24"

[networks.mac2]
driver = "macvlan"
parent = "ens38"
subnet = "192.168.60.0/24"

[networks.br]
driver = "bridge"

[containers.a]
host = "h1"
networks = ["mac1"]

[containers.b]
host = "h2"
networks = ["br"]

[containers.c]
host = "h2"
networks = ["mac2"]
"#;

/// `connect` to a macvlan network (seed 003): refused while another macvlan network uses the
/// same parent on that host (Docker's one network per parent); once that one's last container
/// leaves, the container gets its next ethN as a macvlan of the host's parent (`ip -d`:
/// eth1@ifN, N the parent's index) and reaches a container on another host across the switch.
#[test]
fn connect_to_macvlan_follows_the_parent_rule() {
    if !require_root("connect_to_macvlan_follows_the_parent_rule") {
        return;
    }
    let lab = unique("lmv");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mv.toml");
    std::fs::write(&file, format!("[lab]\nname = \"{lab}\"\n{MACVLAN_LAB}")).unwrap();
    up_ok(&lab, file.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    let b = format!("{lab}.b");
    let before = lab_state(&lab);
    let o = netlab(&["connect", "mac1", &b]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("is already using parent interface ens38 (that is network mac2, on host h2), so network mac1 cannot"),
        "{}",
        text(&o)
    );
    assert_eq!(lab_state(&lab), before);
    let o = netlab(&["disconnect", "mac2", &format!("{lab}.c")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = netlab(&["connect", "mac1", &b]);
    assert!(o.status.success(), "{}", text(&o));
    let h2 = format!("{lab}.h2");
    let parent = ip_json(&h2, &["link", "show", "ens38"])[0]["ifindex"].clone();
    let l = ip_json(&b, &["-d", "link", "show", "eth1"]);
    assert_eq!(l[0]["linkinfo"]["info_kind"], "macvlan", "{l}");
    assert_eq!(l[0]["link_index"], parent, "{l}");
    assert_eq!(addr_of(&b, "eth1"), vec!["192.168.50.3/24".to_string()]);
    assert!(
        ping_eventually(&b, "192.168.50.2"),
        "b -> a across the switch"
    );
    let o = netlab(&["disconnect", "mac1", &b]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!has_link(&b, "eth1"));
    assert!(!ping(&b, "192.168.50.2"));
}

/// A host-local network named on hosts (`hosts = [...]`) exists there before any container
/// joins, as `docker network create` on each of those daemons makes it: mac_net1 on node-2
/// has set ens33 promiscuous and claims it, so connecting node-2's bbox2 to mac_net2 (same
/// parent, no hosts list) is refused with libnetwork's words, and changes nothing; on node-3,
/// where mac_net1 is not, the same connect works. The bridge `user` is on node-3 without a
/// container (br-<id> holding its gateway), is not on node-2, and stays on node-1 when its
/// last container there leaves. A container on a host the list leaves out cannot join.
const NAMED_HOSTS_LAB: &str = r#"
[hosts.node-1]
nic = "ens33"

[hosts.node-2]
nic = "ens33"

[hosts.node-3]
nic = "ens33"

[networks.mac_net1]
driver = "macvlan"
parent = "ens33"
subnet = "172.16.86.0/24"
hosts = ["node-1", "node-2"]

[networks.mac_net2]
driver = "macvlan"
parent = "ens33"
subnet = "172.16.87.0/24"

[networks.user]
driver = "bridge"
subnet = "172.30.0.0/24"
hosts = ["node-1", "node-3"]

[networks.other]
driver = "bridge"
subnet = "172.31.0.0/24"

[containers.bbox1]
host = "node-1"
networks = ["mac_net1", "user"]

[containers.bbox2]
host = "node-2"
networks = ["other"]

[containers.bbox3]
host = "node-3"
networks = ["user"]
"#;

#[test]
fn networks_exist_on_the_hosts_they_name_before_any_container_joins() {
    if !require_root("networks_exist_on_the_hosts_they_name_before_any_container_joins") {
        return;
    }
    let before = root_snapshot();
    let prefix = "lnh";
    let name = unique(prefix);
    let (lab, _guard, _dir, file) = lab_file(
        prefix,
        &format!("[lab]\nname = \"{name}\"\n{NAMED_HOSTS_LAB}"),
    );
    up_ok(&lab, file.to_str().unwrap());
    let host = |h: &str| format!("{lab}.{h}");
    let promiscuity = |h: &str| link(&host(h), "ens33")["promiscuity"].as_u64().unwrap();
    // mac_net1 is on node-2 without a container: its parent is promiscuous there, as on
    // node-1; node-3 has no macvlan network yet.
    assert!(promiscuity("node-1") >= 1 && promiscuity("node-2") >= 1);
    assert_eq!(promiscuity("node-3"), 0);
    // user's bridge on node-3 (with bbox3) and node-1, not on node-2.
    let br = format!("br-{}", &net_id(&lab, "user")[..12]);
    for h in ["node-1", "node-3"] {
        assert_eq!(addrs(&host(h), &br), vec!["172.30.0.1/24"], "{h}");
    }
    assert!(!has_link(&host("node-2"), &br));
    let o = netlab(&[
        "inspect",
        &format!("{lab}/mac_net1"),
        "--host",
        "node-2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["Name"], "mac_net1", "{v}");
    assert_eq!(v[0]["Containers"], serde_json::json!({}), "{v}");
    assert_eq!(v[0]["Options"]["parent"], "ens33", "{v}");
    let o = netlab(&["inspect", &format!("{lab}/mac_net1"), "--host", "node-3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Exclusivity where mac_net1 is created, whether or not it has containers there.
    let state = lab_state(&lab);
    let o = netlab(&["connect", "mac_net2", &host("bbox2")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let id12 = &net_id(&lab, "mac_net1")[..12];
    let want = format!(
        "network dm-{id12} is already using parent interface ens33 (that is network mac_net1, on host node-2), so network mac_net2 cannot"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&want),
        "{}",
        text(&o)
    );
    // A host the network's list leaves out.
    let o = netlab(&["connect", "mac_net1", &host("bbox3")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "container bbox3 is on host node-3, where network mac_net1 is not created: its hosts are node-1, node-2"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(lab_state(&lab), state, "a refused connect changed the lab");
    let o = netlab(&["connect", "mac_net2", &host("bbox3")]);
    assert!(o.status.success(), "{}", text(&o));
    let l = ip_json(&host("bbox3"), &["-d", "link", "show", "eth1"]);
    assert_eq!(l[0]["linkinfo"]["info_kind"], "macvlan", "{l}");
    assert_eq!(
        l[0]["link_index"],
        link(&host("node-3"), "ens33")["ifindex"],
        "{l}"
    );

    // The last container of user on node-1 leaves; the network stays there.
    let o = netlab(&["disconnect", "user", &host("bbox1")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!has_link(&host("bbox1"), "eth1"));
    assert_eq!(addrs(&host("node-1"), &br), vec!["172.30.0.1/24"]);

    down_restoring(&lab, &before);
}
