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
        out.contains("passed: 4 steps, 4 passed, 0 failed"),
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
    assert!(out.contains("trace: FORWARDING_DISABLED"), "{}", text(&o));
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
    // bbox3-joins-ov_net1 (4 steps) and wrong (1 run, 1 not run): 5 testcases, 1 failure.
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "5 1");
    let o = netlab(&["run", &lab2, "wrnog"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean \"wrong\""));
    let _ = std::fs::remove_dir_all(&dir);
}
