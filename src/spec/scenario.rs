//! Scenarios: the seeds' experiments as steps, `[scenarios.NAME]` with `[[scenarios.NAME.steps]]`.
//! A step is an action (`do`: ping, resolve, connect, disconnect, link, exec, wait, impair, apply) and an
//! expectation. Validated here like the rest of the lab file: every key, name, duration and
//! pattern is checked with its `file:line:col` before anything runs, and every name against the
//! lab as the steps before it leave it. Pure but for one read: an `apply` step's lab file is read
//! and validated with the file that names it.

use std::net::Ipv4Addr;
use std::path::Path;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::diag::Reporter;
use super::raw::{Name, Table};
use super::{close_match, Expect, Lab};

/// A scenario: steps `netlab run` runs in order on a lab that is up.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Read with a default (so that a scenario without steps gets its own message), but required.
#[schemars(extend("required" = ["steps"]))]
pub struct RawScenario {
    #[serde(default)]
    #[schemars(with = "String")]
    pub description: Option<String>,
    /// Leave the lab as the scenario left it (default false: put it back).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub keep: Option<bool>,
    /// The steps, as [[scenarios.NAME.steps]] tables.
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>", length(min = 1))]
    pub steps: Vec<Spanned<Table<RawStep>>>,
}

/// Every key any step may have; which apply depends on `do` (in the schema: `allOf`, one
/// `if`/`then` per action, from [`action_keys`]).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    description = "One step: `do` names the action, which decides the other keys the step takes.",
    transform = keys_by_action
)]
pub struct RawStep {
    /// The action: ping, resolve, connect, disconnect, link, exec, wait, impair or apply.
    #[serde(rename = "do")]
    #[schemars(with = "String", transform = action_values)]
    pub action: Spanned<String>,
    /// How the step is shown (default: a description of the action).
    #[serde(default)]
    #[schemars(with = "String")]
    pub name: Option<Spanned<String>>,
    /// Retry until it holds or this long has passed: "500ms", "3s", "2m".
    #[serde(default)]
    #[schemars(with = "String")]
    pub retry: Option<Spanned<String>>,
    /// The step must fail (default false).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub expect_fail: Option<Spanned<bool>>,
    /// A failing step ends the scenario (default true).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = true))]
    pub stop_on_error: Option<Spanned<bool>>,
    // ping
    /// ping: the container or host it is sent from; resolve: the container that looks the
    /// name up.
    #[serde(default)]
    #[schemars(with = "String")]
    pub from: Option<Name>,
    /// ping: a container, a host or an IPv4 address; resolve: the name looked up.
    #[serde(default)]
    #[schemars(with = "String")]
    pub to: Option<Name>,
    /// resolve: the IPv4 address the name must resolve to (default: any).
    #[serde(default)]
    #[schemars(with = "String")]
    pub address: Option<Spanned<String>>,
    /// ping: reachable (default) or unreachable.
    #[serde(default)]
    #[schemars(
        with = "String",
        transform = super::raw::expect_values,
        extend("default" = "reachable")
    )]
    pub expect: Option<Spanned<String>>,
    /// ping: the TTL the replies must arrive with.
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 255))]
    pub ttl: Option<Spanned<i64>>,
    /// ping: echo requests (default 1).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 100), extend("default" = 1))]
    pub count: Option<Spanned<i64>>,
    // connect / disconnect
    /// connect, disconnect: the network.
    #[serde(default)]
    #[schemars(with = "String")]
    pub network: Option<Name>,
    /// connect, disconnect: the container.
    #[serde(default)]
    #[schemars(with = "String")]
    pub container: Option<Name>,
    /// connect: the address to give it (default: the next free one).
    #[serde(default)]
    #[schemars(with = "String")]
    pub ip: Option<Spanned<String>>,
    // link / exec
    /// link, exec, impair: the container or host.
    #[serde(default)]
    #[schemars(with = "String")]
    pub node: Option<Name>,
    /// link, impair: the interface.
    #[serde(default)]
    #[schemars(with = "String")]
    pub dev: Option<Name>,
    /// link: up or down.
    #[serde(default)]
    #[schemars(with = "String", transform = link_states)]
    pub state: Option<Spanned<String>>,
    /// exec: the program and its arguments.
    #[serde(default)]
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub cmd: Option<Spanned<Vec<String>>>,
    /// exec: the exit status it must have (default 0).
    #[serde(default)]
    #[schemars(with = "i64", extend("default" = 0))]
    pub expect_exit: Option<Spanned<i64>>,
    /// exec: a regular expression its output must match.
    #[serde(default)]
    #[schemars(with = "String")]
    pub expect_output: Option<Spanned<String>>,
    // wait
    /// wait: how long.
    #[serde(default)]
    #[schemars(with = "f64", range(min = 0, max = 3600))]
    pub seconds: Option<Spanned<f64>>,
    // impair
    /// impair: delay every packet ("100ms").
    #[serde(default)]
    #[schemars(with = "String")]
    pub delay: Option<Spanned<String>>,
    /// impair: vary the delay by up to this much ("10ms"); needs delay.
    #[serde(default)]
    #[schemars(with = "String")]
    pub jitter: Option<Spanned<String>>,
    /// impair: drop this share of the packets ("0.5%").
    #[serde(default)]
    #[schemars(with = "String")]
    pub loss: Option<Spanned<String>>,
    /// impair: send at most this fast ("10mbit").
    #[serde(default)]
    #[schemars(with = "String")]
    pub rate: Option<Spanned<String>>,
    /// impair: remove the impairment (default false).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub clear: Option<Spanned<bool>>,
    // apply
    /// apply: a lab file, relative to this one's directory.
    #[serde(default)]
    #[schemars(with = "String")]
    pub file: Option<Spanned<String>>,
    /// apply: work out the change and make none (default false).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub dry_run: Option<Spanned<bool>>,
}

