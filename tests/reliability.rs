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
/// its plan (`--dry-run` prints one iproute2 line per operation, then the name files).
fn min_build_time(file: &str) -> Duration {
    let o = netlab(&["up", "--dry-run", file]);
    assert!(o.status.success(), "{}", text(&o));
    let ops = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("ip ") || l.starts_with("bridge "))
        .count() as u32;
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
        let missing = [
            "no 802.1Q VLAN support",
            "no ipvlan support",
            "no dummy device support",
            "no IPsec ESP",
        ]
        .into_iter()
        .find(|m| String::from_utf8_lossy(&o.stderr).contains(m));
        if let (false, Some(m)) = (o.status.success(), missing) {
            eprintln!("SKIPPED {file}: this kernel has {m}");
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

// ---------------------------------------------------------------------------------------------
// Ownership by identity (issue "Ownership by identity"): netlab removes a namespace only when
// what is at the name is the very namespace (and mount point file) it recorded creating, never
// follows a symbolic link in /run/netns or /run/netlab, keeps its lock and its "complete"
// record all-or-nothing, and validates every journal entry before acting on it. Tests that
// fill, remove or swap things run in a private mount namespace with tmpfs over /run/netns and
// /run/netlab, so nothing outside them is affected.

/// The names of a lab file's namespaces, in plan order (from `up --dry-run`).
fn planned_namespaces(file: &str, lab: &str) -> Vec<String> {
    let o = netlab(&["up", "--dry-run", "--name", lab, file]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("ip netns add "))
        .map(String::from)
        .collect()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns")
        .join(name)
        .symlink_metadata()
        .is_ok()
}

/// How many namespaces `down` said it removed.
fn removed_count(o: &Output) -> usize {
    let out = String::from_utf8_lossy(&o.stdout);
    let tail = out
        .split("removed ")
        .nth(1)
        .unwrap_or_else(|| panic!("no count in: {}", text(o)));
    tail.split(' ').next().unwrap().parse().unwrap()
}

fn journal_path(lab: &str) -> std::path::PathBuf {
    Path::new("/run/netlab").join(lab).join("journal.jsonl")
}

/// Run a shell script in a private mount namespace (the oracle side only: netlab itself never
/// runs a shell). `$NETLAB` is the binary; the script sets up its own tmpfs mounts.
fn private_mounts(script: &str) -> Output {
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("NETLAB", BIN)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// Item 1 and the issue's kill test: SIGKILL at 40 points spread over the creation of a
/// 40-container lab's namespaces (after 0, 1, 2, ... of them were journaled as created), then
/// another tool creates one of the lab's names that netlab had not created yet, then `down`:
/// the foreign namespace survives untouched, every namespace of the lab is gone, and `down`
/// counts only those. Also the issue's own reproduction on the bridge lab.
#[test]
fn kill_then_foreign_namespace_under_a_lab_name_survives_down() {
    if !require_root("kill_then_foreign_namespace_under_a_lab_name_survives_down") {
        return;
    }
    let lab = unique("rown");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    let big = generated_bridge_lab(&dir, &lab, 40);
    let big = big.to_str().unwrap().to_string();
    let (mut with_foreign, mut mixed) = (0, 0);
    let points = (0..40usize)
        .map(|k| (big.as_str(), k, STEP_DELAY_ENV[0].1))
        .chain(std::iter::once(("labs/bridge.toml", 0, "300000")));
    for (file, k, delay) in points {
        let planned = planned_namespaces(file, &lab);
        let child = spawn_netlab(
            &["up", "-q", "--no-check", "--name", &lab, file],
            &[("NETLAB_STEP_DELAY_US", delay)],
        );
        let start = std::time::Instant::now();
        loop {
            let j = std::fs::read_to_string(journal_path(&lab)).unwrap_or_default();
            if !j.is_empty() && j.matches("\"entry\":\"created\"").count() >= k {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{file}: stuck before {k}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        signal(&child, Signal::SIGKILL);
        let _ = child.wait_with_output().unwrap();
        let what = format!("{file}, killed after {k} namespaces were created");
        let existing = lab_namespaces(&lab);
        let foreign = planned
            .iter()
            .rev()
            .find(|n| !existing.contains(n))
            .map(|n| ForeignNs::add(n));
        let before = foreign.as_ref().map(|f| f.state());
        let d = netlab(&["down", &lab]);
        assert!(d.status.success(), "{what}: {}", text(&d));
        assert_eq!(removed_count(&d), existing.len(), "{what}: {}", text(&d));
        match &foreign {
            Some(f) => {
                with_foreign += 1;
                if !existing.is_empty() {
                    mixed += 1;
                }
                assert!(netns_exists(&f.0), "{what}: {} was removed", f.0);
                assert_eq!(Some(f.state()), before, "{what}");
                assert_eq!(lab_namespaces(&lab), vec![f.0.clone()], "{what}");
                assert!(
                    String::from_utf8_lossy(&d.stderr).contains("left alone"),
                    "{what}: {}",
                    text(&d)
                );
            }
            None => assert!(lab_namespaces(&lab).is_empty(), "{what}"),
        }
        drop(foreign);
        assert_clean(&lab);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        with_foreign >= 30,
        "only {with_foreign} kills left a name free"
    );
    assert!(
        mixed >= 20,
        "only {mixed} kills found the lab's namespaces and a foreign one side by side"
    );
}

/// Item 1, the signal variant: a foreign namespace takes one of a 40-container lab's names
/// while `up` runs; SIGTERM then rolls back everything netlab made, and not the foreign one.
#[test]
fn sigterm_rollback_leaves_a_foreign_namespace_alone() {
    if !require_root("sigterm_rollback_leaves_a_foreign_namespace_alone") {
        return;
    }
    let lab = unique("rsig");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    let file = generated_bridge_lab(&dir, &lab, 40);
    let mut up = Running(Some(spawn_netlab(
        &[
            "up",
            "-q",
            "--no-check",
            "--name",
            &lab,
            file.to_str().unwrap(),
        ],
        &[("NETLAB_STEP_DELAY_US", "50000")],
    )));
    assert!(wait_for_path(&record_path(&lab), Duration::from_secs(10)));
    let foreign = ForeignNs::add(&format!("{lab}.c39"));
    foreign.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    let before = foreign.state();
    std::thread::sleep(Duration::from_millis(300));
    let child = up.0.take().unwrap();
    signal(&child, Signal::SIGTERM);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("everything it created was removed"),
        "{}",
        text(&o)
    );
    assert_eq!(lab_namespaces(&lab), vec![foreign.0.clone()]);
    assert_eq!(foreign.state(), before);
    drop(foreign);
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(&lab);
}

/// Item 2: a lab namespace replaced by a symbolic link to another namespace while `up` runs.
/// `up` keeps working on the namespaces it created (by handle, not by name), so nothing lands
/// in the other one, and `down` neither enters nor unmounts it.
#[test]
fn symlinked_namespace_is_never_entered_or_unmounted() {
    if !require_root("symlinked_namespace_is_never_entered_or_unmounted") {
        return;
    }
    let lab = unique("rlnk");
    let _guard = LabGuard(lab.clone());
    let victim = ForeignNs::add(&unique("rlnkvictim"));
    victim.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    let before = victim.state();
    let mut up = Running(Some(spawn_netlab(
        &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
        &[("NETLAB_STEP_DELAY_US", "100000")],
    )));
    let web = format!("{lab}.web");
    let created = format!("\"entry\":\"created\",\"name\":\"{web}\"");
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(journal_path(&lab))
        .unwrap_or_default()
        .contains(&created)
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "web never created"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Wait for the mount itself, then swap it for a link to the victim.
    let at = Path::new("/run/netns").join(&web);
    let mounted = format!("/run/netns/{web} ");
    while !lab_mounts(&lab).iter().any(|m| m.contains(&mounted)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "web never mounted"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let st = std::process::Command::new("umount")
        .arg(&at)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&at).unwrap();
    std::os::unix::fs::symlink(Path::new("/run/netns").join(&victim.0), &at).unwrap();
    let o = up.0.take().unwrap().wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        victim.state(),
        before,
        "up changed the namespace behind the link"
    );
    let s = netlab(&["status", &lab]);
    assert!(
        String::from_utf8_lossy(&s.stdout).contains("degraded"),
        "{}",
        text(&s)
    );
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert!(
        String::from_utf8_lossy(&d.stderr).contains(&format!("{web}: a symbolic link")),
        "{}",
        text(&d)
    );
    assert!(netns_exists(&victim.0));
    assert!(
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&format!("/run/netns/{}", victim.0)),
        "the victim was unmounted"
    );
    assert_eq!(victim.state(), before);
    std::fs::remove_file(&at).unwrap();
    assert_clean(&lab);
}

/// Item 2: a symbolic link pre-placed at a lab's journal is not followed (nothing outside
/// /run/netlab is written), and a name clash does not delete a user's file in the state
/// directory.
#[test]
fn state_directory_links_and_user_files_are_respected() {
    if !require_root("state_directory_links_and_user_files_are_respected") {
        return;
    }
    let lab = unique("rsym");
    let _guard = LabGuard(lab.clone());
    let outside_dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&outside_dir).unwrap();
    let outside = outside_dir.join("outside.txt");
    std::fs::write(&outside, "precious\n").unwrap();
    let state = Path::new("/run/netlab").join(&lab);
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::symlink(&outside, state.join("journal.jsonl")).unwrap();
    let o = netlab(&["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("symbolic link"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
    assert!(lab_namespaces(&lab).is_empty());
    std::fs::remove_file(state.join("journal.jsonl")).unwrap();

    // A clash: `up` gives up, and the user's note survives.
    std::fs::write(state.join("notes.txt"), "mine\n").unwrap();
    let foreign = ForeignNs::add(&format!("{lab}.underlay"));
    let o = netlab(&["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(state.join("notes.txt")).unwrap(),
        "mine\n"
    );
    drop(foreign);
    std::fs::remove_dir_all(&state).unwrap();
    let _ = std::fs::remove_dir_all(&outside_dir);
    assert_clean(&lab);
}

/// Item 3, the lock: `down` while an `up` of the same lab runs is refused and removes
/// nothing; `up` and `down` started together, again and again, never leave a namespace that
/// no record accounts for.
#[test]
fn up_and_down_racing_leave_no_orphans() {
    if !require_root("up_and_down_racing_leave_no_orphans") {
        return;
    }
    let lab = unique("rlock");
    let _guard = LabGuard(lab.clone());
    let mut up = Running(Some(spawn_netlab(
        &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
        &[("NETLAB_STEP_DELAY_US", "20000")],
    )));
    assert!(wait_for_path(&record_path(&lab), Duration::from_secs(10)));
    let d = netlab(&["down", &lab]);
    assert_eq!(d.status.code(), Some(1), "{}", text(&d));
    assert!(
        String::from_utf8_lossy(&d.stderr).contains("another netlab process"),
        "{}",
        text(&d)
    );
    let o = up.0.take().unwrap().wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab_namespaces(&lab).len(), 5);
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);

    for round in 0..15 {
        let up = spawn_netlab(
            &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
            &[],
        );
        std::thread::sleep(Duration::from_millis(round * 7 % 60));
        let d = netlab(&["down", &lab]);
        let o = up.wait_with_output().unwrap();
        let record = netlab::state::read_record(&lab).ok().flatten();
        let what = format!("round {round}: up {} / down {}", text(&o), text(&d));
        if let Some(r) = record {
            assert!(r.complete, "{what}");
            assert_eq!(lab_namespaces(&lab).len(), 5, "{what}");
            let d = netlab(&["down", &lab]);
            assert!(d.status.success(), "{what}: {}", text(&d));
        }
        assert_clean(&lab);
    }
}

/// Item 3, /run full: at every size of /run/netlab and every inode budget of /run/netns,
/// `up` either builds the whole lab and records it complete, or leaves nothing at all (no
/// namespace, no lock, no temporary record).
#[test]
fn full_run_is_all_or_nothing() {
    if !require_root("full_run_is_all_or_nothing") {
        return;
    }
    let lab = unique("rfull");
    let planned = planned_namespaces("labs/bridge.toml", &lab);
    let mut outcomes = Vec::new();
    let mut final_record_failed = 0;
    let limits: Vec<(String, String)> = [4, 8, 12, 16, 20, 24, 32, 64]
        .iter()
        .map(|k| (format!("size={k}k"), "nr_inodes=1000".to_string()))
        .chain(
            [2, 3, 4, 5, 6, 8]
                .iter()
                .map(|n| ("size=1m".to_string(), format!("nr_inodes={n}"))),
        )
        .collect();
    for (state_opt, netns_opt) in &limits {
        let script = format!(
            "mount -t tmpfs -o {state_opt} tmpfs /run/netlab && mount -t tmpfs -o {netns_opt} tmpfs /run/netns || exit 99
             \"$NETLAB\" up -q --no-check --name {lab} labs/bridge.toml; echo \"rc=$?\"
             echo netns: $(ls -A /run/netns)
             echo state: $(ls -A /run/netlab) $(ls -A /run/netlab/{lab} 2>/dev/null)
             \"$NETLAB\" down {lab} >/dev/null 2>&1; echo after: $(ls -A /run/netns) $(ls -A /run/netlab)"
        );
        let o = private_mounts(&script);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let what = format!("{state_opt}, /run/netns {netns_opt}: {}", text(&o));
        let line = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("{what}"))
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<String>>()
        };
        let ok = out.contains("rc=0");
        let netns = line("netns:");
        let state = line("state:");
        if ok {
            let mut want = planned.clone();
            want.sort();
            assert_eq!(netns, want, "{what}");
            assert!(state.contains(&"lab.json".to_string()), "{what}");
            assert!(!state.contains(&"lab.json.tmp".to_string()), "{what}");
        } else {
            assert!(out.contains("rc=1"), "{what}");
            assert!(netns.is_empty(), "{what}");
            assert!(state.is_empty(), "{what}");
        }
        assert!(line("after:").is_empty(), "{what}");
        let err = String::from_utf8_lossy(&o.stderr);
        let after_build = ["lab.json", "/etc/"];
        if !ok
            && err.contains("everything it created was removed")
            && after_build.iter().any(|f| err.contains(f))
        {
            // The lab was built, then its containers' name files or its "complete" record
            // did not fit: rolled back.
            final_record_failed += 1;
        }
        outcomes.push(ok);
    }
    assert!(
        final_record_failed >= 1,
        "no size made the final record fail after the build"
    );
    assert!(outcomes.iter().any(|o| *o), "no size was enough");
    assert!(
        outcomes.iter().filter(|o| !**o).count() >= 4,
        "the sweep never ran out of room: {outcomes:?}"
    );
}

