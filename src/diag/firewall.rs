//! `netlab firewall NODE`: the nftables rules netlab wrote in a node's namespace (its lab's
//! plan: a host's `[[hosts.H.firewall]]` rules, Docker's masquerade, published ports and
//! isolation), each with what its counter has seen. A pure function of the tables and the
//! counters the kernel gave back; reading them is the caller's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::table;
use crate::kernel::nft::{ChainCounters, Table};

#[derive(Debug, Serialize)]
pub struct FirewallReport {
    pub namespace: String,
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    /// Family inet, always.
    pub family: &'static str,
    pub name: String,
    /// The table is not in the kernel (removed by hand): its rules have no counters.
    pub missing: bool,
    pub chains: Vec<ChainReport>,
}

#[derive(Debug, Serialize)]
pub struct ChainReport {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hook: &'static str,
    pub priority: i32,
    pub policy: &'static str,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Serialize)]
pub struct RuleReport {
    /// As nft prints it, without its counter.
    pub rule: String,
    /// None: the kernel's chain has no counter at this place (changed by hand).
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

/// What the kernel has of one table (None: the table is not there).
pub type TableCounters = Option<ChainCounters>;

/// The report of `tables` in `namespace`, with `counters` by table name.
pub fn report(
    namespace: &str,
    tables: &[Table],
    counters: &BTreeMap<String, TableCounters>,
) -> FirewallReport {
    let tables = tables
        .iter()
        .map(|t| {
            let read = counters.get(&t.name).cloned().flatten();
            TableReport {
                family: "inet",
                name: t.name.clone(),
                missing: read.is_none(),
                chains: t
                    .chains
                    .iter()
                    .map(|c| ChainReport {
                        name: c.name.clone(),
                        kind: c.kind.as_str(),
                        hook: c.hook.as_str(),
                        priority: c.priority,
                        policy: c.policy.as_str(),
                        rules: c
                            .rules
                            .iter()
                            .enumerate()
                            .map(|(i, r)| {
                                let seen = read
                                    .as_ref()
                                    .and_then(|m| m.get(&c.name))
                                    .and_then(|v| v.get(i).copied().flatten());
                                RuleReport {
                                    rule: r.to_string(),
                                    packets: seen.map(|s| s.packets),
                                    bytes: seen.map(|s| s.bytes),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    FirewallReport {
        namespace: namespace.to_string(),
        tables,
    }
}

/// One row per rule: its table and chain (with hook and policy), its place, the rule, and its
/// counter.
pub fn render(r: &FirewallReport) -> String {
    if r.tables.is_empty() {
        return format!("no firewall rules netlab wrote in {}", r.namespace);
    }
    let mut t = table(&["table", "chain", "#", "rule", "packets", "bytes"]);
    let mut notes = Vec::new();
    for tr in &r.tables {
        if tr.missing {
            notes.push(format!(
                "table inet {} is not in {} (removed by hand?): no counters",
                tr.name, r.namespace
            ));
        }
        for c in &tr.chains {
            let chain = format!("{} ({} {}, policy {})", c.name, c.kind, c.hook, c.policy);
            for (i, rule) in c.rules.iter().enumerate() {
                let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
                t.add_row(vec![
                    format!("inet {}", tr.name),
                    chain.clone(),
                    (i + 1).to_string(),
                    rule.rule.clone(),
                    n(rule.packets),
                    n(rule.bytes),
                ]);
            }
        }
    }
    let mut out = format!("firewall of {}\n{t}", r.namespace);
    for n in notes {
        out.push('\n');
        out.push_str(&n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::nft::{Action, Chain, Counter, Hook, Match, Rule};

    #[test]
    fn each_rule_gets_its_own_counter_by_chain_and_place() {
        let t = Table {
            name: "netlab".into(),
            chains: vec![Chain::nat(
                "docker-postrouting",
                Hook::Postrouting,
                vec![
                    Rule::new(
                        vec![Match::Saddr("172.18.0.0/16".parse().unwrap())],
                        Action::Masquerade,
                    ),
                    Rule::new(vec![], Action::Masquerade),
                ],
            )],
        };
        let mut read = BTreeMap::new();
        read.insert(
            "docker-postrouting".to_string(),
            vec![
                Some(Counter {
                    packets: 3,
                    bytes: 252,
                }),
                None,
            ],
        );
        let mut counters = BTreeMap::new();
        counters.insert("netlab".to_string(), Some(read));
        let r = report("lab.h1", std::slice::from_ref(&t), &counters);
        let rules = &r.tables[0].chains[0].rules;
        assert_eq!(rules[0].rule, "ip saddr 172.18.0.0/16 masquerade");
        assert_eq!((rules[0].packets, rules[0].bytes), (Some(3), Some(252)));
        assert_eq!((rules[1].packets, rules[1].bytes), (None, None));
        let text = render(&r);
        assert!(
            text.contains("docker-postrouting (nat postrouting, policy accept)"),
            "{text}"
        );
        // A table the kernel does not have: said, and no counters.
        let mut gone = BTreeMap::new();
        gone.insert("netlab".to_string(), None);
        let r = report("lab.h1", &[t], &gone);
        assert!(r.tables[0].missing);
        assert!(render(&r).contains("table inet netlab is not in lab.h1"));
    }
}