fn action_values(schema: &mut Schema) {
    super::raw::one_of(schema, ACTIONS);
}

fn link_states(schema: &mut Schema) {
    super::raw::one_of(schema, &["up", "down"]);
}

/// A step takes the common keys and those of its action: per action, `if` `do` is it `then`
/// the keys are those. The common keys are the step's properties no action claims.
fn keys_by_action(schema: &mut Schema) {
    let all: Vec<String> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let common: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|k| !ACTIONS.iter().any(|a| action_keys(a).contains(k)))
        .collect();
    let rules: Vec<serde_json::Value> = ACTIONS
        .iter()
        .map(|a| {
            let keys: Vec<&str> = common.iter().chain(action_keys(a)).copied().collect();
            serde_json::json!({
                "if": { "properties": { "do": { "const": a } }, "required": ["do"] },
                "then": { "propertyNames": { "enum": keys } },
            })
        })
        .collect();
    schema.insert("allOf".into(), rules.into());
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// Leave the lab as the scenario left it (default: put it back as it was).
    pub keep: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// The step's name, or a description of its action.
    pub name: String,
    /// Line of the step in the lab file.
    pub line: usize,
    pub action: Action,
    /// Retried until it holds or this many seconds have passed.
    pub retry: Option<f64>,
    /// The step must fail.
    pub expect_fail: bool,
    /// A failing step ends the scenario (default true).
    pub stop_on_error: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "do", rename_all = "lowercase")]
