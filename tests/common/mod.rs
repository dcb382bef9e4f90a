//! Helpers for root integration tests: run the real binary, query the kernel with iproute2 as
//! an independent oracle, and guarantee cleanup (a guard takes the lab down even when an
//! assertion fails midway).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A lab of its own for a test: a unique name from `prefix` (removed by the guard, even on
/// panic), and `text` written as lab.toml in a directory of its own, [`lab_dir`] (the guard
/// removes it too).
pub fn lab_file(
    prefix: &str,
    text: &str,
) -> (String, LabGuard, std::path::PathBuf, std::path::PathBuf) {
    let lab = unique(prefix);
    let guard = LabGuard(lab.clone());
    let dir = lab_dir(&lab);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.toml");
    std::fs::write(&file, text).unwrap();
    (lab, guard, dir, file)
}

/// The directory [`lab_file`] writes lab `lab`'s file in.
pub fn lab_dir(lab: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{lab}-lab"))
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
        let _ = std::fs::remove_dir_all(lab_dir(&self.0));
        for e in lab_etc_netns(&self.0) {
            let p = Path::new("/etc/netns").join(e);
            let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
        }
    }
}

/// /etc/netns held for a test that writes into it itself (a dry-run script's `mkdir -p`,
/// another tool's directory): it exists, made and marked as netlab makes it when it was
/// missing, and an entry of the test's own keeps it there, so that no lab going down meanwhile
/// finds it empty and removes it under the test (which would then make it again, unmarked, and
/// leave it behind: tests run side by side). Dropped, the entry goes, and the directory too if
/// netlab's mark is all that is left, as the last lab to leave it does.
pub struct EtcNetnsHold(std::path::PathBuf);

impl EtcNetnsHold {
    pub fn take(lab: &str) -> EtcNetnsHold {
        let dir = Path::new("/etc/netns");
        let hold = dir.join(format!(".{lab}.test-hold"));
        for _ in 0..20 {
            if std::fs::create_dir(dir).is_ok() {
                let _ = std::fs::write(dir.join(".netlab-made"), "");
            }
            // The directory may vanish between the two (another lab's `down`): then again.
            if std::fs::write(&hold, "").is_ok() {
                return EtcNetnsHold(hold);
            }
        }
        panic!("cannot hold /etc/netns");
    }
}

impl Drop for EtcNetnsHold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let dir = Path::new("/etc/netns");
        let only_mark = std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .all(|e| e.file_name() == ".netlab-made")
        });
        if only_mark && dir.join(".netlab-made").exists() {
            let _ = std::fs::remove_file(dir.join(".netlab-made"));
            if std::fs::remove_dir(dir).is_err() {
                let _ = std::fs::write(dir.join(".netlab-made"), "");
            }
        }
    }
}

/// Entries of /etc/netns that belong to lab `lab` by name (the containers' name files).
pub fn lab_etc_netns(lab: &str) -> Vec<String> {
    let prefix = format!("{lab}.");
    let mut v: Vec<String> = std::fs::read_dir("/etc/netns")
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

/// The global IPv6 addresses of `dev` in `ns` (`ip -6 -j addr`), each with its prefix length,
/// and whether every one of them is usable now (nodad, not tentative, no failed DAD).
pub fn global6(ns: &str, dev: &str) -> (Vec<String>, bool) {
    let v = ip_json(ns, &["-6", "addr", "show", "dev", dev, "scope", "global"]);
    let infos: Vec<Value> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["addr_info"].as_array().unwrap().clone())
        .filter(|a| a.get("local").is_some())
        .collect();
    let addrs = infos
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    let usable = infos.iter().all(|a| {
        a["nodad"] == true && a.get("tentative").is_none() && a.get("dadfailed").is_none()
    });
    (addrs, usable)
}

