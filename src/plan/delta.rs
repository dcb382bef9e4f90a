//! Change is a plan delta: what `plan(new model)` has that `plan(old model)` has not is added,
//! what the old has that the new has not is removed. Pure. Objects that live on a device the
//! delta removes (its addresses, its up state, a route through it) go with the device and need
//! no removal of their own; [`Delta::removal_roots`] leaves them out.

use std::collections::HashMap;

use super::{Namespace, Object, Plan};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    pub add_namespaces: Vec<Namespace>,
    pub remove_namespaces: Vec<Namespace>,
    /// In the new plan's order.
    pub add: Vec<Object>,
    /// In the old plan's order.
    pub remove: Vec<Object>,
}

/// Objects of `a` not in `b`, as a multiset, in `a`'s order.
fn minus(a: &[Object], b: &[Object]) -> Vec<Object> {
    let mut count: HashMap<&Object, usize> = HashMap::with_capacity(b.len());
    for o in b {
        *count.entry(o).or_default() += 1;
    }
    a.iter()
        .filter(|o| match count.get_mut(o) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

pub fn delta(old: &Plan, new: &Plan) -> Delta {
    Delta {
        add_namespaces: new
            .namespaces
            .iter()
            .filter(|n| !old.namespaces.contains(n))
            .cloned()
            .collect(),
        remove_namespaces: old
            .namespaces
            .iter()
            .filter(|n| !new.namespaces.contains(n))
            .cloned()
            .collect(),
        add: minus(&new.objects, &old.objects),
        remove: minus(&old.objects, &new.objects),
    }
}

/// The links an object creates, as (namespace, device): both ends of a veth.
pub fn creates_links(o: &Object) -> Vec<(&str, &str)> {
    match o {
        Object::Bridge { ns, name, .. }
        | Object::Vlan { ns, name, .. }
        | Object::Dummy { ns, name } => vec![(ns, name)],
        Object::Veth {
            ns,
            name,
            peer_ns,
            peer,
            ..
        } => vec![(ns, name), (peer_ns, peer)],
        Object::Vxlan {
            target_ns, name, ..
        }
        | Object::Macvlan {
            target_ns, name, ..
        }
        | Object::Ipvlan {
            target_ns, name, ..
        } => vec![(target_ns, name)],
        _ => vec![],
    }
}

/// The device an object configures, as (namespace, device).
pub fn configures(o: &Object) -> Option<(&str, &str)> {
    match o {
        Object::Master { ns, dev, .. }
        | Object::Promisc { ns, dev }
        | Object::Isolated { ns, dev }
        | Object::Up { ns, dev }
        | Object::Address { ns, dev, .. }
        | Object::Address6 { ns, dev, .. }
        | Object::Route { ns, dev, .. }
        | Object::Route6 { ns, dev, .. }
        | Object::Fdb { ns, dev, .. }
        | Object::Neigh { ns, dev, .. } => Some((ns, dev)),
        _ => None,
    }
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty()
            && self.remove.is_empty()
            && self.add_namespaces.is_empty()
            && self.remove_namespaces.is_empty()
    }

    /// What must be removed explicitly, newest first (entries before links): every removed
    /// link, and every removed object that does not live on a removed link. A veth is deleted
    /// from one end; its peer goes with it.
    pub fn removal_roots(&self) -> Vec<&Object> {
        let gone: Vec<(&str, &str)> = self.remove.iter().flat_map(creates_links).collect();
        let mut roots: Vec<&Object> = self
            .remove
            .iter()
            .filter(|o| match configures(o) {
                Some(d) => !gone.contains(&d),
                None => true,
            })
            .collect();
        roots.reverse();
        // Entries first, links last: should a removal fail, putting back an FDB entry or an
        // address is exact, while a link made again gets a new kernel-chosen MAC on its far end.
        roots.sort_by_key(|o| !creates_links(o).is_empty());
        roots
    }

    /// The namespaces the delta works in.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for o in self.add.iter().chain(&self.remove) {
            for ns in std::iter::once(o.ns()).chain(creates_links(o).into_iter().map(|(n, _)| n)) {
                if !v.contains(&ns) {
                    v.push(ns);
                }
            }
        }
        v
    }

    /// iproute2 commands that make the change (`--dry-run`).
    pub fn script(&self) -> Vec<String> {
        let mut out: Vec<String> = self.removal_roots().into_iter().map(undo_command).collect();
        out.extend(self.add.iter().map(|o| o.to_string()));
        out
    }
}

