//! netlab-lab(5), `man/netlab-lab.5`, is written by hand: these tests fail when it no longer
//! documents what the parser accepts. Every key of every table is taken from the serde types
//! the lab file is read with (so a key added to `raw.rs` or `scenario.rs` fails here until the
//! page describes it with its type and default), the sections from `raw::SECTIONS`, the
//! actions and their keys from `scenario`, and the NETLAB_* variables from the source itself.

use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::raw::{
    RawCheck, RawContainer, RawHost, RawLabMeta, RawNetwork, RawOutside, RawService, RawUnderlay,
    SECTIONS,
};
use super::scenario::{action_keys, RawScenario, RawStep, ACTIONS};
use crate::trace::Disposition;

/// The field names serde's derive gives `deserialize_struct`: the keys a table accepts.
fn keys<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    struct Grab(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Grab {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("fields taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut g = Grab(None);
    let _ = T::deserialize(&mut g);
    g.0.expect("a struct read with serde's derive")
}

/// Each section of the lab file: its name in `SECTIONS`, the subsection title of the page
/// that documents it, and its keys. The steps of a scenario are a table of their own.
fn tables() -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    vec![
        ("lab", "[lab]", keys::<RawLabMeta>()),
        ("underlay", "[underlay]", keys::<RawUnderlay>()),
        ("outside", "[outside]", keys::<RawOutside>()),
        ("hosts", "[hosts.NAME]", keys::<RawHost>()),
        ("networks", "[networks.NAME]", keys::<RawNetwork>()),
        ("containers", "[containers.NAME]", keys::<RawContainer>()),
        ("services", "[services.NAME]", keys::<RawService>()),
        ("checks", "[[checks]]", keys::<RawCheck>()),
        ("scenarios", "[scenarios.NAME]", keys::<RawScenario>()),
    ]
}

/// The keys every step takes: those of `RawStep` that belong to no action.
fn common_step_keys() -> Vec<&'static str> {
    keys::<RawStep>()
        .iter()
        .copied()
        .filter(|k| !ACTIONS.iter().any(|a| action_keys(a).contains(k)))
        .collect()
}

/// Every disposition; the match fails to compile when one is added, so that it is added here
/// (and then to the page).
fn dispositions() -> Vec<Disposition> {
    let all = [
        Disposition::Delivered,
        Disposition::NoRoute,
        Disposition::NeighborUnreachable,
        Disposition::ForwardingDisabled,
        Disposition::Isolated,
        Disposition::LinkDown,
        Disposition::Loop,
        Disposition::MtuExceeded,
        Disposition::Filtered,
    ];
    for d in all {
        match d {
            Disposition::Delivered
            | Disposition::NoRoute
            | Disposition::NeighborUnreachable
            | Disposition::ForwardingDisabled
            | Disposition::Isolated
            | Disposition::LinkDown
            | Disposition::Loop
            | Disposition::MtuExceeded
            | Disposition::Filtered => {}
        }
    }
    all.to_vec()
}

