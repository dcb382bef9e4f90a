use std::collections::{HashMap, HashSet};

use super::*;
use crate::spec;

fn lab(text: &str) -> Lab {
    // In the shipped labs' directory: their scenarios' `apply` steps name files next to them.
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/labs/t.toml");
    spec::parse("t.toml", source, text, None).unwrap_or_else(|e| panic!("{e}"))
}

fn overlay() -> Plan {
    plan(&lab(include_str!("../../labs/overlay.toml")))
}

#[test]
fn overlay_plan_has_docker_namespaces() {
    let p = overlay();
    let l = lab(include_str!("../../labs/overlay.toml"));
    let names: Vec<&str> = p.namespaces.iter().map(|n| n.name.as_str()).collect();
    let ov1 = format!("overlay.nas4.1-{}", &l.networks[0].id[..10]);
    assert!(names.contains(&ov1.as_str()), "{names:?}");
    // ov_net2 only has a container on nas5: no sandbox for it on nas4, as Docker.
    let ov2_nas4 = format!("overlay.nas4.1-{}", &l.networks[1].id[..10]);
    assert!(!names.contains(&ov2_nas4.as_str()));
    assert_eq!(p.namespaces.len(), 10, "with the outside");
    assert_eq!(
        p.namespaces
            .iter()
            .filter(|n| n.role == Role::OverlayNetwork)
            .count(),
        3
    );
}

#[test]
fn vxlan_is_created_from_the_host_into_the_overlay_namespace() {
    let p = overlay();
    let vx: Vec<_> = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Vxlan { .. }))
        .collect();
    assert_eq!(vx.len(), 3);
    match vx[0] {
        Object::Vxlan {
            ns,
            target_ns,
            name,
            vni,
            vtep,
            port,
            mtu,
            src_port,
        } => {
            assert_eq!(
                *src_port, None,
                "a plain overlay's VXLAN picks a port per flow"
            );
            assert_eq!(ns, "overlay.nas4");
            assert!(target_ns.starts_with("overlay.nas4.1-"));
            assert_eq!(name, "vxlan0");
            assert_eq!((*vni, *port, *mtu), (256, 4789, 1450));
            assert_eq!(vtep.to_string(), "10.1.1.14");
            // Docker's vxlan0 has no local address (seed 000's `ip -d link show vxlan0`).
            assert!(!vx[0].to_string().contains(" local "), "{}", vx[0]);
        }
        _ => unreachable!(),
    }
}

#[test]
fn fdb_and_neighbour_entries_are_for_remote_endpoints_only() {
    let p = overlay();
    let fdb: Vec<_> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Fdb { ns, mac, dst, .. } => {
                Some((ns.clone(), format_mac(mac), dst.to_string()))
            }
            _ => None,
        })
        .collect();
    // ov_net1: bbox1 (nas4) <-> bbox2 (nas5); ov_net2 has one host, so no entries.
    assert_eq!(fdb.len(), 2, "{fdb:?}");
    assert!(fdb
        .iter()
        .any(|(ns, mac, dst)| ns.starts_with("overlay.nas4.")
            && mac == "02:42:0a:00:00:03"
            && dst == "10.1.1.15"));
    assert!(fdb
        .iter()
        .any(|(ns, mac, dst)| ns.starts_with("overlay.nas5.")
            && mac == "02:42:0a:00:00:02"
            && dst == "10.1.1.14"));
    let neigh = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Neigh { .. }))
        .count();
    assert_eq!(neigh, 2);
}

