//! Root integration tests for the promises of "What netlab changes on your machine": `up` killed
//! or interrupted at any point leaves nothing `down` cannot remove (or, interrupted, nothing at
//! all); objects netlab did not create are never touched; the root namespace is unchanged by
//! every sample lab; oversized labs are refused before anything exists; two labs side by side
//! never see each other. Oracles: iproute2's `ip -j`, /run/netns, /proc/self/mountinfo, ping.
//!
//! Kill points are spread over a build with `NETLAB_STEP_DELAY_US` (a pause before every kernel
//! operation, see src/engine.rs), so the small sample labs take long enough to be hit anywhere,
//! on an idle machine or a loaded one.

mod common;

use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// Pause before each kernel operation in the kill tests. The pauses are slept one after the
/// other, after the record is written, so from the record's appearance a build takes at least
/// (operations x pause) however loaded the machine is: kill points inside that window land
/// mid-build for certain.
const STEP_DELAY: Duration = Duration::from_millis(2);
/// The same pause, as netlab is told it.
const STEP_DELAY_ENV: [(&str, &str); 1] = [("NETLAB_STEP_DELAY_US", "2000")];

/// How long building `file` takes at least with [`STEP_DELAY`]: one pause per operation of
/// its plan (`--dry-run` prints one line per operation).
fn min_build_time(file: &str) -> Duration {
    let o = netlab(&["up", "--dry-run", file]);
    assert!(o.status.success(), "{}", text(&o));
    let ops = String::from_utf8_lossy(&o.stdout).lines().count() as u32;
    assert!(ops > 20, "{file}: plan too small: {}", text(&o));
    STEP_DELAY * ops
}

fn signal(child: &Child, sig: Signal) {
    // The child may have exited already (a late kill point): that is not an error here.
    let _ = kill(Pid::from_raw(child.id() as i32), sig);
}

fn record_path(lab: &str) -> std::path::PathBuf {
    Path::new("/run/netlab").join(lab).join("lab.json")
}

/// A netlab still running when a test fails is stopped (SIGTERM: it rolls back) and waited
/// for before the lab's guard cleans up, so it cannot create anything after the cleanup.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            signal(&child, Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}

/// Promise 2: `up` killed with SIGKILL anywhere leaves nothing `down` cannot remove, and the
/// lab can be built again afterwards.
#[test]
fn up_killed_anywhere_is_cleaned_by_down() {
    if !require_root("up_killed_anywhere_is_cleaned_by_down") {
        return;
    }
    // Per lab: killed while starting (before the record exists) at 0, 1, 3 and 6 ms after the
    // spawn, then at 16 points spread over the build.
    const STARTING: [u64; 4] = [0, 1, 3, 6];
    const BUILDING: u32 = 16;
    let lab = unique("rkill");
    let _guard = LabGuard(lab.clone());
    let mut trials = 0;
    for file in ["labs/overlay.toml", "labs/bridge.toml"] {
        let build = min_build_time(file);
        let (mut mid_build, mut with_namespaces) = (0, 0);
        let points = STARTING
            .iter()
            .map(|ms| (false, Duration::from_millis(*ms)))
            .chain((0..BUILDING).map(|i| (true, build * i / BUILDING)));
        for (after_record, at) in points {
            let child = spawn_netlab(
                &["up", "-q", "--no-check", "--name", &lab, file],
                &STEP_DELAY_ENV,
            );
            if after_record {
                assert!(wait_for_path(&record_path(&lab), Duration::from_secs(10)));
            }
            std::thread::sleep(at);
            signal(&child, Signal::SIGKILL);
            let o = child.wait_with_output().unwrap();
            trials += 1;
            let what = if after_record {
                format!("{file}, killed {at:?} into a build of at least {build:?}")
            } else {
                format!("{file}, killed {at:?} after starting")
            };
            let record = netlab::state::read_record(&lab).ok().flatten();
            if record.as_ref().is_some_and(|r| !r.complete) {
                mid_build += 1;
                if !lab_namespaces(&lab).is_empty() {
                    with_namespaces += 1;
                }
            } else {
                assert!(!after_record, "{what}: not mid-build: {}", text(&o));
            }
            if record.is_some() {
                // A half-built lab is not silently built over: `up` says to run `down`.
                let again = netlab(&["up", "-q", "--no-check", "--name", &lab, file]);
                assert_eq!(again.status.code(), Some(1), "{what}: {}", text(&again));
                let err = String::from_utf8_lossy(&again.stderr);
                assert!(
                    err.contains(&format!("netlab down {lab}")),
                    "{what}: {}",
                    text(&again)
                );
            }
            let d = netlab(&["down", &lab]);
            assert!(
                d.status.success(),
                "{what}: down failed: {}\nup: {}",
                text(&d),
                text(&o)
            );
            assert_clean(&lab);
            let again = netlab(&["up", "-q", "--no-check", "--name", &lab, file]);
            assert!(
                again.status.success(),
                "{what}: up afterwards: {}",
                text(&again)
            );
            let d = netlab(&["down", &lab]);
            assert!(d.status.success(), "{what}: {}", text(&d));
            assert_clean(&lab);
        }
        eprintln!(
            "{file}: {mid_build} kills landed mid-build, {with_namespaces} with namespaces up"
        );
        // Namespaces exist for all but the first few kill points of the build.
        assert!(
            with_namespaces >= BUILDING / 2,
            "{file}: only {with_namespaces} kills found namespaces"
        );
    }
    assert!(trials >= 30);
}

