//! The shells' dynamic completion of live names, through the protocol clap_complete's
//! registration scripts speak (`COMPLETE=bash netlab -- netlab WORDS...`): lab names from
//! /run/netlab, the nodes, networks and scenarios of a lab that is up, and a node's devices
//! against `ip -j link`. The test brings up its own lab under its own unique name.

mod common;

use std::process::Command;

use common::*;

/// What the program offers for the word at `index` of `words` (the program name first), as
/// bash's registration script asks it: `COMPLETE=bash netlab -- netlab WORDS...`.
fn complete_bash(words: &[&str]) -> Vec<String> {
    let index = words.len() - 1;
    let o = Command::new(BIN)
        .arg("--")
        .args(words)
        .env("COMPLETE", "bash")
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .output()
        .expect("running netlab for completion");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn shells_complete_live_lab_node_network_and_device_names() {
    if !require_root("shells_complete_live_names") {
        return;
    }
    let lab = unique("concomp");
    let _g = LabGuard(lab.clone());
    up_ok(&lab, "labs/bridge.toml");

    // The registration script bash sources.
    let o = Command::new(BIN).env("COMPLETE", "bash").output().unwrap();
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(
        script.contains("complete -o nospace") && script.contains("netlab"),
        "{}",
        text(&o)
    );

    let prefix = &lab[..lab.len() - 1];
    let got = complete_bash(&["netlab", "pingall", prefix]);
    assert!(got.contains(&lab), "pingall {prefix}<TAB>: {got:?}");
    let got = complete_bash(&["netlab", "console", prefix]);
    assert!(got.contains(&lab), "console {prefix}<TAB>: {got:?}");
    let got = complete_bash(&["netlab", "down", ""]);
    assert!(got.contains(&lab), "down <TAB>: {got:?}");

    // Containers of the lab given earlier: those not yet on the network for `connect`.
    let net = format!("{lab}/my_net2");
    let got = complete_bash(&["netlab", "connect", &net, ""]);
    assert!(
        got.contains(&"cache".to_string()),
        "connect {net} <TAB>: {got:?}"
    );
    assert!(
        !got.contains(&"web".to_string()),
        "web is on my_net2 already: {got:?}"
    );
    let got = complete_bash(&["netlab", "disconnect", &net, ""]);
    assert!(
        got.contains(&"web".to_string()) && got.contains(&"db".to_string()),
        "{got:?}"
    );

    // Qualified node names, and the lab's scenarios.
    let got = complete_bash(&["netlab", "exec", &format!("{lab}.")]);
    for n in ["web", "db", "cache", "host1"] {
        assert!(
            got.contains(&format!("{lab}.{n}")),
            "exec {lab}.<TAB>: {got:?}"
        );
    }
    let got = complete_bash(&["netlab", "run", &lab, ""]);
    assert!(
        got.contains(&"connect-later".to_string()),
        "run {lab} <TAB>: {got:?}"
    );

    // Devices of the node given earlier, read live: those iproute2 lists.
    let node = format!("{lab}.db");
    let got = complete_bash(&["netlab", "link", &node, ""]);
    let oracle = ip_json(&node, &["link"]);
    for l in oracle.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap();
        if name != "lo" {
            assert!(
                got.contains(&name.to_string()),
                "link {node} <TAB>: {got:?} lacks {name}"
            );
        }
    }
}
