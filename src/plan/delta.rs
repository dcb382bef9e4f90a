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

fn key(o: &Object) -> String {
    serde_json::to_string(o).expect("plan objects serialise")
}

/// Objects of `a` not in `b`, as a multiset, in `a`'s order.
fn minus(a: &[Object], b: &[Object]) -> Vec<Object> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for o in b {
        *count.entry(key(o)).or_default() += 1;
    }
    a.iter()
        .filter(|o| match count.get_mut(&key(o)) {
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
        Object::Bridge { ns, name } | Object::Vlan { ns, name, .. } => vec![(ns, name)],
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
        | Object::Route { ns, dev, .. }
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
        Object::Bridge { ns, name } | Object::Vlan { ns, name, .. } => {
            format!("ip -n {ns} link del {name}")
        }
        Object::Veth { ns, name, .. } => format!("ip -n {ns} link del {name}"),
        Object::Vxlan {
            target_ns, name, ..
        }
        | Object::Macvlan {
            target_ns, name, ..
        } => format!("ip -n {target_ns} link del {name}"),
        Object::Master { ns, dev, .. } => format!("ip -n {ns} link set {dev} nomaster"),
        Object::Promisc { ns, dev } => format!("ip -n {ns} link set {dev} promisc off"),
        Object::Isolated { ns, dev } => format!("bridge -n {ns} link set dev {dev} isolated off"),
        Object::Up { ns, dev } => format!("ip -n {ns} link set {dev} down"),
        Object::Address { ns, dev, address } => format!("ip -n {ns} addr del {address} dev {dev}"),
        Object::Route { ns, dst, via, dev } => match dst {
            Some(d) => format!("ip -n {ns} route del {d} via {via} dev {dev}"),
            None => format!("ip -n {ns} route del default via {via} dev {dev}"),
        },
        Object::Fdb { ns, dev, mac, dst } => format!(
            "bridge -n {ns} fdb del {} dev {dev} dst {dst}",
            crate::spec::format_mac(mac)
        ),
        Object::Neigh { ns, dev, ip, .. } => format!("ip -n {ns} neigh del {ip} dev {dev}"),
        // Back to the value of a namespace nobody changed (0 for forwarding).
        Object::Sysctl { ns, key, .. } if key == super::host::IP_FORWARD => {
            format!("ip netns exec {ns} sysctl -w {key}=0")
        }
        Object::Sysctl { ns, key, .. } => {
            format!("# {ns}: {key} back to a fresh namespace's value")
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
        let (oi, _) = idx(&o, "ov_net1", "bbox1");
        assert!(disconnect(&o, oi, bi)
            .unwrap_err()
            .0
            .contains("last overlay network"));
    }
}
