//! `[outside]`: the lab's stand-in for the internet (seed 000's `ping www.baidu.com` through
//! docker_gwbridge). Its name, the subnet it stands for and its address on the underlay are
//! checked here; the hosts' and containers' validation keep its gateway address free.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::raw::RawLab;
use super::{name_problem, span, Outside, Underlay, Validator, NODE_NAME_MAX};

/// Where an outside may stand for the internet: the documentation ranges (RFC 5737), the
/// private ones (RFC 1918), the shared (RFC 6598) and the benchmarking one (RFC 2544). Never
/// a public range: a learner who pings it from the lab must not believe they reached the
/// real one, and no public address is ever taken by a lab.
const RANGES: [(&str, &str); 8] = [
    ("192.0.2.0/24", "TEST-NET-1"),
    ("198.51.100.0/24", "TEST-NET-2"),
    ("203.0.113.0/24", "TEST-NET-3"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "shared"),
    ("198.18.0.0/15", "benchmarking"),
];

pub(super) const DEFAULT_NAME: &str = "outside";
const DEFAULT_ADDRESS: &str = "203.0.113.1/24";

/// The range of [`RANGES`] holding all of `n`.
fn allowed(n: Ipv4Network) -> bool {
    RANGES.iter().any(|(r, _)| {
        let r: Ipv4Network = r.parse().unwrap();
        r.contains(n.network()) && r.contains(n.broadcast())
    })
}

impl Validator<'_, '_> {
    /// The outside, when the file has one: `None` without `[outside]`, and a stand-in (the
    /// defaults) for one whose settings were refused, so the rest is still checked.
    pub(super) fn outside(
        &mut self,
        raw: &RawLab,
        underlay: &Underlay,
        underlay_known: bool,
    ) -> Option<Outside> {
        let given = match &raw.outside {
            Some(o) => Some(o.get_ref()),
            None if raw.outside_unread => None,
            None => return None,
        };
        let mut out = Outside {
            name: DEFAULT_NAME.into(),
            gateway: Ipv4Network::new(last_usable(underlay.subnet), underlay.subnet.prefix())
                .unwrap(),
            address: DEFAULT_ADDRESS.parse().unwrap(),
        };
        let Some(given) = given else {
            return Some(out);
        };
        if let Some(n) = &given.name {
            match name_problem(n.get_ref(), NODE_NAME_MAX) {
                Some(p) => self.r.error(span(n), format!("invalid outside name: {p}")),
                None if n.get_ref() == "underlay" => self.r.error(
                    span(n),
                    "\"underlay\" is reserved for the lab's underlay switch; choose another name",
                ),
                None => out.name = n.get_ref().clone(),
            }
        }
        let name_at = given.name.as_ref().map(span);
        let section_at = raw.outside.as_ref().map(span).unwrap_or(0..0);
        let at = name_at.unwrap_or(section_at.clone());
        let host = raw.hosts.keys().any(|n| *n.get_ref() == out.name);
        let container = raw.containers.keys().any(|n| *n.get_ref() == out.name);
        if host || container {
            let what = if host { "a host" } else { "a container" };
            self.r.error_help(
                at,
                format!("the outside is named {:?}, as {what} is", out.name),
                "hosts, containers and the outside share one set of names: rename one, or set [outside] name = \"...\"",
            );
        }
        if let Some(a) = &given.address {
            if let Some(n) = self.outside_address(a, underlay, underlay_known) {
                out.address = n;
            }
        } else if underlay_known && overlaps(out.address, underlay.subnet) {
            self.r.error_help(
                section_at.clone(),
                format!(
                    "the outside's default address {} overlaps the underlay subnet {}",
                    out.address, underlay.subnet
                ),
                "set [outside] address to another range, like 198.51.100.1/24",
            );
        }
        if let Some(g) = &given.gateway {
            match g.get_ref().parse::<Ipv4Addr>() {
                Err(_) => self.r.error_help(
                    span(g),
                    format!("outside gateway {:?} is not an IPv4 address", g.get_ref()),
                    "write the address alone, like \"10.1.1.254\"; it takes the underlay's prefix length",
                ),
                Ok(ip) if underlay_known && !super::usable(underlay.subnet, ip) => {
                    self.r.error_help(
                        span(g),
                        format!(
                            "outside gateway {ip} is not a usable address of the underlay subnet {}",
                            underlay.subnet
                        ),
                        "it is the hosts' default gateway, on their segment: pick an address inside the underlay subnet",
                    )
                }
                Ok(ip) => out.gateway = Ipv4Network::new(ip, underlay.subnet.prefix()).unwrap(),
            }
        }
        Some(out)
    }

    /// `[outside] address`: an address with its prefix, in a range that is no one's on the
    /// internet, not the underlay's.
    fn outside_address(
        &mut self,
        a: &super::Name,
        underlay: &Underlay,
        underlay_known: bool,
    ) -> Option<Ipv4Network> {
        let text = a.get_ref();
        let Ok(n) = text.parse::<Ipv4Network>() else {
            self.r.error_help(
                span(a),
                format!("outside address {text:?} is not an IPv4 address with a prefix length"),
                "write it like \"203.0.113.1/24\"",
            );
            return None;
        };
        if !text.contains('/') {
            self.r.error_help(
                span(a),
                format!("outside address {text:?} has no prefix length"),
                format!("write it with one, like \"{text}/24\": the outside answers every address of that subnet"),
            );
            return None;
        }
        if !allowed(n) {
            let ranges: Vec<String> = RANGES.iter().map(|(r, w)| format!("{r} ({w})")).collect();
            self.r.error_help(
                span(a),
                format!("outside address {n} is not in a documentation, private or shared range: a lab never takes a public address"),
                format!("use one of {}", ranges.join(", ")),
            );
            return None;
        }
        if n.prefix() < 31 && (n.ip() == n.network() || n.ip() == n.broadcast()) {
            self.r.error_help(
                span(a),
                format!(
                    "outside address {} is not a usable address of {}/{}",
                    n.ip(),
                    n.network(),
                    n.prefix()
                ),
                format!(
                    "use its first usable address, like \"{}/{}\"",
                    first_usable(n),
                    n.prefix()
                ),
            );
            return None;
        }
        if underlay_known && overlaps(n, underlay.subnet) {
            self.r.error_help(
                span(a),
                format!("outside address {n} overlaps the underlay subnet {}", underlay.subnet),
                "the outside stands for what is beyond the hosts' segment: give it a range of its own",
            );
            return None;
        }
        Some(n)
    }
}

fn overlaps(a: Ipv4Network, b: Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

fn last_usable(n: Ipv4Network) -> Ipv4Addr {
    let b = u32::from(n.broadcast());
    if n.prefix() >= 31 {
        n.broadcast()
    } else {
        Ipv4Addr::from(b - 1)
    }
}

fn first_usable(n: Ipv4Network) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ranges_no_one_has_on_the_internet() {
        assert!(allowed("203.0.113.1/24".parse().unwrap()));
        assert!(allowed("10.9.0.1/16".parse().unwrap()));
        assert!(!allowed("39.156.66.18/24".parse().unwrap()));
        assert!(!allowed("8.8.8.8/32".parse().unwrap()));
        // Wider than any allowed range: it spills into public space.
        assert!(!allowed("203.0.112.1/23".parse().unwrap()));
        assert_eq!(
            last_usable("10.1.1.0/24".parse().unwrap()),
            Ipv4Addr::new(10, 1, 1, 254)
        );
    }
}