/// The iproute2 command that undoes `o`.
pub fn undo_command(o: &Object) -> String {
    match o {
        Object::Bridge { ns, name, .. }
        | Object::Vlan { ns, name, .. }
        | Object::Dummy { ns, name } => {
            format!("ip -n {ns} link del {name}")
        }
        Object::Veth { ns, name, .. } => format!("ip -n {ns} link del {name}"),
        Object::Vxlan {
            target_ns, name, ..
        }
        | Object::Macvlan {
            target_ns, name, ..
        }
        | Object::Ipvlan {
            target_ns, name, ..
        } => format!("ip -n {target_ns} link del {name}"),
        Object::Master { ns, dev, .. } => format!("ip -n {ns} link set {dev} nomaster"),
        Object::Promisc { ns, dev } => format!("ip -n {ns} link set {dev} promisc off"),
        Object::Isolated { ns, dev } => format!("bridge -n {ns} link set dev {dev} isolated off"),
        Object::Up { ns, dev } => format!("ip -n {ns} link set {dev} down"),
        Object::Address { ns, dev, address } => format!("ip -n {ns} addr del {address} dev {dev}"),
        Object::Route { ns, dst, via, dev } => {
            let dst = dst.map_or("default".to_string(), |d| d.to_string());
            match via {
                Some(via) => format!("ip -n {ns} route del {dst} via {via} dev {dev}"),
                None => format!("ip -n {ns} route del {dst} dev {dev}"),
            }
        }
        Object::Address6 { ns, dev, address } => {
            format!("ip -n {ns} -6 addr del {address} dev {dev}")
        }
        Object::Route6 { ns, dst, via, dev } => {
            let dst = dst.map_or("default".to_string(), |d| d.to_string());
            match via {
                Some(via) => format!("ip -n {ns} -6 route del {dst} via {via} dev {dev}"),
                None => format!("ip -n {ns} -6 route del {dst} dev {dev}"),
            }
        }
        Object::Fdb { ns, dev, mac, dst } => format!(
            "bridge -n {ns} fdb del {} dev {dev} dst {dst}",
            crate::spec::format_mac(mac)
        ),
        Object::Neigh { ns, dev, ip, .. } => format!("ip -n {ns} neigh del {ip} dev {dev}"),
        // Back to the value of a namespace nobody changed (0 for forwarding).
        Object::Sysctl { ns, key, .. }
            if key == super::host::IP_FORWARD || key == super::host::IPV6_FORWARD =>
        {
            format!("ip netns exec {ns} sysctl -w {key}=0")
        }
        Object::Sysctl { ns, key, .. } => {
            format!("# {ns}: {key} back to a fresh namespace's value")
        }
        Object::Firewall { ns, table } => {
            format!("ip netns exec {ns} nft delete table inet {}", table.name)
        }
        Object::XfrmState { ns, sa } => format!("ip -n {ns} xfrm state del {}", sa.id()),
        Object::XfrmPolicy { ns, policy } => {
            format!("ip -n {ns} xfrm policy del {}", policy.selector())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::change::{connect, disconnect};

    fn lab(file: &str) -> crate::spec::Lab {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        crate::spec::load(&path, Some("t")).unwrap()
    }

    fn idx(l: &crate::spec::Lab, net: &str, c: &str) -> (usize, usize) {
        (
            l.networks.iter().position(|n| n.name == net).unwrap(),
            l.containers.iter().position(|x| x.name == c).unwrap(),
        )
    }

    /// Connecting cache to my_net2 adds exactly its veth (into the host's bridge), both ends
    /// up and its address: Docker's next ethN, next free address and MAC.
    #[test]
    fn connect_on_a_bridge_adds_one_endpoint() {
        let old = lab("labs/bridge.toml");
        let (ni, ci) = idx(&old, "my_net2", "cache");
        let new = connect(&old, ni, ci, None).unwrap();
        let d = delta(&crate::plan::plan(&old), &crate::plan::plan(&new));
        assert!(d.remove.is_empty() && d.add_namespaces.is_empty(), "{d:?}");
        let script = d.script();
        assert_eq!(script.len(), 4, "{script:#?}");
        assert!(
            script[0].contains("type veth peer name eth1 netns t.cache"),
            "{script:#?}"
        );
        assert!(
            script[0].contains("address 02:42:ac:12:00:03"),
            "{script:#?}"
        );
        assert!(
            script
                .iter()
                .any(|l| l == "ip -n t.cache addr add 172.18.0.3/16 brd + dev eth1"),
            "{script:#?}"
        );
        // And back: disconnect removes one link (the rest goes with it).
        let back = disconnect(&new, ni, ci).unwrap();
        assert_eq!(back, old);
        let d = delta(&crate::plan::plan(&new), &crate::plan::plan(&back));
        assert!(d.add.is_empty(), "{d:?}");
        let roots = d.removal_roots();
        assert_eq!(roots.len(), 1, "{roots:?}");
        assert!(undo_command(roots[0]).starts_with("ip -n t.host1 link del veth"));
    }

    /// On an overlay, the other host's sandbox gets the FDB entry and neighbour of the new
    /// endpoint; removals take entries away before links.
    #[test]
    fn connect_on_an_overlay_programs_the_other_host() {
        let old = lab("labs/overlay.toml");
        let (ni, ci) = idx(&old, "ov_net1", "bbox3");
        let new = connect(&old, ni, ci, None).unwrap();
        let d = delta(&crate::plan::plan(&old), &crate::plan::plan(&new));
        assert!(d.remove.is_empty(), "{d:?}");
        let script = d.script().join("\n");
        let nas4 = "t.nas4.".to_string() + &new.networks[ni].overlay_sandbox();
        assert!(
            script.contains(&format!(
                "bridge -n {nas4} fdb add 02:42:0a:00:00:04 dev vxlan0 dst 10.1.1.15 self permanent"
            )),
            "{script}"
        );
        assert!(
            script.contains(&format!(
                "ip -n {nas4} neigh add 10.0.0.4 lladdr 02:42:0a:00:00:04 dev vxlan0 nud permanent"
            )),
            "{script}"
        );
        assert!(script.contains("t.nas4.1-"), "{script}");
        let back = disconnect(&new, ni, ci).unwrap();
        let d = delta(&crate::plan::plan(&new), &crate::plan::plan(&back));
        let roots = d.removal_roots();
        assert_eq!(roots.len(), 3, "{roots:?}");
        assert!(
            creates_links(roots[2]).len() == 2,
            "the veth goes last: {roots:?}"
        );
    }

    /// Bad changes are refused, and say why.
    #[test]
    fn bad_changes_are_refused() {
        let l = lab("labs/bridge.toml");
        let (ni, ci) = idx(&l, "my_net2", "web");
        assert!(connect(&l, ni, ci, None)
            .unwrap_err()
            .0
            .contains("already connected"));
        let (qi, _) = idx(&l, "quiet_net", "web");
        assert!(disconnect(&l, qi, ci)
            .unwrap_err()
            .0
            .contains("not connected"));
        for (ip, why) in [
            ("10.0.0.9", "not a usable address"),
            ("172.22.16.0", "not a usable address"),
            ("172.22.16.255", "not a usable address"),
            ("172.22.16.1", "not a usable address"),
            ("172.22.16.2", "already in use"),
        ] {
            let e = connect(&l, qi, ci, Some(ip.parse().unwrap())).unwrap_err();
            assert!(e.0.contains(why), "{ip}: {e}");
        }
        let o = lab("labs/overlay.toml");
        let (gi, bi) = idx(&o, "docker_gwbridge", "bbox1");
        assert!(disconnect(&o, gi, bi)
            .unwrap_err()
            .0
            .contains("managed by netlab"));
    }

    /// A container leaving its last overlay loses its docker_gwbridge leg and default route;
    /// in a lab that never had a docker_gwbridge, joining a first overlay creates it in the
    /// next free bridge pool, as `up` would have.
    #[test]
    fn gwbridge_leg_comes_and_goes_with_the_overlays() {
        let o = lab("labs/overlay.toml");
        let (oi, bi) = idx(&o, "ov_net1", "bbox1");
        let gone = disconnect(&o, oi, bi).unwrap();
        assert!(gone.containers[bi].endpoints.is_empty());
        assert_eq!(gone.containers[bi].default_gateway, None);
        let back = connect(&gone, oi, bi, None).unwrap();
        assert_eq!(back.containers[bi].endpoints, o.containers[bi].endpoints);
        assert_eq!(
            back.containers[bi].default_gateway,
            o.containers[bi].default_gateway
        );

        let text = "[lab]\nname = \"g\"\n[hosts.h1]\naddress = \"10.1.1.11\"\n[networks.ov]\ndriver = \"overlay\"\n[networks.b]\ndriver = \"bridge\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"b\"]\n";
        let old = crate::spec::parse("g.toml", "g.toml", text, None).unwrap();
        assert!(!old.networks.iter().any(|n| n.implicit));
        let (b, ci) = idx(&old, "b", "c1");
        let mid = disconnect(&old, b, ci).unwrap();
        let (ov, _) = idx(&mid, "ov", "c1");
        let new = connect(&mid, ov, ci, None).unwrap();
        let gw = new.networks.last().unwrap();
        assert!(gw.implicit && gw.name == "docker_gwbridge");
        assert_eq!(old.networks[b].subnet.to_string(), "172.18.0.0/16");
        assert_eq!(gw.subnet.to_string(), "172.19.0.0/16");
        let c = &new.containers[ci];
        let names: Vec<&str> = c.endpoints.iter().map(|e| e.ifname.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(c.default_gateway, Some("172.19.0.1".parse().unwrap()));
        let p = crate::plan::plan(&new);
        assert!(p
            .objects
            .iter()
            .any(|o| matches!(o, Object::Bridge { ns, name, .. }
            if *ns == new.host_ns(0) && name == "docker_gwbridge")));
    }

    /// Overlay sandbox veths keep their names across changes (libnetwork's counter): after
    /// bbox3 joins nas5's ov_net1 (veth1) and bbox2 leaves, bbox3 still has veth1, and bbox2
    /// back gets veth2.
    #[test]
    fn sandbox_veths_keep_their_names() {
        let o = lab("labs/overlay.toml");
        let (oi, b3) = idx(&o, "ov_net1", "bbox3");
        let (_, b2) = idx(&o, "ov_net1", "bbox2");
        let step = |from: &crate::spec::Lab, to: crate::spec::Lab| {
            let mut to = to;
            crate::spec::change::carry_over(from, &mut to);
            to
        };
        let l1 = step(&o, connect(&o, oi, b3, None).unwrap());
        let l2 = step(&l1, disconnect(&l1, oi, b2).unwrap());
        let l3 = step(&l2, connect(&l2, oi, b2, None).unwrap());
        let veths = |l: &crate::spec::Lab| -> Vec<String> {
            let ns = l.overlay_ns(1, oi);
            let mut v: Vec<String> = crate::plan::plan(l)
                .objects
                .iter()
                .filter_map(|x| match x {
                    Object::Veth { ns: n, name, .. } if *n == ns => Some(name.clone()),
                    _ => None,
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(veths(&o), ["veth0"]);
        assert_eq!(veths(&l1), ["veth0", "veth1"]);
        assert_eq!(veths(&l2), ["veth1"]);
        assert_eq!(veths(&l3), ["veth1", "veth2"]);
        // Nothing of the first delta is renamed: bbox2's veth0 is untouched.
        let d = delta(&crate::plan::plan(&l1), &crate::plan::plan(&l2));
        assert!(
            !d.add.iter().any(|x| matches!(x, Object::Veth { .. })),
            "{d:?}"
        );
    }
}

#[cfg(test)]
mod encrypted_tests {
    use super::*;
    use crate::spec::change::{carry_over, connect, disconnect};

    /// A host joining an encrypted overlay at run time (connect) brings exactly its SAs and
    /// policies: on each of the two hosts already there, an SA in, a policy and an SA out
    /// towards it, and the same on the new host towards each of them; the SAs that were there
    /// stay (same keys: the lab keeps its secret). Disconnecting takes them away again, before
    /// any link.
    #[test]
    fn a_new_vtep_gets_its_sas_through_the_delta() {
        let text = "[lab]\nname = \"e\"\n[hosts.h1]\naddress = \"10.1.1.11\"\n[hosts.h2]\naddress = \"10.1.1.12\"\n[hosts.h3]\naddress = \"10.1.1.13\"\n[networks.ov]\ndriver = \"overlay\"\nencrypted = true\n[networks.b]\ndriver = \"bridge\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"ov\"]\n[containers.c2]\nhost = \"h2\"\nnetworks = [\"ov\"]\n[containers.c3]\nhost = \"h3\"\nnetworks = [\"b\"]\n";
        let old = crate::spec::parse("e.toml", "e.toml", text, None).unwrap();
        let ov = old.networks.iter().position(|n| n.name == "ov").unwrap();
        let mut new = connect(&old, ov, 2, None).unwrap();
        carry_over(&old, &mut new);
        assert_eq!(new.ipsec_secret, old.ipsec_secret);
        let d = delta(&crate::plan::plan(&old), &crate::plan::plan(&new));
        assert!(d.remove.is_empty(), "{d:?}");
        let xfrm: Vec<(&str, &str)> = d
            .add
            .iter()
            .filter_map(|o| match o {
                Object::XfrmState { ns, .. } => Some((ns.as_str(), "sa")),
                Object::XfrmPolicy { ns, .. } => Some((ns.as_str(), "policy")),
                _ => None,
            })
            .collect();
        let count = |ns: &str, k: &str| xfrm.iter().filter(|x| **x == (ns, k)).count();
        assert_eq!(
            (count("e.h1", "sa"), count("e.h1", "policy")),
            (2, 1),
            "{xfrm:?}"
        );
        assert_eq!(
            (count("e.h2", "sa"), count("e.h2", "policy")),
            (2, 1),
            "{xfrm:?}"
        );
        assert_eq!(
            (count("e.h3", "sa"), count("e.h3", "policy")),
            (4, 2),
            "{xfrm:?}"
        );
        // The new host's SA towards h1 is h1's SA from it: one key at both ends.
        let sa = |ns: &str, src: &str, dst: &str| {
            d.add
                .iter()
                .find_map(|o| match o {
                    Object::XfrmState { ns: n, sa }
                        if n == ns && sa.src.to_string() == src && sa.dst.to_string() == dst =>
                    {
                        Some(sa.clone())
                    }
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(
            sa("e.h3", "10.1.1.13", "10.1.1.11"),
            sa("e.h1", "10.1.1.13", "10.1.1.11")
        );
        let script = d.script().join("\n");
        assert!(script.contains("ip -n e.h3 xfrm policy add src 10.1.1.13/32 dst 10.1.1.11/32 proto udp sport 16640 dport 4789 dir out"), "{script}");

        let back = disconnect(&new, ov, 2).unwrap();
        let d = delta(&crate::plan::plan(&new), &crate::plan::plan(&back));
        assert!(d.add.is_empty(), "{d:?}");
        let roots = d.removal_roots();
        let n_xfrm = roots
            .iter()
            .filter(|o| matches!(o, Object::XfrmState { .. } | Object::XfrmPolicy { .. }))
            .count();
        assert_eq!(n_xfrm, 12, "{roots:?}");
        let first_link = roots
            .iter()
            .position(|o| !creates_links(o).is_empty())
            .unwrap();
        assert!(
            roots[first_link..]
                .iter()
                .all(|o| !matches!(o, Object::XfrmState { .. } | Object::XfrmPolicy { .. })),
            "SAs and policies go before links: {roots:?}"
        );
        // Each policy goes before the SA it sends through.
        let pos = |f: &dyn Fn(&Object) -> bool| roots.iter().position(|o| f(o)).unwrap();
        let pol = pos(
            &|o| matches!(o, Object::XfrmPolicy { ns, policy } if ns == "e.h1" && policy.dst.to_string() == "10.1.1.13"),
        );
        let out = pos(
            &|o| matches!(o, Object::XfrmState { ns, sa } if ns == "e.h1" && sa.dst.to_string() == "10.1.1.13"),
        );
        assert!(pol < out, "{roots:?}");
        let back_in = pos(
            &|o| matches!(o, Object::XfrmState { ns, sa } if ns == "e.h1" && sa.src.to_string() == "10.1.1.13"),
        );
        assert!(out < back_in || pol < back_in, "{roots:?}");
    }
}