/// Every object refers to namespaces the plan creates, and every device it configures is
/// created earlier (or is lo) in the order the engine applies the plan: phase by phase, plan
/// order within a phase.
#[test]
fn plans_are_self_consistent() {
    for text in [
        include_str!("../../labs/overlay.toml"),
        include_str!("../../labs/bridge.toml"),
        include_str!("../../labs/macvlan.toml"),
        include_str!("../../labs/macvlan-vlan.toml"),
        include_str!("../../labs/macvlan-nodes.toml"),
        include_str!("../../labs/macvlan-trunk.toml"),
        include_str!("../../labs/routed-gateway.toml"),
        include_str!("../../labs/ipvlan.toml"),
    ] {
        let p = plan(&lab(text));
        let nss: HashSet<&str> = p.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nss.len(), p.namespaces.len(), "namespace names are unique");
        let mut devs: HashSet<(String, String)> = HashSet::new();
        let mut seen_config = false;
        let mut in_engine_order: Vec<&Object> = p.objects.iter().collect();
        in_engine_order.sort_by_key(|o| o.phase());
        for o in in_engine_order {
            assert!(nss.contains(o.ns()), "{o}: unknown namespace");
            if o.phase() == Phase::Config {
                seen_config = true;
            }
            match o {
                Object::Bridge { ns, name, .. } => assert!(
                    devs.insert((ns.clone(), name.clone())),
                    "{o}: created twice"
                ),
                Object::Veth {
                    ns,
                    name,
                    peer_ns,
                    peer,
                    master,
                    ..
                } => {
                    assert!(nss.contains(peer_ns.as_str()));
                    assert!(name.len() <= 15 && peer.len() <= 15, "{o}: ifname too long");
                    if let Some(m) = master {
                        assert!(
                            devs.contains(&(ns.clone(), m.clone())),
                            "{o}: master not created yet"
                        );
                    }
                    assert!(
                        devs.insert((ns.clone(), name.clone())),
                        "{o}: created twice"
                    );
                    assert!(
                        devs.insert((peer_ns.clone(), peer.clone())),
                        "{o}: peer created twice"
                    );
                }
                Object::Vxlan {
                    target_ns, name, ..
                } => assert!(devs.insert((target_ns.clone(), name.clone()))),
                Object::Vlan { ns, name, link, .. } => {
                    assert!(
                        devs.contains(&(ns.clone(), link.clone())),
                        "{o}: no lower device"
                    );
                    assert!(name.len() <= 15, "{o}: ifname too long");
                    assert!(
                        devs.insert((ns.clone(), name.clone())),
                        "{o}: created twice"
                    );
                }
                Object::Dummy { ns, name } => {
                    assert!(name.len() <= 15, "{o}: ifname too long");
                    assert!(
                        devs.insert((ns.clone(), name.clone())),
                        "{o}: created twice"
                    );
                }
                Object::Macvlan {
                    ns,
                    parent,
                    target_ns,
                    name,
                    ..
                }
                | Object::Ipvlan {
                    ns,
                    parent,
                    target_ns,
                    name,
                    ..
                } => {
                    assert!(nss.contains(target_ns.as_str()));
                    assert!(
                        devs.contains(&(ns.clone(), parent.clone())),
                        "{o}: no parent"
                    );
                    assert!(
                        devs.insert((target_ns.clone(), name.clone())),
                        "{o}: created twice"
                    );
                }
                Object::Sysctl { .. }
                | Object::Firewall { .. }
                | Object::XfrmState { .. }
                | Object::XfrmPolicy { .. } => {}
                Object::Master { ns, dev, .. }
                | Object::Promisc { ns, dev }
                | Object::Isolated { ns, dev }
                | Object::Up { ns, dev }
                | Object::Address { ns, dev, .. }
                | Object::Address6 { ns, dev, .. } => {
                    assert!(
                        dev == "lo" || devs.contains(&(ns.clone(), dev.clone())),
                        "{o}: device not created"
                    );
                }
                Object::Route { ns, dev, .. }
                | Object::Route6 { ns, dev, .. }
                | Object::Fdb { ns, dev, .. }
                | Object::Neigh { ns, dev, .. } => {
                    assert!(
                        devs.contains(&(ns.clone(), dev.clone())),
                        "{o}: device not created"
                    );
                }
            }
        }
        assert!(seen_config);
    }
}

#[test]
fn dry_run_renders_iproute2_commands() {
    let p = overlay();
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    assert!(lines.iter().any(|l| l
        .starts_with("ip -n overlay.nas4 link add vxlan0 netns overlay.nas4.1-")
        && l.ends_with(
            "mtu 1450 type vxlan id 256 dstport 4789 learning proxy l2miss l3miss noudpcsum"
        )));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("bridge -n overlay.nas4.1-")
            && l.contains("fdb add 02:42:0a:00:00:03 dev vxlan0 dst 10.1.1.15 self permanent")));
    assert!(lines
        .iter()
        .any(|l| l == "ip -n overlay.bbox1 route add default via 172.18.0.1 dev eth1"));
    assert_eq!(p.namespaces[0].to_string(), "ip netns add overlay.underlay");
    // What rtnetlink adds without being asked: bridges are created up, IPv4 addresses get
    // their broadcast address.
    assert!(lines
        .iter()
        .any(|l| l.starts_with("ip -n overlay.nas4.1-")
            && l.ends_with(" link add br0 up type bridge")));
    assert!(lines.iter().any(|l| l.starts_with("ip -n overlay.nas4.1-")
        && l.ends_with(" addr add 10.0.0.1/24 brd + dev br0")));
}

/// The calls `kernel::netlink` makes on the VXLAN builder, from its source: `(method, argument)`.
fn netlink_vxlan_calls() -> Vec<(String, String)> {
    let src = include_str!("../kernel/netlink.rs");
    let apply = &src[src
        .find("async fn apply_inner")
        .expect("apply_inner in netlink.rs")..];
    let arm = &apply[apply.find("Object::Vxlan {").expect("a Vxlan arm")..];
    let chain = &arm[arm
        .find("LinkVxlan::new(")
        .expect("LinkVxlan::new in the Vxlan arm")..];
    let chain = &chain[..chain.find(".build()").expect(".build() ends the builder")];
    let mut calls = vec![("new".to_string(), {
        let a = &chain["LinkVxlan::new(".len()..];
        a[..a.find(')').unwrap()].to_string()
    })];
    // `.method(argument)` at the top level of the chain (arguments may hold calls and dots).
    let after_new = &chain[chain.find(')').unwrap() + 1..];
    let (mut depth, mut seg) = (0, String::new());
    let mut segments = Vec::new();
    for c in after_new.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => {
                segments.push(std::mem::take(&mut seg));
                continue;
            }
            _ => {}
        }
        seg.push(c);
    }
    segments.push(seg);
    for part in segments.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (method, rest) = part.split_once('(').expect("a method call");
        let arg = rest.rsplit_once(')').map(|(a, _)| a).unwrap_or(rest);
        calls.push((method.trim().to_string(), arg.trim().to_string()));
    }
    calls
}

