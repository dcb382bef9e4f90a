//! What a host holds besides its NICs: 802.1Q sub-interfaces (`ens38.10`), extra addresses (a
//! router's gateways on its sub-interfaces), IPv4 forwarding and firewall rules (masquerade and
//! FORWARD accepts), the seed articles' vm-vpn.
//! Everything is inside the host's own namespace: forwarding is that namespace's sysctl.

use super::{Object, Plan};
use crate::kernel::nft::{Chain, Hook, Policy, Table};
use crate::spec::Lab;

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
        if !host.firewall.is_empty() {
            p.add(Object::Firewall {
                ns: hns.clone(),
                table: firewall(&host.firewall),
            });
        }
        if host.forwarding {
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
