//! Netfilter in the prediction: a namespace's nftables tables, as netlab wrote them (a host's
//! `[[hosts.H.firewall]]` rules, Docker's published ports and DOCKER-ISOLATION), evaluated
//! for the traced packet at the hooks it crosses, in the kernel's order: prerouting (NAT),
//! then input for a local packet or forward for a routed one, output for the source's own,
//! then postrouting (NAT). Within a hook every base chain runs by priority; in a chain the
//! first rule that matches decides (accept ends that chain, drop ends the packet, a NAT
//! statement rewrites and accepts), else the chain's policy. NAT chains see only a
//! connection's first packet: the reply is of an established connection, which conntrack
//! un-NATs without asking the rules.

use std::net::IpAddr;

use serde::Serialize;

use crate::kernel::nft::{Action, ChainKind, CtState, Hook, L4Proto, Match, Policy, Rule, Table};
use crate::observe::Namespace;

/// The packet as the rules see it at a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub saddr: Option<IpAddr>,
    pub daddr: IpAddr,
    pub proto: L4Proto,
    pub dport: Option<u16>,
    pub ct: CtState,
}

/// Where a rule (or a chain's policy) dropped the packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filtered {
    pub namespace: String,
    pub table: String,
    pub chain: String,
    pub hook: &'static str,
    /// 1-based, in the chain; None: the chain's policy.
    pub rule: Option<usize>,
    /// The rule as nft prints it, or "policy drop".
    pub text: String,
}

impl Filtered {
    /// `table inet netlab chain docker-isolation (hook forward) rule 1: iifname "a" oifname "b" drop`
    pub fn describe(&self) -> String {
        let which = match self.rule {
            Some(n) => format!("rule {n}: {}", self.text),
            None => self.text.clone(),
        };
        format!(
            "table inet {} chain {} (hook {}) {which}",
            self.table, self.chain, self.hook
        )
    }
}

/// What one hook did to the packet: the rewrites made (said as "masquerade: source 10.0.0.2
/// -> 10.1.1.21"), or the drop.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rewrites: Vec<String>,
    pub dropped: Option<Filtered>,
}

fn matches(m: &Match, p: &Packet, iif: Option<&str>, oif: Option<&str>) -> bool {
    match m {
        Match::Iif(n) => iif == Some(n.as_str()),
        Match::Oif(n) => oif == Some(n.as_str()),
        // A hook without that interface (no input device at output): `iifname != X` holds, as
        // the kernel compares X with an empty name.
        Match::NotIif(n) => iif != Some(n.as_str()),
        Match::NotOif(n) => oif != Some(n.as_str()),
        // `ip saddr` and `ip daddr` (guarded by `meta nfproto ipv4`): no IPv6 packet matches.
        Match::Saddr(net) => matches!(p.saddr, Some(IpAddr::V4(a)) if net.contains(a)),
        Match::Daddr(net) => matches!(p.daddr, IpAddr::V4(a) if net.contains(a)),
        Match::Proto(l4) => p.proto == *l4,
        Match::Dport { proto, port } => p.proto == *proto && p.dport == Some(*port),
        Match::CtState(states) => states.contains(&p.ct),
        // Round robin: the prediction follows a connection that its rule takes (the first
        // backend's); which one a real connection gets depends on those before it.
        Match::Numgen { .. } => true,
    }
}

/// Whether rule `r` decides for `p`: every match holds, and a NAT statement of IPv4 (`dnat ip
/// to`, `snat ip to`) applies to IPv4 packets only; for an IPv6 packet the kernel skips it
/// (nft_nat_inet_eval) and the next rule is asked. Masquerade is of both families.
fn rule_matches(r: &Rule, p: &Packet, iif: Option<&str>, oif: Option<&str>) -> bool {
    let family_ok = match r.action {
        Action::Dnat { .. } | Action::Snat { .. } => p.daddr.is_ipv4(),
        _ => true,
    };
    family_ok && r.matches.iter().all(|m| matches(m, p, iif, oif))
}

/// Run `hook` of every table of `ns` over `p` (which NAT rewrites in place).
pub fn run(
    ns: &Namespace,
    tables: &[Table],
    hook: Hook,
    p: &mut Packet,
    iif: Option<&str>,
    oif: Option<&str>,
) -> Outcome {
    run_kind(ns, tables, hook, None, p, iif, oif)
}

/// [`run`] of the chains of one kind only (`None`: all): the output hook's NAT chains run
/// before its filter chains (dstnat -100, filter 0), and a DNAT there reroutes the packet
/// before the filter sees it (ip_route_me_harder), so the walk asks them apart.
pub fn run_kind(
    ns: &Namespace,
    tables: &[Table],
    hook: Hook,
    kind: Option<ChainKind>,
    p: &mut Packet,
    iif: Option<&str>,
    oif: Option<&str>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut chains: Vec<(&Table, &crate::kernel::nft::Chain)> = tables
        .iter()
        .flat_map(|t| t.chains.iter().map(move |c| (t, c)))
        .filter(|(_, c)| c.hook == hook && kind.is_none_or(|k| c.kind == k))
        .collect();
    chains.sort_by_key(|(_, c)| c.priority);
    for (table, chain) in chains {
        if chain.kind == ChainKind::Nat && p.ct != CtState::New {
            continue;
        }
        let hit = chain
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| rule_matches(r, p, iif, oif));
        let dropped = |rule: Option<usize>, text: String| Filtered {
            namespace: ns.name.clone(),
            table: table.name.clone(),
            chain: chain.name.clone(),
            hook: hook.as_str(),
            rule,
            text,
        };
        match hit {
            None if chain.policy == Policy::Drop => {
                out.dropped = Some(dropped(None, "policy drop".into()));
                return out;
            }
            None => {}
            Some((i, r)) => match &r.action {
                Action::Accept => {}
                Action::Drop => {
                    out.dropped = Some(dropped(Some(i + 1), r.to_string()));
                    return out;
                }
                Action::Masquerade => {
                    let to = oif.and_then(|d| super::device_address(ns, d, p.daddr));
                    if let (Some(from), Some(to)) = (p.saddr, to) {
                        out.rewrites
                            .push(format!("{}: masquerade, source {from} -> {to}", chain.name));
                    }
                    p.saddr = to.or(p.saddr);
                }
                Action::Snat { addr } => {
                    if let Some(from) = p.saddr {
                        out.rewrites
                            .push(format!("{}: snat, source {from} -> {addr}", chain.name));
                    }
                    p.saddr = Some(IpAddr::V4(*addr));
                }
                Action::Dnat { addr, port } => {
                    let port_said = match (p.dport, port) {
                        (Some(a), Some(b)) => format!(" port {a} -> {b}"),
                        _ => String::new(),
                    };
                    let shared = r.matches.iter().find_map(|m| match m {
                        Match::Numgen { modulus } => {
                            Some(format!(" (round robin, 1 of {modulus} backends)"))
                        }
                        _ => None,
                    });
                    out.rewrites.push(format!(
                        "{}: dnat, destination {} -> {addr}{port_said}{}",
                        chain.name,
                        p.daddr,
                        shared.unwrap_or_default()
                    ));
                    p.daddr = IpAddr::V4(*addr);
                    if port.is_some() {
                        p.dport = *port;
                    }
                }
            },
        }
    }
    out
}