/// `--dry-run` prints vxlan0 with exactly the attributes netlink.rs gives it: every builder
/// call there has its iproute2 word in the printed line, and every flag printed is one
/// netlink.rs sets, to the same value.
#[test]
fn dry_run_vxlan_line_sets_what_netlink_sets() {
    let p = overlay();
    let o = p
        .objects
        .iter()
        .find(|o| matches!(o, Object::Vxlan { .. }))
        .unwrap();
    let Object::Vxlan {
        target_ns,
        name,
        vni,
        port,
        mtu,
        ..
    } = o
    else {
        unreachable!()
    };
    let line = o.to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let has = |seq: &[&str]| words.windows(seq.len()).any(|w| w == seq);
    let flag = |method: &str| -> bool {
        match method {
            "learning" => OVERLAY_VXLAN.learning,
            "proxy" => OVERLAY_VXLAN.proxy,
            "l2miss" => OVERLAY_VXLAN.l2miss,
            "l3miss" => OVERLAY_VXLAN.l3miss,
            "udp_csum" => OVERLAY_VXLAN.udp_csum,
            _ => unreachable!(),
        }
    };
    let mut flags_set = Vec::new();
    for (method, arg) in netlink_vxlan_calls() {
        match method.as_str() {
            "new" => assert!(
                has(&["link", "add", name]) && has(&["type", "vxlan", "id", &vni.to_string()]),
                "{line}"
            ),
            "port" => assert!(has(&["dstport", &port.to_string()]), "{line}"),
            "mtu" => assert!(has(&["mtu", &mtu.to_string()]), "{line}"),
            "setns_by_fd" => assert!(has(&["netns", target_ns]), "{line}"),
            "learning" | "proxy" | "l2miss" | "l3miss" | "udp_csum" => {
                let value = match arg.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        assert!(
                            other.contains(&format!("OVERLAY_VXLAN.{method}")),
                            "netlink.rs now sets {method}({other}): print that value in plan's \
                             Display of Object::Vxlan, then teach this test where it comes from"
                        );
                        flag(&method)
                    }
                };
                assert_eq!(
                    value,
                    flag(&method),
                    "netlink.rs sets {method}({arg}), --dry-run prints: {line}"
                );
                let word = match (method.as_str(), value) {
                    ("udp_csum", true) => "udpcsum".to_string(),
                    ("udp_csum", false) => "noudpcsum".to_string(),
                    (m, true) => m.to_string(),
                    (m, false) => format!("no{m}"),
                };
                assert!(words.contains(&word.as_str()), "{word} missing: {line}");
                flags_set.push(method.clone());
            }
            other => panic!(
                "netlink.rs calls .{other}({arg}) on vxlan0: print it in plan's Display of \
                 Object::Vxlan and add it to this test"
            ),
        }
    }
    flags_set.sort();
    assert_eq!(
        flags_set,
        ["l2miss", "l3miss", "learning", "proxy", "udp_csum"],
        "every flag --dry-run prints is set by netlink.rs: {line}"
    );
    assert!(
        line.ends_with("type vxlan id 256 dstport 4789 learning proxy l2miss l3miss noudpcsum"),
        "{line}"
    );
}

#[test]
fn bridge_plan_isolates_ports_only_with_icc_off() {
    let p = plan(&lab(include_str!("../../labs/bridge.toml")));
    let isolated = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Isolated { .. }))
        .count();
    assert_eq!(isolated, 2, "db and cache on quiet_net");
    assert!(p.namespaces.iter().all(|n| n.role != Role::OverlayNetwork));
}

fn macvlan() -> Plan {
    plan(&lab(include_str!("../../labs/macvlan.toml")))
}

fn routed() -> Plan {
    plan(&lab(include_str!("../../labs/routed-gateway.toml")))
}

