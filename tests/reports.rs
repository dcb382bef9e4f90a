//! Machine-readable reports of a real lab: `netlab check LAB --junit FILE` read back with an
//! XML parser (roxmltree), `netlab up FILE --json` with serde_json. The lab has a check that
//! must fail (two containers on a bridge with icc on are expected unreachable, and iputils
//! ping shows they reach each other), so the failure element and `pass: false` are proven on
//! a real result. Lab names are unique to this test process.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::*;

/// A bridge lab `name`: c1 (172.30.5.2) and c2 (172.30.5.3) on n1, three checks of which the
/// second must fail, and a scenario that passes.
fn lab_file(dir: &Path, name: &str) -> PathBuf {
    let text = format!(
        r#"[lab]
name = "{name}"

[hosts.h1]
address = "10.1.1.11"

[networks.n1]
driver = "bridge"
subnet = "172.30.5.0/24"

[containers.c1]
host = "h1"
networks = ["n1"]

[containers.c2]
host = "h1"
networks = ["n1"]

[[checks]]
from = "c1"
to = "c2"
ttl = 64

# Wrong on purpose: icc is on, c2 reaches c1.
[[checks]]
from = "c2"
to = "c1"
expect = "unreachable"

[[checks]]
from = "c1"
to = "172.30.5.1"

[scenarios.s]
[[scenarios.s.steps]]
do = "ping"
from = "c2"
to = "c1"
retry = "3s"
"#
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn scratch(lab: &str) -> PathBuf {
    std::env::temp_dir().join(format!("netlab-reports-{lab}"))
}

#[test]
fn check_junit_has_a_testcase_per_check_and_the_failure() {
    if !require_root("check_junit_has_a_testcase_per_check_and_the_failure") {
        return;
    }
    let lab = unique("jck");
    let _guard = LabGuard(lab.clone());
    let dir = scratch(&lab);
    let file = lab_file(&dir, &lab);
    up_ok(&lab, file.to_str().unwrap());
    // The oracle: c2 does reach c1, so the check expecting unreachable must fail.
    assert!(ping_eventually(&format!("{lab}.c2"), "172.30.5.2"));

    let junit = dir.join("checks.xml");
    let o = netlab(&["check", &lab, "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("checks: 2 passed, 1 failed"), "{}", text(&o));

    let xml = std::fs::read_to_string(&junit).expect("the JUnit file is written");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!(
        suite.attribute("name"),
        Some(format!("{lab}/checks").as_str())
    );
    assert_eq!(suite.attribute("tests"), Some("3"), "{xml}");
    assert_eq!(suite.attribute("failures"), Some("1"), "{xml}");
    assert_eq!(suite.attribute("skipped"), Some("0"), "{xml}");
    let cases: Vec<_> = suite.children().filter(|n| n.is_element()).collect();
    let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(
        names,
        [
            "1 c1 -> c2 (172.30.5.3)",
            "2 c2 -> c1 (172.30.5.2)",
            "3 c1 -> 172.30.5.1"
        ],
        "{xml}"
    );
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(c.tag_name().name(), "testcase");
        assert_eq!(
            c.attribute("classname"),
            Some(format!("{lab}.checks").as_str())
        );
        let t: f64 = c.attribute("time").unwrap().parse().unwrap();
        assert!(t > 0.0 && t < 30.0, "time {t}");
        let failures: Vec<_> = c.children().filter(|n| n.has_tag_name("failure")).collect();
        if i == 1 {
            assert_eq!(failures.len(), 1, "{xml}");
            assert_eq!(
                failures[0].attribute("message"),
                Some("expected unreachable, got reachable (2/2)"),
                "{xml}"
            );
            let text = failures[0].text().unwrap_or_default();
            assert!(
                text.contains("ping from c2 to 172.30.5.2: 2 sent, 2 received"),
                "{xml}"
            );
        } else {
            assert!(failures.is_empty(), "{xml}");
        }
    }

    // With --json the report is written too, and stdout is the JSON.
    std::fs::remove_file(&junit).unwrap();
    let o = netlab(&["check", &lab, "--json", "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v["checks"].as_array().unwrap().len(), 3);
    assert!(junit.is_file(), "no JUnit file with --json");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn up_json_summarises_the_lab_its_checks_and_scenarios() {
    if !require_root("up_json_summarises_the_lab_its_checks_and_scenarios") {
        return;
    }
    let lab = unique("jup");
    let _guard = LabGuard(lab.clone());
    let dir = scratch(&lab);
    let file = lab_file(&dir, &lab);
    let o = netlab(&[
        "up",
        "-q",
        file.to_str().unwrap(),
        "--json",
        "--scenario",
        "s",
    ]);
    // The failing check makes it exit 1, as without --json.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(&o)));
    assert_eq!(v["lab"], lab.as_str());
    // The namespaces it reports are those /run/netns has for the lab.
    let reported: BTreeSet<String> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    let on_disk: BTreeSet<String> = lab_namespaces(&lab).into_iter().collect();
    assert_eq!(reported, on_disk, "{v:#}");
    assert_eq!(reported.len(), 4, "underlay, h1, c1, c2: {v:#}");
    let roles: BTreeSet<&str> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        BTreeSet::from(["container", "host", "underlay"]),
        "{v:#}"
    );
    // Objects as `status` records them.
    let s = netlab(&["status", &lab, "--json"]);
    let s: Value = serde_json::from_slice(&s.stdout).unwrap();
    assert!(v["objects"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(v["objects"], s["labs"][0]["objects"], "{v:#}\n{s:#}");
    let secs = v["seconds"].as_f64().unwrap();
    assert!(secs > 0.0 && secs < 120.0, "{v:#}");

    let checks = v["checks"].as_array().unwrap();
    let pass: Vec<bool> = checks
        .iter()
        .map(|c| c["pass"].as_bool().unwrap())
        .collect();
    assert_eq!(pass, [true, false, true], "{v:#}");
    assert_eq!(checks[1]["expect"], "unreachable");
    assert_eq!(checks[1]["got"], "reachable");
    assert_eq!(checks[0]["ttl"], 64);

    let sc = v["scenarios"].as_array().unwrap();
    assert_eq!(sc.len(), 1, "{v:#}");
    assert_eq!(sc[0]["name"], "s");
    assert_eq!(sc[0]["pass"], true, "{v:#}");
    assert_eq!(sc[0]["steps"].as_array().unwrap().len(), 1);
    // No text besides the JSON: no "lab ... is up", no step lines.
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("is up"),
        "{}",
        text(&o)
    );

    // --no-check: the lab is up, "checks" is null, exit 0.
    let lab2 = unique("jupn");
    let _guard2 = LabGuard(lab2.clone());
    let o = netlab(&[
        "up",
        "-q",
        "--name",
        &lab2,
        file.to_str().unwrap(),
        "--json",
        "--no-check",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lab"], lab2.as_str());
    assert!(v["checks"].is_null(), "{v:#}");
    assert!(v.get("scenarios").is_none(), "{v:#}");
    assert_eq!(lab_namespaces(&lab2).len(), 4);

    // --json prints a summary of what was built: not with --dry-run.
    let o = netlab(&["up", file.to_str().unwrap(), "--json", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
