//! Root tests of scenarios (`netlab run`, `up --scenario`): the sample labs' scenarios replay
//! the seeds' experiments and pass; the lab is put back afterwards (checked with iproute2); a
//! scenario whose expectation is wrong exits 1 and says why with `trace`; the JUnit file is
//! XML (parsed by Python's parser, an independent oracle); unknown scenarios exit 2.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn has_link(ns: &str, dev: &str) -> bool {
    ip_json(ns, &["link"])
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["ifname"] == dev)
}

/// Seed 002 (bridge.toml): connect-later and link-down pass step by step, and leave the lab
/// as they found it: cache has no eth1, web's eth0 is up, the record is unchanged.
#[test]
fn bridge_scenarios_pass_and_put_the_lab_back() {
    if !require_root("bridge_scenarios_pass_and_put_the_lab_back") {
        return;
    }
    let lab = unique("sbr");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");
    let before = netlab::state::read_record(&lab).unwrap().unwrap().lab;
    let o = netlab(&["run", &lab, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 3, "{v}");
    for s in scenarios {
        assert_eq!(s["pass"], true, "{s}");
        assert!(s["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["pass"] == true));
    }
    assert_eq!(scenarios[0]["steps"].as_array().unwrap().len(), 7);
    // Put back: the record and the kernel.
    assert_eq!(
        netlab::state::read_record(&lab).unwrap().unwrap().lab,
        before
    );
    assert!(!has_link(&format!("{lab}.cache"), "eth1"));
    assert_eq!(link(&format!("{lab}.web"), "eth0")["operstate"], "UP");
    let o = netlab(&["check", &lab]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Seed 000 (overlay.toml), built and run in one command: bbox3 joins ov_net1 and reaches
/// bbox1 across hosts; a step that expects the wrong thing fails with the trace's reason;
/// JUnit XML has one testcase per step.
#[test]
fn up_with_scenario_and_a_failing_step_explained() {
    if !require_root("up_with_scenario_and_a_failing_step_explained") {
        return;
    }
    let lab = unique("sov");
    let _guard = LabGuard(lab.clone());
    let o = netlab(&[
        "up",
        "-q",
        "--name",
        &lab,
        "labs/overlay.toml",
        "--scenario",
        "bbox3-joins-ov_net1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("passed: 6 steps, 6 passed, 0 failed"),
        "{}",
        text(&o)
    );
    assert!(!has_link(&format!("{lab}.bbox3"), "eth2"), "not put back");

    // The same lab with a wrong expectation, from a copy of the lab file.
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.toml");
    let mut text_ = std::fs::read_to_string("labs/overlay.toml").unwrap();
    text_.push_str(
        "\n[scenarios.wrong]\n[[scenarios.wrong.steps]]\ndo = \"ping\"\nfrom = \"bbox3\"\nto = \"10.0.0.2\"\nexpect = \"reachable\"\n[[scenarios.wrong.steps]]\ndo = \"wait\"\nseconds = 0.1\n",
    );
    std::fs::write(&file, text_).unwrap();
    let lab2 = unique("sovw");
    let _guard2 = LabGuard(lab2.clone());
    up_ok(&lab2, file.to_str().unwrap());
    let junit = dir.join("junit.xml");
    let o = netlab(&["run", &lab2, "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("FAIL"), "{}", text(&o));
    // nas5 forwards (Docker's, for docker_gwbridge) by its default route, masqueraded, to
    // the outside, which routes nothing.
    assert!(
        out.contains("trace: FORWARDING_DISABLED at")
            && out.contains(".outside received the packet on eth0"),
        "{}",
        text(&o)
    );
    assert!(out.contains("1 not run"), "{}", text(&o));
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); \
             print(len(d.getElementsByTagName('testcase')), len(d.getElementsByTagName('failure')))",
            junit.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", text(&parsed));
    // bbox3-joins-ov_net1 (6 steps) and wrong (1 run, 1 not run): 7 testcases, 1 failure.
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "7 1");
    let o = netlab(&["run", &lab2, "wrnog"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean \"wrong\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every namespace of the lab with its links and addresses as iproute2 shows them (`ip -j -d`,
/// without what the kernel changes on its own): the oracle for "the lab is as it was".
fn lab_kernel_state(lab: &str) -> Value {
    Value::Object(
        lab_namespaces(lab)
            .into_iter()
            .map(|ns| {
                let v = serde_json::json!({ "links": links_state(&ns), "addrs": addrs_state(&ns) });
                (ns, v)
            })
            .collect(),
    )
}

/// [`lab_kernel_state`] once the kernel has settled: a bridge is UNKNOWN until linkwatch (which
/// batches such events for up to a second) sees its ports up, and then UP.
fn settled_state(lab: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = lab_kernel_state(lab);
        let unsettled = v.as_object().unwrap().values().any(|ns| {
            ns["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["linkinfo"]["info_kind"] == "bridge" && l["operstate"] == "UNKNOWN")
        });
        if !unsettled || start.elapsed() > std::time::Duration::from_secs(5) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Where two JSON values differ, as `path: a != b` lines.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (p, q) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(p, q, &format!("{at}/{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} != {b}")),
        _ => {}
    }
}

/// The lab's namespaces are as `before`, or the test fails naming what differs.
fn assert_as_before(lab: &str, before: &Value, when: &str) {
    let mut d = Vec::new();
    differences(before, &settled_state(lab), "", &mut d);
    assert!(
        d.is_empty(),
        "{when}: the lab is not as it was:\n{}",
        d.join("\n")
    );
}

/// A directory of the test's own holding `base.toml` (labs/bridge.toml and `scenarios`) and the
/// files its `apply` steps name.
fn bridge_dir(lab: &str, scenarios: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netlab-{lab}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bridge = std::fs::read_to_string("labs/bridge.toml").unwrap();
    std::fs::write(dir.join("base.toml"), format!("{bridge}\n{scenarios}")).unwrap();
    for (name, extra) in files {
        std::fs::write(dir.join(name), format!("{bridge}\n{extra}")).unwrap();
    }
    dir
}

/// labs/bridge.toml with one more container, `extra`, on my_net2.
const EXTRA: &str = "[containers.extra]\nhost = \"host1\"\nnetworks = [\"my_net2\"]\n";

const GROW: &str = r#"
[scenarios.grow]
description = "extra starts (a lab file with one more container) and reaches web"

[[scenarios.grow.steps]]
do = "apply"
file = "more.toml"

[[scenarios.grow.steps]]
do = "exec"
node = "extra"
cmd = ["ip", "-br", "addr", "show", "eth0"]
expect_output = "172\\.18\\.0\\.3/16"

[[scenarios.grow.steps]]
do = "ping"
from = "extra"
to = "web"
ttl = 64
retry = "3s"

[[scenarios.grow.steps]]
do = "wait"
seconds = 0.3

[[scenarios.grow.steps]]
do = "apply"
name = "back to base.toml, as a dry run"
file = "base.toml"
dry_run = true

[[scenarios.grow.steps]]
do = "exec"
name = "the dry run left extra"
node = "extra"
cmd = ["ip", "-br", "link", "show", "eth0"]
expect_output = "eth0@"

[scenarios.grow-and-keep]
keep = true

[[scenarios.grow-and-keep.steps]]
do = "apply"
file = "more.toml"

[scenarios.wrong]
[[scenarios.wrong.steps]]
do = "apply"
file = "more.toml"

[[scenarios.wrong.steps]]
do = "ping"
name = "extra is not on quiet_net"
from = "extra"
to = "172.22.16.3"
expect = "reachable"

[[scenarios.wrong.steps]]
do = "wait"
seconds = 0.1
"#;

/// An `apply` step changes the running lab as `netlab apply` does (extra's namespace and
/// address appear: seen by the scenario's own steps and, with `keep = true`, by iproute2
/// afterwards); without `keep` the lab is put back exactly (every namespace's links and
/// addresses as `ip -j` shows them, and the record), also when a step fails; `dry_run` changes
/// nothing; `wait` waits; a wrong expectation exits 1 with the trace's reason.
#[test]
fn apply_steps_change_the_lab_and_it_is_put_back() {
    if !require_root("apply_steps_change_the_lab_and_it_is_put_back") {
        return;
    }
    let lab = unique("sap");
    let _guard = LabGuard(lab.clone());
    let dir = bridge_dir(&lab, GROW, &[("more.toml", EXTRA)]);
    up_ok(&lab, dir.join("base.toml").to_str().unwrap());
    let before = settled_state(&lab);
    let record = || netlab::state::read_record(&lab).unwrap().unwrap().lab;
    let rec_before = record();
    let extra = format!("{lab}.extra");

    let o = netlab(&["run", &lab, "grow", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["scenarios"][0];
    assert_eq!(s["pass"], true, "{s}");
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6, "{s}");
    assert!(steps.iter().all(|x| x["pass"] == true), "{s}");
    let detail = |i: usize| steps[i]["detail"].as_str().unwrap().to_string();
    assert!(
        detail(0).contains("more.toml: + container extra (on host1)"),
        "{s}"
    );
    assert!(detail(2).contains("reachable (1/1, ttl 64)"), "{s}");
    assert!(steps[3]["seconds"].as_f64().unwrap() >= 0.3, "{s}");
    assert!(detail(4).contains("- container extra"), "{s}");
    assert!(detail(4).contains("dry run"), "{s}");
    // Put back: extra's namespace is gone, every namespace is as it was.
    assert!(!lab_namespaces(&lab).contains(&extra));
    assert_as_before(&lab, &before, "after grow");
    assert_eq!(record(), rec_before);

    // A failing step: exit 1, the trace's reason, the rest not run, and still put back.
    let o = netlab(&["run", &lab, "wrong"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("FAIL"), "{}", text(&o));
    assert!(out.contains("trace: "), "{}", text(&o));
    assert!(out.contains("1 not run"), "{}", text(&o));
    assert!(!lab_namespaces(&lab).contains(&extra));
    assert_as_before(&lab, &before, "after wrong");
    assert_eq!(record(), rec_before);

    // keep = true: the lab stays as more.toml describes it, which iproute2 and ping confirm.
    let o = netlab(&["run", &lab, "grow-and-keep"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(lab_namespaces(&lab).contains(&extra));
    assert_eq!(addrs(&extra, "eth0"), vec!["172.18.0.3/16".to_string()]);
    assert!(
        ping_eventually(&extra, "172.18.0.2"),
        "extra cannot reach web"
    );
    assert!(record().containers.iter().any(|c| c.name == "extra"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An `expect_fail` apply step: a file the validation refuses (macvlan.toml's second network on
/// the same parent, seed 003) fails as expected, with its reason, and changes nothing.
#[test]
fn refused_apply_steps_fail_as_expected_and_change_nothing() {
    if !require_root("refused_apply_steps_fail_as_expected_and_change_nothing") {
        return;
    }
    let lab = unique("samv");
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/macvlan.toml");
    let before = settled_state(&lab);
    let o = netlab(&["run", &lab, "second-network-same-parent", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["scenarios"][0]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{v}");
    assert!(steps.iter().all(|x| x["pass"] == true), "{v}");
    let d = steps[0]["detail"].as_str().unwrap();
    assert!(d.starts_with("failed as expected: "), "{d}");
    assert!(
        d.contains("is already using parent interface ens33 (that is network mac_net1, on host nas4), so network mac_net2 cannot"),
        "{d}"
    );
    assert!(!lab_namespaces(&lab).contains(&format!("{lab}.bbox12")));
    assert_as_before(&lab, &before, "after the refused second network");
}

/// A host option changed at run time: an apply step turns IPv4 forwarding on in host2's own
/// namespace (the `sysctl` of procps, run there, is the oracle), and the scenario's restore
/// turns it back to a fresh namespace's value; the root namespace's is never touched. (host2
/// has no container: host1's bridges have Docker's forwarding on from the start.)
#[test]
fn apply_step_changes_forwarding_and_the_restore_puts_it_back() {
    if !require_root("apply_step_changes_forwarding_and_the_restore_puts_it_back") {
        return;
    }
    let lab2 = unique("safw");
    let _guard2 = LabGuard(lab2.clone());
    let table = "[hosts.host2]\naddress = \"10.1.1.12\"\n";
    let sc = format!("{table}[scenarios.forward]\n[[scenarios.forward.steps]]\ndo = \"apply\"\nfile = \"fw.toml\"\n[[scenarios.forward.steps]]\ndo = \"exec\"\nnode = \"host2\"\ncmd = [\"sysctl\", \"-n\", \"net.ipv4.ip_forward\"]\nexpect_output = \"(?m)^1$\"\n");
    let fw = format!("{table}forwarding = true\n");
    let dir = bridge_dir(&lab2, &sc, &[("fw.toml", &fw)]);
    let root_before = sysctl_root("net.ipv4.ip_forward");
    up_ok(&lab2, dir.join("base.toml").to_str().unwrap());
    let host2 = format!("{lab2}.host2");
    assert_eq!(
        sysctl_in(&format!("{lab2}.host1"), "net.ipv4.ip_forward"),
        "1",
        "Docker's, for its bridges"
    );
    assert_eq!(sysctl_in(&host2, "net.ipv4.ip_forward"), "0");
    let before = settled_state(&lab2);
    let o = netlab(&["run", &lab2, "forward", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["scenarios"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|x| x["pass"] == true), "{v}");
    assert_eq!(sysctl_in(&host2, "net.ipv4.ip_forward"), "0", "restored");
    assert_as_before(&lab2, &before, "after the forwarding scenario");
    assert_eq!(sysctl_root("net.ipv4.ip_forward"), root_before);
    // The same change by hand, kept: `netlab apply` and its dry-run script.
    let fwf = dir.join("fw.toml");
    let o = netlab(&["apply", fwf.to_str().unwrap(), "--name", &lab2, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!(
            "ip netns exec {host2} sysctl -w net.ipv4.ip_forward=1"
        )),
        "{}",
        text(&o)
    );
    let o = netlab(&["apply", fwf.to_str().unwrap(), "--name", &lab2]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sysctl_in(&host2, "net.ipv4.ip_forward"), "1");
    assert_eq!(sysctl_root("net.ipv4.ip_forward"), root_before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run scenario `name` of labs/routed-gateway.toml on a fresh lab (802.1Q needed): it must
/// pass with `steps` steps, step i's detail containing each `want` (i, text). The lab stays up
/// (its guard is returned) for the caller's checks of how it was put back.
fn run_routed_scenario(
    test: &str,
    prefix: &str,
    name: &str,
    steps: usize,
    want: &[(usize, &str)],
) -> Option<(LabGuard, String)> {
    if !require_root(test) {
        return None;
    }
    assert!(
        kernel_has_vlan(),
        "{test} needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"
    );
    let lab = unique(prefix);
    let guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/routed-gateway.toml");
    let o = netlab(&["run", &lab, name, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["scenarios"][0];
    let got = s["steps"].as_array().unwrap();
    assert_eq!(got.len(), steps, "{s}");
    assert!(got.iter().all(|x| x["pass"] == true), "{s}");
    for (i, text) in want {
        let d = got[*i]["detail"].as_str().unwrap();
        assert!(d.contains(text), "step {}: want {text:?}: {s}", i + 1);
    }
    assert_eq!(s["pass"], true, "{s}");
    Some((guard, lab))
}

/// Seed 000 (routed-gateway.toml) in its order: vm-vpn on the trunk without the gateways (same
/// VLAN reachable, different VLANs not), then holding both: VLAN 10 reaches VLAN 20 with ttl 63.
/// Put back afterwards: vm-vpn holds the gateways and iputils ping sees ttl 63.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn routed_gateway_router_attached_replays_the_seed() {
    let Some((_guard, lab)) = run_routed_scenario(
        "routed_gateway_router_attached_replays_the_seed",
        "srg",
        "router-attached",
        8,
        &[
            (0, "~ host vm-vpn"),
            (1, "ttl 64"),
            (2, "unreachable"),
            (6, "ttl 63"),
            (7, "ttl 63"),
        ],
    ) else {
        return;
    };
    // Put back, as iproute2 and iputils see it.
    let vpn = format!("{lab}.vm-vpn");
    assert_eq!(addrs(&vpn, "ens38.10"), vec!["172.16.10.254/24"]);
    assert_eq!(addrs(&vpn, "ens38.20"), vec!["172.16.20.254/24"]);
    assert_eq!(ping_ttl(&format!("{lab}.bbox1"), "172.16.20.10"), Some(63));
    let o = netlab(&["check", &lab]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Seed 000's other order: vm-vpn holds both gateways but does not forward (the gateway
/// answers, VLAN 20 does not), then the article's `sysctl -w net.ipv4.ip_forward=1` as an apply
/// step: ttl 63. Put back: forwarding on again, as the `sysctl` of procps sees it in vm-vpn.
#[test]
#[ignore = "needs 802.1Q (CONFIG_VLAN_8021Q): tests/vm/run runs it"]
fn routed_gateway_routing_turned_on_replays_the_seed() {
    let Some((_guard, lab)) = run_routed_scenario(
        "routed_gateway_routing_turned_on_replays_the_seed",
        "srf",
        "routing-turned-on",
        6,
        &[
            (0, "~ host vm-vpn"),
            (1, "ttl 64"),
            (2, "unreachable"),
            (5, "ttl 63"),
        ],
    ) else {
        return;
    };
    let vpn = format!("{lab}.vm-vpn");
    assert_eq!(sysctl_in(&vpn, "net.ipv4.ip_forward"), "1");
    assert_eq!(ping_ttl(&format!("{lab}.bbox1"), "172.16.20.11"), Some(63));
}

/// `tc -j qdisc show dev DEV` in `ns`: the root qdisc's kind.
fn root_qdisc_kind(ns: &str, dev: &str) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "tc", "-j", "qdisc", "show", "dev", dev])
        .output()
        .expect("running tc (iproute2)");
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|q| q["root"] == true)
        .map(|q| q["kind"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

const NETEM: &str = r#"
[scenarios.lossy]
description = "db's eth0 drops everything (netem loss 100%), then nothing; then a delay"

[[scenarios.lossy.steps]]
do = "impair"
node = "db"
dev = "eth0"
loss = "100%"

[[scenarios.lossy.steps]]
do = "ping"
from = "web"
to = "db"
expect = "unreachable"
count = 3

[[scenarios.lossy.steps]]
do = "impair"
node = "db"
dev = "eth0"
clear = true

[[scenarios.lossy.steps]]
do = "ping"
from = "web"
to = "db"
retry = "3s"

[[scenarios.lossy.steps]]
do = "impair"
node = "db"
dev = "eth0"
delay = "50ms"

[[scenarios.lossy.steps]]
do = "exec"
node = "db"
cmd = ["tc", "qdisc", "show", "dev", "eth0"]
expect_output = "netem .*delay 50ms"

[scenarios.left-lossy]
[[scenarios.left-lossy.steps]]
do = "impair"
node = "db"
dev = "eth0"
loss = "100%"

[[scenarios.left-lossy.steps]]
do = "ping"
name = "wrong: the link drops everything"
from = "web"
to = "db"
"#;

/// netem impairments as scenario steps: loss 100% cuts the path and clearing it restores it;
/// an impairment still in place when the scenario ends (it passed, or a step failed) is
/// removed: the device's root qdisc is the default again (tc -j).
#[test]
#[ignore = "needs netem (CONFIG_NET_SCH_NETEM): tests/vm/run runs it"]
fn netem_impair_steps_cut_and_restore_the_path() {
    if !require_root("netem_impair_steps_cut_and_restore_the_path") {
        return;
    }
    let lab = unique("snet");
    let _guard = LabGuard(lab.clone());
    let dir = bridge_dir(&lab, NETEM, &[]);
    up_ok(&lab, dir.join("base.toml").to_str().unwrap());
    let db = format!("{lab}.db");
    assert_eq!(root_qdisc_kind(&db, "eth0"), "noqueue");
    let o = netlab(&["run", &lab, "lossy", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["scenarios"][0]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 6, "{v}");
    assert!(
        steps[1]["detail"].as_str().unwrap().contains("(0/3)"),
        "{v}"
    );
    assert_eq!(root_qdisc_kind(&db, "eth0"), "noqueue");
    let o = netlab(&["run", &lab, "left-lossy"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(root_qdisc_kind(&db, "eth0"), "noqueue");
    assert!(ping_eventually(&format!("{lab}.web"), "172.18.0.10"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sysctl of the namespace the tests run in (the root one, on a development machine).
fn sysctl_root(key: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
        .unwrap()
        .trim()
        .to_string()
}