#[test]
fn macvlan_is_created_from_the_host_into_the_container() {
    let p = macvlan();
    let mv: Vec<_> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Macvlan {
                ns,
                parent,
                mode,
                target_ns,
                name,
                mac,
            } => Some((
                ns.as_str(),
                parent.as_str(),
                mode.as_str(),
                target_ns.as_str(),
                name.as_str(),
                format_mac(mac),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        mv,
        [
            (
                "macvlan.nas4",
                "ens33",
                "bridge",
                "macvlan.bbox11",
                "eth0",
                "02:42:0a:01:01:6f".to_string()
            ),
            (
                "macvlan.nas5",
                "ens33",
                "bridge",
                "macvlan.bbox21",
                "eth0",
                "02:42:0a:01:01:79".to_string()
            ),
        ]
    );
    // No bridge but the lab's switch, no per-network namespace, no gateway address anywhere.
    let bridges: Vec<_> = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Bridge { .. }))
        .collect();
    assert_eq!(bridges.len(), 1, "{bridges:?}");
    assert_eq!(p.namespaces.len(), 5);
    assert!(!p.objects.iter().any(
        |o| matches!(o, Object::Address { address, .. } if address.ip().to_string() == "10.1.1.1")
    ));
    // The parent goes promiscuous on each host; the default route leads to the gateway.
    let promisc: Vec<String> = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Promisc { .. }))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(
        promisc,
        [
            "ip -n macvlan.nas4 link set ens33 promisc on",
            "ip -n macvlan.nas5 link set ens33 promisc on"
        ]
    );
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    assert!(
        lines.contains(&"ip -n macvlan.bbox11 route add default via 10.1.1.1 dev eth0".to_string())
    );
    assert!(lines.contains(
        &"ip -n macvlan.nas4 link add link ens33 name eth0 netns macvlan.bbox11 address 02:42:0a:01:01:6f type macvlan mode bridge".to_string()
    ));
    assert!(!p.objects.iter().any(|o| matches!(o, Object::Sysctl { .. })));
}

#[test]
fn stacked_links_come_after_the_nics_they_sit_on() {
    for o in routed().objects {
        let want = match o {
            Object::Vlan { .. } | Object::Macvlan { .. } => Phase::Stacked,
            Object::Bridge { .. } | Object::Veth { .. } | Object::Vxlan { .. } => Phase::Links,
            Object::XfrmState { .. } | Object::XfrmPolicy { .. } => Phase::Links,
            _ => Phase::Config,
        };
        assert_eq!(o.phase(), want, "{o}");
    }
    assert_eq!(Phase::ALL, [Phase::Links, Phase::Stacked, Phase::Config]);
}

#[test]
fn routed_gateway_plan_has_trunks_vlans_and_one_router() {
    let p = routed();
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    // Every host has two NICs on the switch; the second port is named after host and NIC.
    for (port, host) in [
        ("nas4-ens38", "nas4"),
        ("nas5-ens38", "nas5"),
        ("vm-vpn-ens38", "vm-vpn"),
    ] {
        let want = format!(
            "ip -n routed-gateway.underlay link add {port} mtu 1500 master switch0 type veth peer name ens38 netns routed-gateway.{host} mtu 1500"
        );
        assert!(lines.contains(&want), "{want}");
    }
    // Sub-interfaces, once per host and VLAN, wherever a parent or an address needs them.
    let vlans: Vec<(String, String, u16)> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Vlan { ns, name, link, id } => {
                assert_eq!(link, "ens38");
                Some((ns.clone(), name.clone(), *id))
            }
            _ => None,
        })
        .collect();
    let mut want = Vec::new();
    for h in ["nas4", "nas5", "vm-vpn"] {
        want.push((format!("routed-gateway.{h}"), "ens38.10".to_string(), 10));
        want.push((format!("routed-gateway.{h}"), "ens38.20".to_string(), 20));
    }
    assert_eq!(vlans, want);
    // Promiscuous mode on the trunk NIC, once per host, though two networks sit on it.
    let promisc: Vec<&str> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Promisc { ns, dev } => {
                assert_eq!(dev, "ens38");
                Some(ns.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(promisc, ["routed-gateway.nas4", "routed-gateway.nas5"]);
    // Forwarding in the router's namespace, and nowhere else.
    let sysctls: Vec<String> = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Sysctl { .. }))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(
        sysctls,
        ["ip netns exec routed-gateway.vm-vpn sysctl -w net.ipv4.ip_forward=1"]
    );
    assert!(lines.contains(
        &"ip -n routed-gateway.vm-vpn addr add 172.16.10.254/24 brd + dev ens38.10".to_string()
    ));
    assert!(lines.contains(
        &"ip -n routed-gateway.vm-vpn addr add 172.16.20.254/24 brd + dev ens38.20".to_string()
    ));
    assert!(lines.contains(&"ip -n routed-gateway.nas4 link add link ens38.10 name eth0 netns routed-gateway.bbox1 address 02:42:ac:10:0a:0a type macvlan mode bridge".to_string()));
    assert!(lines.contains(
        &"ip -n routed-gateway.bbox4 route add default via 172.16.20.254 dev eth0".to_string()
    ));
}

#[test]
fn switch_ports_fall_back_to_numbers_when_names_do_not_fit() {
    let l = lab(
        "[lab]\nname = \"t\"\n[hosts.a-very-long-host]\nnics = [\"ens33\", \"ens38\"]\n[hosts.b]\n",
    );
    assert_eq!(
        underlay::port_names(&l),
        [vec!["port1", "port1n1"], vec!["port2"]]
    );
    let l = lab("[lab]\nname = \"t\"\n[hosts.nas4]\nnics = [\"ens33\", \"ens38\"]\n[hosts.nas5]\n");
    assert_eq!(
        underlay::port_names(&l),
        [vec!["nas4", "nas4-ens38"], vec!["nas5"]]
    );
}

