//! What a host holds besides its NICs: 802.1Q sub-interfaces (`ens38.10`), extra addresses (a
//! router's gateways on its sub-interfaces), IPv4 forwarding and firewall rules (masquerade and
//! FORWARD accepts), the seed articles' vm-vpn.
//! Everything is inside the host's own namespace: forwarding is that namespace's sysctl.

use super::{Object, Plan};
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::kernel::nft::{Action, Chain, Hook, Match, Policy, Rule, Table};
use crate::spec::{Driver, Lab};

/// The nftables table netlab writes in a host's namespace (family inet).
pub const FIREWALL_TABLE: &str = "netlab";

pub const IP_FORWARD: &str = "net.ipv4.ip_forward";

pub fn plan(lab: &Lab, p: &mut Plan) {
    for (hi, host) in lab.hosts.iter().enumerate() {
        let hns = lab.host_ns(hi);
        for v in &host.vlans {
            p.add(Object::Vlan {
                ns: hns.clone(),
                name: v.name.clone(),
                link: v.nic.clone(),
                id: v.id,
            });
        }
        for v in &host.vlans {
            p.add(Object::Up {
                ns: hns.clone(),
                dev: v.name.clone(),
            });
        }
        for a in &host.addresses {
            p.add(Object::Address {
                ns: hns.clone(),
                dev: a.dev.clone(),
                address: a.address,
            });
        }
        let published = published(lab, hi);
        if !host.firewall.is_empty() || !published.is_empty() {
            let mut table = firewall(&host.firewall);
            table.chains.extend(published);
            p.add(Object::Firewall {
                ns: hns.clone(),
                table,
            });
        }
        // Docker turns forwarding on for published ports (the DNAT'd packets are forwarded).
        let publishes = lab
            .containers
            .iter()
            .any(|c| c.host == hi && !c.ports.is_empty());
        if host.forwarding || publishes {
            p.add(Object::Sysctl {
                ns: hns.clone(),
                key: IP_FORWARD.into(),
                value: "1".into(),
            });
        }
    }
}

/// The nftables table of a host's rules: a chain per hook that has rules (NAT chains for
/// prerouting and postrouting, filter chains with policy accept for the others), each rule in
/// file order.
pub(crate) fn firewall(rules: &[crate::spec::FirewallRule]) -> Table {
    let hooks = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ];
    let chains = hooks
        .into_iter()
        .filter_map(|h| {
            let rules: Vec<_> = rules
                .iter()
                .filter(|r| r.chain == h)
                .map(|r| r.rule.clone())
                .collect();
            if rules.is_empty() {
                return None;
            }
            Some(match h {
                Hook::Prerouting | Hook::Postrouting => Chain::nat(h.as_str(), h, rules),
                _ => Chain::filter(h.as_str(), h, Policy::Accept, rules),
            })
        })
        .collect();
    Table {
        name: FIREWALL_TABLE.into(),
        chains,
    }
}

/// Docker's DOCKER chain for the published ports of host `hi`'s containers: connections to a
/// host address and port (from anywhere but the container's own bridge, which Docker leaves
/// to its userland proxy) are DNAT'd to the container's address on the network that gives
/// its default route, before routing (prerouting) and for the host's own connections (output).
fn published(lab: &Lab, hi: usize) -> Vec<Chain> {
    let host = &lab.hosts[hi];
    let own: Vec<Ipv4Addr> = std::iter::once(host.address.ip())
        .chain(host.addresses.iter().map(|a| a.address.ip()))
        .collect();
    let (mut pre, mut out) = (Vec::new(), Vec::new());
    for c in lab.containers.iter().filter(|c| c.host == hi) {
        let Some(e) = c
            .endpoints
            .iter()
            .find(|e| Some(lab.networks[e.network].gateway) == c.default_gateway)
        else {
            continue;
        };
        let bridge = match &lab.networks[e.network].driver {
            Driver::Bridge { bridge, .. } => Some(bridge.clone()),
            _ => None,
        };
        for port in &c.ports {
            for ip in own
                .iter()
                .filter(|ip| port.host_ip.is_none_or(|h| h == **ip))
            {
                let matches = vec![
                    Match::Daddr(Ipv4Network::from(*ip)),
                    Match::Dport {
                        proto: port.proto,
                        port: port.host_port,
                    },
                ];
                let to = Action::Dnat {
                    addr: e.address.ip(),
                    port: Some(port.container_port),
                };
                let mut from_outside = matches.clone();
                from_outside.extend(bridge.iter().map(|b| Match::NotIif(b.clone())));
                pre.push(Rule::new(from_outside, to.clone()));
                out.push(Rule::new(matches, to));
            }
        }
    }
    if pre.is_empty() {
        return Vec::new();
    }
    // Docker's DOCKER-ISOLATION: with forwarding on, traffic between two of its bridges is
    // dropped (networks stay apart as they do without forwarding).
    let bridges: Vec<String> = lab
        .networks
        .iter()
        .enumerate()
        .filter(|(ni, _)| super::hosts_on(lab, *ni).contains(&hi))
        .filter_map(|(_, n)| match &n.driver {
            Driver::Bridge { bridge, .. } => Some(bridge.clone()),
            _ => None,
        })
        .collect();
    let isolation: Vec<Rule> = bridges
        .iter()
        .flat_map(|a| {
            bridges.iter().filter(move |b| *b != a).map(move |b| {
                Rule::new(
                    vec![Match::Iif(a.clone()), Match::Oif(b.clone())],
                    Action::Drop,
                )
            })
        })
        .collect();
    let mut chains = vec![
        Chain::nat("docker-prerouting", Hook::Prerouting, pre),
        Chain::nat("docker-output", Hook::Output, out),
    ];
    if !isolation.is_empty() {
        chains.push(Chain::filter(
            "docker-isolation",
            Hook::Forward,
            Policy::Accept,
            isolation,
        ));
    }
    chains
}
