//! IPv6 dual stack (Docker's `--ipv6`): a network's `ipv6`, `subnet6` and `gateway6`, and a
//! container's static `ip6`. Checked here after the IPv4 side, which every network keeps (as
//! in Docker, a v6 network still gets a v4 subnet); addresses are allocated from ::1 up,
//! skipping the gateway, in file order, per network (and per host where the driver is
//! host-local), as the v4 ones are.

use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;

use ipnetwork::Ipv6Network;

use super::raw::{Name, RawLab};
use super::{span, Container, Network, Subnet6, Validator};

/// The prefixes a lab's IPv6 subnet may not touch: no interface can be given an address in
/// them, or the address would not be one container's.
const RESERVED: [(&str, &str); 6] = [
    ("::/128", "is the unspecified address"),
    ("::1/128", "is the loopback address"),
    ("::ffff:0:0/96", "holds IPv4-mapped addresses"),
    (
        "fe80::/10",
        "is link-local (every interface has its own there)",
    ),
    ("ff00::/8", "is multicast"),
    ("64:ff9b::/96", "is the NAT64 prefix"),
];

/// What an IPv6 subnet of a lab overlaps among [`RESERVED`], said as a reason.
fn reserved(n: Ipv6Network) -> Option<&'static str> {
    RESERVED.iter().find_map(|(r, why)| {
        let r: Ipv6Network = r.parse().unwrap();
        (r.contains(n.network()) || n.contains(r.network())).then_some(*why)
    })
}

fn overlaps(a: Ipv6Network, b: Ipv6Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// The subnet's `k`th address.
fn nth(n: Ipv6Network, k: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(n.network()) + k)
}

/// A usable address of `n`: inside it and not its subnet-router anycast address (the first).
fn usable(n: Ipv6Network, ip: Ipv6Addr) -> bool {
    n.contains(ip) && ip != n.network()
}

/// Docker's default IPv6 pool, made stable: a /64 of the unique local prefix fdXX:XXXX:XXXX::/48
/// whose 40 bits are the network id's first ten hex digits (RFC 4193's global id, here from
/// the id instead of a random draw).
pub(super) fn default_subnet(id: &str) -> Ipv6Network {
    let hex = |r: std::ops::Range<usize>| u16::from_str_radix(&id[r], 16).unwrap_or(0);
    let ip = Ipv6Addr::new(0xfd00 | hex(0..2), hex(2..6), hex(6..10), 0, 0, 0, 0, 0);
    Ipv6Network::new(ip, 64).unwrap()
}

impl Validator<'_, '_> {
    /// Each network's IPv6 side, from its `ipv6`, `subnet6` and `gateway6`. A refused subnet or
    /// gateway leaves the network without IPv6 (reported): the names of those networks are
    /// returned, so that their containers' `ip6` are not reported again.
    pub(super) fn ipv6_networks(&mut self, raw: &RawLab, nets: &mut [Network]) -> HashSet<String> {
        let mut taken: Vec<(Ipv6Network, String)> = Vec::new();
        let mut refused = HashSet::new();
        let at: HashMap<String, usize> = nets
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        for (name, n) in &raw.networks {
            let n = n.get_ref();
            let Some(&ni) = at.get(name.get_ref()) else {
                continue;
            };
            let net = &mut nets[ni];
            let on = n.ipv6.as_ref().is_some_and(|v| *v.get_ref());
            if !on {
                for (what, key) in [("subnet6", &n.subnet6), ("gateway6", &n.gateway6)] {
                    let Some(key) = key else { continue };
                    self.r.error_help(
                        span(key),
                        format!("{what} needs ipv6 = true on network {}", net.name),
                        "add ipv6 = true to this network (Docker's --ipv6)",
                    );
                }
                continue;
            }
            let subnet = match &n.subnet6 {
                None => Some(default_subnet(&net.id)),
                Some(s) => self.parse_net6(s),
            };
            refused.insert(net.name.clone());
            let Some(subnet) = subnet else { continue };
            if let Some((_, other)) = taken.iter().find(|(t, _)| overlaps(*t, subnet)) {
                self.r.error_help(
                    n.subnet6.as_ref().map(span).unwrap_or(span(name)),
                    format!(
                        "subnet6 {subnet} of {} overlaps network {other}'s",
                        net.name
                    ),
                    "give each network its own IPv6 subnet",
                );
                continue;
            }
            taken.push((subnet, net.name.clone()));
            let gateway = match &n.gateway6 {
                None => nth(subnet, 1),
                Some(g) => match g.get_ref().parse::<Ipv6Addr>() {
                    Ok(ip) if usable(subnet, ip) => ip,
                    Ok(ip) => {
                        self.r.error_help(
                            span(g),
                            format!("gateway6 {ip} is not a usable address of subnet6 {subnet}"),
                            format!("pick an address inside {subnet}, not its first, or leave gateway6 out"),
                        );
                        continue;
                    }
                    Err(_) => {
                        self.v6_value_error(g, "gateway6", "an IPv6 address");
                        continue;
                    }
                },
            };
            refused.remove(&net.name);
            net.ipv6 = Some(Subnet6 {
                subnet,
                gateway,
                subnet_only: n.subnet6.is_some() && n.gateway6.is_none(),
            });
        }
        refused
    }

