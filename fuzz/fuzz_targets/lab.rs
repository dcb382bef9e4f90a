//! Any text given as a lab file goes through parse + validate + plan without panicking, and a
//! lab that validates yields a plan the engine can apply: every object lives in a namespace
//! of the plan, names are unique, and every interface name fits the kernel's 15 bytes.
//!
//! Run: `cargo +nightly fuzz run lab fuzz/corpus/lab` (see fuzz/README.md).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use netlab::plan::{Object, Plan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A leading "@name\n" also exercises `--name`, which replaces [lab] name.
    let (name, text) = match text.strip_prefix('@').and_then(|t| t.split_once('\n')) {
        Some((name, rest)) => (Some(name), rest),
        None => (None, text),
    };
    match netlab::spec::parse("fuzz.toml", "fuzz.toml", text, name) {
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml:"), "{shown}");
        }
        Ok(lab) => {
            let plan = netlab::plan::plan(&lab);
            check_plan(&plan);
            // `--dry-run` and `validate --json` render every accepted lab.
            for o in &plan.objects {
                let _ = o.to_string();
            }
            let _ = serde_json::to_string(&lab).unwrap();
        }
    }
});

fn check_plan(plan: &Plan) {
    let mut namespaces = HashSet::new();
    for n in &plan.namespaces {
        assert!(
            namespaces.insert(n.name.as_str()),
            "namespace {} twice",
            n.name
        );
        assert!(
            !n.name.is_empty()
                && n.name.len() <= 255
                && !n.name.contains('/')
                && n.name != "."
                && n.name != "..",
            "namespace name {:?} is not a file name",
            n.name
        );
    }
    let mut links = HashSet::new();
    for o in &plan.objects {
        assert!(
            namespaces.contains(o.ns()),
            "{o}: namespace not in the plan"
        );
        let created: Vec<(&str, &str)> = match o {
            Object::Bridge { ns, name } => vec![(ns, name)],
            Object::Veth {
                ns,
                name,
                peer_ns,
                peer,
                ..
            } => {
                assert!(namespaces.contains(peer_ns.as_str()), "{o}: peer namespace");
                vec![(ns, name), (peer_ns, peer)]
            }
            Object::Vxlan {
                target_ns, name, ..
            } => {
                assert!(
                    namespaces.contains(target_ns.as_str()),
                    "{o}: target namespace"
                );
                vec![(target_ns, name)]
            }
            _ => vec![],
        };
        for (ns, name) in created {
            assert!(
                !name.is_empty() && name.len() <= 15 && !name.contains(['/', ' ', '\0']),
                "{o}: interface name {name:?} is not valid"
            );
            assert!(links.insert((ns, name)), "{o}: {name} twice in {ns}");
        }
    }
}
