//! Root tests of `netlab impair NODE DEV ...` (issue "Live labs and scenarios"): per-interface
//! impairments as the device's root qdisc, checked with iproute2's `tc -j qdisc show` (run in
//! the namespace) and iputils `ping` round-trip times as independent oracles.
//!
//! netem (delay, jitter, loss, and a rate that comes with them) is not in every kernel (this
//! project's development machine has none): those tests are ignored with that reason and the
//! full-kernel tier, `tests/vm/run`, runs them with --include-ignored. On a kernel without
//! netem a test checks that netlab refuses, names the kernel option and changes nothing. A
//! rate alone is tbf, which both kernels have.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const NO_NETEM: &str =
    "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); try `modprobe sch_netem`";

/// Whether the kernel has a qdisc `kind`, tried with tc in a throwaway namespace
/// (`unshare -n`) that dies with the command.
fn kernel_has_qdisc(kind_and_args: &str) -> bool {
    Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            &format!("tc qdisc add dev lo root {kind_and_args}"),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn kernel_has_netem() -> bool {
    kernel_has_qdisc("netem delay 1ms")
}

fn kernel_has_tbf() -> bool {
    kernel_has_qdisc("tbf rate 1mbit burst 32k latency 50ms")
}

/// Tests that need netem fail, naming the test and the reason, on a kernel without it (they
/// run only when asked for, with --include-ignored, as tests/vm/run does).
fn need_netem(test: &str) {
    assert!(
        kernel_has_netem(),
        "{test} needs netem (CONFIG_NET_SCH_NETEM), which this kernel lacks: tests/vm/run runs it"
    );
}

/// tbf is in every stock kernel; if this one has none, say so and skip (a failure in the VM
/// tier, as for any missing feature there).
fn require_tbf(test: &str) -> bool {
    if kernel_has_tbf() {
        return true;
    }
    if std::env::var("NETLAB_VM_TIER").as_deref() == Ok("1") {
        panic!("{test}: the full-kernel tier has no tbf qdisc (CONFIG_NET_SCH_TBF)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} on this kernel: no tbf qdisc (CONFIG_NET_SCH_TBF)"
    );
    false
}

/// `tc -j qdisc show dev DEV` inside namespace `ns`: the oracle for what netlab set.
fn qdiscs(ns: &str, dev: &str) -> Vec<Value> {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "tc", "-j", "qdisc", "show", "dev", dev])
        .output()
        .expect("running tc (iproute2)");
    assert!(o.status.success(), "tc qdisc show in {ns}: {}", text(&o));
    match serde_json::from_slice(&o.stdout) {
        Ok(Value::Array(a)) => a,
        other => panic!("tc -j qdisc show in {ns}: {other:?}"),
    }
}

/// The root qdisc of `dev` in `ns`, as tc shows it.
fn root_qdisc(ns: &str, dev: &str) -> Value {
    let all = qdiscs(ns, dev);
    all.iter()
        .find(|q| q["root"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no root qdisc on {dev} in {ns}: {all:?}"))
}

/// The device's default: what a veth has before anything is set (noqueue, handle 0:).
fn assert_default(ns: &str, dev: &str) {
    let q = root_qdisc(ns, dev);
    assert_eq!(q["kind"], "noqueue", "{q}");
    assert_eq!(q["handle"], "0:", "{q}");
}

/// Round-trip times (ms) of `count` iputils pings of `size` bytes from `ns` to `dst`; None if
/// any echo went unanswered.
fn rtts(ns: &str, dst: &str, count: u32, size: u32) -> Option<Vec<f64>> {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "ping",
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "3",
            "-s",
            &size.to_string(),
            dst,
        ])
        .output()
        .expect("running ping: install iputils-ping (.ci/run does)");
    if !o.status.success() {
        return None;
    }
    let v: Vec<f64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.trim_end_matches(" ms").trim().parse().ok())
        .collect();
    (v.len() == count as usize).then_some(v)
}

fn min(v: &[f64]) -> f64 {
    v.iter().cloned().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().cloned().fold(0.0, f64::max)
}