/// One interrupted `up`: the signal arrives `at` after the engine started listening.
fn interrupt_up(file: &str, lab: &str, sig: Signal, at: Duration, env: &[(&str, &str)]) -> Output {
    let child = spawn_netlab(&["up", "-q", "--no-check", "--name", lab, file], env);
    let listening = wait_for_path(&record_path(lab), Duration::from_secs(10));
    std::thread::sleep(at);
    signal(&child, sig);
    let o = child.wait_with_output().unwrap();
    assert!(listening, "up never wrote its record: {}", text(&o));
    o
}

/// `up` interrupted by `sig` must have rolled back by itself: status 1, says so, nothing left.
/// Returns false if the signal came too late (the lab was already up), after taking it down.
fn assert_rolled_back(o: &Output, lab: &str, sig: Signal, what: &str) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let built = netlab::state::read_record(lab)
        .ok()
        .flatten()
        .is_some_and(|r| r.complete);
    // The build finished before the signal arrived: netlab exited, or the signal killed it
    // afterwards, as it should once the lab is up.
    if built && (o.status.success() || o.status.signal() == Some(sig as i32)) {
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("is up") || !o.status.success(),
            "{what}: {}",
            text(o)
        );
        assert!(netlab(&["down", lab]).status.success());
        assert_clean(lab);
        return false;
    }
    assert_eq!(o.status.code(), Some(1), "{what}: {}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("interrupted by {}", sig.as_str())),
        "{what}: {}",
        text(o)
    );
    assert!(
        err.contains("everything it created was removed"),
        "{what}: {}",
        text(o)
    );
    // No `down`: the interrupted run cleaned up after itself.
    assert_clean(lab);
    true
}

/// Promise 2: SIGINT and SIGTERM during `up` roll back by themselves, at any point: while
/// namespaces are being created on their blocking threads, while links are, while addresses are.
#[test]
fn up_interrupted_rolls_back_by_itself() {
    if !require_root("up_interrupted_rolls_back_by_itself") {
        return;
    }
    let lab = unique("rint");
    let _guard = LabGuard(lab.clone());
    for file in ["labs/overlay.toml", "labs/bridge.toml"] {
        let build = min_build_time(file);
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            for permille in [0, 30, 80, 150, 300, 450, 600, 800] {
                let at = build * permille / 1000;
                let what = format!(
                    "{file}, {} {at:?} into a build of at least {build:?}",
                    sig.as_str()
                );
                let o = interrupt_up(file, &lab, sig, at, &STEP_DELAY_ENV);
                assert!(
                    assert_rolled_back(&o, &lab, sig, &what),
                    "{what}: the build finished before the signal: {}",
                    text(&o)
                );
            }
        }
    }
}

