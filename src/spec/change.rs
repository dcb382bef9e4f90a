//! Runtime changes to a checked lab, as Docker makes them: `network connect` gives a running
//! container its next `ethN` on a network, with the network's next free address (or the one
//! asked for) and the MAC Docker derives from it; `network disconnect` takes the endpoint away.
//! Pure: a new [`Lab`] from the old one. The engine turns the difference of their plans into
//! kernel changes.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::{docker_mac, Driver, Endpoint, Lab, BRIDGE_MAX_PORTS, GWBRIDGE};

/// Why a change is refused (bad input: exit 2, nothing changed).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse<T>(msg: String) -> Result<T, Refused> {
    Err(Refused(msg))
}

/// `docker network connect NETWORK CONTAINER [--ip ADDR]` on lab `lab`.
pub fn connect(lab: &Lab, ni: usize, ci: usize, ip: Option<Ipv4Addr>) -> Result<Lab, Refused> {
    let net = &lab.networks[ni];
    let c = &lab.containers[ci];
    if c.endpoints.iter().any(|e| e.network == ni) {
        return refuse(format!(
            "container {} is already connected to network {}",
            c.name, net.name
        ));
    }
    if net.name == GWBRIDGE && net.implicit {
        return refuse(format!(
            "{GWBRIDGE} is managed by netlab: containers join it with their first overlay network"
        ));
    }
    match net.driver {
        Driver::Bridge { .. } => {}
        Driver::Overlay { .. } => {
            // Docker gives a container joining its first overlay a docker_gwbridge leg and its
            // default route; netlab does that at `up` only so far.
            let has_gw = c
                .endpoints
                .iter()
                .any(|e| lab.networks[e.network].name == GWBRIDGE);
            let has_bridge = c
                .endpoints
                .iter()
                .any(|e| matches!(lab.networks[e.network].driver, Driver::Bridge { .. }));
            if !has_gw && !has_bridge {
                return refuse(format!(
                    "container {} would join its first overlay network at run time, which needs a {GWBRIDGE} leg; not supported yet: put it on {} in the lab file",
                    c.name, net.name
                ));
            }
        }
        Driver::Macvlan { .. } => {
            return refuse(format!(
                "connecting a running container to macvlan network {} is not supported yet",
                net.name
            ))
        }
    }
    // Addresses in use on this network: everywhere for networks that span hosts, on the
    // container's host for host-local bridges (each host has its own bridge and subnet).
    let in_use: Vec<Ipv4Addr> = lab
        .containers
        .iter()
        .filter(|o| net.spans_hosts() || o.host == c.host)
        .flat_map(|o| o.endpoints.iter())
        .filter(|e| e.network == ni)
        .map(|e| e.address.ip())
        .collect();
    let subnet = net.subnet;
    let usable = |a: Ipv4Addr| {
        subnet.contains(a) && a != subnet.network() && a != subnet.broadcast() && a != net.gateway
    };
    let address = match ip {
        Some(a) => {
            if !usable(a) {
                return refuse(format!(
                    "{a} is not a usable address of network {} ({subnet}, gateway {})",
                    net.name, net.gateway
                ));
            }
            if in_use.contains(&a) {
                return refuse(format!("{a} is already in use on network {}", net.name));
            }
            a
        }
        None => {
            let base = u32::from(subnet.network());
            let size = 1u64 << (32 - subnet.prefix());
            match (1..size.saturating_sub(1))
                .map(|k| Ipv4Addr::from(base + k as u32))
                .find(|a| usable(*a) && !in_use.contains(a))
            {
                Some(a) => a,
                None => {
                    return refuse(format!(
                        "network {} ({subnet}) has no free address left",
                        net.name
                    ))
                }
            }
        }
    };
    let limit = match net.driver {
        Driver::Overlay { .. } => BRIDGE_MAX_PORTS - 1,
        _ => BRIDGE_MAX_PORTS,
    };
    let ports = lab
        .containers
        .iter()
        .filter(|o| o.host == c.host)
        .flat_map(|o| o.endpoints.iter())
        .filter(|e| e.network == ni)
        .count();
    if ports >= limit {
        return refuse(format!(
            "network {} already has {ports} containers on host {}: a Linux bridge has at most {BRIDGE_MAX_PORTS} ports",
            net.name, lab.hosts[c.host].name
        ));
    }
    // The next ethN the container does not have (Docker counts up from its interfaces).
    let ifname = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !c.endpoints.iter().any(|e| &e.ifname == n))
        .unwrap();
    let mut new = lab.clone();
    new.containers[ci].endpoints.push(Endpoint {
        network: ni,
        ifname,
        address: Ipv4Network::new(address, subnet.prefix()).unwrap(),
        mac: docker_mac(address),
    });
    if new.containers[ci].default_gateway.is_none() {
        new.containers[ci].default_gateway = default_gateway(&new, ci);
    }
    Ok(new)
}