fn encrypted() -> Lab {
    lab(include_str!("../../labs/encrypted-overlay.toml"))
}

/// An encrypted overlay: per host, for its one peer, the SA in, the policy and the SA out, in
/// the host's namespace, before any link; the SA out of one host is the SA in of the other
/// (same SPI, same key); an SPI per direction; vxlan0 on source port 16384 + 256 with room for
/// ESP in its MTU. The plain overlay beside it has none of it.
#[test]
fn encrypted_overlay_plans_sas_and_policies_per_vtep_pair() {
    use crate::kernel::xfrm::{Policy, Sa};
    let l = encrypted();
    let p = plan(&l);
    let (n4, n5) = (l.host_ns(0), l.host_ns(1));
    let sas = |ns: &str| -> Vec<Sa> {
        p.objects
            .iter()
            .filter_map(|o| match o {
                Object::XfrmState { ns: n, sa } if n == ns => Some(sa.clone()),
                _ => None,
            })
            .collect()
    };
    let policies: Vec<(&str, &Policy)> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::XfrmPolicy { ns, policy } => Some((ns.as_str(), policy)),
            _ => None,
        })
        .collect();
    let (s4, s5) = (sas(n4.as_str()), sas(n5.as_str()));
    assert_eq!((s4.len(), s5.len(), policies.len()), (2, 2, 2));
    let a4: Ipv4Addr = "10.1.1.14".parse().unwrap();
    let a5: Ipv4Addr = "10.1.1.15".parse().unwrap();
    let find = |v: &[Sa], src, dst| {
        v.iter()
            .find(|s| s.src == src && s.dst == dst)
            .cloned()
            .unwrap()
    };
    let fwd = find(&s4, a4, a5);
    assert_eq!(fwd, find(&s5, a4, a5));
    let rev = find(&s5, a5, a4);
    assert_eq!(rev, find(&s4, a5, a4));
    assert_ne!(fwd.spi, rev.spi);
    assert_ne!(fwd.key, rev.key);
    assert!(fwd.spi >= 0x100 && rev.spi >= 0x100);
    assert_eq!(fwd.key.len(), 40);
    assert_eq!(
        policies,
        [
            (
                n4.as_str(),
                &Policy {
                    src: a4,
                    dst: a5,
                    sport: 16640,
                    dport: 4789,
                    spi: fwd.spi
                }
            ),
            (
                n5.as_str(),
                &Policy {
                    src: a5,
                    dst: a4,
                    sport: 16640,
                    dport: 4789,
                    spi: rev.spi
                }
            ),
        ]
    );
    for o in &p.objects {
        if matches!(o, Object::XfrmState { .. } | Object::XfrmPolicy { .. }) {
            assert_eq!(o.phase(), Phase::Links, "{o}");
        }
    }
    let vx: Vec<(u32, u32, Option<u16>)> = p
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Vxlan {
                vni, mtu, src_port, ..
            } => Some((*vni, *mtu, *src_port)),
            _ => None,
        })
        .collect();
    assert_eq!(
        vx,
        [
            (256, 1416, Some(16640)),
            (256, 1416, Some(16640)),
            (257, 1450, None),
            (257, 1450, None)
        ]
    );
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    assert!(lines.contains(&format!(
        "ip -n {n4} xfrm state add src 10.1.1.14 dst 10.1.1.15 proto esp spi {:#010x} reqid 13681891 mode transport aead 'rfc4106(gcm(aes))' 0x{} 128",
        fwd.spi, fwd.key
    )), "{lines:#?}");
    assert!(lines.contains(&format!(
        "ip -n {n4} xfrm policy add src 10.1.1.14/32 dst 10.1.1.15/32 proto udp sport 16640 dport 4789 dir out tmpl src 10.1.1.14 dst 10.1.1.15 proto esp spi {:#010x} reqid 13681891 mode transport",
        fwd.spi
    )), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" type vxlan id 256 dstport 4789 srcport 16640 16641 learning")),
        "{lines:#?}"
    );
    let undo: Vec<String> = p.objects.iter().map(super::delta::undo_command).collect();
    assert!(undo.contains(&format!(
        "ip -n {n4} xfrm state del src 10.1.1.14 dst 10.1.1.15 proto esp spi {:#010x}",
        fwd.spi
    )));
    assert!(undo.contains(&format!("ip -n {n4} xfrm policy del src 10.1.1.14/32 dst 10.1.1.15/32 proto udp sport 16640 dport 4789 dir out")));
}