/// `ip -6 -j route show default` in `ns`: (gateway, device) of each IPv6 default route.
pub fn defaults6(ns: &str) -> Vec<(Option<String>, String)> {
    ip_json(ns, &["-6", "route", "show", "default"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["gateway"].as_str().map(String::from),
                r["dev"].as_str().unwrap().to_string(),
            )
        })
        .collect()
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
    assert!(
        lab_etc_netns(lab).is_empty(),
        "/etc/netns entries of {lab} left behind: {:?}",
        lab_etc_netns(lab)
    );
}

/// Everything of the root namespace a lab tool could change, as one comparable text: links,
/// addresses, routes and rules (IPv4 and IPv6), neighbour entries, every sysctl under
/// net/ipv{4,6}/conf/{all,default}, ip_forward, and the nftables ruleset when `nft` is
/// installed. Address lifetimes and IPv6 route expiry count down on their own and are left out.
/// Neighbour entries on eth0 are left out too: they come and go with the machine's own traffic
/// (the uplink's gateway goes REACHABLE/STALE/gone), which no lab can cause.
pub fn host_snapshot() -> String {
    fn ip(args: &[&str]) -> Value {
        let o = Command::new("ip").args(args).output().expect("running ip");
        assert!(o.status.success(), "ip {args:?}: {}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
    }
    fn strip(v: &mut Value, keys: &[&str]) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !keys.contains(&k.as_str()) && !k.ends_with("_timer"));
                m.values_mut().for_each(|x| strip(x, keys));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| strip(x, keys)),
            _ => {}
        }
    }
    let volatile = [
        "valid_life_time",
        "preferred_life_time",
        "tentative",
        "expires",
        "used",
    ];
    let mut s = String::new();
    for args in [
        &["-j", "-d", "link"][..],
        &["-j", "addr"],
        &["-j", "-4", "route", "show", "table", "all"],
        &["-j", "-6", "route", "show", "table", "all"],
        &["-j", "-4", "rule"],
        &["-j", "-6", "rule"],
        &["-j", "-4", "neigh"],
        &["-j", "-6", "neigh"],
    ] {
        let mut v = ip(args);
        strip(&mut v, &volatile);
        if args.contains(&"neigh") {
            if let Value::Array(a) = &mut v {
                a.retain(|n| n["dev"] != "eth0");
            }
        }
        s.push_str(&format!("ip {}: {v}\n", args.join(" ")));
    }
    let mut files = vec!["/proc/sys/net/ipv4/ip_forward".to_string()];
    for dir in [
        "/proc/sys/net/ipv4/conf/all",
        "/proc/sys/net/ipv4/conf/default",
        "/proc/sys/net/ipv6/conf/all",
        "/proc/sys/net/ipv6/conf/default",
    ] {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        names.sort();
        files.extend(names);
    }
    for f in files {
        // Some are write-only in effect (ipv6 stable_secret reads EIO until set): the error is
        // part of the state.
        let v = std::fs::read_to_string(&f).unwrap_or_else(|e| format!("<{e}>"));
        s.push_str(&format!("{f}={}\n", v.trim()));
    }
    if let Ok(o) = Command::new("nft").args(["-j", "list", "ruleset"]).output() {
        assert!(o.status.success(), "nft -j list ruleset: {}", text(&o));
        s.push_str(&format!("nft: {}\n", String::from_utf8_lossy(&o.stdout)));
    } else {
        s.push_str("nft: not installed\n");
    }
    s
}

/// Whether `nft` is installed (the nftables ruleset is then part of [`host_snapshot`]).
pub fn have_nft() -> bool {
    Command::new("nft").arg("--version").output().is_ok()
}

/// A namespace this test made itself with `ip netns add`, as a user or Docker would: removed
/// when dropped, also on panic.
pub struct ForeignNs(pub String);

impl ForeignNs {
    pub fn add(name: &str) -> ForeignNs {
        let o = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .unwrap();
        assert!(o.status.success(), "ip netns add {name}: {}", text(&o));
        ForeignNs(name.to_string())
    }