/// Promise 2, at full speed: a lab of 200 containers interrupted while its 202 namespaces are
/// created 16 at a time on blocking threads, and later. None may appear after the rollback.
#[test]
fn big_up_interrupted_while_creating_namespaces_rolls_back() {
    if !require_root("big_up_interrupted_while_creating_namespaces_rolls_back") {
        return;
    }
    let lab = unique("rbig");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    let file = generated_bridge_lab(&dir, &lab, 200);
    let file = file.to_str().unwrap();
    let mut rolled_back = 0;
    for (i, ms) in [0, 1, 2, 4, 8, 15, 30, 60, 120].into_iter().enumerate() {
        let sig = if i % 2 == 0 {
            Signal::SIGTERM
        } else {
            Signal::SIGINT
        };
        let at = Duration::from_millis(ms);
        let what = format!("200 containers, {} after {at:?}", sig.as_str());
        let o = interrupt_up(file, &lab, sig, at, &[]);
        if assert_rolled_back(&o, &lab, sig, &what) {
            rolled_back += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        rolled_back >= 7,
        "only {rolled_back} of 9 interrupts landed"
    );
}

/// Promise 3: a foreign namespace full of links named like netlab's is never touched by `up`,
/// `check` or `down` of labs.
#[test]
fn look_alike_foreign_links_are_untouched() {
    if !require_root("look_alike_foreign_links_are_untouched") {
        return;
    }
    let lab = unique("rlook");
    let _guard = LabGuard(lab.clone());
    let foreign = ForeignNs::add(&format!("foreign-{}", std::process::id()));
    foreign.ip(&["link", "add", "docker_gwbridge", "type", "bridge"]);
    foreign.ip(&["addr", "add", "172.18.0.1/16", "dev", "docker_gwbridge"]);
    foreign.ip(&["link", "add", "br0", "type", "bridge"]);
    foreign.ip(&[
        "link", "add", "vxlan0", "type", "vxlan", "id", "256", "dstport", "4789",
    ]);
    foreign.ip(&["link", "set", "vxlan0", "master", "br0"]);
    foreign.ip(&[
        "link",
        "add",
        "veth1157874",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
    ]);
    foreign.ip(&[
        "link", "add", "ens33", "type", "veth", "peer", "name", "switch0",
    ]);
    foreign.ip(&["link", "set", "docker_gwbridge", "up"]);
    let before = foreign.state();
    for file in ["labs/overlay.toml", "labs/bridge.toml"] {
        let o = netlab(&["up", "-q", "--name", &lab, file]);
        assert!(o.status.success(), "{file}: {}", text(&o));
        assert_eq!(
            foreign.state(),
            before,
            "up of {file} changed {}",
            foreign.0
        );
        let o = netlab(&["down", &lab]);
        assert!(o.status.success(), "{file}: {}", text(&o));
        assert_clean(&lab);
        assert_eq!(
            foreign.state(),
            before,
            "down of {file} changed {}",
            foreign.0
        );
    }
}

/// Promise 3: for every kind of namespace a lab uses, a foreign one with its name makes `up`
/// refuse, naming it, before creating anything; `down` leaves it and its links alone.
#[test]
fn clash_with_every_kind_of_namespace_is_refused() {
    if !require_root("clash_with_every_kind_of_namespace_is_refused") {
        return;
    }
    let lab = unique("rclash");
    let _guard = LabGuard(lab.clone());
    let sandbox = format!(
        "{lab}.nas5.1-{}",
        &netlab::spec::network_id(&lab, "ov_net2")[..10]
    );
    let cases: [(&str, String, &[&[&str]]); 4] = [
        (
            "underlay",
            format!("{lab}.underlay"),
            &[&["link", "add", "switch0", "type", "bridge"]],
        ),
        (
            "host",
            format!("{lab}.nas5"),
            &[
                &["link", "add", "docker_gwbridge", "type", "bridge"],
                &[
                    "link", "add", "ens33", "type", "veth", "peer", "name", "host1",
                ],
            ],
        ),
        (
            "container",
            format!("{lab}.bbox3"),
            &[&[
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "veth1157874",
            ]],
        ),
        (
            "overlay sandbox",
            sandbox,
            &[
                &["link", "add", "br0", "type", "bridge"],
                &[
                    "link", "add", "vxlan0", "type", "vxlan", "id", "257", "dstport", "4789",
                ],
            ],
        ),
    ];
    for (kind, name, links) in cases {
        let foreign = ForeignNs::add(&name);
        for l in links {
            foreign.ip(l);
        }
        let before = foreign.state();
        let o = netlab(&["up", "-q", "--name", &lab, "labs/overlay.toml"]);
        assert_eq!(o.status.code(), Some(1), "{kind}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!(
                "namespace {name} already exists and does not belong to this lab"
            )) && err.contains("--name"),
            "{kind}: the error must name the clash and the way out: {}",
            text(&o)
        );
        assert_eq!(
            lab_namespaces(&lab),
            vec![name.clone()],
            "{kind}: up created something"
        );
        assert!(!Path::new(&format!("/run/netlab/{lab}")).exists(), "{kind}");
        let o = netlab(&["down", &lab]);
        assert!(o.status.success(), "{kind}: {}", text(&o));
        assert_eq!(lab_namespaces(&lab), vec![name.clone()], "{kind}: down");
        assert_eq!(
            foreign.state(),
            before,
            "{kind}: the foreign namespace changed"
        );
        drop(foreign);
        assert_clean(&lab);
    }
}