pub enum Action {
    Ping {
        from: String,
        /// A container or host name (resolved when the step runs: connections change what a
        /// name resolves to) or an IPv4 address.
        to: String,
        expect: Expect,
        ttl: Option<u8>,
        count: u32,
    },
    /// What `to` resolves to inside container `from` (`getent hosts`), and what it must be.
    Resolve {
        from: String,
        to: String,
        address: Option<Ipv4Addr>,
    },
    Connect {
        network: String,
        container: String,
        ip: Option<Ipv4Addr>,
    },
    Disconnect {
        network: String,
        container: String,
    },
    Link {
        node: String,
        dev: String,
        up: bool,
    },
    Exec {
        node: String,
        cmd: Vec<String>,
        expect_exit: i64,
        expect_output: Option<String>,
    },
    Wait {
        seconds: f64,
    },
    /// netem/tbf on a device, as `netlab impair` (the values as written; checked at load).
    Impair {
        node: String,
        dev: String,
        delay: Option<String>,
        jitter: Option<String>,
        loss: Option<String>,
        rate: Option<String>,
        clear: bool,
    },
    /// The lab becomes what another lab file describes, as `netlab apply FILE`.
    Apply {
        /// As written in the step (relative to the lab file's directory).
        file: String,
        /// Where it was found when the lab file was validated; read again when the step runs.
        path: String,
        /// Work out the change (and its iproute2 commands) and make none.
        dry_run: bool,
    },
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Ping {
                from, to, expect, ..
            } => format!(
                "ping {from} -> {to} {}",
                match expect {
                    Expect::Reachable => "reachable",
                    Expect::Unreachable => "unreachable",
                }
            ),
            Action::Resolve { from, to, address } => match address {
                Some(a) => format!("resolve {to} in {from} -> {a}"),
                None => format!("resolve {to} in {from}"),
            },
            Action::Connect {
                network, container, ..
            } => format!("connect {network} {container}"),
            Action::Disconnect { network, container } => {
                format!("disconnect {network} {container}")
            }
            Action::Link { node, dev, up } => {
                format!("link {node} {dev} {}", if *up { "up" } else { "down" })
            }
            Action::Exec { node, cmd, .. } => format!("exec {node} {}", cmd.join(" ")),
            Action::Wait { seconds } => format!("wait {seconds}s"),
            Action::Impair {
                node,
                dev,
                delay,
                jitter,
                loss,
                rate,
                clear,
            } => {
                let mut w = vec![format!("impair {node} {dev}")];
                for (k, v) in [
                    ("delay", delay),
                    ("jitter", jitter),
                    ("loss", loss),
                    ("rate", rate),
                ] {
                    if let Some(v) = v {
                        w.push(format!("{k} {v}"));
                    }
                }
                if *clear {
                    w.push("clear".into());
                }
                w.join(" ")
            }
            Action::Apply { file, dry_run, .. } => {
                format!("apply {file}{}", if *dry_run { " (dry run)" } else { "" })
            }
        }
    }
}

pub(crate) const ACTIONS: &[&str] = &[
    "ping",
    "resolve",
    "connect",
    "disconnect",
    "link",
    "exec",
    "wait",
    "impair",
    "apply",
];

/// The keys a step of action `what` (one of [`ACTIONS`]) takes besides the common ones.
pub(crate) fn action_keys(what: &str) -> &'static [&'static str] {
    match what {
        "ping" => &["from", "to", "expect", "ttl", "count"],
        "resolve" => &["from", "to", "address"],
        "connect" => &["network", "container", "ip"],
        "disconnect" => &["network", "container"],
        "link" => &["node", "dev", "state"],
        "exec" => &["node", "cmd", "expect_exit", "expect_output"],
        "impair" => &["node", "dev", "delay", "jitter", "loss", "rate", "clear"],
        "apply" => &["file", "dry_run"],
        _ => &["seconds"],
    }
}

/// `apply` files name further `apply` files; those this deep are only looked for, not read, so
/// a file that applies itself is validated once.
const MAX_APPLY_DEPTH: usize = 1;

/// The names a step may use: the lab's as the steps before it leave it (an `apply` step brings
/// the applied file's). `known` is false after an `apply` whose file was not read (too deep):
/// names are then not checked.
#[derive(Debug, Clone)]
struct Names {
    nodes: Vec<String>,
    containers: Vec<String>,
    networks: Vec<String>,
    /// The containers' network aliases: what a ping may also be sent to (resolved, when the
    /// step runs, as the source's resolver answers).
    aliases: Vec<String>,
    known: bool,
}