fn impair(args: &[&str]) -> std::process::Output {
    let mut a = vec!["impair"];
    a.extend_from_slice(args);
    netlab(&a)
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// On a kernel without netem: delay, jitter and loss are refused with the kernel option and
/// the fix (exit 1), and the device keeps what it had, the default or an earlier rate.
#[test]
fn without_netem_impairments_are_refused_and_change_nothing() {
    if !require_root("without_netem_impairments_are_refused_and_change_nothing") {
        return;
    }
    if kernel_has_netem() {
        not_applicable(
            "without_netem_impairments_are_refused_and_change_nothing",
            "this kernel has netem",
        );
        return;
    }
    let lab = unique("timpno");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = format!("{lab}.web");
    let refused = |before: &Value| {
        for args in [
            vec!["--delay", "100ms"],
            vec!["--delay", "10ms", "--jitter", "1ms"],
            vec!["--loss", "1%"],
            vec!["--delay", "5ms", "--rate", "10mbit"],
        ] {
            let mut a = vec![web.as_str(), "eth0"];
            a.extend_from_slice(&args);
            let o = impair(&a);
            assert_eq!(o.status.code(), Some(1), "{a:?}: {}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(NO_NETEM), "{a:?}: {}", text(&o));
            assert!(err.contains("eth0 is unchanged"), "{a:?}: {}", text(&o));
            assert!(o.stdout.is_empty(), "{a:?}: {}", text(&o));
            assert_eq!(&root_qdisc(&web, "eth0"), before, "{a:?} changed eth0");
        }
    };
    assert_default(&web, "eth0");
    refused(&root_qdisc(&web, "eth0"));
    if kernel_has_tbf() {
        ok(impair(&[&web, "eth0", "--rate", "10mbit"]));
        let q = root_qdisc(&web, "eth0");
        assert_eq!(q["kind"], "tbf", "{q}");
        refused(&q);
    }
    assert!(ping_eventually(&web, "172.18.0.10"), "web lost db");
}

/// A rate alone is a tbf root qdisc with that rate (tc shows bytes per second); it shapes real
/// traffic (a large ping waits for tokens) without dropping it; a new rate replaces the old
/// one; `--clear` goes back to the default, and clearing again is a no-op.
#[test]
fn rate_is_tbf_and_clear_restores_the_default() {
    if !require_root("rate_is_tbf_and_clear_restores_the_default")
        || !require_tbf("rate_is_tbf_and_clear_restores_the_default")
    {
        return;
    }
    let lab = unique("timprate");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = format!("{lab}.web");
    assert!(ping_eventually(&web, "172.18.0.10"));
    let fast = rtts(&web, "172.18.0.10", 2, 8000).expect("large pings before any rate");

    let out = ok(impair(&[&web, "eth0", "--rate", "10mbit"]));
    assert!(out.contains("rate 10mbit (tbf 1:)"), "{out}");
    let q = root_qdisc(&web, "eth0");
    assert_eq!(q["kind"], "tbf", "{q}");
    assert_eq!(q["options"]["rate"], 1_250_000, "10mbit in bytes/s: {q}");
    assert_eq!(qdiscs(&web, "eth0").len(), 1, "one qdisc, no child");
    assert!(
        rtts(&web, "172.18.0.10", 2, 56).is_some(),
        "10mbit drops pings"
    );

    // 100kbit: an 8000-byte echo is six fragments, ~8.2 kB on the wire, beyond the bucket
    // (two frames): the rest wait for tokens at 12.5 kB/s, ~0.4 s, and none is dropped.
    ok(impair(&[&web, "eth0", "--rate", "100kbit"]));
    let q = root_qdisc(&web, "eth0");
    assert_eq!(q["options"]["rate"], 12_500, "{q}");
    let slow = rtts(&web, "172.18.0.10", 2, 8000).expect("a slow rate must queue, not drop");
    assert!(
        min(&slow) >= 250.0 && max(&fast) < 100.0,
        "RTT at 100kbit {slow:?}, unlimited {fast:?}"
    );

    let out = ok(impair(&[&web, "eth0", "--clear"]));
    assert!(out.contains("tbf qdisc removed"), "{out}");
    assert_default(&web, "eth0");
    let out = ok(impair(&[&web, "eth0", "--clear"]));
    assert!(out.contains("nothing to clear"), "{out}");
    let after = rtts(&web, "172.18.0.10", 2, 8000).expect("large pings after --clear");
    assert!(max(&after) < 100.0, "RTT after --clear {after:?}");
}

fn lab_node(lab: &str, node: &str) -> String {
    format!("{lab}.{node}")
}

/// Bad values exit 2 with what is wrong and the accepted form, and change nothing.
#[test]
fn bad_impairments_exit_2_and_change_nothing() {
    if !require_root("bad_impairments_exit_2_and_change_nothing") {
        return;
    }
    let lab = unique("timpbad");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = format!("{lab}.web");
    let before = qdiscs(&web, "eth0");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--delay", "100"], "--delay 100: give a unit"),
        (vec!["--delay", "-5ms"], "--delay -5ms: not a duration"),
        (vec!["--delay", "10min"], "unknown unit"),
        (vec!["--loss", "101%"], "--loss 101%: at most 100%"),
        (vec!["--loss", "lots"], "not a percentage"),
        (vec!["--rate", "10"], "--rate 10: give a unit"),
        (vec!["--rate", "10mb"], "unknown unit \"mb\""),
        (vec!["--rate", "0mbit"], "at least 8bit"),
        (vec!["--jitter", "10ms"], "--delay"),
        (vec![], "nothing to set"),
        (vec!["--clear", "--delay", "1ms"], "cannot be used with"),
    ];
    for (args, want) in cases {
        let mut a = vec![web.as_str(), "eth0"];
        a.extend_from_slice(&args);
        let o = impair(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{a:?}: want {want:?}: {}",
            text(&o)
        );
        assert_eq!(qdiscs(&web, "eth0"), before, "{a:?} changed eth0");
    }
    let o = impair(&[&web, "eth7", "--rate", "1mbit"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no interface eth7"),
        "{}",
        text(&o)
    );
    let o = impair(&[&format!("{lab}.wbe"), "eth0", "--rate", "1mbit"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean"),
        "{}",
        text(&o)
    );
    assert_eq!(qdiscs(&web, "eth0"), before);
}

/// `--delay 100ms`: tc shows netem with that delay, and every ping between web and db takes
/// at least 100 ms, whichever side sends the echo (web's replies are delayed too); after
/// `--clear`, well under 100 ms again. With `--jitter`, tc shows it.
#[test]
#[ignore = "needs netem (CONFIG_NET_SCH_NETEM): tests/vm/run runs it"]
fn delay_is_netem_and_shows_in_ping_rtt() {
    if !require_root("delay_is_netem_and_shows_in_ping_rtt") {
        return;
    }
    need_netem("delay_is_netem_and_shows_in_ping_rtt");
    let lab = unique("timpdelay");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let (web, db) = (lab_node(&lab, "web"), lab_node(&lab, "db"));
    assert!(ping_eventually(&web, "172.18.0.10"));
    let base = rtts(&web, "172.18.0.10", 3, 56).expect("pings before impair");
    assert!(max(&base) < 100.0, "{base:?}");

    let out = ok(impair(&[&web, "eth0", "--delay", "100ms"]));
    assert!(out.contains("delay 100ms (netem 1:)"), "{out}");
    let q = root_qdisc(&web, "eth0");
    assert_eq!(q["kind"], "netem", "{q}");
    let d = q["options"]["delay"]["delay"].as_f64().unwrap_or(-1.0);
    assert!((d - 0.1).abs() < 1e-6, "delay 0.1 s: {q}");
    let from_web = rtts(&web, "172.18.0.10", 3, 56).expect("pings from web");
    assert!(min(&from_web) >= 100.0, "web -> db {from_web:?}");
    let to_web = rtts(&db, "172.18.0.2", 3, 56).expect("pings to web");
    assert!(min(&to_web) >= 100.0, "db -> web {to_web:?}");

    ok(impair(&[
        &web, "eth0", "--delay", "100ms", "--jitter", "10ms",
    ]));
    let q = root_qdisc(&web, "eth0");
    let j = q["options"]["delay"]["jitter"].as_f64().unwrap_or(-1.0);
    assert!((j - 0.01).abs() < 1e-6, "jitter 0.01 s: {q}");
    assert_eq!(qdiscs(&web, "eth0").len(), 1, "replaced, not added");

    let out = ok(impair(&[&web, "eth0", "--clear"]));
    assert!(out.contains("netem qdisc removed"), "{out}");
    assert_default(&web, "eth0");
    let after = rtts(&web, "172.18.0.10", 3, 56).expect("pings after --clear");
    assert!(max(&after) < 100.0, "after --clear {after:?}");
}

/// `--loss 100%` drops every packet web sends: its pings fail; a partial loss shows in tc;
/// `--clear` brings the pings back.
#[test]
#[ignore = "needs netem (CONFIG_NET_SCH_NETEM): tests/vm/run runs it"]
fn loss_is_netem_and_100_percent_drops_pings() {
    if !require_root("loss_is_netem_and_100_percent_drops_pings") {
        return;
    }
    need_netem("loss_is_netem_and_100_percent_drops_pings");
    let lab = unique("timploss");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = lab_node(&lab, "web");
    assert!(ping_eventually(&web, "172.18.0.10"));
    ok(impair(&[&web, "eth0", "--loss", "100%"]));
    let q = root_qdisc(&web, "eth0");
    assert_eq!(q["kind"], "netem", "{q}");
    assert!(q["options"]["loss-random"].is_object(), "{q}");
    assert!(!ping(&web, "172.18.0.10"), "pings pass 100% loss");
    assert!(
        !ping(&lab_node(&lab, "db"), "172.18.0.2"),
        "web answers through 100% loss"
    );
    ok(impair(&[&web, "eth0", "--loss", "0.5%"]));
    let q = root_qdisc(&web, "eth0");
    assert!(q["options"]["loss-random"].is_object(), "{q}");
    ok(impair(&[&web, "eth0", "--clear"]));
    assert_default(&web, "eth0");
    assert!(
        ping_eventually(&web, "172.18.0.10"),
        "no pings after --clear"
    );
}

/// Delay and rate together are one netem qdisc with netem's own rate (no tbf), which shapes:
/// a large ping at 100kbit takes far longer than the delay alone.
#[test]
#[ignore = "needs netem (CONFIG_NET_SCH_NETEM): tests/vm/run runs it"]
fn rate_with_delay_is_one_netem_qdisc() {
    if !require_root("rate_with_delay_is_one_netem_qdisc") {
        return;
    }
    need_netem("rate_with_delay_is_one_netem_qdisc");
    let lab = unique("timpboth");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let web = lab_node(&lab, "web");
    assert!(ping_eventually(&web, "172.18.0.10"));
    let out = ok(impair(&[
        &web, "eth0", "--delay", "20ms", "--rate", "10mbit",
    ]));
    assert!(out.contains("delay 20ms rate 10mbit (netem 1:)"), "{out}");
    let all = qdiscs(&web, "eth0");
    assert_eq!(all.len(), 1, "one qdisc: {all:?}");
    let q = &all[0];
    assert_eq!(q["kind"], "netem", "{q}");
    assert_eq!(q["options"]["rate"]["rate"], 1_250_000, "{q}");
    let d = q["options"]["delay"]["delay"].as_f64().unwrap_or(-1.0);
    assert!((d - 0.02).abs() < 1e-6, "{q}");
    let small = rtts(&web, "172.18.0.10", 2, 56).expect("pings at 10mbit + 20ms");
    assert!(min(&small) >= 20.0, "{small:?}");

    ok(impair(&[
        &web, "eth0", "--delay", "20ms", "--rate", "100kbit",
    ]));
    let q = root_qdisc(&web, "eth0");
    assert_eq!(q["options"]["rate"]["rate"], 12_500, "{q}");
    // ~8.2 kB at 12.5 kB/s: ~0.65 s of serialisation on top of the 20 ms.
    let big = rtts(&web, "172.18.0.10", 1, 8000).expect("a large ping at 100kbit");
    assert!(min(&big) >= 300.0, "{big:?}");
    ok(impair(&[&web, "eth0", "--clear"]));
    assert_default(&web, "eth0");
}
