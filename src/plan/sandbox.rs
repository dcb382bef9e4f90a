//! Container sandboxes (CNM's sandbox): one namespace per container, loopback up, and the
//! default route through the gateway of its first bridge-driver network (docker_gwbridge for
//! overlay-only containers), or out of an ipvlan L3 network's device, as Docker sets it. A
//! container in none mode has only `lo`; one in host mode has no namespace of its own.

use super::{Object, Plan, Role};
use crate::spec::{Lab, NetworkMode};

pub fn plan(lab: &Lab, p: &mut Plan) {
    for (ci, c) in lab.containers.iter().enumerate() {
        // Host mode: the container is its host's namespace, which the host plan makes.
        if c.mode == NetworkMode::Host {
            continue;
        }
        let cns = lab.container_ns(ci);
        p.ns(cns.clone(), Role::Container);
        p.add(Object::Up {
            ns: cns.clone(),
            dev: "lo".into(),
        });
        if let Some((via, dev)) = lab.default_route(ci) {
            p.add(Object::Route {
                ns: cns.clone(),
                dst: None,
                via,
                dev: dev.to_string(),
            });
        }
        if let Some((via, dev)) = lab.default_route6(ci) {
            p.add(Object::Route6 {
                ns: cns,
                dst: None,
                via,
                dev: dev.to_string(),
            });
        }
    }
}
