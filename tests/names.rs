//! Root integration tests for name resolution (seed 000's `docker exec bbox2 ping bbox1`, and
//! its macvlan half's `ping: bad address 'bbox11'`). The oracle is glibc itself: `getent hosts`
//! and iputils `ping NAME` run by `ip netns exec`, which binds /etc/netns/<ns>/ over /etc by
//! iproute2's own code; `netlab exec` must show the same.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn in_ns(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("running ip netns exec")
}

/// What `name` resolves to inside `ns` (`getent hosts`), or None (exit status 2: not found).
fn getent(ns: &str, name: &str) -> Option<String> {
    let o = in_ns(ns, &["getent", "hosts", name]);
    match o.status.code() {
        Some(0) => Some(
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .to_string(),
        ),
        Some(2) => None,
        _ => panic!("getent hosts {name} in {ns}: {}", text(&o)),
    }
}

fn write_lab(dir: &Path, name: &str, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The overlay: names cross hosts on a network and never cross networks; a connect (with
/// aliases) and a disconnect change what every container of the network resolves; `down`
/// takes every /etc/netns link away.
#[test]
fn overlay_names_follow_the_networks_and_their_changes() {
    if !require_root("overlay_names_follow_the_networks_and_their_changes") {
        return;
    }
    let lab = unique("nmov");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let ns = |c: &str| format!("{lab}.{c}");
    assert_eq!(getent(&ns("bbox2"), "bbox1").as_deref(), Some("10.0.0.2"));
    assert_eq!(getent(&ns("bbox1"), "bbox2").as_deref(), Some("10.0.0.3"));
    assert_eq!(getent(&ns("bbox1"), "bbox1").as_deref(), Some("10.0.0.2"));
    assert_eq!(
        getent(&ns("bbox3"), "bbox1"),
        None,
        "names crossed networks"
    );
    assert_eq!(
        getent(&ns("bbox2"), "bbox3"),
        None,
        "names crossed networks"
    );
    // Seed 000: docker exec bbox2 ping bbox1.
    let o = in_ns(&ns("bbox2"), &["ping", "-c", "1", "-W", "2", "bbox1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("PING bbox1 (10.0.0.2)"),
        "{}",
        text(&o)
    );
    // A name the lab does not know fails at once, without asking the machine's resolver.
    let t = Instant::now();
    assert_eq!(getent(&ns("bbox2"), "www.example.com"), None);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // netlab exec sees what ip netns exec sees, and the namespace's own /sys.
    let o = netlab(&["exec", &ns("bbox2"), "getent", "hosts", "bbox1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("10.0.0.2 "),
        "{}",
        text(&o)
    );
    let o = netlab(&["exec", &ns("bbox2"), "ls", "/sys/class/net"]);
    let devs: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(devs, ["eth0", "eth1", "lo"], "{}", text(&o));

    // A process that entered bbox1 before the change (a shell a user left open) has its
    // hosts file bound already: it sees the change too, as in a Docker container, whose
    // /etc/hosts is rewritten in place.
    let go = std::env::temp_dir().join(format!("{lab}.go"));
    let _ = std::fs::remove_file(&go);
    let mut waiting = Command::new("ip")
        .args(["netns", "exec", &ns("bbox1"), "sh", "-c"])
        .arg(format!(
            "echo entered; while [ ! -e {} ]; do sleep 0.05; done; getent hosts bbox3",
            go.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(waiting.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(first, "entered\n");

    // docker network connect --alias store ov_net1 bbox3.
    let o = netlab(&[
        "connect",
        &format!("{lab}/ov_net1"),
        &format!("{lab}.bbox3"),
        "--alias",
        "store",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(&go, "").unwrap();
    let mut late = String::new();
    std::io::Read::read_to_string(&mut out, &mut late).unwrap();
    let _ = std::fs::remove_file(&go);
    assert!(waiting.wait().unwrap().success(), "{late:?}");
    assert!(
        late.starts_with("10.0.0.4 "),
        "the shell entered before: {late:?}"
    );
    assert_eq!(getent(&ns("bbox3"), "bbox1").as_deref(), Some("10.0.0.2"));
    assert_eq!(getent(&ns("bbox1"), "bbox3").as_deref(), Some("10.0.0.4"));
    assert_eq!(getent(&ns("bbox1"), "store").as_deref(), Some("10.0.0.4"));
    assert_eq!(getent(&ns("bbox2"), "store").as_deref(), Some("10.0.0.4"));
    let o = netlab(&[
        "disconnect",
        &format!("{lab}/ov_net1"),
        &format!("{lab}.bbox3"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(getent(&ns("bbox1"), "bbox3"), None);
    assert_eq!(getent(&ns("bbox1"), "store"), None);
    assert_eq!(getent(&ns("bbox3"), "bbox1"), None);

    // A bad alias is refused, and changes nothing.
    let o = netlab(&[
        "connect",
        &format!("{lab}/ov_net1"),
        &format!("{lab}.bbox3"),
        "--alias",
        "not_a_name",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(getent(&ns("bbox1"), "bbox3"), None);

    assert_eq!(
        lab_etc_netns(&lab),
        [ns("bbox1"), ns("bbox2"), ns("bbox3")],
        "one /etc/netns link per container"
    );
    let o = netlab(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean(&lab);
}

/// Local-scope networks keep names on their host: on the macvlan segment bbox21 (nas5) cannot
/// resolve bbox11 (nas4), as the seed's `ping: bad address 'bbox11'`, though it reaches it by
/// address; on a host's bridges, aliases resolve on their own network only.
#[test]
fn local_networks_keep_names_on_their_host() {
    if !require_root("local_networks_keep_names_on_their_host") {
        return;
    }
    let lab = unique("nmmv");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/macvlan.toml");
    let b21 = format!("{lab}.bbox21");
    assert_eq!(getent(&b21, "bbox11"), None);
    let o = in_ns(&b21, &["ping", "-c", "1", "-W", "2", "bbox11"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bbox11"),
        "a name error, not a lost ping: {}",
        text(&o)
    );
    assert!(ping(&b21, "10.1.1.111"), "by address it is reachable");
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);

    let dir = std::env::temp_dir().join(unique("nmbr-lab"));
    let _tmp = TempDir(dir.clone());
    let text_lab = std::fs::read_to_string("labs/bridge.toml")
        .unwrap()
        .replace(
            "ip = { my_net2 = \"172.18.0.10\" }",
            "ip = { my_net2 = \"172.18.0.10\" }\naliases = { quiet_net = [\"store\"], my_net2 = [\"sql\"] }",
        )
        + r#"
[scenarios.by-alias]
[[scenarios.by-alias.steps]]
do = "ping"
from = "web"
to = "sql"
ttl = 64

[[scenarios.by-alias.steps]]
do = "ping"
from = "cache"
to = "sql"
expect = "unreachable"

[[scenarios.by-alias.steps]]
do = "ping"
from = "cache"
to = "store"
expect = "unreachable"
"#;
    let file = write_lab(&dir, "bridge.toml", &text_lab);
    let lab = unique("nmbr");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, &file);
    let ns = |c: &str| format!("{lab}.{c}");
    assert_eq!(
        getent(&ns("cache"), "store").as_deref(),
        Some("172.22.16.2")
    );
    assert_eq!(getent(&ns("cache"), "db").as_deref(), Some("172.22.16.2"));
    assert_eq!(getent(&ns("web"), "db").as_deref(), Some("172.18.0.10"));
    assert_eq!(
        getent(&ns("web"), "store"),
        None,
        "an alias of another network"
    );
    assert_eq!(getent(&ns("web"), "cache"), None, "no shared network");

    // trace and scenario pings take an alias as the source resolves it, as `ping sql` does.
    let o = in_ns(&ns("web"), &["ping", "-c", "1", "-W", "2", "sql"]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("(172.18.0.10)"),
        "{}",
        text(&o)
    );
    let trace = |from: &str, to: &str| {
        let o = netlab(&["trace", &ns(from), to, "--json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        (o.status.code(), v)
    };
    let (code, v) = trace("web", "sql");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["trace"]["to"], "172.18.0.10", "{v}");
    assert_eq!(v["target"], ns("db").as_str(), "{v}");
    assert_eq!(v["trace"]["delivered_to"], ns("db").as_str(), "{v}");
    // cache resolves store, on its own network, where icc is off: isolated, as iputils finds.
    let (code, v) = trace("cache", "store");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        (
            v["trace"]["to"].as_str(),
            v["trace"]["disposition"].as_str()
        ),
        (Some("172.22.16.2"), Some("ISOLATED")),
        "{v}"
    );
    let o = in_ns(&ns("cache"), &["ping", "-c", "1", "-W", "1", "store"]);
    assert!(!o.status.success(), "{}", text(&o));
    // cache does not resolve sql: refused, as `ping sql` there fails with a name error.
    let o = netlab(&["trace", &ns("cache"), "sql"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("or a name the source resolves"),
        "{}",
        text(&o)
    );
    let o = netlab(&["run", &lab, "by-alias", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["scenarios"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["pass"] == true), "{v}");
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("sql (172.18.0.10): reachable"),
        "{v}"
    );
    assert_eq!(
        steps[1]["detail"], "sql: cache does not resolve it (ping: bad address)",
        "{v}"
    );
    assert!(
        steps[2]["detail"]
            .as_str()
            .unwrap()
            .starts_with("store (172.22.16.2): unreachable"),
        "{v}"
    );
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
}

/// Something that is not the lab's at one of its /etc/netns names (another tool's directory)
/// stops `up` before anything is built, and is left exactly as it was.
#[test]
fn foreign_etc_netns_entry_is_refused_and_untouched() {
    if !require_root("foreign_etc_netns_entry_is_refused_and_untouched") {
        return;
    }
    let lab = unique("nmfx");
    let _guard = LabGuard(lab.clone());
    let theirs = Path::new("/etc/netns").join(format!("{lab}.db"));
    let hold = EtcNetnsHold::take(&lab);
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("hosts"), "10.9.9.9 theirs\n").unwrap();
    let o = netlab(&["up", "-q", "--name", &lab, "labs/bridge.toml"]);
    let theirs_now = std::fs::read_to_string(theirs.join("hosts"));
    let _ = std::fs::remove_dir_all(&theirs);
    drop(hold);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("/etc/netns/{lab}.db is a directory")),
        "{}",
        text(&o)
    );
    assert_eq!(theirs_now.unwrap(), "10.9.9.9 theirs\n");
    assert!(
        lab_namespaces(&lab).is_empty(),
        "{:?}",
        lab_namespaces(&lab)
    );
    assert_clean(&lab);
}