/// Docker's rule, as at `up`: the first bridge-driver network (docker_gwbridge included) of
/// the container gives its default route.
fn default_gateway(lab: &Lab, ci: usize) -> Option<Ipv4Addr> {
    lab.containers[ci]
        .endpoints
        .iter()
        .map(|e| &lab.networks[e.network])
        .find(|n| matches!(n.driver, Driver::Bridge { .. }))
        .map(|n| n.gateway)
}

/// `docker network disconnect NETWORK CONTAINER` on lab `lab`.
pub fn disconnect(lab: &Lab, ni: usize, ci: usize) -> Result<Lab, Refused> {
    let net = &lab.networks[ni];
    let c = &lab.containers[ci];
    let Some(ei) = c.endpoints.iter().position(|e| e.network == ni) else {
        return refuse(format!(
            "container {} is not connected to network {}",
            c.name, net.name
        ));
    };
    if net.name == GWBRIDGE && net.implicit {
        return refuse(format!(
            "{GWBRIDGE} is managed by netlab: it goes with the container's last overlay network"
        ));
    }
    if net.is_overlay()
        && c.endpoints
            .iter()
            .filter(|e| lab.networks[e.network].is_overlay())
            .count()
            == 1
        && c.endpoints
            .iter()
            .any(|e| lab.networks[e.network].name == GWBRIDGE)
    {
        return refuse(format!(
            "network {} is container {}'s last overlay network: leaving it also takes its {GWBRIDGE} leg, which netlab does not do at run time yet",
            net.name, c.name
        ));
    }
    let mut new = lab.clone();
    let gone = new.containers[ci].endpoints.remove(ei);
    // The default route goes with the network that gave it; like libnetwork's
    // updateGateway, another of the container's networks gives the next one, if any.
    if new.containers[ci].default_gateway == Some(lab.networks[gone.network].gateway) {
        new.containers[ci].default_gateway = default_gateway(&new, ci);
    }
    Ok(new)
}

/// What changes from `old` to `new`, in words, for `netlab apply`: `+ container c9 (on nas4)`,
/// `~ c3: connect ov_net1 (eth2 10.0.0.4/24)`, `- network n2`.
pub fn summary(old: &Lab, new: &Lab) -> Vec<String> {
    let mut out = Vec::new();
    for h in &new.hosts {
        if !old.hosts.iter().any(|o| o.name == h.name) {
            out.push(format!("+ host {} ({})", h.name, h.address));
        }
    }
    for h in &old.hosts {
        match new.hosts.iter().find(|n| n.name == h.name) {
            None => out.push(format!("- host {}", h.name)),
            Some(n) if n != h => out.push(format!("~ host {}", h.name)),
            _ => {}
        }
    }
    for n in &new.networks {
        match old.networks.iter().find(|o| o.name == n.name) {
            None => out.push(format!(
                "+ network {} ({}, {})",
                n.name,
                n.driver_name(),
                n.subnet
            )),
            Some(o) if o.subnet != n.subnet => out.push(format!(
                "~ network {}: subnet {} -> {}",
                n.name, o.subnet, n.subnet
            )),
            Some(o) if o != n => out.push(format!("~ network {}", n.name)),
            _ => {}
        }
    }
    for o in &old.networks {
        if !new.networks.iter().any(|n| n.name == o.name) {
            out.push(format!("- network {}", o.name));
        }
    }
    let net = |l: &Lab, i: usize| l.networks[i].name.clone();
    for c in &new.containers {
        let Some(o) = old.containers.iter().find(|o| o.name == c.name) else {
            out.push(format!(
                "+ container {} (on {})",
                c.name, new.hosts[c.host].name
            ));
            continue;
        };
        if new.hosts[c.host].name != old.hosts[o.host].name {
            out.push(format!(
                "~ {}: host {} -> {}",
                c.name, old.hosts[o.host].name, new.hosts[c.host].name
            ));
        }
        for e in &c.endpoints {
            match o
                .endpoints
                .iter()
                .find(|x| net(old, x.network) == net(new, e.network))
            {
                None => out.push(format!(
                    "~ {}: connect {} ({} {})",
                    c.name,
                    net(new, e.network),
                    e.ifname,
                    e.address
                )),
                Some(x) if x.address != e.address || x.ifname != e.ifname => out.push(format!(
                    "~ {}: on {} {} {} -> {} {}",
                    c.name,
                    net(new, e.network),
                    x.ifname,
                    x.address,
                    e.ifname,
                    e.address
                )),
                _ => {}
            }
        }
        for x in &o.endpoints {
            if !c
                .endpoints
                .iter()
                .any(|e| net(new, e.network) == net(old, x.network))
            {
                out.push(format!("~ {}: disconnect {}", c.name, net(old, x.network)));
            }
        }
    }
    for o in &old.containers {
        if !new.containers.iter().any(|c| c.name == o.name) {
            out.push(format!("- container {}", o.name));
        }
    }
    if old.checks != new.checks {
        out.push(format!(
            "~ checks: {} -> {}",
            old.checks.len(),
            new.checks.len()
        ));
    }
    if old.scenarios != new.scenarios {
        out.push(format!(
            "~ scenarios: {} -> {}",
            old.scenarios.len(),
            new.scenarios.len()
        ));
    }
    out
}
