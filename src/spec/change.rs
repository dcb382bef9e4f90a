//! Runtime changes to a checked lab, as Docker makes them: `network connect` gives a running
//! container its next `ethN` on a network, with the network's next free address (or the one
//! asked for) and the MAC Docker derives from it; `network disconnect` takes the endpoint away.
//! Pure: a new [`Lab`] from the old one. The engine turns the difference of their plans into
//! kernel changes.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::{
    docker_mac, Container, Driver, Endpoint, Lab, NetworkMode, BRIDGE_MAX_PORTS, GWBRIDGE,
};

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

/// A load balancer's sandbox or a service's task: swarm, not `docker network connect`,
/// decides its networks.
fn swarm_managed(lab: &Lab, c: &Container, done: &str) -> Result<(), Refused> {
    if let Some(ni) = c.lb {
        return refuse(format!(
            "{} is swarm's load balancer of network {} on host {}, not a container: it cannot be {done}",
            c.name, lab.networks[ni].name, lab.hosts[c.host].name
        ));
    }
    if let Some(t) = c.task {
        return refuse(format!(
            "{} is task {} of service {}: swarm decides its networks, so it cannot be {done} (change the service's networks in the lab file)",
            c.name, t.slot, lab.services[t.service].name
        ));
    }
    Ok(())
}

/// `docker network connect NETWORK CONTAINER [--ip ADDR]` on lab `lab`.
pub fn connect(lab: &Lab, ni: usize, ci: usize, ip: Option<Ipv4Addr>) -> Result<Lab, Refused> {
    let net = &lab.networks[ni];
    let c = &lab.containers[ci];
    if c.ingress_sbox {
        return refuse(format!(
            "{} is swarm's ingress sandbox on host {}, not a container: it cannot be connected",
            c.name, lab.hosts[c.host].name
        ));
    }
    swarm_managed(lab, c, "connected")?;
    if net.ingress {
        return refuse(format!(
            "network {} is swarm's ingress network: a service's tasks are on it from the start, as the lab file lists it in their networks; a running container cannot be connected to it",
            net.name
        ));
    }
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
    match c.mode {
        NetworkMode::Sandbox => {}
        NetworkMode::Host => {
            return refuse(format!(
                "container {} shares its host's network namespace (host mode), so it cannot be connected to any other network (as Docker refuses)",
                c.name
            ))
        }
        NetworkMode::None => {
            return refuse(format!(
                "container {} is in none mode: a container cannot be connected to other networks with one of them in private (none) mode (as Docker refuses)",
                c.name
            ))
        }
    }
    if let Some(why) = super::not_created_on(&c.name, c.host, net, &lab.hosts) {
        return refuse(format!(
            "{why} (add {} to the network's hosts in the lab file)",
            lab.hosts[c.host].name
        ));
    }
    let mut new = lab.clone();
    net.driver().connect(&mut new, ni, ci)?;
    let address = free_address(lab, ni, c.host, ip)?;
    port_room(lab, ni, c.host)?;
    add_endpoint(&mut new, ni, ci, address);
    // Docker gives a container joining its first overlay, with no other way out, a
    // docker_gwbridge leg (the next ethN) and its default route, as at `up`.
    let has_gw = new.containers[ci]
        .endpoints
        .iter()
        .any(|e| new.networks[e.network].implicit);
    if !has_gw && super::needs_gwbridge(&new.networks, &new.containers[ci].endpoints) {
        let gi = match new.networks.iter().position(|n| n.implicit) {
            Some(g) => g,
            None => add_gwbridge(&mut new)?,
        };
        let address = free_address(&new, gi, c.host, None)?;
        port_room(&new, gi, c.host)?;
        add_endpoint(&mut new, gi, ci, address);
    }
    let cn = &mut new.containers[ci];
    if cn.default_gateway.is_none() {
        cn.default_gateway = super::default_gateway_of(&new.networks, &cn.endpoints);
    }
    Ok(new)
}

/// `docker network connect --alias NAME ...`: the names container `ci` answers to on network
/// `ni`, where it has an endpoint (a connect has just made it).
pub fn set_aliases(lab: &mut Lab, ni: usize, ci: usize, aliases: &[String]) -> Result<(), Refused> {
    let name = lab.containers[ci].name.clone();
    let mut seen: Vec<String> = Vec::new();
    for a in aliases {
        if let Err(why) = crate::plan::names::check_host_name(a) {
            return refuse(format!("alias {a:?} is not a host name: {why}"));
        }
        if *a == name {
            return refuse(format!("alias {a:?} is the container's own name"));
        }
        if seen.contains(&a.to_ascii_lowercase()) {
            return refuse(format!("alias {a:?} is given twice"));
        }
        seen.push(a.to_ascii_lowercase());
    }
    let net = lab.networks[ni].name.clone();
    let Some(e) = lab.containers[ci]
        .endpoints
        .iter_mut()
        .find(|e| e.network == ni)
    else {
        return refuse(format!("container {name} is not on network {net}"));
    };
    e.aliases = aliases.to_vec();
    Ok(())
}