/// The keys are the lab's own: each check of the same file draws another secret, so other
/// keys and SPIs; the plan of one lab model is always the same (pure).
#[test]
fn encrypted_overlay_keys_are_drawn_per_lab() {
    let (a, b) = (encrypted(), encrypted());
    let secret = a.ipsec_secret.clone().unwrap();
    assert_eq!(secret.len(), 64);
    assert_ne!(a.ipsec_secret, b.ipsec_secret);
    assert_eq!(plan(&a), plan(&a));
    let keys = |l: &Lab| -> Vec<String> {
        plan(l)
            .objects
            .into_iter()
            .filter_map(|o| match o {
                Object::XfrmState { sa, .. } => Some(sa.key),
                _ => None,
            })
            .collect()
    };
    assert!(keys(&a).iter().all(|k| !keys(&b).contains(k)));
    // A lab without an encrypted overlay draws nothing.
    assert_eq!(
        lab(include_str!("../../labs/overlay.toml")).ipsec_secret,
        None
    );
}

/// labs/ipvlan.toml's plan: one ipvlan per container, created from its host into the container
/// (no MAC: the parent's), no promiscuous parent, a dummy parent for the internal network, and
/// the default routes Docker sets (L2 via the gateway, L3 out of the device, none internal).
#[test]
fn ipvlan_plan_creates_children_from_the_host_and_docker_routes() {
    let l = lab(include_str!("../../labs/ipvlan.toml"));
    let p = plan(&l);
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    let has = |s: &str| lines.iter().any(|l| l == s);
    assert!(has("ip -n ipvlan.node1 link add link ens33 name eth0 netns ipvlan.ipv1 type ipvlan mode l2"), "{lines:#?}");
    assert!(has(
        "ip -n ipvlan.node2 link add link ens34 name eth0 netns ipvlan.l3c type ipvlan mode l3"
    ));
    assert!(has(
        "ip -n ipvlan.ipv1 route add default via 192.168.1.1 dev eth0"
    ));
    assert!(has("ip -n ipvlan.l3a route add default dev eth0"));
    // isolated1 has no parent, which is not internal: its default route stays.
    assert!(has(
        "ip -n ipvlan.cid1 route add default via 192.168.10.1 dev eth0"
    ));
    assert!(!lines.iter().any(|l| l.contains("promisc")));
    let iso = l.networks.iter().find(|n| n.name == "isolated1").unwrap();
    let dummy = format!("di-{}", &iso.id[..12]);
    // Only node2 has containers on isolated1.
    assert_eq!(
        p.objects
            .iter()
            .filter(|o| matches!(o, Object::Dummy { .. }))
            .collect::<Vec<_>>(),
        [&Object::Dummy {
            ns: "ipvlan.node2".into(),
            name: dummy.clone()
        }]
    );
    assert!(has(&format!(
        "ip -n ipvlan.node2 link add link {dummy} name eth0 netns ipvlan.cid1 type ipvlan mode l2"
    )));
    let ipvlans = p
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Ipvlan { .. }))
        .count();
    assert_eq!(ipvlans, l.containers.len());
    // Undone from the container's side, where the device lives.
    let o = p
        .objects
        .iter()
        .find(|o| matches!(o, Object::Ipvlan { target_ns, .. } if target_ns == "ipvlan.l3a"))
        .unwrap();
    assert_eq!(delta::undo_command(o), "ip -n ipvlan.l3a link del eth0");
    let r = p
        .objects
        .iter()
        .find(|o| matches!(o, Object::Route { ns, .. } if ns == "ipvlan.l3a"))
        .unwrap();
    assert_eq!(
        delta::undo_command(r),
        "ip -n ipvlan.l3a route del default dev eth0"
    );
}

/// Seed 000: on the overlay (global scope), bbox2 resolves bbox1 across hosts; bbox3 on
/// ov_net2 resolves nobody on ov_net1; docker_gwbridge registers no names.
#[test]
fn overlay_names_cross_hosts_but_not_networks() {
    let l = lab(include_str!("../../labs/overlay.toml"));
    let ci = |n: &str| l.containers.iter().position(|c| c.name == n).unwrap();
    let ip = |s: &str| Some(s.parse::<std::net::Ipv4Addr>().unwrap());
    assert_eq!(names::resolve(&l, ci("bbox2"), "bbox1"), ip("10.0.0.2"));
    assert_eq!(names::resolve(&l, ci("bbox1"), "BBOX2"), ip("10.0.0.3"));
    assert_eq!(names::resolve(&l, ci("bbox1"), "bbox1"), ip("10.0.0.2"));
    assert_eq!(names::resolve(&l, ci("bbox3"), "bbox1"), None);
    assert_eq!(names::resolve(&l, ci("bbox1"), "bbox3"), None);
    let hosts = names::hosts(&l, ci("bbox2"));
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(
        hosts.contains("\n10.0.0.3\tbbox2\n10.0.0.2\tbbox1\n"),
        "{hosts}"
    );
    assert!(
        !hosts.contains("172.18."),
        "gwbridge addresses are never named: {hosts}"
    );
}