impl Names {
    fn of(lab: &Lab) -> Names {
        let containers: Vec<String> = lab.containers.iter().map(|c| c.name.clone()).collect();
        Names {
            nodes: containers
                .iter()
                .cloned()
                .chain(lab.hosts.iter().map(|h| h.name.clone()))
                .chain(lab.outside.iter().map(|o| o.name.clone()))
                .collect(),
            containers,
            networks: lab.networks.iter().map(|n| n.name.clone()).collect(),
            aliases: lab
                .containers
                .iter()
                .flat_map(|c| &c.endpoints)
                .flat_map(|e| e.aliases.iter().cloned())
                .collect(),
            known: true,
        }
    }

    fn unknown() -> Names {
        Names {
            nodes: Vec::new(),
            containers: Vec::new(),
            networks: Vec::new(),
            aliases: Vec::new(),
            known: false,
        }
    }
}

/// `3s`, `500ms`, `1.5s`, `2m`: a duration in seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().ok()?;
    let factor = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        _ => return None,
    };
    let v = n * factor;
    (v.is_finite() && (0.0..=3600.0).contains(&v)).then_some(v)
}

/// Check every scenario of the file against the lab. `depth`: how many `apply` steps deep the
/// file is.
pub fn validate(
    r: &mut Reporter,
    raw: &IndexMap<Name, Spanned<Table<RawScenario>>>,
    lab: &Lab,
    depth: usize,
) -> Vec<Scenario> {
    let mut out = Vec::new();
    for (name, sc) in raw {
        if let Some(p) = super::name_problem(name.get_ref(), 48) {
            r.error(
                name.span(),
                format!("scenario name {:?} {p}", name.get_ref()),
            );
        }
        let mut steps = Vec::new();
        if sc.get_ref().steps.is_empty() {
            r.error_help(
                name.span(),
                format!("scenario {} has no steps", name.get_ref()),
                format!("add steps as [[scenarios.{}.steps]] tables", name.get_ref()),
            );
        }
        // Each scenario starts from the lab as the file describes it.
        let mut names = Names::of(lab);
        for st in &sc.get_ref().steps {
            if let Some(s) = step(r, st, lab, depth, &mut names) {
                steps.push(s);
            }
        }
        out.push(Scenario {
            name: name.get_ref().clone(),
            description: sc.get_ref().description.clone(),
            keep: sc.get_ref().keep.unwrap_or(false),
            steps,
        });
    }
    out
}