/// Container `ci`'s next endpoint on network `ni`: the next `ethN` it does not have (Docker
/// counts up from its interfaces), and the MAC Docker derives from the address.
fn add_endpoint(lab: &mut Lab, ni: usize, ci: usize, address: Ipv4Addr) {
    let prefix = lab.networks[ni].pool_of(address).0.prefix();
    let address6 = super::ipv6::free_address6(lab, ni, lab.containers[ci].host);
    let c = &mut lab.containers[ci];
    let ifname = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !c.endpoints.iter().any(|e| &e.ifname == n))
        .unwrap();
    c.endpoints.push(Endpoint {
        network: ni,
        ifname,
        address: Ipv4Network::new(address, prefix).unwrap(),
        address6,
        mac: docker_mac(address),
        sandbox_if: None,
        aliases: Vec::new(),
        secondary: Vec::new(),
    });
}

/// `ip` if it is usable and free on network `ni`, else the network's next free address. In use
/// means anywhere for networks that span hosts, on host `host` for host-local bridges (each
/// host has its own bridge and subnet).
fn free_address(
    lab: &Lab,
    ni: usize,
    host: usize,
    ip: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, Refused> {
    let net = &lab.networks[ni];
    let in_use: Vec<Ipv4Addr> = lab
        .containers
        .iter()
        .filter(|o| net.spans_hosts() || o.host == host)
        .flat_map(|o| o.endpoints.iter())
        .filter(|e| e.network == ni)
        .map(|e| e.address.ip())
        .collect();
    let usable = |a: Ipv4Addr| {
        net.pools4()
            .any(|(subnet, gateway)| super::usable(subnet, a) && a != gateway)
    };
    let pools = || {
        net.pools4()
            .map(|(s, g)| format!("{s}, gateway {g}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match ip {
        Some(a) if !usable(a) => refuse(format!(
            "{a} is not a usable address of network {} ({})",
            net.name,
            pools()
        )),
        Some(a) if in_use.contains(&a) => {
            refuse(format!("{a} is already in use on network {}", net.name))
        }
        Some(a) => Ok(a),
        // The first subnet with a free address, as at `up`.
        None => net
            .pools4()
            .find_map(|(subnet, _)| {
                let base = u32::from(subnet.network());
                let size = 1u64 << (32 - subnet.prefix());
                (1..size.saturating_sub(1))
                    .map(|k| Ipv4Addr::from(base + k as u32))
                    .find(|a| usable(*a) && !in_use.contains(a))
            })
            .ok_or_else(|| {
                Refused(format!(
                    "network {} ({}) has no free address left",
                    net.name,
                    net.subnets_text()
                ))
            }),
    }
}

/// A Linux bridge has at most [`BRIDGE_MAX_PORTS`] ports (an overlay's br0 also holds vxlan0).
fn port_room(lab: &Lab, ni: usize, host: usize) -> Result<(), Refused> {
    let net = &lab.networks[ni];
    let Some(limit) = net.container_limit() else {
        return Ok(());
    };
    let ports = lab
        .containers
        .iter()
        .filter(|o| o.host == host)
        .flat_map(|o| o.endpoints.iter())
        .filter(|e| e.network == ni)
        .count();
    if ports >= limit {
        return refuse(format!(
            "network {} already has {ports} containers on host {}: a Linux bridge has at most {BRIDGE_MAX_PORTS} ports",
            net.name, lab.hosts[host].name
        ));
    }
    Ok(())
}

/// The docker_gwbridge network, for a lab that had no container needing it at `up`: the first
/// range of Docker's bridge pools that nothing uses (what `up` would give it), appended so no
/// other network's index moves.
fn add_gwbridge(lab: &mut Lab) -> Result<usize, Refused> {
    let taken: Vec<Ipv4Network> = std::iter::once(lab.underlay.subnet)
        .chain(lab.networks.iter().flat_map(|n| n.pools4().map(|(s, _)| s)))
        .collect();
    let overlaps =
        |a: &Ipv4Network, b: &Ipv4Network| a.contains(b.network()) || b.contains(a.network());
    let Some(subnet) = super::bridge_pool()
        .into_iter()
        .find(|p| !taken.iter().any(|t| overlaps(p, t)))
    else {
        return refuse(format!(
            "no address range is left for {GWBRIDGE} in Docker's default pools"
        ));
    };
    lab.networks.push(super::Network {
        name: GWBRIDGE.into(),
        id: super::network_id(&lab.name, GWBRIDGE),
        driver: Driver::Bridge {
            bridge: GWBRIDGE.into(),
            icc: false,
            masquerade: true,
        },
        subnet,
        gateway: subnet.nth(1).unwrap(),
        implicit: true,
        internal: false,
        subnet_only: false,
        mtu: None,
        ipv6: None,
        pools: Vec::new(),
        hosts: Vec::new(),
        ingress: false,
    });
    Ok(lab.networks.len() - 1)
}

/// Overlay sandboxes' veth numbers across a change from `old` to `new`, as libnetwork keeps
/// them: an endpoint that stays keeps its `vethN`, a new one takes the sandbox's next number
/// (a counter that only goes up). A sandbox whose endpoints did not change is left as it was.
/// Endpoints are matched by container, network and host name, so `apply` is served too.
pub fn carry_over(old: &Lab, new: &mut Lab) {
    use std::collections::HashMap;
    // The keys of SAs that stay must stay: a lab keeps the IPsec secret it was built with.
    if new.ipsec_secret.is_some() && old.ipsec_secret.is_some() {
        new.ipsec_secret.clone_from(&old.ipsec_secret);
    }
    for ni in 0..new.networks.len() {
        if !new.networks[ni].is_overlay() {
            continue;
        }
        let old_ni = old
            .networks
            .iter()
            .position(|n| n.name == new.networks[ni].name && n.is_overlay());
        for hi in 0..new.hosts.len() {
            let key = new.overlay_ns(hi, ni);
            let old_hi = old.hosts.iter().position(|h| h.name == new.hosts[hi].name);
            // Before: container name -> (N, as it was recorded).
            let mut before: HashMap<&str, (u32, Option<u32>)> = HashMap::new();
            if let (Some(oni), Some(ohi)) = (old_ni, old_hi) {
                for (k, (ci, ei)) in old.endpoints_on_host(oni, ohi).into_iter().enumerate() {
                    let set = old.containers[ci].endpoints[ei].sandbox_if;
                    before.insert(
                        old.containers[ci].name.as_str(),
                        (set.unwrap_or(k as u32), set),
                    );
                }
            }
            let now = new.endpoints_on_host(ni, hi);
            let unchanged = now.len() == before.len()
                && now
                    .iter()
                    .all(|(ci, _)| before.contains_key(new.containers[*ci].name.as_str()));
            let counter = old.sandbox_next.get(&key).copied();
            if unchanged {
                for (ci, ei) in now {
                    let set = before[new.containers[ci].name.as_str()].1;
                    new.containers[ci].endpoints[ei].sandbox_if = set;
                }
                if let Some(n) = counter {
                    new.sandbox_next.insert(key, n);
                }
                continue;
            }
            let mut next =
                counter.unwrap_or_else(|| before.values().map(|(n, _)| n + 1).max().unwrap_or(0));
            for (ci, ei) in now {
                let n = match before.get(new.containers[ci].name.as_str()) {
                    Some((n, _)) => *n,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                new.containers[ci].endpoints[ei].sandbox_if = Some(n);
            }
            new.sandbox_next.insert(key, next);
        }
    }
}

/// `docker network disconnect NETWORK CONTAINER` on lab `lab`.
pub fn disconnect(lab: &Lab, ni: usize, ci: usize) -> Result<Lab, Refused> {
    let net = &lab.networks[ni];
    let c = &lab.containers[ci];
    if c.ingress_sbox {
        return refuse(format!(
            "{} is swarm's ingress sandbox on host {}, not a container: it stays on ingress and docker_gwbridge while the lab is up",
            c.name, lab.hosts[c.host].name
        ));
    }
    swarm_managed(lab, c, "disconnected")?;
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
    let mut new = lab.clone();
    new.containers[ci].endpoints.remove(ei);
    // Leaving its last overlay, a container that got a docker_gwbridge leg with its first one
    // loses that too (libnetwork's sandbox no longer needs a default gateway service).
    let cn = &new.containers[ci];
    if !net.gives_default_route() && !super::needs_gwbridge(&new.networks, &cn.endpoints) {
        if let Some(gi) = cn
            .endpoints
            .iter()
            .position(|e| new.networks[e.network].implicit)
        {
            new.containers[ci].endpoints.remove(gi);
        }
    }
    // The default route goes with the network that gave it; like libnetwork's
    // updateGateway, another of the container's networks gives the next one, if any.
    let cn = &mut new.containers[ci];
    let still = cn.default_gateway.is_some_and(|g| {
        cn.endpoints
            .iter()
            .any(|e| new.networks[e.network].is_gateway(g))
    });
    if !still {
        cn.default_gateway = super::default_gateway_of(&new.networks, &cn.endpoints);
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
                n.subnets_text()
            )),
            Some(o) if o.pools4().ne(n.pools4()) => out.push(format!(
                "~ network {}: subnet {} -> {}",
                n.name,
                o.subnets_text(),
                n.subnets_text()
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