/// Seed 000's macvlan half: a local-scope network's names stay on their host's daemon, so
/// bbox21 (nas5) does not resolve bbox11 (nas4): `ping: bad address 'bbox11'`.
#[test]
fn local_scope_names_stay_on_their_host() {
    let l = lab(include_str!("../../labs/macvlan.toml"));
    let ci = |n: &str| l.containers.iter().position(|c| c.name == n).unwrap();
    assert_eq!(names::resolve(&l, ci("bbox21"), "bbox11"), None);
    let b = lab(include_str!("../../labs/bridge.toml"));
    let ci = |n: &str| b.containers.iter().position(|c| c.name == n).unwrap();
    // Same host, shared networks: the address on the first network they share.
    assert_eq!(
        names::resolve(&b, ci("web"), "db"),
        Some("172.18.0.10".parse().unwrap())
    );
    assert_eq!(
        names::resolve(&b, ci("cache"), "db"),
        Some("172.22.16.2".parse().unwrap())
    );
    assert_eq!(names::resolve(&b, ci("web"), "cache"), None);
}

#[test]
fn aliases_resolve_on_their_network_only() {
    let text = include_str!("../../labs/bridge.toml").replace(
        "ip = { my_net2 = \"172.18.0.10\" }",
        "ip = { my_net2 = \"172.18.0.10\" }\naliases = { quiet_net = [\"store\", \"primary.db\"] }",
    );
    let l = lab(&text);
    let ci = |n: &str| l.containers.iter().position(|c| c.name == n).unwrap();
    let q = Some("172.22.16.2".parse().unwrap());
    assert_eq!(names::resolve(&l, ci("cache"), "store"), q);
    assert_eq!(names::resolve(&l, ci("cache"), "primary.db"), q);
    assert_eq!(names::resolve(&l, ci("web"), "store"), None);
    assert_eq!(names::resolve(&l, ci("db"), "store"), q, "its own alias");
}

#[test]
fn host_names_are_checked() {
    for good in ["db", "db-1", "a.b.c", "X9"] {
        assert!(names::check_host_name(good).is_ok(), "{good}");
    }
    let long = "a".repeat(64);
    for bad in ["", "-db", "db-", "a..b", "db_1", "d b", long.as_str()] {
        assert!(names::check_host_name(bad).is_err(), "{bad:?}");
    }
}

/// A change rewrites exactly the name files it alters: for every connect and disconnect the
/// shipped labs allow, `changed_files` holds every file of the new model that differs from
/// the old one's (or is new), each as `files` writes it, and nothing that did not change
/// on the network that changed.
#[test]
fn a_change_rewrites_the_name_files_it_alters() {
    let labs = [
        include_str!("../../labs/overlay.toml"),
        include_str!("../../labs/bridge.toml"),
        include_str!("../../labs/macvlan.toml"),
        include_str!("../../labs/network-modes.toml"),
    ];
    let mut changes = 0;
    for text in labs {
        let old = lab(text);
        let before: HashMap<String, names::NameFiles> = names::files(&old)
            .into_iter()
            .map(|f| (f.ns.clone(), f))
            .collect();
        for ni in 0..old.networks.len() {
            for ci in 0..old.containers.len() {
                let on = old.containers[ci].endpoints.iter().any(|e| e.network == ni);
                let new = if on {
                    spec::change::disconnect(&old, ni, ci)
                } else {
                    spec::change::connect(&old, ni, ci, None)
                };
                let Ok(new) = new else { continue };
                changes += 1;
                let written: HashMap<String, names::NameFiles> = names::changed_files(&old, &new)
                    .into_iter()
                    .map(|f| (f.ns.clone(), f))
                    .collect();
                let me = new.container_ns(ci);
                for f in names::files(&new) {
                    let differs = before.get(&f.ns) != Some(&f);
                    match written.get(&f.ns) {
                        Some(w) => assert_eq!(w, &f, "{}", f.ns),
                        None => assert!(!differs, "{} changed but is not rewritten", f.ns),
                    }
                    // Rewritten unchanged: only a peer on the network that changed (whose
                    // new peer's name it already knew from an earlier network).
                    if written.contains_key(&f.ns) && !differs && f.ns != me {
                        let peer = new.containers.iter().enumerate().any(|(pi, p)| {
                            new.container_ns(pi) == f.ns
                                && p.endpoints.iter().any(|e| e.network == ni)
                        });
                        assert!(peer, "{} rewritten unchanged", f.ns);
                    }
                }
            }
        }
    }
    assert!(changes > 20, "only {changes} changes tried");
}

