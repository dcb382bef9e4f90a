use std::collections::HashSet;

use super::*;
use crate::spec;

fn lab(text: &str) -> Lab {
    spec::parse("t.toml", "t.toml", text, None).unwrap_or_else(|e| panic!("{e}"))
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
    assert_eq!(p.namespaces.len(), 9);
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
            local,
            port,
            mtu,
        } => {
            assert_eq!(ns, "overlay.nas4");
            assert!(target_ns.starts_with("overlay.nas4.1-"));
            assert_eq!(name, "vxlan0");
            assert_eq!((*vni, *port, *mtu), (256, 4789, 1450));
            assert_eq!(local.to_string(), "10.1.1.14");
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
/// created earlier in the plan (or is lo): the engine can apply it in order.
#[test]
fn plans_are_self_consistent() {
    for text in [
        include_str!("../../labs/overlay.toml"),
        include_str!("../../labs/bridge.toml"),
    ] {
        let p = plan(&lab(text));
        let nss: HashSet<&str> = p.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nss.len(), p.namespaces.len(), "namespace names are unique");
        let mut devs: HashSet<(String, String)> = HashSet::new();
        let mut seen_config = false;
        for o in &p.objects {
            assert!(nss.contains(o.ns()), "{o}: unknown namespace");
            if o.phase() == Phase::Config {
                seen_config = true;
            }
            match o {
                Object::Bridge { ns, name } => assert!(
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
                Object::Master { ns, dev, .. }
                | Object::Isolated { ns, dev }
                | Object::Up { ns, dev }
                | Object::Address { ns, dev, .. } => {
                    assert!(
                        dev == "lo" || devs.contains(&(ns.clone(), dev.clone())),
                        "{o}: device not created"
                    );
                }
                Object::Route { ns, dev, .. }
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
            "type vxlan id 256 local 10.1.1.14 dstport 4789 proxy l2miss l3miss nolearning"
        )));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("bridge -n overlay.nas4.1-")
            && l.contains("fdb add 02:42:0a:00:00:03 dev vxlan0 dst 10.1.1.15 self permanent")));
    assert!(lines
        .iter()
        .any(|l| l == "ip -n overlay.bbox1 route add default via 172.18.0.1 dev eth1"));
    assert_eq!(p.namespaces[0].to_string(), "ip netns add overlay.underlay");
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