/// Promise 3, the race: a namespace that appears with a lab's name after `up` checked the
/// names but before it creates that one is not adopted, and the rollback leaves it alone.
#[test]
fn namespace_taken_during_up_is_not_adopted() {
    if !require_root("namespace_taken_during_up_is_not_adopted") {
        return;
    }
    let lab = unique("rrace");
    let _guard = LabGuard(lab.clone());
    // 100 ms before each operation: the bridge lab's last namespace (cache) comes ~0.5 s after
    // the record is written, which is after the up-front check of names.
    let mut up = Running(Some(spawn_netlab(
        &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
        &[("NETLAB_STEP_DELAY_US", "100000")],
    )));
    let started = wait_for_path(&record_path(&lab), Duration::from_secs(10));
    let name = format!("{lab}.cache");
    let foreign = ForeignNs::add(&name);
    foreign.ip(&[
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "veth1157874",
    ]);
    let before = foreign.state();
    let o = up.0.take().unwrap().wait_with_output().unwrap();
    assert!(started, "{}", text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "namespace {name} already exists and does not belong to this lab"
        )),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("everything it created was removed"),
        "{}",
        text(&o)
    );
    assert_eq!(lab_namespaces(&lab), vec![name.clone()]);
    assert_eq!(foreign.state(), before);
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab_namespaces(&lab), vec![name.clone()]);
    assert_eq!(foreign.state(), before);
    drop(foreign);
    assert_clean(&lab);
}

/// Promise 4: every sample lab built, checked and removed leaves the root namespace as it was.
#[test]
fn every_sample_lab_leaves_the_host_untouched() {
    if !require_root("every_sample_lab_leaves_the_host_untouched") {
        return;
    }
    if !have_nft() {
        eprintln!("NOTE: nft is not installed; the nftables ruleset is not compared");
    }
    let before = host_snapshot();
    let mut files: Vec<_> = std::fs::read_dir("labs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no sample labs in labs/");
    let mut built = 0;
    for (i, path) in files.iter().enumerate() {
        let file = path.to_str().unwrap();
        let lab = format!("{}{i}", unique("rhost"));
        let _guard = LabGuard(lab.clone());
        let o = netlab(&["up", "-q", "--name", &lab, file]);
        if !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("no 802.1Q VLAN support")
        {
            eprintln!("SKIPPED {file}: this kernel has no 802.1Q VLAN support");
            assert_clean(&lab);
            assert_eq!(
                host_snapshot(),
                before,
                "the failed up of {file} changed the root"
            );
            continue;
        }
        assert!(
            o.status.success(),
            "{file}: up or its checks failed: {}",
            text(&o)
        );
        let o = netlab(&["check", &lab]);
        assert!(o.status.success(), "{file}: check: {}", text(&o));
        let o = netlab(&["down", &lab]);
        assert!(o.status.success(), "{file}: down: {}", text(&o));
        assert_clean(&lab);
        assert_eq!(host_snapshot(), before, "{file} changed the root namespace");
        built += 1;
    }
    assert!(built >= 2, "fewer than two sample labs could be built");
}

