//! Swarm's load balancing of a service's virtual IPs over its tasks. Docker programs IPVS
//! (fwmark services, round robin, NAT) in each sandbox; netlab writes the same decisions as
//! nftables DNAT rules with a round-robin counter (`numgen inc`), which every kernel netlab runs
//! on has, while IPVS is a module many lack:
//! - every container on an overlay with a service balances its own connections to the
//!   service's VIP over the tasks' addresses there (libnetwork's per-sandbox IPVS);
//! - the network's load balancer sandbox (`lb_<id>`, which holds the VIPs) does the same for
//!   what reaches it, with its own address as the source (IPVS's NAT mode, as libnetwork's
//!   `SNAT --to-source` for the load balancer's endpoint);
//! - each ingress_sbox sends a published port to the tasks' ingress addresses, as the source
//!   its own ingress address (seed 004's 10.255.0.2), and forwards;
//! - the hosts' DNAT of a published port to their ingress_sbox is Docker's DOCKER-INGRESS,
//!   written with the other published ports (`host::published`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::host::{FIREWALL_TABLE, IP_FORWARD};
use super::{Object, Plan};
use crate::kernel::nft::{Action, Chain, Hook, Match, Rule, Table};
use crate::spec::{Lab, NetworkMode};

/// Rules that share connections matching `matches` out over `backends` round robin: the
/// first takes one in n, the next one in n-1 of the rest, ..., the last what is left.
pub(crate) fn round_robin(matches: &[Match], backends: &[(Ipv4Addr, Option<u16>)]) -> Vec<Rule> {
    let n = backends.len();
    backends
        .iter()
        .enumerate()
        .map(|(i, &(addr, port))| {
            let mut m = matches.to_vec();
            if n - i > 1 {
                m.push(Match::Numgen {
                    modulus: (n - i) as u32,
                });
            }
            Rule::new(m, Action::Dnat { addr, port })
        })
        .collect()
}

#[derive(Default)]
struct Chains {
    pre: Vec<Rule>,
    out: Vec<Rule>,
    post: Vec<Rule>,
    forwarding: bool,
}

pub fn plan(lab: &Lab, p: &mut Plan) {
    let mut by_ns: BTreeMap<String, Chains> = BTreeMap::new();
    for (si, s) in lab.services.iter().enumerate() {
        let tasks = lab.tasks_of(si);
        for &(ni, vip) in &s.vips {
            let net = &lab.networks[ni];
            let on: Vec<Ipv4Addr> = tasks
                .iter()
                .filter_map(|&ci| {
                    let c = &lab.containers[ci];
                    c.endpoints.iter().find(|e| e.network == ni)
                })
                .map(|e| e.address.ip())
                .collect();
            if on.is_empty() {
                continue;
            }
            let to = |port: Option<u16>| -> Vec<_> { on.iter().map(|a| (*a, port)).collect() };
            let to_vip = [Match::Daddr(Ipv4Network::from(vip))];
            for (ci, c) in lab.containers.iter().enumerate() {
                let Some(e) = c.endpoints.iter().find(|e| e.network == ni) else {
                    continue;
                };
                // The balancers (ingress_sbox on ingress, the network's lb_) take what reaches
                // them; any other container balances its own connections.
                let taken: Vec<Rule> = if net.ingress && c.ingress_sbox {
                    s.ports
                        .iter()
                        .flat_map(|port| {
                            let m = [Match::Dport {
                                proto: port.proto,
                                port: port.published,
                            }];
                            round_robin(&m, &to(Some(port.target)))
                        })
                        .collect()
                } else if c.lb == Some(ni) {
                    round_robin(&to_vip, &to(None))
                } else {
                    if !net.ingress && !c.is_sandbox() && c.mode == NetworkMode::Sandbox {
                        let ch = by_ns.entry(lab.container_ns(ci)).or_default();
                        ch.out.extend(round_robin(&to_vip, &to(None)));
                    }
                    continue;
                };
                let ch = by_ns.entry(lab.container_ns(ci)).or_default();
                ch.pre.extend(taken);
                ch.forwarding = true;
                let source = Rule::new(
                    vec![Match::Daddr(net.subnet), Match::Oif(e.ifname.clone())],
                    Action::Snat {
                        addr: e.address.ip(),
                    },
                );
                if !ch.post.contains(&source) {
                    ch.post.push(source);
                }
            }
        }
    }
    for (ns, ch) in by_ns {
        let mut chains = Vec::new();
        if !ch.pre.is_empty() {
            chains.push(Chain::nat("swarm-prerouting", Hook::Prerouting, ch.pre));
        }
        if !ch.out.is_empty() {
            chains.push(Chain::nat("swarm-output", Hook::Output, ch.out));
        }
        if !ch.post.is_empty() {
            chains.push(Chain::nat("swarm-postrouting", Hook::Postrouting, ch.post));
        }
        p.add(Object::Firewall {
            ns: ns.clone(),
            table: Table {
                name: FIREWALL_TABLE.into(),
                chains,
            },
        });
        if ch.forwarding {
            p.add(Object::Sysctl {
                ns,
                key: IP_FORWARD.into(),
                value: "1".into(),
            });
        }
    }
}