fn step(
    r: &mut Reporter,
    st: &Spanned<Table<RawStep>>,
    lab: &Lab,
    depth: usize,
    names: &mut Names,
) -> Option<Step> {
    let s = st.get_ref();
    let expect_fail = s
        .expect_fail
        .as_ref()
        .map(|x| *x.get_ref())
        .unwrap_or(false);
    let what = s.action.get_ref().as_str();
    if !ACTIONS.contains(&what) {
        let help = close_match(what, ACTIONS.iter().copied())
            .unwrap_or_else(|| format!("actions: {}", ACTIONS.join(", ")));
        r.error_help(
            s.action.span(),
            format!("unknown step action {what:?}"),
            help,
        );
        return None;
    }
    // Keys that do not apply to this action are errors, not silently ignored.
    let allowed = action_keys(what);
    let present: [(&str, Option<std::ops::Range<usize>>); 14] = [
        ("from", s.from.as_ref().map(|x| x.span())),
        ("to", s.to.as_ref().map(|x| x.span())),
        ("expect", s.expect.as_ref().map(|x| x.span())),
        ("ttl", s.ttl.as_ref().map(|x| x.span())),
        ("count", s.count.as_ref().map(|x| x.span())),
        ("network", s.network.as_ref().map(|x| x.span())),
        ("container", s.container.as_ref().map(|x| x.span())),
        ("ip", s.ip.as_ref().map(|x| x.span())),
        ("node", s.node.as_ref().map(|x| x.span())),
        ("dev", s.dev.as_ref().map(|x| x.span())),
        ("state", s.state.as_ref().map(|x| x.span())),
        ("cmd", s.cmd.as_ref().map(|x| x.span())),
        ("expect_exit", s.expect_exit.as_ref().map(|x| x.span())),
        ("expect_output", s.expect_output.as_ref().map(|x| x.span())),
    ];
    let mut ok = true;
    let more = [
        ("seconds", s.seconds.as_ref().map(|x| x.span())),
        ("delay", s.delay.as_ref().map(|x| x.span())),
        ("jitter", s.jitter.as_ref().map(|x| x.span())),
        ("loss", s.loss.as_ref().map(|x| x.span())),
        ("rate", s.rate.as_ref().map(|x| x.span())),
        ("clear", s.clear.as_ref().map(|x| x.span())),
        ("file", s.file.as_ref().map(|x| x.span())),
        ("dry_run", s.dry_run.as_ref().map(|x| x.span())),
        ("address", s.address.as_ref().map(|x| x.span())),
    ];
    for (key, sp) in present.iter().chain(more.iter()) {
        if let Some(sp) = sp {
            if !allowed.contains(key) {
                r.error_help(
                    sp.clone(),
                    format!("{key} does not apply to {} step", a_step(what)),
                    format!("{} step takes: {}", a_step(what), allowed.join(", ")),
                );
                ok = false;
            }
        }
    }
    // A name must be one the lab has at this step (after the `apply` steps before it).
    let need = |r: &mut Reporter, v: Option<&Name>, key: &str, known: &[String], kind: &str| match v
    {
        None => {
            r.error(st.span(), format!("{} step needs {key}", a_step(what)));
            None
        }
        Some(n) if !names.known || known.contains(n.get_ref()) => Some(n.get_ref().clone()),
        Some(n) => {
            let help = close_match(n.get_ref(), known.iter().map(|k| k.as_str()))
                .unwrap_or_else(|| format!("name a {kind} of this lab"));
            r.error_help(
                n.span(),
                format!("{key} {:?} is not a {kind} of this lab", n.get_ref()),
                help,
            );
            None
        }
    };
    let nodes = &names.nodes;
    let containers = &names.containers;
    let networks = &names.networks;
    let mut after: Option<Names> = None;
    let action = match what {
        "ping" => {
            let from = need(r, s.from.as_ref(), "from", nodes, "container or host");
            let to = match &s.to {
                None => {
                    r.error(st.span(), "a ping step needs to");
                    None
                }
                Some(t) if t.get_ref().parse::<std::net::IpAddr>().is_ok() => {
                    Some(t.get_ref().clone())
                }
                Some(t) => {
                    let known: Vec<String> = nodes.iter().chain(&names.aliases).cloned().collect();
                    need(
                        r,
                        Some(t),
                        "to",
                        &known,
                        "container, host, alias or IP address",
                    )
                }
            };
            let expect = match s.expect.as_ref().map(|e| e.get_ref().as_str()) {
                None | Some("reachable") => Some(Expect::Reachable),
                Some("unreachable") => Some(Expect::Unreachable),
                Some(other) => {
                    r.error(
                        s.expect.as_ref().unwrap().span(),
                        format!("expect must be \"reachable\" or \"unreachable\", not {other:?}"),
                    );
                    None
                }
            };
            let ttl = match &s.ttl {
                None => Some(None),
                Some(t) if (1..=255).contains(t.get_ref()) => Some(Some(*t.get_ref() as u8)),
                Some(t) => {
                    r.error(
                        t.span(),
                        format!("ttl {} must be between 1 and 255", t.get_ref()),
                    );
                    None
                }
            };
            let count = match &s.count {
                None => Some(1),
                Some(c) if (1..=100).contains(c.get_ref()) => Some(*c.get_ref() as u32),
                Some(c) => {
                    r.error(
                        c.span(),
                        format!("count {} must be between 1 and 100", c.get_ref()),
                    );
                    None
                }
            };
            match (from, to, expect, ttl, count) {
                (Some(from), Some(to), Some(expect), Some(ttl), Some(count)) => {
                    Some(Action::Ping {
                        from,
                        to,
                        expect,
                        ttl,
                        count,
                    })
                }
                _ => None,
            }
        }
        "resolve" => {
            // A container with /etc files of its own: a host's, or a host-mode container's,
            // are the machine's, and asking them would ask the machine's resolver.
            let own: Vec<String> = lab
                .containers
                .iter()
                .filter(|c| c.mode != super::NetworkMode::Host)
                .map(|c| c.name.clone())
                .filter(|n| containers.contains(n))
                .chain(
                    // Containers an earlier `apply` step brought: their mode is not known here.
                    containers
                        .iter()
                        .filter(|n| !lab.containers.iter().any(|c| &c.name == *n))
                        .cloned(),
                )
                .collect();
            let from = need(
                r,
                s.from.as_ref(),
                "from",
                &own,
                "container with a namespace of its own",
            );
            let to = match &s.to {
                None => {
                    r.error_help(st.span(), "a resolve step needs to", "to = \"bbox1\"");
                    None
                }
                Some(t) => match crate::plan::names::check_host_name(t.get_ref()) {
                    Ok(()) => Some(t.get_ref().clone()),
                    Err(why) => {
                        r.error(
                            t.span(),
                            format!("to {:?} is not a host name: {why}", t.get_ref()),
                        );
                        None
                    }
                },
            };
            let address = match &s.address {
                None => Some(None),
                Some(a) => match a.get_ref().parse::<Ipv4Addr>() {
                    Ok(ip) => Some(Some(ip)),
                    Err(_) => {
                        r.error(
                            a.span(),
                            format!("address {:?} is not an IPv4 address", a.get_ref()),
                        );
                        None
                    }
                },
            };
            match (from, to, address) {
                (Some(from), Some(to), Some(address)) => {
                    Some(Action::Resolve { from, to, address })
                }
                _ => None,
            }
        }
        "connect" | "disconnect" => {
            let network = need(r, s.network.as_ref(), "network", networks, "network");
            let container = need(
                r,
                s.container.as_ref(),
                "container",
                containers,
                "container",
            );
            let ip = match &s.ip {
                None => Some(None),
                Some(a) => match a.get_ref().parse::<Ipv4Addr>() {
                    Ok(ip) => Some(Some(ip)),
                    Err(_) => {
                        r.error(
                            a.span(),
                            format!("ip {:?} is not an IPv4 address", a.get_ref()),
                        );
                        None
                    }
                },
            };
            match (network, container, ip) {
                (Some(network), Some(container), Some(ip)) if what == "connect" => {
                    Some(Action::Connect {
                        network,
                        container,
                        ip,
                    })
                }
                (Some(network), Some(container), Some(_)) => {
                    Some(Action::Disconnect { network, container })
                }
                _ => None,
            }
        }
        "impair" => {
            let node = need(r, s.node.as_ref(), "node", nodes, "container or host");
            let dev = match &s.dev {
                Some(d) => Some(d.get_ref().clone()),
                None => {
                    r.error(st.span(), "an impair step needs dev");
                    None
                }
            };
            let clear = s.clear.as_ref().map(|x| *x.get_ref()).unwrap_or(false);
            let v = |x: &Option<Spanned<String>>| x.as_ref().map(|y| y.get_ref().clone());
            let ok = if clear {
                if let Some(x) = [&s.delay, &s.jitter, &s.loss, &s.rate]
                    .into_iter()
                    .flatten()
                    .next()
                {
                    r.error(
                        x.span(),
                        "clear = true removes the impairment: give no values with it",
                    );
                    false
                } else {
                    true
                }
            } else {
                match crate::kernel::tc::Impairment::parse(
                    v(&s.delay).as_deref(),
                    v(&s.jitter).as_deref(),
                    v(&s.loss).as_deref(),
                    v(&s.rate).as_deref(),
                ) {
                    Ok(_) => true,
                    Err(e) => {
                        let at = [&s.delay, &s.jitter, &s.loss, &s.rate]
                            .into_iter()
                            .flatten()
                            .next()
                            .map(|x| x.span())
                            .unwrap_or_else(|| st.span());
                        r.error(at, e.replace("--", ""));
                        false
                    }
                }
            };
            match (node, dev, ok) {
                (Some(node), Some(dev), true) => Some(Action::Impair {
                    node,
                    dev,
                    delay: v(&s.delay),
                    jitter: v(&s.jitter),
                    loss: v(&s.loss),
                    rate: v(&s.rate),
                    clear,
                }),
                _ => None,
            }
        }
        "link" => {
            let node = need(r, s.node.as_ref(), "node", nodes, "container or host");
            let dev = match &s.dev {
                Some(d) if !d.get_ref().is_empty() && d.get_ref().len() <= 15 => {
                    Some(d.get_ref().clone())
                }
                Some(d) => {
                    r.error(
                        d.span(),
                        format!("dev {:?} is not an interface name", d.get_ref()),
                    );
                    None
                }
                None => {
                    r.error(st.span(), "a link step needs dev");
                    None
                }
            };
            let up = match s.state.as_ref().map(|x| x.get_ref().as_str()) {
                Some("up") => Some(true),
                Some("down") => Some(false),
                Some(other) => {
                    r.error(
                        s.state.as_ref().unwrap().span(),
                        format!("state must be \"up\" or \"down\", not {other:?}"),
                    );
                    None
                }
                None => {
                    r.error(st.span(), "a link step needs state (\"up\" or \"down\")");
                    None
                }
            };
            match (node, dev, up) {
                (Some(node), Some(dev), Some(up)) => Some(Action::Link { node, dev, up }),
                _ => None,
            }
        }
        "exec" => {
            let node = need(r, s.node.as_ref(), "node", nodes, "container or host");
            let cmd = match &s.cmd {
                Some(c) if !c.get_ref().is_empty() => Some(c.get_ref().clone()),
                Some(c) => {
                    r.error(c.span(), "cmd must name a program and its arguments");
                    None
                }
                None => {
                    r.error_help(
                        st.span(),
                        "an exec step needs cmd",
                        "cmd = [\"ip\", \"-br\", \"addr\"]",
                    );
                    None
                }
            };
            let expect_output = match &s.expect_output {
                None => Some(None),
                Some(p) => match regex::Regex::new(p.get_ref()) {
                    Ok(_) => Some(Some(p.get_ref().clone())),
                    Err(e) => {
                        r.error(
                            p.span(),
                            format!("expect_output is not a regular expression: {e}"),
                        );
                        None
                    }
                },
            };
            match (node, cmd, expect_output) {
                (Some(node), Some(cmd), Some(expect_output)) => Some(Action::Exec {
                    node,
                    cmd,
                    expect_exit: s.expect_exit.as_ref().map(|x| *x.get_ref()).unwrap_or(0),
                    expect_output,
                }),
                _ => None,
            }
        }
        "apply" => match apply(r, st, lab, depth, expect_fail) {
            Some((action, next)) => {
                after = next;
                Some(action)
            }
            None => {
                // Whatever the file would have brought is unknown: the steps after it are not
                // checked against names it may have added (one error, not one per step).
                if !expect_fail {
                    after = Some(Names::unknown());
                }
                None
            }
        },
        _ => match &s.seconds {
            Some(x) if x.get_ref().is_finite() && (0.0..=3600.0).contains(x.get_ref()) => {
                Some(Action::Wait {
                    seconds: *x.get_ref(),
                })
            }
            Some(x) => {
                r.error(
                    x.span(),
                    format!("seconds {} must be between 0 and 3600", x.get_ref()),
                );
                None
            }
            None => {
                r.error(st.span(), "a wait step needs seconds");
                None
            }
        },
    };
    let retry = match &s.retry {
        None => Some(None),
        Some(d) => match parse_duration(d.get_ref()) {
            Some(v) => Some(Some(v)),
            None => {
                r.error_help(
                    d.span(),
                    format!("retry {:?} is not a duration", d.get_ref()),
                    "write it like \"3s\" or \"500ms\" (at most an hour)",
                );
                None
            }
        },
    };
    if let Some(next) = after {
        *names = next;
    }
    let action = action?;
    let retry = retry?;
    if !ok {
        return None;
    }
    let line = r.line_col(st.span().start).0;
    Some(Step {
        name: s
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| action.describe()),
        line,
        action,
        retry,
        expect_fail,
        stop_on_error: s
            .stop_on_error
            .as_ref()
            .map(|x| *x.get_ref())
            .unwrap_or(true),
    })
}

