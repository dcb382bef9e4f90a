//! Live names for completion: the labs that are up (state layer), their containers, hosts,
//! networks and scenarios (their records), and a node's devices (observe layer, read live from
//! its namespace). Two users: the shells' dynamic completion (clap_complete's `CompleteEnv`,
//! `COMPLETE=bash netlab`), through the `ArgValueCompleter`s `cli` attaches to arguments, and
//! the line editor of `netlab console`. Completion never fails and never changes anything:
//! what cannot be read (a damaged record, a namespace without root) is simply not offered.

use std::ffi::OsStr;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate, ValueCompleter};

use crate::state::{self, Record};

/// The records of the labs that are completely up.
pub fn records() -> Vec<Record> {
    state::labs()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| state::read_record(l).ok().flatten())
        .filter(|r| r.complete)
        .collect()
}

/// A name to offer, and what it is (shown by zsh and fish beside it).
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub value: String,
    pub help: String,
}

fn name(value: String, help: String) -> Name {
    Name { value, help }
}

/// Containers and hosts of one lab, bare, with what each is.
pub fn nodes_of(r: &Record) -> Vec<Name> {
    let lab = &r.lab;
    let containers = lab.containers.iter().map(|c| {
        let nets: Vec<&str> = c
            .endpoints
            .iter()
            .map(|e| lab.networks[e.network].name.as_str())
            .collect();
        name(c.name.clone(), format!("container on {}", nets.join(", ")))
    });
    let hosts = lab
        .hosts
        .iter()
        .map(|h| name(h.name.clone(), format!("host {}", h.address.ip())));
    containers.chain(hosts).collect()
}

/// Networks of one lab, bare, with driver and subnet.
pub fn networks_of(r: &Record) -> Vec<Name> {
    r.lab
        .networks
        .iter()
        .map(|n| {
            name(
                n.name.clone(),
                format!("{} network {}", n.driver_name(), n.subnet),
            )
        })
        .collect()
}

/// Names across labs, as the commands resolve them: a name only one lab has is offered bare,
/// a name several labs have as `LAB<sep>NAME` for each; once the user has typed a lab and the
/// separator, the qualified names of that lab.
fn across(records: &[Record], sep: char, of: impl Fn(&Record) -> Vec<Name>) -> Vec<Name> {
    let per_lab: Vec<(&str, Vec<Name>)> = records
        .iter()
        .map(|r| (r.lab.name.as_str(), of(r)))
        .collect();
    let count = |v: &str| {
        per_lab
            .iter()
            .filter(|(_, ns)| ns.iter().any(|n| n.value == v))
            .count()
    };
    let mut out = Vec::new();
    for (lab, names) in &per_lab {
        for n in names {
            let qualified = name(
                format!("{lab}{sep}{}", n.value),
                format!("{} ({lab})", n.help),
            );
            if count(&n.value) == 1 {
                out.push(name(n.value.clone(), qualified.help.clone()));
            }
            out.push(qualified);
        }
    }
    out
}

/// Those of `names` that begin with `prefix`; qualified names (`LAB.X`, `LAB/X`) only once
/// the prefix itself names a lab's qualifier, or when they are the only spelling.
fn matching(names: Vec<Name>, prefix: &str, sep: char) -> Vec<Name> {
    let qualified_typed = prefix.contains(sep);
    let bare: std::collections::HashSet<String> = names
        .iter()
        .filter(|n| !n.value.contains(sep))
        .map(|n| n.value.clone())
        .collect();
    let mut out: Vec<Name> = names
        .into_iter()
        .filter(|n| n.value.starts_with(prefix))
        .filter(|n| {
            qualified_typed
                || !n.value.contains(sep)
                || n.value
                    .split_once(sep)
                    .is_some_and(|(_, b)| !bare.contains(b))
        })
        .collect();
    out.dedup_by(|a, b| a.value == b.value);
    out
}

/// The device names of namespace `ns`, read live (needs root to enter it: empty without).
pub fn devices(ns: &str) -> Vec<String> {
    if !nix::unistd::geteuid().is_root() {
        return Vec::new();
    }
    let targets: Vec<_> = crate::observe::discover(false)
        .into_iter()
        .filter(|t| t.name == ns)
        .collect();
    let snap = crate::observe::snapshot(&targets, crate::observe::Want::LINKS);
    snap.namespaces
        .iter()
        .flat_map(|n| n.links.iter().map(|l| l.name.clone()))
        .filter(|n| n != "lo")
        .collect()
}