/// Promise 8: a lab of 10,000 containers is refused before anything exists, saying the limit
/// and how to raise it; raising it lets the lab validate.
#[test]
fn ten_thousand_containers_are_refused_up_front() {
    if !require_root("ten_thousand_containers_are_refused_up_front") {
        return;
    }
    let lab = unique("rhuge");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    let file = generated_bridge_lab(&dir, &lab, 10_000);
    let file = file.to_str().unwrap();
    let up = std::process::Command::new(BIN)
        .args(["up", "-q", file])
        .env("NO_COLOR", "1")
        .env_remove("NETLAB_MAX_NAMESPACES")
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(2), "{}", text(&up));
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(
        err.contains(&format!(
            "{file}:1:1: this lab needs 10011 namespaces; the limit is 4096"
        )),
        "{}",
        text(&up)
    );
    assert!(err.contains("NETLAB_MAX_NAMESPACES"), "{}", text(&up));
    assert_clean(&lab);
    let o = netlab_env(&["validate", file], &[("NETLAB_MAX_NAMESPACES", "10011")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("10000 containers"),
        "{}",
        text(&o)
    );
    let o = netlab_env(&["validate", file], &[("NETLAB_MAX_NAMESPACES", "10010")]);
    assert_eq!(o.status.code(), Some(2), "the limit is exact: {}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(&lab);
}

/// Namespace names of every link's peer (veth peer, vxlan socket) seen from `ns`.
fn peer_namespaces(ns: &str) -> Vec<String> {
    let ids: Vec<(i64, String)> = ip_json(ns, &["netns", "list-id"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["nsid"].as_i64().unwrap(),
                e["name"].as_str().unwrap_or("?unnamed").to_string(),
            )
        })
        .collect();
    ip_json(ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["link_netnsid"].as_i64())
        .map(|id| {
            ids.iter()
                .find(|(i, _)| *i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| format!("?nsid {id}"))
        })
        .collect()
}

fn checks_pass(lab: &str) -> Value {
    let o = netlab(&["check", lab, "--json"]);
    assert!(o.status.success(), "check {lab}: {}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "{lab}: no checks");
    assert!(checks.iter().all(|c| c["pass"] == true), "{lab}: {v}");
    v
}

/// Promise 6: two different labs built at once both work, never reach each other, and taking
/// one down leaves the other intact and passing.
#[test]
fn two_labs_side_by_side_do_not_interfere() {
    if !require_root("two_labs_side_by_side_do_not_interfere") {
        return;
    }
    let (a, b) = (unique("rsideA"), unique("rsideB"));
    let (_ga, _gb) = (LabGuard(a.clone()), LabGuard(b.clone()));
    let up_a = spawn_netlab(&["up", "-q", "--name", &a, "labs/overlay.toml"], &[]);
    let up_b = spawn_netlab(&["up", "-q", "--name", &b, "labs/bridge.toml"], &[]);
    let (oa, ob) = (
        up_a.wait_with_output().unwrap(),
        up_b.wait_with_output().unwrap(),
    );
    assert!(oa.status.success(), "{}", text(&oa));
    assert!(ob.status.success(), "{}", text(&ob));
    checks_pass(&a);
    checks_pass(&b);

    // Every link of each lab ends in a namespace of the same lab.
    for (lab, other) in [(&a, &b), (&b, &a)] {
        for ns in lab_namespaces(lab) {
            for peer in peer_namespaces(&ns) {
                assert!(
                    peer.starts_with(&format!("{lab}.")),
                    "{ns} has a link into {peer} (other lab: {other})"
                );
            }
        }
    }
    // Both underlays are 10.1.1.0/24: A's hosts reach each other, never B's host1 (10.1.1.11),
    // and B's host1 never reaches A's (10.1.1.14).
    assert!(ping(&format!("{a}.nas4"), "10.1.1.15"), "A's own underlay");
    assert!(
        !ping(&format!("{a}.nas4"), "10.1.1.11"),
        "A reached B's host"
    );
    assert!(
        !ping(&format!("{b}.host1"), "10.1.1.14"),
        "B reached A's host"
    );

    let a_namespaces = lab_namespaces(&a);
    let a_links: Vec<Value> = a_namespaces.iter().map(|ns| links_state(ns)).collect();
    let o = netlab(&["down", &b]);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean(&b);
    assert_eq!(lab_namespaces(&a), a_namespaces, "down of B changed A");
    let after: Vec<Value> = a_namespaces.iter().map(|ns| links_state(ns)).collect();
    assert_eq!(after, a_links, "down of B changed A's links");
    checks_pass(&a);
    let o = netlab(&["down", &a]);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean(&a);
}