    /// An IPv6 subnet as written: a prefix length, no host bits, /16 to /120, nothing reserved.
    fn parse_net6(&mut self, s: &super::Spanned<String>) -> Option<Ipv6Network> {
        let text = s.get_ref();
        if !text.contains('/') {
            let hint = match text.parse::<Ipv6Addr>() {
                Ok(ip) => format!("write it with a prefix length, like {ip}/64"),
                Err(_) => "write it like 2001:db8:1::/64".into(),
            };
            self.r.error_help(
                span(s),
                format!("subnet6 {text:?} has no prefix length"),
                hint,
            );
            return None;
        }
        let n = match text.parse::<Ipv6Network>() {
            Ok(n) => n,
            Err(_) => {
                self.v6_value_error(s, "subnet6", "an IPv6 subnet");
                return None;
            }
        };
        let masked = Ipv6Network::new(n.network(), n.prefix()).unwrap();
        if let Some(why) = reserved(masked) {
            self.r.error_help(
                span(s),
                format!("subnet6 {text} {why}: no container address can be in it"),
                "use a unique local (fd00::/8), documentation (2001:db8::/32) or global prefix",
            );
            None
        } else if n.ip() != n.network() {
            self.r.error_help(
                span(s),
                format!("subnet6 {text} has host bits set"),
                format!("did you mean {}/{}?", n.network(), n.prefix()),
            );
            None
        } else if !(16..=120).contains(&n.prefix()) {
            self.r.error_help(
                span(s),
                format!("subnet6 {text} must be between /16 and /120"),
                "a /64 is what Docker and SLAAC expect",
            );
            None
        } else {
            Some(n)
        }
    }

    /// `what` is not `wants`: say so, and where the value is IPv4, where it belongs.
    fn v6_value_error(&mut self, s: &super::Spanned<String>, what: &str, wants: &str) {
        let text = s.get_ref();
        let v4 = text
            .split('/')
            .next()
            .unwrap_or("")
            .parse::<std::net::Ipv4Addr>()
            .is_ok();
        let message = format!("{what} {text:?} is not {wants}");
        if v4 {
            let key = what.trim_end_matches('6');
            self.r.error_help(
                span(s),
                message,
                format!("this is IPv4: it goes in {key}, and {what} takes IPv6"),
            );
        } else {
            self.r.error(span(s), message);
        }
    }

    /// A check's IPv6 target: a unicast address an interface of the lab can have.
    pub(super) fn check_target6(&mut self, to: &Name, ip: Ipv6Addr) -> Option<Ipv6Addr> {
        match reserved(Ipv6Network::from(ip)) {
            Some(why) => {
                self.r.error_help(
                    span(to),
                    format!("check target {ip} is not a unicast address a lab can have (it {why}); a ping to it proves nothing"),
                    "give the IPv6 address of one container or gateway",
                );
                None
            }
            None => Some(ip),
        }
    }

    /// Every container's IPv6 addresses: its `ip6` where given (checked), the lowest free one
    /// of the network's subnet otherwise, on each endpoint whose network has IPv6.
    pub(super) fn ipv6_addresses(
        &mut self,
        raw: &RawLab,
        nets: &[Network],
        refused: &HashSet<String>,
        containers: &mut [Container],
    ) {
        let scope = |ni: usize, host: usize| (ni, (!nets[ni].spans_hosts()).then_some(host));
        let mut taken: HashMap<(usize, Option<usize>), HashSet<Ipv6Addr>> = HashMap::new();
        let mut next: HashMap<(usize, Option<usize>), u128> = HashMap::new();
        let by_name: HashMap<&str, usize> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        // Static addresses first, so that automatic ones never take them.
        let mut fixed: HashMap<(usize, usize), Ipv6Addr> = HashMap::new();
        for (cname, c) in &raw.containers {
            let ci = by_name.get(cname.get_ref().as_str()).copied();
            for (nname, ip) in &c.get_ref().ip6 {
                if let Some((ni, addr)) = self.static_ip6(nets, refused, c.get_ref(), nname, ip) {
                    let Some(ci) = ci else { continue };
                    let key = scope(ni, containers[ci].host);
                    if !taken.entry(key).or_default().insert(addr) {
                        self.r.error_help(
                            span(ip),
                            format!("address {addr} on {} is already given to another container", nets[ni].name),
                            "give each container its own address, or leave ip6 out to get a free one",
                        );
                        continue;
                    }
                    fixed.insert((ci, ni), addr);
                }
            }
        }
        for (ci, c) in containers.iter_mut().enumerate() {
            for e in &mut c.endpoints {
                let Some(v6) = &nets[e.network].ipv6 else {
                    continue;
                };
                let ip = match fixed.get(&(ci, e.network)) {
                    Some(ip) => *ip,
                    None => {
                        let key = scope(e.network, c.host);
                        let pool = taken.entry(key).or_default();
                        let k = next.entry(key).or_insert(1);
                        while nth(v6.subnet, *k) == v6.gateway || pool.contains(&nth(v6.subnet, *k))
                        {
                            *k += 1;
                        }
                        let ip = nth(v6.subnet, *k);
                        pool.insert(ip);
                        ip
                    }
                };
                e.address6 = Some(Ipv6Network::new(ip, v6.subnet.prefix()).unwrap());
            }
        }
    }