/// A network's `mtu` (Docker's com.docker.network.driver.mtu): a bridge network's veths get
/// it, an overlay's VXLAN device and containers get it less 50; other networks keep the
/// underlay's.
#[test]
fn a_network_mtu_sets_its_devices_mtu() {
    let mtus = |text: &str| -> Vec<(String, u32)> {
        plan(&lab(text))
            .objects
            .iter()
            .filter_map(|o| match o {
                Object::Veth {
                    peer, mtu, peer_ns, ..
                } => Some((format!("{peer_ns}:{peer}"), *mtu)),
                Object::Vxlan { ns, mtu, .. } => Some((format!("{ns}:vxlan0"), *mtu)),
                _ => None,
            })
            .collect()
    };
    let bridge = include_str!("../../labs/bridge.toml");
    let before = mtus(bridge);
    assert!(before.iter().all(|(_, m)| *m == 1500), "{before:?}");
    let after = mtus(&bridge.replacen("driver = \"bridge\"", "driver = \"bridge\"\nmtu = 1400", 1));
    assert!(after.iter().any(|(_, m)| *m == 1400), "{after:?}");
    assert!(
        after.iter().any(|(_, m)| *m == 1500),
        "the other networks keep 1500: {after:?}"
    );
    let overlay = include_str!("../../labs/overlay.toml")
        .replace("[networks.ov_net1]\n", "[networks.ov_net1]\nmtu = 9000\n");
    let got = mtus(&overlay);
    assert!(got.iter().any(|(_, m)| *m == 8950), "{got:?}");
    assert!(
        got.iter().any(|(_, m)| *m == 1450),
        "ov_net2 keeps 1450: {got:?}"
    );
}

/// A macvlan network without a parent, and an internal one (libnetwork's): per host with a
/// container on it, a dummy `dm-` and the id's first 12 digits, up, as the children's parent;
/// no promiscuous mode anywhere; the gateway's default route without `internal`, none with it.
#[test]
fn parentless_macvlan_plan_puts_the_children_on_a_dummy() {
    let l = lab(r#"
[lab]
name = "md"
[hosts.h1]
[hosts.h2]
[networks.loose]
driver = "macvlan"
subnet = "192.168.30.0/24"
[networks.sealed]
driver = "macvlan"
subnet = "192.168.31.0/24"
internal = true
[containers.a]
host = "h1"
networks = ["loose"]
[containers.b]
host = "h2"
networks = ["sealed"]
"#);
    let p = plan(&l);
    let lines: Vec<String> = p.objects.iter().map(|o| o.to_string()).collect();
    let has = |s: &str| lines.iter().any(|l| l == s);
    let dummy = |n: &str| {
        let id = &l.networks.iter().find(|x| x.name == n).unwrap().id;
        format!("dm-{}", &id[..12])
    };
    let (loose, sealed) = (dummy("loose"), dummy("sealed"));
    assert!(
        has(&format!("ip -n md.h1 link add {loose} type dummy")),
        "{lines:#?}"
    );
    assert!(
        has(&format!("ip -n md.h2 link add {sealed} type dummy")),
        "{lines:#?}"
    );
    assert_eq!(
        p.objects
            .iter()
            .filter(|o| matches!(o, Object::Dummy { .. }))
            .count(),
        2
    );
    assert!(lines.iter().any(|x| x.starts_with(&format!(
        "ip -n md.h1 link add link {loose} name eth0 netns md.a"
    ))));
    assert!(lines.iter().any(|x| x.starts_with(&format!(
        "ip -n md.h2 link add link {sealed} name eth0 netns md.b"
    ))));
    assert!(!lines.iter().any(|x| x.contains("promisc")), "{lines:#?}");
    assert!(has(
        "ip -n md.a route add default via 192.168.30.1 dev eth0"
    ));
    assert!(!lines
        .iter()
        .any(|x| x.starts_with("ip -n md.b route add default")));
}

/// A network named on hosts (`hosts = [...]`) is planned there without containers: the
/// bridge with its gateway on h3, the macvlan's VLAN sub-interface and promiscuous NIC on h2;
/// a host it does not name gets neither.
#[test]
fn a_network_named_on_a_host_is_planned_there_without_containers() {
    let l = lab(r#"
[lab]
name = "nh"
[hosts.h1]
[hosts.h2]
[hosts.h3]
[networks.m]
driver = "macvlan"
parent = "ens33.10"
subnet = "192.168.30.0/24"
hosts = ["h1", "h2"]
[networks.b]
driver = "bridge"
subnet = "172.30.0.0/24"
hosts = ["h1", "h3"]
[containers.a]
host = "h1"
networks = ["m", "b"]
"#);
    let lines: Vec<String> = plan(&l).objects.iter().map(|o| o.to_string()).collect();
    let has = |s: &str| lines.iter().any(|l| l.starts_with(s));
    let br = format!("br-{}", &l.networks[1].id[..12]);
    for h in ["h1", "h2"] {
        assert!(
            has(&format!(
                "ip -n nh.{h} link add link ens33 name ens33.10 type vlan id 10"
            )),
            "{h}: {lines:#?}"
        );
        assert!(
            has(&format!("ip -n nh.{h} link set ens33 promisc on")),
            "{h}: {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|x| x.starts_with("ip -n nh.h3 link add link ens33")),
        "{lines:#?}"
    );
    for h in ["h1", "h3"] {
        assert!(
            has(&format!(
                "ip -n nh.{h} addr add 172.30.0.1/24 brd + dev {br}"
            )),
            "{h}: {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|x| x.starts_with("ip -n nh.h2") && x.contains(&br)),
        "{lines:#?}"
    );
}