/// The namespace a node argument names (`NODE` or `LAB.NODE`), among the labs that are up.
fn node_ns(records: &[Record], node: &str) -> Option<String> {
    if let Some((lab, bare)) = node.split_once('.') {
        if let Some(ns) = records
            .iter()
            .find(|r| r.lab.name == lab)
            .and_then(|r| r.lab.node_ns(bare))
        {
            return Some(ns);
        }
    }
    let hits: Vec<String> = records.iter().filter_map(|r| r.lab.node_ns(node)).collect();
    match hits.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

// ---- the shells' side: clap_complete's dynamic completion ----

fn candidates(names: Vec<Name>) -> Vec<CompletionCandidate> {
    names
        .into_iter()
        .map(|n| CompletionCandidate::new(n.value).help(Some(n.help.into())))
        .collect()
}

fn current_str(current: &OsStr) -> &str {
    current.to_str().unwrap_or("")
}

/// The words of the command line before the one being completed, without the program name.
/// clap_complete runs `netlab -- netlab WORDS...` with the index of the current word in
/// `_CLAP_COMPLETE_INDEX` (bash, zsh); fish gives the line up to the cursor, the current word
/// last.
fn earlier_words() -> Vec<String> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(start) = args.iter().position(|a| a == "--") else {
        return Vec::new();
    };
    let words = &args[start + 1..];
    let index = std::env::var("_CLAP_COMPLETE_INDEX")
        .ok()
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(words.len().saturating_sub(1))
        .min(words.len());
    words
        .get(1..index)
        .map(<[String]>::to_vec)
        .unwrap_or_default()
}

/// The first positional argument of the subcommand on the command line so far (the lab of
/// `run LAB`, the node of `link NODE DEV`, the network of `connect NET CONTAINER`). Options
/// that take a value are skipped with their value, as clap's definition says.
fn first_positional() -> Option<String> {
    positionals(&earlier_words()).into_iter().nth(1)
}

/// The subcommand and the positional arguments after it, in `words` (no program name).
fn positionals(words: &[String]) -> Vec<String> {
    use clap::CommandFactory;
    let cmd = crate::cli::Cli::command();
    let mut sub: Option<&clap::Command> = None;
    let mut out = Vec::new();
    let mut skip_value = false;
    for w in words {
        if skip_value {
            skip_value = false;
            continue;
        }
        if w == "--" {
            continue;
        }
        if let Some(opt) = w.strip_prefix("--") {
            if !opt.contains('=') {
                let takes = sub
                    .into_iter()
                    .chain(std::iter::once(&cmd))
                    .flat_map(|c| c.get_arguments())
                    .find(|a| a.get_long() == Some(opt))
                    .is_some_and(|a| a.get_action().takes_values());
                skip_value = takes;
            }
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            continue;
        }
        if sub.is_none() {
            sub = cmd.find_subcommand(w);
        }
        out.push(w.clone());
    }
    out
}

/// Labs that are up (`down`, `status`, `check`, `run`, `pingall`, `console`).
pub fn lab_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        // Every lab with state, not only those completely up: `down` is for the others.
        let prefix = current_str(current);
        let names = state::labs()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| {
                let help = match state::read_record(&l) {
                    Ok(Some(r)) if r.complete => format!(
                        "lab: {} containers, {} networks",
                        r.lab.containers.len(),
                        r.lab.networks.len()
                    ),
                    _ => "lab, not completely up".to_string(),
                };
                name(l, help)
            })
            .collect();
        candidates(names)
    })
}

/// Containers and hosts of the labs that are up (`NODE`, or `LAB.NODE`).
pub fn node_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let recs = records();
        candidates(matching(
            across(&recs, '.', nodes_of),
            current_str(current),
            '.',
        ))
    })
}

/// Hosts of the labs that are up, bare (`inspect --host`).
pub fn host_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current_str(current);
        let mut names: Vec<Name> = Vec::new();
        for r in records() {
            for h in &r.lab.hosts {
                if h.name.starts_with(prefix) && !names.iter().any(|n| n.value == h.name) {
                    names.push(name(h.name.clone(), format!("host of lab {}", r.lab.name)));
                }
            }
        }
        candidates(names)
    })
}

/// Containers and hosts, and every named namespace (`exec`, `bridge`).
pub fn namespace_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current_str(current);
        let recs = records();
        let all = across(&recs, '.', nodes_of);
        let mut names = matching(all.clone(), prefix, '.');
        for ns in crate::kernel::netns::list().unwrap_or_default() {
            // A node's namespace is its qualified name: offered as the node is.
            let node = all.iter().any(|n| n.value == ns);
            if ns.starts_with(prefix) && !node && !names.iter().any(|n| n.value == ns) {
                names.push(name(ns, "namespace".into()));
            }
        }
        candidates(names)
    })
}