    /// One `ip6 = { NET = "ADDR" }` entry: the container joins NET, NET has IPv6, and ADDR
    /// is a usable address of its subnet other than the gateway.
    fn static_ip6(
        &mut self,
        nets: &[Network],
        refused: &HashSet<String>,
        c: &super::raw::RawContainer,
        nname: &Name,
        ip: &super::Spanned<String>,
    ) -> Option<(usize, Ipv6Addr)> {
        let ni = nets.iter().position(|n| n.name == *nname.get_ref())?;
        let joined = c
            .networks
            .get_ref()
            .iter()
            .any(|n| n.get_ref() == nname.get_ref());
        if !joined {
            self.r.error_help(
                span(nname),
                format!(
                    "ip6 names network {}, which this container does not join",
                    nname.get_ref()
                ),
                format!(
                    "add {} to its networks, or remove this address",
                    nname.get_ref()
                ),
            );
            return None;
        }
        let net = &nets[ni];
        let Ok(addr) = ip.get_ref().parse::<Ipv6Addr>() else {
            self.v6_value_error(ip, "ip6", "an IPv6 address");
            return None;
        };
        let Some(v6) = &net.ipv6 else {
            // A refused subnet6 is reported already; a network without ipv6 is not.
            if !refused.contains(&net.name) {
                self.r.error_help(
                    span(ip),
                    format!(
                        "network {} has no IPv6, so {addr} cannot be on it",
                        net.name
                    ),
                    format!("add ipv6 = true to network {}", net.name),
                );
            }
            return None;
        };
        if !usable(v6.subnet, addr) {
            self.r.error_help(
                span(ip),
                format!(
                    "address {addr} is not a usable address of {} ({})",
                    net.name, v6.subnet
                ),
                format!("pick an address inside {}, not its first", v6.subnet),
            );
            return None;
        }
        if addr == v6.gateway {
            self.r.error_help(
                span(ip),
                format!("address {addr} is the IPv6 gateway of {}", net.name),
                "pick another address, or leave this one out to get a free one",
            );
            return None;
        }
        Some((ni, addr))
    }
}

/// At run time (`connect`): the lowest free IPv6 address of network `ni` for a container on
/// host `host`, None when the network has no IPv6. In use means by any container of the
/// network where it spans hosts, by those of host `host` where it is host-local.
pub(super) fn free_address6(lab: &super::Lab, ni: usize, host: usize) -> Option<Ipv6Network> {
    let net = &lab.networks[ni];
    let v6 = net.ipv6.as_ref()?;
    let used: HashSet<Ipv6Addr> = lab
        .containers
        .iter()
        .filter(|c| net.spans_hosts() || c.host == host)
        .flat_map(|c| c.endpoints.iter())
        .filter(|e| e.network == ni)
        .filter_map(|e| e.address6.map(|a| a.ip()))
        .collect();
    let ip = (1..)
        .map(|k| nth(v6.subnet, k))
        .find(|ip| *ip != v6.gateway && !used.contains(ip))?;
    Some(Ipv6Network::new(ip, v6.subnet.prefix()).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_subnet_is_a_unique_local_64_of_the_id() {
        let id = "c2ad16352528b0a2ad9ab5fa6b9be2ba1aa1e5e9a1b1d9d1b4fb1b8b0e3f1a2b";
        assert_eq!(default_subnet(id).to_string(), "fdc2:ad16:3525::/64");
    }

    #[test]
    fn reserved_prefixes_are_named() {
        assert!(reserved("fe80::/64".parse().unwrap()).is_some());
        assert!(reserved("ff02::/16".parse().unwrap()).is_some());
        assert!(reserved("::/0".parse().unwrap()).is_some());
        assert_eq!(reserved("2001:db8::/64".parse().unwrap()), None);
        assert_eq!(reserved("fd00:1::/64".parse().unwrap()), None);
    }
}