    /// `ip -n NS <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.0.as_str()];
        full.extend_from_slice(args);
        let o = Command::new("ip").args(&full).output().unwrap();
        assert!(o.status.success(), "ip {full:?}: {}", text(&o));
    }

    /// Links and addresses as iproute2 sees them, to compare.
    pub fn state(&self) -> String {
        format!("{}\n{}", links_state(&self.0), addrs_state(&self.0))
    }
}

impl Drop for ForeignNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// `ip -j -d link` of a namespace without what changes on its own, to compare before and after.
pub fn links_state(ns: &str) -> Value {
    without_volatile(ip_json(ns, &["link"]))
}

/// `ip -j -d addr` of a namespace without what changes on its own, to compare.
pub fn addrs_state(ns: &str) -> Value {
    without_volatile(ip_json(ns, &["addr"]))
}

/// Drops what the kernel changes by itself: bridge timers, address lifetimes and the
/// duplicate-address-detection state of IPv6 addresses (tentative until DAD finishes).
fn without_volatile(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    !k.ends_with("_timer")
                        && !matches!(
                            k.as_str(),
                            "tentative" | "valid_life_time" | "preferred_life_time"
                        )
                });
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// A bridge lab named `name` with `containers` containers on one host, written to `dir`.
pub fn generated_bridge_lab(dir: &Path, name: &str, containers: usize) -> std::path::PathBuf {
    use std::fmt::Write;
    // A Linux bridge takes at most 1023 ports: 1000 containers per host.
    let hosts = containers.div_ceil(1000).max(1);
    let mut s = format!("[lab]\nname = \"{name}\"\n\n");
    for h in 1..=hosts {
        writeln!(s, "[hosts.host{h}]\naddress = \"10.1.1.{}\"\n", 10 + h).unwrap();
    }
    s.push_str("[networks.net1]\ndriver = \"bridge\"\nsubnet = \"172.20.0.0/16\"\n\n");
    for i in 0..containers {
        writeln!(
            s,
            "[containers.c{i}]\nhost = \"host{}\"\nnetworks = [\"net1\"]\n",
            i / 1000 + 1
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, s).unwrap();
    path
}

/// Wait until `path` exists; false after `timeout`.
pub fn wait_for_path(path: &Path, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    false
}

/// `netlab` with arguments, spawned with its output captured.
pub fn spawn_netlab(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("running netlab")
}

/// One ICMP echo with iputils ping inside a namespace: the reply's TTL, or None if nothing came back.
pub fn ping_ttl(ns: &str, dst: &str) -> Option<u8> {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "1", dst])
        .output()
        .expect("running ping: install iputils-ping (.ci/run does)");
    if !o.status.success() {
        return None;
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let at = out.find("ttl=")? + 4;
    out[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// iputils' answer for a pair a tool under test claims is `reachable` (or not): asked once,
/// and again up to three times with a longer wait only while it disagrees, so one echo lost
/// to a loaded machine (the VM tier runs under TCG) is not a disagreement, while a real one
/// still is (an unreachable pair fails all four tries, a reachable one answers).
pub fn ping_ttl_judging(ns: &str, dst: &str, reachable: bool) -> Option<u8> {
    let mut got = ping_ttl(ns, dst);
    for _ in 0..3 {
        if got.is_some() == reachable {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        got = ping_ttl(ns, dst);
    }
    got
}

/// A sysctl as `sysctl -n` reads it inside a namespace (the independent oracle for netlab's
/// own /proc/sys writes).
pub fn sysctl_in(ns: &str, key: &str) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", key])
        .output()
        .expect("running sysctl (procps)");
    assert!(o.status.success(), "sysctl {key} in {ns}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether this kernel can create 802.1Q sub-interfaces, tried with iproute2 in a throwaway
/// namespace (`unshare -n`) that dies with the command: nothing outlives the probe.
pub fn kernel_has_vlan() -> bool {
    Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link add p0 type veth peer name p1 && ip link add link p0 name p0.1 type vlan id 1",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Can this kernel create ipvlan devices (CONFIG_IPVLAN)? Tried in a throwaway namespace.
pub fn kernel_has_ipvlan() -> bool {
    Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link add p0 type veth peer name p1 && ip link add link p0 name p2 type ipvlan mode l2",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Can this kernel create dummy devices (CONFIG_DUMMY)? Tried in a throwaway namespace.
pub fn kernel_has_dummy() -> bool {
    Command::new("unshare")
        .args(["-n", "ip", "link", "add", "d0", "type", "dummy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Tests that need 802.1Q. On a kernel without it they say so by name on the terminal (past
/// the test harness's capture) and return false; the full-kernel tier (`tests/vm/run`, which
/// sets NETLAB_VM_TIER=1) runs them, and there a missing feature is a failure, not a skip.
pub fn require_vlan(test: &str) -> bool {
    if kernel_has_vlan() {
        return true;
    }
    if std::env::var("NETLAB_VM_TIER").as_deref() == Ok("1") {
        panic!("{test}: the full-kernel tier has no 802.1Q VLAN support (CONFIG_VLAN_8021Q)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} on this kernel: no 802.1Q VLAN support (CONFIG_VLAN_8021Q); covered by tests/vm/run"
    );
    false
}

/// Make the k-th kernel operation of `up FILE` fail, for every k of its plan: each run must exit
/// 1 naming the injected failure and the rollback, and leave nothing. Returns the plan size.
pub fn assert_rollback_at_every_step(lab: &str, file: &str, min_ops: usize) -> usize {
    let plan = netlab(&["up", "--dry-run", "--name", lab, file]);
    // Kernel operations: the iproute2 lines (the /etc/netns files after them are not ones).
    let total = String::from_utf8_lossy(&plan.stdout)
        .lines()
        .filter(|l| l.starts_with("ip ") || l.starts_with("bridge "))
        .count();
    assert!(total > min_ops, "plan too small: {}", text(&plan));
    for k in 1..=total {
        let ks = k.to_string();
        let o = netlab_env(
            &["up", "-q", "--no-check", "--name", lab, file],
            &[("NETLAB_FAIL_AT", &ks)],
        );
        assert_eq!(o.status.code(), Some(1), "k={k}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("injected failure at operation {k}")),
            "k={k}: {}",
            text(&o)
        );
        assert!(
            err.contains("everything it created was removed"),
            "k={k}: {}",
            text(&o)
        );
        assert_clean(lab);
    }
    total
}

/// `netlab up -q --no-check --name LAB FILE`, which must succeed.
pub fn up_ok(lab: &str, file: &str) {
    let o = netlab(&["up", "-q", "--no-check", "--name", lab, file]);
    assert!(o.status.success(), "up {lab} from {file}: {}", text(&o));
}

/// `ping` that may take a few tries: for "reachable" after a change, on a loaded machine (the
/// first echo can be lost while the kernel's linkwatch brings a new port into forwarding).
pub fn ping_eventually(ns: &str, dst: &str) -> bool {
    (0..4).any(|_| ping(ns, dst))
}

/// A tcpdump in `ns` on `dev`, started and ready: `first_echo` waits for the first ICMP echo
/// request it sees and returns its line.
/// (Its stderr stays open, so its closing summary never meets a closed pipe.)
pub struct Capture {
    child: std::process::Child,
    line: std::sync::mpsc::Receiver<String>,
    _stderr: BufReader<std::process::ChildStderr>,
}

impl Capture {
    pub fn start(ns: &str, dev: &str) -> Capture {
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

    pub fn first_echo(mut self) -> String {
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

/// The source address of the echo request namespace `to` sees on `dev` when `from` pings
/// `dst` (tcpdump is the oracle), and whether the ping came back.
pub fn echo_source(from: &str, to: &str, dev: &str, dst: &str) -> (String, bool) {
    let cap = Capture::start(to, dev);
    let answered = Command::new("ip")
        .args([
            "netns", "exec", from, "ping", "-n", "-q", "-c", "2", "-W", "1", dst,
        ])
        .output()
        .unwrap()
        .status
        .success();
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

/// Network `net`'s id in lab `lab` (which is up), as `inspect` prints it: derived, or the one
/// the lab file gives (labs/overlay.toml gives ov_net1 seed 000's).
pub fn net_id(lab: &str, net: &str) -> String {
    let o = netlab(&["inspect", &format!("{lab}/{net}"), "--json"]);
    assert!(o.status.success(), "inspect {lab}/{net}: {}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

/// `netlab run LAB --json`: the lab's `count` scenarios, every one and every step passing, and
/// afterwards the lab's own checks pass again (the runner puts the lab back).
pub fn scenarios_pass(lab: &str, count: usize) {
    let o = netlab(&["run", lab, "--json"]);
    assert!(o.status.success(), "run: {}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), count, "{v}");
    for s in scenarios {
        assert_eq!(s["pass"], true, "{s}");
        assert!(
            s["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["pass"] == true),
            "{s}"
        );
    }
    let o = netlab(&["check", lab]);
    assert!(o.status.success(), "check after run: {}", text(&o));
}

/// `netlab up` of `file` as `lab`, all of its `checks` checks passing.
pub fn up_passing(lab: &str, file: &str, checks: usize) {
    let o = netlab(&["up", "-q", "--name", lab, file]);
    assert!(o.status.success(), "up {file} failed: {}", text(&o));
    let want = format!("{checks} passed, 0 failed");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&want),
        "{file}: {}",
        text(&o)
    );
}

/// `netlab down`: nothing of the lab left, and the root namespace as it was `before` up.
pub fn down_restoring(lab: &str, before: &str) {
    let o = netlab(&["down", lab]);
    assert!(o.status.success(), "down: {}", text(&o));
    assert_clean(lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

/// The interface names of namespace `ns`, as `ip -j link` lists them.
pub fn link_names(ns: &str) -> Vec<String> {
    ip_json(ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(String::from))
        .collect()
}

/// The dummy devices of namespace `ns`, by name, sorted, as `ip -d -j link show type dummy`
/// lists them.
pub fn dummy_names(ns: &str) -> Vec<String> {
    let mut d: Vec<String> = ip_json(ns, &["-d", "link", "show", "type", "dummy"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(String::from))
        .collect();
    d.sort();
    d
}

/// Says on the terminal (past the test harness's capture) that test `test` does not apply
/// here, and why.
pub fn not_applicable(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOT APPLICABLE {test}: {why}");
}

/// `netlab up` of `file` as `lab` on a kernel that lacks what the lab needs: refused with exit
/// 1 and `missing` on stderr, nothing on stdout, nothing of the lab created.
pub fn assert_refused_up(lab: &str, file: &str, missing: &str) {
    let o = netlab(&["up", "-q", "--name", lab, file]);
    assert_eq!(o.status.code(), Some(1), "{file}: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(missing),
        "{file}: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).trim().is_empty(),
        "{file}: {}",
        text(&o)
    );
    assert_clean(lab);
}

/// A python3 script running in a namespace, started once it printed its ready word, and killed
/// when dropped (a failing assertion too).
pub struct Ready(std::process::Child);

impl Ready {
    pub fn spawn(ns: &str, script: &str, word: &str) -> Ready {
        Ready::spawn_with(ns, script, &[], word)
    }

    /// [`Ready::spawn`] with arguments for the script (its `sys.argv[1:]`).
    pub fn spawn_with(ns: &str, script: &str, args: &[&str], word: &str) -> Ready {
        use std::io::BufRead;
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", script])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut me = Ready(child);
        let mut ready = String::new();
        std::io::BufReader::new(me.0.stdout.as_mut().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), word, "{script}");
        me
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP connection made in this process from inside namespace `ns` (a thread that enters it):
/// what the peer writes back.
pub fn connect_in(ns: &str, to: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::Read;
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let mut s = std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(3))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .join()
    .unwrap()
}