/// Networks of the labs that are up (`NET`, or `LAB/NET`); with `overlay`, only overlays.
pub fn network_completer(overlay: bool) -> ArgValueCompleter {
    ArgValueCompleter::new(move |current: &OsStr| {
        let recs = records();
        let of = |r: &Record| {
            let mut v = networks_of(r);
            if overlay {
                v.retain(|n| {
                    r.lab
                        .networks
                        .iter()
                        .any(|x| x.name == n.value && x.is_overlay())
                });
            }
            v
        };
        candidates(matching(across(&recs, '/', of), current_str(current), '/'))
    })
}

/// A network or a node (`inspect`).
pub fn network_or_node_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current_str(current);
        let recs = records();
        let mut names = matching(across(&recs, '/', networks_of), prefix, '/');
        names.extend(matching(across(&recs, '.', nodes_of), prefix, '.'));
        candidates(names)
    })
}

/// The containers of the lab whose network was given earlier (`connect NET CONTAINER`:
/// those not on it yet; `disconnect`: those on it). Without one, every lab's containers.
pub fn container_completer(on_network: bool) -> ArgValueCompleter {
    ArgValueCompleter::new(move |current: &OsStr| {
        let recs = records();
        let net = first_positional().unwrap_or_default();
        let (want_lab, net_name) = match net.split_once('/') {
            Some((l, n)) => (Some(l.to_string()), n.to_string()),
            None => (None, net),
        };
        let has_net = |r: &Record| r.lab.networks.iter().position(|n| n.name == net_name);
        let labs: Vec<Record> = recs
            .iter()
            .filter(|r| want_lab.as_deref().is_none_or(|l| r.lab.name == l))
            .filter(|r| net_name.is_empty() || has_net(r).is_some())
            .cloned()
            .collect();
        let of = |r: &Record| -> Vec<Name> {
            let ni = has_net(r);
            r.lab
                .containers
                .iter()
                .filter(|c| {
                    ni.is_none_or(|ni| c.endpoints.iter().any(|e| e.network == ni) == on_network)
                })
                .map(|c| name(c.name.clone(), "container".into()))
                .collect()
        };
        candidates(matching(across(&labs, '.', of), current_str(current), '.'))
    })
}

/// Scenarios of the lab given earlier (`run LAB SCENARIO...`).
pub fn scenario_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current_str(current);
        let Some(lab) = first_positional() else {
            return Vec::new();
        };
        let Ok(Some(r)) = state::read_record(&lab) else {
            return Vec::new();
        };
        let names = r
            .lab
            .scenarios
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .map(|s| name(s.name.clone(), s.description.clone().unwrap_or_default()))
            .collect();
        candidates(names)
    })
}

/// Devices of the node given earlier (`link NODE DEV`, `impair NODE DEV`), read live.
pub fn device_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let node = first_positional().unwrap_or_default();
        device_candidates(&node, current_str(current))
    })
}

fn device_candidates(node: &str, prefix: &str) -> Vec<CompletionCandidate> {
    let Some(ns) = node_ns(&records(), node) else {
        return Vec::new();
    };
    devices(&ns)
        .into_iter()
        .filter(|d| d.starts_with(prefix))
        .map(CompletionCandidate::new)
        .collect()
}

/// `--peer-of NODE DEV`: a node, then its devices.
pub fn peer_of_completer() -> ArgValueCompleter {
    struct PeerOf;
    impl ValueCompleter for PeerOf {
        fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
            self.complete_at(0, current)
        }
        fn complete_at(&self, index: usize, current: &OsStr) -> Vec<CompletionCandidate> {
            if index == 0 {
                let recs = records();
                return candidates(matching(
                    across(&recs, '.', nodes_of),
                    current_str(current),
                    '.',
                ));
            }
            let node = earlier_words().last().cloned().unwrap_or_default();
            device_candidates(&node, current_str(current))
        }
    }
    ArgValueCompleter::new(PeerOf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &str) -> Name {
        name(v.into(), String::new())
    }

    #[test]
    fn bare_names_unless_the_user_types_a_lab() {
        let names = vec![n("web"), n("a.web"), n("a.db"), n("b.db")];
        let got: Vec<String> = matching(names.clone(), "", '.')
            .into_iter()
            .map(|n| n.value)
            .collect();
        // web is unique (bare); db is in two labs (qualified only).
        assert_eq!(got, ["web", "a.db", "b.db"]);
        let got: Vec<String> = matching(names, "a.", '.')
            .into_iter()
            .map(|n| n.value)
            .collect();
        assert_eq!(got, ["a.web", "a.db"]);
    }

    #[test]
    fn positionals_skip_options_and_their_values() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            positionals(&w("--color never connect --ip 10.0.0.9 lab/net")),
            ["connect", "lab/net"]
        );
        assert_eq!(
            positionals(&w("run --junit out.xml bridge")),
            ["run", "bridge"]
        );
        assert_eq!(positionals(&w("link --help web")), ["link", "web"]);
    }
}
