//! Container sandboxes (CNM's sandbox): one namespace per container, loopback up, and the
//! default route through the gateway of its first bridge-driver network (docker_gwbridge for
//! overlay-only containers), or out of an ipvlan L3 network's device, as Docker sets it.

use super::{Object, Plan, Role};
use crate::spec::Lab;

pub fn plan(lab: &Lab, p: &mut Plan) {
    for ci in 0..lab.containers.len() {
        let cns = lab.container_ns(ci);
        p.ns(cns.clone(), Role::Container);
        p.add(Object::Up {
            ns: cns.clone(),
            dev: "lo".into(),
        });
        if let Some((via, dev)) = lab.default_route(ci) {
            p.add(Object::Route {
                ns: cns,
                dst: None,
                via,
                dev: dev.to_string(),
            });
        }
    }
}
