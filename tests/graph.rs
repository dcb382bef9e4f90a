//! `netlab graph` of a lab that is up: the same drawing as its file's, then the live model after
//! `connect` (the new edge is there, and it is the veth the kernel has) and `disconnect`.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn graph(args: &[&str]) -> String {
    let mut full = vec!["graph"];
    full.extend_from_slice(args);
    let o = netlab(&full);
    assert!(o.status.success(), "netlab {full:?}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn graph_json(args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    serde_json::from_str(&graph(&full)).unwrap()
}

#[test]
fn graph_of_a_running_lab_follows_connect_and_disconnect() {
    if !require_root("graph_of_a_running_lab_follows_connect_and_disconnect") {
        return;
    }
    let lab = unique("tgraph");
    let _guard = LabGuard(lab.clone());
    let file = "labs/overlay.toml";
    up_ok(&lab, file);

    // Up, the lab is drawn as its file is (under the same name), in every format.
    for fmt in ["dot", "mermaid", "svg"] {
        assert_eq!(
            graph(&[&lab, "--format", fmt]),
            graph(&[file, "--name", &lab, "--format", fmt]),
            "{fmt}"
        );
    }
    let from_file = graph_json(&[file, "--name", &lab]);
    assert_eq!(graph_json(&[&lab]), from_file);

    // bbox3 joins ov_net1 (seed 000's `docker network connect ov_net1 bbox3`).
    let o = netlab(&[
        "connect",
        &format!("{lab}/ov_net1"),
        &format!("{lab}.bbox3"),
    ]);
    assert!(o.status.success(), "connect: {}", text(&o));
    let live = graph_json(&[&lab]);
    let edges = |v: &Value| v["edges"].as_array().unwrap().clone();
    let new: Vec<Value> = edges(&live)
        .into_iter()
        .filter(|e| !edges(&from_file).contains(e))
        .collect();
    assert_eq!(new.len(), 1, "one new edge: {new:#?}");
    assert_eq!(edges(&live).len(), edges(&from_file).len() + 1);
    let e = &new[0];
    let bbox3 = format!("{lab}.bbox3");
    assert_eq!(e["kind"], "veth");
    assert_eq!(e["from"], bbox3.as_str());
    assert_eq!(e["from_if"], "eth2");
    assert_eq!(e["network"], "ov_net1");
    // The edge ends at nas5's ov_net1 sandbox, on br0: the kernel agrees (iproute2 as oracle).
    let to = e["to"].as_str().unwrap();
    let (sandbox, dev) = to.split_once(':').unwrap();
    assert_eq!(dev, "br0");
    assert!(sandbox.starts_with(&format!("{lab}.nas5.1-")), "{sandbox}");
    let port = e["to_if"].as_str().unwrap();
    let veth = link(sandbox, port);
    assert_eq!(veth["master"], "br0", "{veth}");
    assert_eq!(veth["linkinfo"]["info_kind"], "veth");
    let eth2 = link(&bbox3, "eth2");
    assert_eq!(
        eth2["link_index"], veth["ifindex"],
        "eth2's peer is the port the graph names"
    );
    assert_eq!(veth["link_index"], eth2["ifindex"]);
    // ...in the namespace the graph names: iproute2 maps eth2's link-netnsid to its name.
    let ids = Command::new("ip")
        .args(["-j", "-n", &bbox3, "netns", "list-id"])
        .output()
        .unwrap();
    let ids: Value = serde_json::from_slice(&ids.stdout).unwrap();
    let peer_ns = ids
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["nsid"] == eth2["link_netnsid"])
        .unwrap_or_else(|| panic!("no nsid {} in {ids}", eth2["link_netnsid"]));
    assert_eq!(peer_ns["name"], sandbox);
    // bbox3's node shows its new address, as the kernel has it.
    let node = live["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == bbox3.as_str())
        .unwrap()
        .clone();
    let have = addrs(&bbox3, "eth2");
    assert_eq!(have.len(), 1);
    assert!(
        node["details"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!("eth2 {}", have[0]))),
        "{node}"
    );
    // The DOT has the edge too, and still differs from the file's.
    let dot = graph(&[&lab]);
    assert!(dot.contains(&format!("\"{bbox3}\" -> \"{to}\" [label=\"eth2 — {port}\"")));
    assert_ne!(dot, graph(&[file, "--name", &lab]));

    // Disconnected, the drawing is the file's again.
    let o = netlab(&[
        "disconnect",
        &format!("{lab}/ov_net1"),
        &format!("{lab}.bbox3"),
    ]);
    assert!(o.status.success(), "disconnect: {}", text(&o));
    assert_eq!(graph_json(&[&lab]), from_file);

    // -o writes the file; nothing on stdout.
    let dir = std::env::temp_dir().join(format!("{lab}-graph"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("g.svg");
    let o = netlab(&[
        "graph",
        &lab,
        "--format",
        "svg",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let svg = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.contains(&format!("<title>{bbox3}</title>")));

    // A misspelt lab name: exit 2, and the lab that is up as the likely one.
    let typo = format!("{lab}x");
    let o = netlab(&["graph", &typo]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("did you mean \"{lab}\"?")), "{err}");
    assert!(o.stdout.is_empty());
    // --name is for files only.
    let o = netlab(&["graph", &lab, "--name", "other"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The lab's namespaces are what graph says: one per container, host, sandbox and the
    // underlay (ip netns as the oracle).
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let ours: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{lab}.")))
        .collect();
    let g = graph_json(&[&lab]);
    let mut spaces: Vec<String> = g["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .chain(
            g["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["kind"] == "container")
                .map(|n| n["id"].as_str().unwrap().to_string()),
        )
        .collect();
    spaces.sort();
    let mut ours: Vec<String> = ours.into_iter().map(String::from).collect();
    ours.sort();
    assert_eq!(spaces, ours);
}

#[test]
fn graph_of_a_file_needs_nothing_up_and_bad_input_exits_2() {
    // No root needed: a file is drawn from its model.
    let o = netlab(&["graph", "labs/routed-gateway.toml", "--format", "mermaid"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = String::from_utf8_lossy(&o.stdout);
    assert!(m.contains("flowchart TB"));
    assert!(m.contains("router vm-vpn"), "{m}");
    let o = netlab(&["graph", "tests/bad-labs/dup-host.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dup-host.toml:"));
    let o = netlab(&["graph", "labs/no-such-lab.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = netlab(&["graph", "labs/overlay.toml", "--json", "--format", "svg"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
