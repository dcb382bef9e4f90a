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

/// IPv6 forwarding on every interface of the namespace (what Docker's bridge driver sets for a
/// network with IPv6, and `default`, for interfaces made later, follows it).
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

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
        let docker = docker(lab, hi);
        if !host.firewall.is_empty() || !docker.chains.is_empty() {
            let mut table = firewall(&host.firewall);
            table.chains.extend(docker.chains);
            p.add(Object::Firewall {
                ns: hns.clone(),
                table,
            });
        }
        if host.forwarding || docker.forwarding {
            p.add(Object::Sysctl {
                ns: hns.clone(),
                key: IP_FORWARD.into(),
                value: "1".into(),
            });
        }
        if docker.forwarding6 {
            p.add(Object::Sysctl {
                ns: hns.clone(),
                key: IPV6_FORWARD.into(),
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

/// What a Docker daemon writes on host `hi` for its bridge networks (docker_gwbridge
/// included): what forwarding needs, and the chains.
struct Docker {
    /// Docker turns IPv4 forwarding on: for the bridges' way out and the published ports
    /// (DNAT'd packets are forwarded).
    forwarding: bool,
    /// And IPv6 forwarding, for a bridge network with IPv6 (libnetwork's setupIPv6Forwarding).
    forwarding6: bool,
    chains: Vec<Chain>,
}

/// Docker's rules on host `hi`, as nftables chains:
/// - docker-prerouting and docker-output, its DOCKER chain: connections to a host address and
///   a published port (from anywhere but the container's own bridge, which Docker leaves to
///   its userland proxy) are DNAT'd to the container's address on the network that gives its
///   default route, before routing and for the host's own connections;
/// - docker-postrouting: each bridge's `-s SUBNET ! -o BRIDGE -j MASQUERADE`
///   (enable_ip_masquerade, on by default and on docker_gwbridge): what leaves a bridge's
///   subnet for elsewhere leaves as the host;
/// - docker-isolation, DOCKER-ISOLATION: traffic between two of its bridges is dropped, and an
///   internal network's traffic in or out of its bridge.
fn docker(lab: &Lab, hi: usize) -> Docker {
    let bridges: Vec<(&crate::spec::Network, &str, bool)> = lab
        .networks
        .iter()
        .enumerate()
        .filter(|(ni, _)| lab.is_on(*ni, hi))
        .filter_map(|(_, n)| match &n.driver {
            Driver::Bridge {
                bridge, masquerade, ..
            } => Some((n, bridge.as_str(), *masquerade)),
            _ => None,
        })
        .collect();
    let pre = published(lab, hi);
    let masquerade: Vec<Rule> = bridges
        .iter()
        .filter(|(n, _, masquerade)| *masquerade && !n.internal)
        .map(|(n, br, _)| {
            Rule::new(
                vec![Match::Saddr(n.subnet), Match::NotOif(br.to_string())],
                Action::Masquerade,
            )
        })
        .collect();
    let mut isolation: Vec<Rule> = Vec::new();
    for (n, a, _) in &bridges {
        if n.internal {
            isolation.push(Rule::new(
                vec![Match::Iif(a.to_string()), Match::NotOif(a.to_string())],
                Action::Drop,
            ));
            isolation.push(Rule::new(
                vec![Match::NotIif(a.to_string()), Match::Oif(a.to_string())],
                Action::Drop,
            ));
        }
    }
    for (_, a, _) in &bridges {
        for (_, b, _) in bridges.iter().filter(|(_, b, _)| b != a) {
            isolation.push(Rule::new(
                vec![Match::Iif(a.to_string()), Match::Oif(b.to_string())],
                Action::Drop,
            ));
        }
    }
    let forwarding = !pre.is_empty() || bridges.iter().any(|(n, _, _)| !n.internal);
    let forwarding6 = bridges.iter().any(|(n, _, _)| n.ipv6.is_some());
    let mut chains = Vec::new();
    if !pre.is_empty() {
        let out = pre
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.matches.retain(|m| !matches!(m, Match::NotIif(_)));
                r
            })
            .collect();
        chains.push(Chain::nat("docker-prerouting", Hook::Prerouting, pre));
        chains.push(Chain::nat("docker-output", Hook::Output, out));
    }
    if !masquerade.is_empty() {
        chains.push(Chain::nat(
            "docker-postrouting",
            Hook::Postrouting,
            masquerade,
        ));
    }
    if forwarding && !isolation.is_empty() {
        chains.push(Chain::filter(
            "docker-isolation",
            Hook::Forward,
            Policy::Accept,
            isolation,
        ));
    }
    Docker {
        forwarding,
        forwarding6,
        chains,
    }
}

/// The DNAT rules of the published ports of host `hi`'s containers, as prerouting sees them
/// (not from the container's own bridge; the output chain's copy drops that match).
fn published(lab: &Lab, hi: usize) -> Vec<Rule> {
    let host = &lab.hosts[hi];
    let own: Vec<Ipv4Addr> = std::iter::once(host.address.ip())
        .chain(host.addresses.iter().map(|a| a.address.ip()))
        .collect();
    let mut pre = Vec::new();
    for c in lab.containers.iter().filter(|c| c.host == hi) {
        let Some(e) = c.endpoints.iter().find(|e| {
            c.default_gateway
                .is_some_and(|g| lab.networks[e.network].is_gateway(g))
        }) else {
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
                let mut matches = vec![
                    Match::Daddr(Ipv4Network::from(*ip)),
                    Match::Dport {
                        proto: port.proto,
                        port: port.host_port,
                    },
                ];
                matches.extend(bridge.iter().map(|b| Match::NotIif(b.clone())));
                let to = Action::Dnat {
                    addr: e.address.ip(),
                    port: Some(port.container_port),
                };
                pre.push(Rule::new(matches, to));
            }
        }
    }
    // Swarm's routing mesh (DOCKER-INGRESS): a service's published port on every host goes
    // to the host's ingress_sbox, on docker_gwbridge (seed 004's 172.19.0.2).
    let sbox = lab
        .containers
        .iter()
        .find(|c| c.ingress_sbox && c.host == hi);
    let on_gw = sbox.and_then(|c| {
        c.endpoints
            .iter()
            .find(|e| lab.networks[e.network].implicit)
    });
    if let Some(e) = on_gw {
        let bridge = lab.networks[e.network].name.clone();
        for port in lab.services.iter().flat_map(|s| &s.ports) {
            for ip in &own {
                let matches = vec![
                    Match::Daddr(Ipv4Network::from(*ip)),
                    Match::Dport {
                        proto: port.proto,
                        port: port.published,
                    },
                    Match::NotIif(bridge.clone()),
                ];
                let to = Action::Dnat {
                    addr: e.address.ip(),
                    port: Some(port.published),
                };
                pre.push(Rule::new(matches, to));
            }
        }
    }
    pre
}