/// NETLAB_* variables the program reads: string literals in `src/`, tests left out.
fn environment_variables() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
                continue;
            }
            let name = p.file_name().unwrap().to_str().unwrap();
            if !name.ends_with(".rs") || name == "tests.rs" || name == "man_page.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, _) in text.match_indices("\"NETLAB_") {
                let rest = &text[i + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
                    .unwrap_or(rest.len());
                if rest[end..].starts_with('"') {
                    out.push(rest[..end].to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out.dedup();
    out
}

/// The page as (heading, lines) sections, one per `.SH` and `.SS`.
fn sections(page: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in page.lines() {
        if let Some(h) = line
            .strip_prefix(".SH ")
            .or_else(|| line.strip_prefix(".SS "))
        {
            out.push((h.trim().trim_matches('"').to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

/// The tags of a section's `.TP` items (the line after each `.TP`).
fn tags<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| w[1])
        .collect()
}

/// The `.TP` item whose tag starts with `tag`: the tag and its text, up to the next item.
fn item(lines: &[&str], tag: &str) -> Option<String> {
    let at = lines
        .windows(2)
        .position(|w| w[0] == ".TP" && w[1].starts_with(tag))?;
    let body = lines[at + 1..]
        .iter()
        .take_while(|l| **l != ".TP" && **l != ".PP")
        .copied()
        .collect::<Vec<_>>();
    Some(body.join("\n"))
}

/// What the page lacks, in words; empty when it documents everything.
fn problems(page: &str) -> Vec<String> {
    let secs = sections(page);
    let section = |title: &str| secs.iter().find(|(h, _)| h == title).map(|(_, l)| l);
    let mut out = Vec::new();
    for title in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "TABLES",
        "SCENARIOS",
        "TRACE DISPOSITIONS",
        "EXIT STATUS",
        "FILES",
        "ENVIRONMENT",
        "SEE ALSO",
    ] {
        if section(title).is_none() {
            out.push(format!("no section {title}"));
        }
    }
    if !page.lines().any(|l| l.starts_with(".TH NETLAB-LAB 5 ")) {
        out.push("no .TH NETLAB-LAB 5 title".into());
    }

    let tables = tables();
    for s in SECTIONS {
        if !tables.iter().any(|(name, _, _)| name == s) {
            out.push(format!(
                "section {s} of the lab file is not mapped in man_page.rs"
            ));
        }
    }
    let common = common_step_keys();
    let mut documented: Vec<(String, Vec<&str>)> = tables
        .iter()
        .map(|(_, title, fields)| (title.to_string(), fields.to_vec()))
        .collect();
    documented.push(("[[scenarios.NAME.steps]]".into(), common));
    for action in ACTIONS {
        for k in action_keys(action) {
            if !keys::<RawStep>().contains(k) {
                out.push(format!(
                    "action {action} takes {k}, which RawStep does not have"
                ));
            }
        }
        documented.push((
            format!("do = \\(dq{action}\\(dq"),
            action_keys(action).to_vec(),
        ));
    }
    for (title, fields) in &documented {
        let Some(lines) = section(title) else {
            out.push(format!("no subsection {title}"));
            continue;
        };
        let tags = tags(lines);
        for key in fields {
            // `\fBkey\fR = \fItype\fR (required ...)` or `(default: ...)`.
            let documented = tags.iter().any(|t| {
                t.strip_prefix(&format!("\\fB{key}\\fR = \\fI"))
                    .is_some_and(|rest| rest.contains("(required") || rest.contains("(default: "))
            });
            if !documented {
                out.push(format!(
                    "key {key} of {title} is not documented (as .TP \\fB{key}\\fR = \\fITYPE\\fR (default: ...|required))"
                ));
            }
        }
        // And nothing more: a key the parser does not take here is no key of this table.
        for t in &tags {
            if let Some(k) = t
                .strip_prefix("\\fB")
                .and_then(|r| r.split_once("\\fR = \\fI"))
                .map(|(k, _)| k)
            {
                if !fields.contains(&k) {
                    out.push(format!(
                        "{title} documents {k}, which the parser does not take there"
                    ));
                }
            }
        }
    }

    let step_do = section("[[scenarios.NAME.steps]]")
        .and_then(|l| item(l, "\\fBdo\\fR"))
        .unwrap_or_default();
    for action in ACTIONS {
        if !step_do.contains(&format!("\\fB\"{action}\"\\fR")) {
            out.push(format!("action {action} is not among the values of do"));
        }
    }

    let mode = section("[networks.NAME]")
        .and_then(|l| item(l, "\\fBmode\\fR"))
        .unwrap_or_default();
    for d in crate::driver::ALL {
        for m in d.mode_values() {
            if !mode.contains(&format!("\\fB\"{m}\"\\fR")) {
                out.push(format!("{} mode {m} is not documented", d.name()));
            }
        }
    }

    let disp = section("TRACE DISPOSITIONS")
        .map(|l| tags(l))
        .unwrap_or_default();
    for d in dispositions() {
        if !disp.contains(&format!("\\fB{}\\fR", d.as_str()).as_str()) {
            out.push(format!("disposition {} is not documented", d.as_str()));
        }
    }

    let env = section("ENVIRONMENT").map(|l| tags(l)).unwrap_or_default();
    let mut vars = environment_variables();
    vars.push("NO_COLOR".into());
    for v in vars {
        if !env.iter().any(|t| t.starts_with(&format!("\\fB{v}\\fR"))) {
            out.push(format!("environment variable {v} is not documented"));
        }
    }

    let driver = section("[networks.NAME]")
        .and_then(|l| item(l, "\\fBdriver\\fR"))
        .unwrap_or_default();
    for d in crate::driver::names() {
        if !driver.contains(&format!("\\fB\"{d}\"\\fR")) {
            out.push(format!("driver {d} is not documented"));
        }
    }

    // The JSON Schema's constant defaults are the page's.
    let schema: serde_json::Value = serde_json::from_str(&super::schema::json()).unwrap();
    for (def, props) in schema["$defs"].as_object().unwrap() {
        let titles: Vec<String> = match def.as_str() {
            "RawStep" => std::iter::once("[[scenarios.NAME.steps]]".to_string())
                .chain(ACTIONS.iter().map(|a| format!("do = \\(dq{a}\\(dq")))
                .collect(),
            _ => tables
                .iter()
                .filter(|(_, _, fields)| {
                    let names: Vec<&str> = props["properties"]
                        .as_object()
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    *fields == names.as_slice()
                })
                .map(|(_, t, _)| t.to_string())
                .collect(),
        };
        for (key, p) in props["properties"].as_object().into_iter().flatten() {
            let Some(default) = p.get("default").filter(|d| !d.is_object()) else {
                continue;
            };
            let want = format!("(default: \\fB{default}\\fR)");
            let said = titles.iter().any(|t| {
                section(t)
                    .and_then(|l| item(l, &format!("\\fB{key}\\fR = ")))
                    .is_some_and(|i| i.lines().next().is_some_and(|tag| tag.contains(&want)))
            });
            if !said {
                out.push(format!(
                    "the schema's default of {key} ({def}) is {default}, the page does not say {want}"
                ));
            }
        }
    }

    let files = section("FILES").map(|l| tags(l)).unwrap_or_default();
    for dir in [crate::state::STATE_DIR, crate::kernel::netns::NETNS_DIR] {
        if !files.iter().any(|t| t.starts_with(&format!("\\fI{dir}/"))) {
            out.push(format!("{dir} is not in FILES"));
        }
    }
    out
}

fn page() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/netlab-lab.5");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_lab_file_page_documents_every_key_action_and_variable() {
    let p = problems(&page());
    assert!(p.is_empty(), "man/netlab-lab.5:\n  {}", p.join("\n  "));
}

#[test]
fn the_key_lists_come_from_the_parser() {
    let t = tables();
    let host = t.iter().find(|(s, _, _)| *s == "hosts").unwrap().2;
    assert_eq!(
        host,
        [
            "nic",
            "nics",
            "address",
            "addresses",
            "forwarding",
            "firewall"
        ],
        "{host:?}"
    );
    assert_eq!(
        common_step_keys(),
        ["do", "name", "retry", "expect_fail", "stop_on_error"]
    );
    assert!(
        environment_variables().contains(&"NETLAB_MAX_NAMESPACES".to_string()),
        "{:?}",
        environment_variables()
    );
}

/// The check fails on a page that lacks a key, an action's key, a disposition or a variable.
#[test]
fn a_page_missing_something_is_refused() {
    let full = page();
    for (drop, expect) in [
        (
            "\\fBforwarding\\fR = \\fIboolean\\fR",
            "key forwarding of [hosts.NAME]",
        ),
        (
            "\\fBexpect_fail\\fR = ",
            "key expect_fail of [[scenarios.NAME.steps]]",
        ),
        ("\\fBLINK_DOWN\\fR", "disposition LINK_DOWN"),
        (
            "\\fBNETLAB_MAX_NAMESPACES\\fR",
            "environment variable NETLAB_MAX_NAMESPACES",
        ),
        ("\\fBseconds\\fR = ", "key seconds of do = \\(dqwait\\(dq"),
        (
            ".SS \"do = \\(dqlink\\(dq\"",
            "no subsection do = \\(dqlink\\(dq",
        ),
    ] {
        let cut: String = full
            .lines()
            .filter(|l| !l.starts_with(drop))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(cut, full, "{drop} is not on the page");
        let p = problems(&cut);
        assert!(
            p.iter().any(|x| x.starts_with(expect)),
            "without {drop}: {p:?}"
        );
    }
    let other_default = full.replace(
        "\\fBmtu\\fR = \\fIinteger\\fR (default: \\fB1500\\fR)",
        "\\fBmtu\\fR = \\fIinteger\\fR (default: \\fB1450\\fR)",
    );
    assert_ne!(other_default, full);
    assert!(
        problems(&other_default)
            .iter()
            .any(|x| x.starts_with("the schema's default of mtu")),
        "{:?}",
        problems(&other_default)
    );
    let extra = full.replace(
        "\\fBttl\\fR = \\fIinteger\\fR (default: none)\nFrom 1 to 255: the TTL the replies must arrive with.\n",
        "\\fBttl\\fR = \\fIinteger\\fR (default: none)\nFrom 1 to 255: the TTL the replies must arrive with.\n.TP\n\\fBdev\\fR = \\fIstring\\fR (required)\nx\n",
    );
    assert_ne!(extra, full);
    assert!(
        problems(&extra)
            .iter()
            .any(|x| x.contains("documents dev, which the parser does not take")),
        "{:?}",
        problems(&extra)
    );
}
