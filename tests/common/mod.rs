//! Helpers for root integration tests: run the real binary, query the kernel with iproute2 as
//! an independent oracle, and guarantee cleanup (a guard takes the lab down even when an
//! assertion fails midway).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_netlab");

/// Root tests need root. Without it they fail loudly, unless NETLAB_SKIP_ROOT_TESTS=1 asks to
/// skip them, in which case they say so on stderr.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("NETLAB_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: needs root (NETLAB_SKIP_ROOT_TESTS=1)");
        return false;
    }
    panic!("{test} needs root: run the tests as root, or set NETLAB_SKIP_ROOT_TESTS=1 to skip them explicitly");
}

pub fn netlab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running netlab")
}

pub fn netlab_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running netlab")
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A lab name unique to this test process, so parallel tests and a user's labs never clash.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 100000)
}

/// Takes the lab down when dropped (also on panic), then asserts nothing of it is left.
pub struct LabGuard(pub String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = netlab(&["down", &self.0]);
        // Last resort, so a failing test never leaves namespaces on the machine.
        for ns in lab_namespaces(&self.0) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        let _ = std::fs::remove_dir_all(format!("/run/netlab/{}", self.0));
    }
}

/// Namespaces in /run/netns that belong to lab `lab` by name.
pub fn lab_namespaces(lab: &str) -> Vec<String> {
    let prefix = format!("{lab}.");
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Mounts of /run/netns/<lab>.* still in the mount table.
pub fn lab_mounts(lab: &str) -> Vec<String> {
    let needle = format!("/run/netns/{lab}.");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

/// `ip -j [-d] -n NS <args>` parsed.
pub fn ip_json(ns: &str, args: &[&str]) -> Value {
    let mut full = vec!["-j", "-d", "-n", ns];
    full.extend_from_slice(args);
    let o = Command::new("ip").args(&full).output().expect("running ip");
    assert!(o.status.success(), "ip {full:?} failed: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Array(vec![]))
}

pub fn bridge_json(ns: &str, args: &[&str]) -> Value {
    let mut full = vec!["-j", "-n", ns];
    full.extend_from_slice(args);
    let o = Command::new("bridge")
        .args(&full)
        .output()
        .expect("running bridge");
    assert!(o.status.success(), "bridge {full:?} failed: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Array(vec![]))
}

/// One link by name from `ip -j -d link show`.
pub fn link(ns: &str, dev: &str) -> Value {
    let v = ip_json(ns, &["link", "show", "dev", dev]);
    v.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| panic!("no link {dev} in {ns}"))
}

/// `addr/prefix` strings of a device, IPv4 only.
pub fn addrs(ns: &str, dev: &str) -> Vec<String> {
    let v = ip_json(ns, &["-4", "addr", "show", "dev", dev]);
    v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| format!("{}/{}", x["local"].as_str().unwrap(), x["prefixlen"]))
                .collect()
        })
        .unwrap_or_default()
}

/// Real ICMP with iputils ping inside a namespace: the independent oracle for reachability.
pub fn ping(ns: &str, dst: &str) -> bool {
    let o = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", dst,
        ])
        .output()
        .expect("running ping: install iputils-ping (.ci/run does)");
    o.status.success()
}

/// The root namespace as iproute2 sees it, plus the sysctls a lab tool could be tempted to touch.
/// (Neighbour entries are left out: the uplink's come and go with unrelated traffic.)
pub fn root_snapshot() -> String {
    let mut s = String::new();
    for args in [
        &["-j", "link"][..],
        &["-j", "addr"],
        &["-j", "route"],
        &["-j", "-6", "route"],
        &["-j", "rule"],
    ] {
        let o = Command::new("ip").args(args).output().expect("ip");
        s.push_str(&String::from_utf8_lossy(&o.stdout));
        s.push('\n');
    }
    for f in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv4/conf/all/forwarding",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ] {
        s.push_str(&format!(
            "{f}={}\n",
            std::fs::read_to_string(f).unwrap_or_default().trim()
        ));
    }
    // Counters change with unrelated traffic; compare structure only.
    strip_volatile(&s)
}

fn strip_volatile(s: &str) -> String {
    let v: String = s.lines().map(|l| l.to_string() + "\n").collect();
    // neighbour states (REACHABLE/STALE) flap on their own on the uplink: drop state fields
    let re_state = ["\"REACHABLE\"", "\"STALE\"", "\"DELAY\"", "\"PROBE\""];
    let mut out = v;
    for r in re_state {
        out = out.replace(r, "\"*\"");
    }
    out
}

pub fn assert_clean(lab: &str) {
    assert!(
        lab_namespaces(lab).is_empty(),
        "namespaces of {lab} left behind: {:?}",
        lab_namespaces(lab)
    );
    assert!(
        lab_mounts(lab).is_empty(),
        "mounts of {lab} left behind: {:?}",
        lab_mounts(lab)
    );
    assert!(
        !Path::new(&format!("/run/netlab/{lab}")).exists(),
        "state of {lab} left behind"
    );
}