/// Item 3: every catchable signal whose default is to terminate rolls `up` back.
#[test]
fn every_terminating_signal_rolls_back() {
    if !require_root("every_terminating_signal_rolls_back") {
        return;
    }
    let lab = unique("rsigs");
    let _guard = LabGuard(lab.clone());
    let file = "labs/bridge.toml";
    let build = min_build_time(file);
    for sig in [
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
    ] {
        for permille in [100, 500] {
            let at = build * permille / 1000;
            let what = format!("{file}, {} {at:?} into the build", sig.as_str());
            let o = interrupt_up(file, &lab, sig, at, &STEP_DELAY_ENV);
            assert!(
                assert_rolled_back(&o, &lab, sig, &what),
                "{what}: too late: {}",
                text(&o)
            );
        }
    }
}

/// Item 4: journal entries that name a path, another lab's namespace (with its real
/// identity), or garbage are reported and ignored; the other lab is untouched.
#[test]
fn hostile_journal_entries_are_ignored() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    if !require_root("hostile_journal_entries_are_ignored") {
        return;
    }
    let (a, b) = (unique("rja"), unique("rjb"));
    let (_ga, _gb) = (LabGuard(a.clone()), LabGuard(b.clone()));
    for l in [&a, &b] {
        up_ok(l, "labs/bridge.toml");
    }
    let dir = std::env::temp_dir().join(format!("netlab-{b}"));
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep\n").unwrap();
    let vm = std::fs::metadata(&victim).unwrap();
    let rel = format!("../..{}", victim.display());
    let a_web = format!("{a}.web");
    let am = std::fs::metadata(Path::new("/run/netns").join(&a_web)).unwrap();
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(journal_path(&b))
        .unwrap();
    let lines = [
        format!("{{\"entry\":\"namespace\",\"name\":\"{rel}\"}}"),
        format!("{{\"entry\":\"namespace\",\"name\":\"{rel}\",\"role\":\"container\"}}"),
        format!(
            "{{\"entry\":\"placeholder\",\"name\":\"{rel}\",\"file\":{{\"dev\":{},\"ino\":{}}}}}",
            vm.dev(),
            vm.ino()
        ),
        format!("{{\"entry\":\"namespace\",\"name\":\"{a_web}\",\"role\":\"container\"}}"),
        format!(
            "{{\"entry\":\"created\",\"name\":\"{a_web}\",\"ns\":{{\"dev\":{},\"ino\":{}}}}}",
            am.dev(),
            am.ino()
        ),
    ];
    for l in &lines {
        writeln!(j, "{l}").unwrap();
    }
    j.write_all(b"\xff\xfe garbage \x00\n{\"entry\":\n")
        .unwrap();
    drop(j);
    let d = netlab(&["down", &b]);
    assert!(d.status.success(), "{}", text(&d));
    assert_eq!(removed_count(&d), 5, "{}", text(&d));
    let err = String::from_utf8_lossy(&d.stderr);
    assert!(err.contains("not one of lab"), "{}", text(&d));
    assert!(err.contains("is not a journal entry"), "{}", text(&d));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    assert_eq!(lab_namespaces(&a).len(), 5, "lab {a} lost namespaces");
    let s = netlab(&["status", &a]);
    assert!(
        String::from_utf8_lossy(&s.stdout).contains(" up "),
        "{}",
        text(&s)
    );
    assert_clean(&b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Item 4: a lost journal. A complete lab is removed from its record's identities; a half-
/// built one is refused with exactly what to remove, and forgotten once that is done.
#[test]
fn lost_journal_is_recovered_or_refused_with_the_fix() {
    if !require_root("lost_journal_is_recovered_or_refused_with_the_fix") {
        return;
    }
    let lab = unique("rlost");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    std::fs::remove_file(journal_path(&lab)).unwrap();
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert_eq!(removed_count(&d), 5, "{}", text(&d));
    assert_clean(&lab);

    // Killed mid-build, then the journal is deleted.
    let build = min_build_time("labs/bridge.toml");
    let child = spawn_netlab(
        &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
        &STEP_DELAY_ENV,
    );
    assert!(wait_for_path(&record_path(&lab), Duration::from_secs(10)));
    std::thread::sleep(build / 2);
    signal(&child, Signal::SIGKILL);
    let _ = child.wait_with_output();
    let existing = lab_namespaces(&lab);
    assert!(!existing.is_empty());
    std::fs::remove_file(journal_path(&lab)).unwrap();
    let d = netlab(&["down", &lab]);
    assert_eq!(d.status.code(), Some(1), "{}", text(&d));
    let err = String::from_utf8_lossy(&d.stderr).to_string();
    for n in &existing {
        assert!(err.contains(&format!("ip netns del {n}")), "{}", text(&d));
    }
    assert_eq!(
        lab_namespaces(&lab),
        existing,
        "down removed what it cannot prove"
    );
    for n in &existing {
        let st = std::process::Command::new("ip")
            .args(["netns", "del", n])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    assert_clean(&lab);
}

/// Item 4: a damaged record is that lab's problem: `status` still shows every other lab and
/// exits 0, `status LAB` says what is wrong, and `down` works from the journal.
#[test]
fn damaged_record_is_confined_to_its_lab() {
    if !require_root("damaged_record_is_confined_to_its_lab") {
        return;
    }
    let (a, b) = (unique("rdmga"), unique("rdmgb"));
    let (_ga, _gb) = (LabGuard(a.clone()), LabGuard(b.clone()));
    for l in [&a, &b] {
        up_ok(l, "labs/bridge.toml");
    }
    std::fs::write(record_path(&b), b"{ not json \xff").unwrap();
    let s = netlab(&["status"]);
    assert!(s.status.success(), "{}", text(&s));
    let out = String::from_utf8_lossy(&s.stdout);
    assert!(out.contains(&a) && out.contains(&b), "{}", text(&s));
    assert!(out.contains("damaged"), "{}", text(&s));
    let j = netlab(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&j.stdout).unwrap();
    let st = |l: &str| {
        v["labs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == l)
            .map(|x| x["state"].as_str().unwrap().to_string())
    };
    assert_eq!(st(&a).as_deref(), Some("up"));
    assert_eq!(st(&b).as_deref(), Some("damaged"));
    let s = netlab(&["status", &b]);
    assert_eq!(s.status.code(), Some(1), "{}", text(&s));
    let d = netlab(&["down", &b]);
    assert!(d.status.success(), "{}", text(&d));
    assert_eq!(removed_count(&d), 5, "{}", text(&d));
    assert_clean(&b);
    assert_eq!(lab_namespaces(&a).len(), 5);
}

/// Item 5: a FIFO, a directory, an empty file and a symbolic link in /run/netns, and a link
/// whose name is not UTF-8, stop no read command: each finishes, the real namespace is shown
/// (its odd link escaped), and what was skipped is reported.
#[test]
fn hostile_entries_in_run_netns_do_not_stop_reads() {
    if !require_root("hostile_entries_in_run_netns_do_not_stop_reads") {
        return;
    }
    let script = r#"
        mount -t tmpfs tmpfs /run/netns || exit 99
        ip netns add zz-ok && ip -n zz-ok link add "$(printf 'a\377b')" type bridge || exit 98
        mkfifo /run/netns/zz-fifo; mkdir /run/netns/zz-dir; : > /run/netns/zz-empty
        ln -s zz-ok /run/netns/zz-link
        for c in "netns" "netns --json" "find-link" "find-link 2" "find-link --json" "bridge zz-ok" "vxlan zz-ok" "exec zz-fifo -- true" "exec zz-ok -- true"; do
            echo "== $c"
            timeout 20 "$NETLAB" $c 2>&1
            echo "rc=$?"
        done
        ip netns del zz-ok
    "#;
    let o = private_mounts(script);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!out.contains("rc=124"), "a command hung: {}", text(&o));
    assert!(!out.contains("rc=9"), "{}", text(&o));
    let section = |c: &str| {
        out.split(&format!("== {c}\n"))
            .nth(1)
            .and_then(|s| s.split("\n== ").next())
            .unwrap_or_else(|| panic!("no {c}: {out}"))
            .to_string()
    };
    let netns = section("netns");
    assert!(netns.contains("zz-ok"), "{netns}");
    for junk in ["zz-fifo", "zz-dir", "zz-empty", "zz-link"] {
        assert!(
            netns
                .lines()
                .any(|l| l.contains(junk) && l.contains("skipped")),
            "{junk} not reported as skipped: {netns}"
        );
    }
    assert!(section("find-link").contains("a\\xffb"), "{out}");
    assert!(section("find-link 2").contains("a\\xffb"), "{out}");
    assert!(section("exec zz-fifo -- true").contains("a FIFO"), "{out}");
    assert!(section("exec zz-ok -- true").contains("rc=0"), "{out}");
}

/// Item 7: a read-only /run/netns fails `up` cleanly, without claiming to have failed to
/// remove namespaces it never created; a low open-file limit is raised, or (without
/// CAP_SYS_RESOURCE, as in some containers) refused up front with the fix, never hit halfway.
#[test]
fn read_only_netns_dir_and_low_fd_limit() {
    if !require_root("read_only_netns_dir_and_low_fd_limit") {
        return;
    }
    let lab = unique("rro");
    let script = format!(
        "mount -t tmpfs tmpfs /run/netlab && mount -t tmpfs -o ro tmpfs /run/netns || exit 99
         \"$NETLAB\" up -q --no-check --name {lab} labs/bridge.toml; echo \"rc=$?\"
         echo left: $(ls -A /run/netns) $(ls -A /run/netlab)"
    );
    let o = private_mounts(&script);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("rc=1"), "{}", text(&o));
    assert!(err.contains("Read-only file system"), "{}", text(&o));
    assert!(!err.contains("failed too"), "{}", text(&o));
    assert!(
        err.contains("everything it created was removed"),
        "{}",
        text(&o)
    );
    assert!(out.lines().any(|l| l.trim() == "left:"), "{}", text(&o));

    let lab = unique("rfd");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    let file = generated_bridge_lab(&dir, &lab, 40);
    let o = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -n 64 && exec \"{BIN}\" up -q --no-check {}",
                file.display()
            ),
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    if o.status.success() {
        assert_eq!(lab_namespaces(&lab).len(), 42);
        assert!(netlab(&["down", &lab]).status.success());
    } else {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(err.contains("ulimit -n"), "{}", text(&o));
        assert!(!err.contains("Too many open files"), "{}", text(&o));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(&lab);
}

/// Drift and names: after another tool deletes one of a lab's namespaces, `status` says
/// `degraded` and what is missing, `check` warns why checks may fail, and `down FILE` finds
/// the lab started from that file under `--name`, and counts the namespaces it really removed.
#[test]
fn drift_is_shown_and_down_file_finds_a_renamed_lab() {
    if !require_root("drift_is_shown_and_down_file_finds_a_renamed_lab") {
        return;
    }
    let lab = unique("rdrift");
    let _guard = LabGuard(lab.clone());
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("copy-of-bridge.toml");
    std::fs::copy("labs/bridge.toml", &file).unwrap();
    let file = file.to_str().unwrap();
    up_ok(&lab, file);
    let gone = format!("{lab}.db");
    let st = std::process::Command::new("ip")
        .args(["netns", "del", &gone])
        .status()
        .unwrap();
    assert!(st.success());
    let s = netlab(&["status", &lab]);
    let out = String::from_utf8_lossy(&s.stdout);
    assert!(
        out.contains("degraded") && out.contains(&format!("missing: {gone}")),
        "{}",
        text(&s)
    );
    let c = netlab(&["check", &lab]);
    assert!(
        String::from_utf8_lossy(&c.stderr).contains("degraded"),
        "{}",
        text(&c)
    );
    let d = netlab(&["down", file]);
    assert!(d.status.success(), "{}", text(&d));
    assert!(
        String::from_utf8_lossy(&d.stdout).contains(&format!("lab {lab} is down")),
        "{}",
        text(&d)
    );
    assert_eq!(removed_count(&d), 4, "{}", text(&d));
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(&lab);
}

/// Item 3, the lock hole itself: a `down` opens the lock file, is slow to lock it, and in the
/// meantime the lab is taken down and built again by others. The slow `down` then locks a file
/// that is no longer the lab's lock: it must notice, start over, find the new `up` holding the
/// real lock, and leave it alone (it used to tear it out, leaving orphans nobody knew about).
#[test]
fn slow_down_never_tears_out_a_new_up() {
    if !require_root("slow_down_never_tears_out_a_new_up") {
        return;
    }
    let lab = unique("rslow");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let slow = Running(Some(spawn_netlab(
        &["down", &lab],
        &[("NETLAB_LOCK_DELAY_US", "1500000")],
    )));
    // Let it open the lock file, then take the lab down and start building it again.
    std::thread::sleep(Duration::from_millis(300));
    let d = netlab(&["down", &lab]);
    assert!(d.status.success(), "{}", text(&d));
    let mut up = Running(Some(spawn_netlab(
        &["up", "-q", "--no-check", "--name", &lab, "labs/bridge.toml"],
        &[("NETLAB_STEP_DELAY_US", "50000")],
    )));
    let mut slow = slow;
    let s = slow.0.take().unwrap().wait_with_output().unwrap();
    let u = up.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        u.status.success(),
        "the new up was torn out: {}\ndown: {}",
        text(&u),
        text(&s)
    );
    assert_eq!(s.status.code(), Some(1), "{}", text(&s));
    assert!(
        String::from_utf8_lossy(&s.stderr).contains("another netlab process"),
        "{}",
        text(&s)
    );
    assert_eq!(lab_namespaces(&lab).len(), 5);
    let r = netlab::state::read_record(&lab).unwrap().unwrap();
    assert!(r.complete);
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// A check that expects a reply does not give up after the first second of silence (a loaded
/// machine or an emulated VM can hold a reply that long), and one that expects none is not
/// slowed down by that patience. The silence is real: the target ignores echo requests
/// (`net.ipv4.icmp_echo_ignore_all`, per namespace) for its first 1.5 s.
#[test]
fn a_slow_reply_still_passes_and_silence_is_not_waited_for() {
    if !require_root("a_slow_reply_still_passes_and_silence_is_not_waited_for") {
        return;
    }
    let lab = unique("rslow");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let db = format!("{lab}.db");
    let set = move |v: &str| {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", &db, "sysctl", "-q", "-w"])
            .arg(format!("net.ipv4.icmp_echo_ignore_all={v}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    set("1");
    assert!(
        !ping(&format!("{lab}.web"), "172.18.0.10"),
        "db still answers"
    );
    let wake = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        set("0");
    });
    let v = checks_pass(&lab);
    wake.join().unwrap();
    let checks = v["checks"].as_array().unwrap();
    let web_db = checks
        .iter()
        .find(|c| c["from"] == "web" && c["to"] == "db")
        .expect("the web -> db check");
    assert!(
        web_db["sent"].as_u64().unwrap() > 2 && web_db["seconds"].as_f64().unwrap() > 1.4,
        "the reply came only after retries: {web_db}"
    );
    for c in checks.iter().filter(|c| c["expect"] == "unreachable") {
        assert!(
            c["seconds"].as_f64().unwrap() < 3.0,
            "an expected silence is not waited out longer: {c}"
        );
    }
}