/// "a ping", "an exec".
fn a_step(what: &str) -> String {
    let an = what.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {what}", if an { "an" } else { "a" })
}

/// An `apply` step: its file, relative to the lab file's directory, must exist and parse now;
/// unless the step must fail (a file the validation refuses, to show the refusal), it must be a
/// valid lab as well. Returns the action and, when it changes the lab, the names after it.
fn apply(
    r: &mut Reporter,
    st: &Spanned<Table<RawStep>>,
    lab: &Lab,
    depth: usize,
    expect_fail: bool,
) -> Option<(Action, Option<Names>)> {
    let s = st.get_ref();
    let dry_run = s.dry_run.as_ref().map(|x| *x.get_ref()).unwrap_or(false);
    let Some(f) = &s.file else {
        r.error_help(
            st.span(),
            "an apply step needs file",
            "file = \"other.toml\" (a lab file, relative to this one's directory)",
        );
        return None;
    };
    let file = f.get_ref();
    let base = Path::new(&lab.source).parent().unwrap_or(Path::new(""));
    let where_ = if base.as_os_str().is_empty() {
        "the current directory".to_string()
    } else {
        base.display().to_string()
    };
    if file.is_empty() {
        r.error(f.span(), "file is empty: name a lab file");
        return None;
    }
    let path = base.join(file);
    let shown = path.display().to_string();
    let bytes = match super::read_lab_file(&path) {
        Ok(b) => b,
        Err(d) => {
            r.error_help(
                f.span(),
                format!("apply file {file:?} ({shown}): {}", d.message),
                format!("the path is relative to the lab file's directory, {where_}"),
            );
            return None;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        r.error(
            f.span(),
            format!("apply file {file:?} ({shown}) is not UTF-8 text"),
        );
        return None;
    };
    let action = Action::Apply {
        file: file.clone(),
        path: std::fs::canonicalize(&path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string(),
        dry_run,
    };
    if depth >= MAX_APPLY_DEPTH {
        // Not read: the names after it are not known here (they are when that file is given).
        return Some((action, Some(Names::unknown())));
    }
    let syntax = match super::RawLab::read(&text) {
        Err(e) => Some(e),
        Ok((_, mut shape)) if !shape.is_empty() => Some(shape.remove(0)),
        Ok(_) => None,
    };
    if let Some(e) = syntax {
        let (span, message, _) = super::toml_problem(&text, &e);
        let (l, c) = super::line_col(&text, span.start);
        r.error(
            f.span(),
            format!("apply file {file:?} does not parse: {shown}:{l}:{c}: {message}"),
        );
        return None;
    }
    let source = match &action {
        Action::Apply { path, .. } => path.clone(),
        _ => unreachable!(),
    };
    let name = (!lab.name.is_empty()).then_some(lab.name.as_str());
    match super::parse_nested(&shown, &source, &text, name, depth + 1) {
        Ok(new) if !expect_fail && !dry_run => Some((action, Some(Names::of(&new)))),
        Ok(_) => Some((action, None)),
        // The refusal is what the step shows; it fails with it when it runs.
        Err(_) if expect_fail => Some((action, None)),
        Err(e) => {
            let first = e
                .diagnostics
                .first()
                .map(|d| match d.at {
                    Some((l, c)) => format!("{shown}:{l}:{c}: {}", d.message),
                    None => format!("{shown}: {}", d.message),
                })
                .unwrap_or_default();
            let more = match e.diagnostics.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            r.error_help(
                f.span(),
                format!("apply file {file:?} is not a valid lab: {first}{more}"),
                "mend that file, or set expect_fail = true if the step is there to show the refusal",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Some(3.0));
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("1.5s"), Some(1.5));
        assert_eq!(parse_duration("2m"), Some(120.0));
        assert_eq!(parse_duration("3"), Some(3.0));
        for bad in ["", "s", "3h", "-1s", "1e9s", "3 s", "x"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
