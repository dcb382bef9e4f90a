//! pingall: the reachability matrix of a lab that is up, as Mininet's `pingall` shows it. Every
//! container pings every other one (at the address a check would use), and where the lab has a
//! check for a pair, what it expects is set against what came back.
//!
//! This module decides who pings which address, matches the lab's checks to pairs, refuses to
//! overflow the kernel's neighbour table (which every namespace shares) and lays the matrix
//! out; the echo requests themselves are [`icmp::sweep`]'s (one raw socket per source
//! namespace, every destination at once, paced), so a lab that answers takes what its kernel
//! needs, and one with silent pairs `count * timeout` more.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use comfy_table::{Attribute, Cell, Color, Table};
use serde::Serialize;

use crate::kernel::{icmp, netns};
use crate::spec::{Expect, Lab};

/// Above this many containers the matrix is printed one line per source instead.
pub const MATRIX_MAX: usize = 12;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Echo requests per pair at most: the first to every destination, each further one only
    /// to those that have not answered.
    pub count: u32,
    /// How long each round waits for missing replies.
    pub timeout: Duration,
}

/// One cell of the matrix: what `from` got from `to`'s address.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub address: String,
    pub reachable: bool,
    pub ttl: Option<u8>,
    pub rtt_ms: Option<f64>,
    /// Echo requests sent (one per round until answered) and replies received.
    pub sent: u32,
    pub received: u32,
    /// Why nothing came back, when known (no route, an ICMP error), or why the probe failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the lab's check of this pair expects; only where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_ttl: Option<u8>,
    /// The check's expectation and the result disagree; only where there is a check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs: Option<bool>,
    #[serde(skip)]
    pub from_index: usize,
    #[serde(skip)]
    pub to_index: usize,
    /// No echo request could be sent from the source at all (its namespace is gone).
    #[serde(skip)]
    pub probe_failed: bool,
}

/// A lab check that is not between two containers of the matrix (from or to a host, to a
/// gateway or another address no pair pings): `netlab check` runs it, pingall does not.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Uncompared {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub containers: usize,
    pub pairs: usize,
    pub reachable: usize,
    /// Lab checks set against a pair, and how many of them the result contradicts.
    pub checks_compared: usize,
    pub checks_differ: usize,
    pub checks_not_compared: Vec<Uncompared>,
    pub seconds: f64,
    /// Why results may be wrong for reasons outside the lab (the kernel's neighbour table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Matrix {
    pub lab: String,
    /// Rows and columns, in the lab's order.
    pub containers: Vec<String>,
    /// Row by row (source by source), each row in column order, without the diagonal.
    pub pairs: Vec<Pair>,
    /// Every lab check compared with a pair: (check's `to` as written, index into `pairs`).
    #[serde(skip)]
    pub checks: Vec<(String, usize)>,
    pub summary: Summary,
}

/// The address `from` pings to reach container `to` (see [`Lab::container_address`]).
pub fn destination_address(lab: &Lab, from: usize, to: usize) -> Option<Ipv4Addr> {
    lab.container_address(from, to)
}

/// Ping every pair of the lab's containers, both ways, and compare with the lab's checks;
/// nothing is sent when the kernel's neighbour table has no room for what that needs.
pub fn run(lab: &Lab, opts: Options) -> Result<Matrix, NeighbourTableTooSmall> {
    let start = Instant::now();
    let n = lab.containers.len();
    // Per source: the destinations it pings (column, address). A destination address that is
    // the source's own (two host-local networks that gave out the same address on different
    // hosts) would be answered by the source itself: it is not pinged, and says why.
    let mut columns: Vec<Vec<(usize, Ipv4Addr)>> = Vec::with_capacity(n);
    let mut own: Vec<(usize, usize, Ipv4Addr)> = Vec::new();
    for i in 0..n {
        let mut row = Vec::new();
        for j in (0..n).filter(|&j| j != i) {
            let Some(a) = destination_address(lab, i, j) else {
                continue;
            };
            if lab.containers[i]
                .endpoints
                .iter()
                .any(|e| e.address.ip() == a)
            {
                own.push((i, j, a));
            } else {
                row.push((j, a));
            }
        }
        columns.push(row);
    }
    let sources: Vec<icmp::SweepSource> = columns
        .iter()
        .enumerate()
        .map(|(i, row)| icmp::SweepSource {
            ns_path: netns::path(&lab.container_ns(i)),
            targets: row.iter().map(|&(_, a)| a).collect(),
            // The first column after its own row's diagonal.
            first: row.iter().position(|&(j, _)| j > i).unwrap_or(0),
        })
        .collect();
    let before = icmp::neighbour_table();
    neighbour_room(lab, &columns, before)?;
    let swept = icmp::sweep(
        &sources,
        icmp::SweepOptions {
            rounds: opts.count,
            timeout: opts.timeout,
        },
    );
    let mut results: Vec<Probe> = Vec::with_capacity(n * n.saturating_sub(1));
    for (i, (row, r)) in columns.iter().zip(swept).enumerate() {
        match r {
            Ok(rs) => {
                results.extend(
                    row.iter()
                        .zip(rs)
                        .map(|(&(j, address), result)| Probe::Sent {
                            from: i,
                            to: j,
                            address,
                            result,
                        }),
                )
            }
            Err(e) => results.extend(row.iter().map(|&(j, address)| Probe::Failed {
                from: i,
                to: j,
                address,
                why: format!("probe failed: {e}"),
            })),
        }
    }
    results.extend(own.into_iter().map(|(i, j, address)| Probe::Failed {
        from: i,
        to: j,
        address,
        why: format!(
            "{address} is also {}'s own address: it would answer itself",
            lab.containers[i].name
        ),
    }));
    let mut m = assemble(lab, results, start.elapsed().as_secs_f64());
    if let Some(w) = neighbour_warning(before, icmp::neighbour_table(), &m) {
        m.summary.warnings.push(w);
    }
    Ok(m)
}

/// The kernel's neighbour table cannot take the entries a pingall needs at once.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourTableTooSmall {
    pub need: usize,
    pub free: u64,
    pub limit: u64,
    pub entries: u64,
}

impl std::fmt::Display for NeighbourTableTooSmall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let room = (self.entries + self.need as u64)
            .next_power_of_two()
            .max(4096);
        write!(
            f,
            "pingall needs about {} new neighbour (ARP) entries at once (one per container and \
             peer it talks to), but the kernel's neighbour table, which every namespace on this \
             machine shares (the host's own too), has room for {} more \
             (net.ipv4.neigh.default.gc_thresh3 = {}, {} in use); overflowing it would stop \
             address resolution everywhere for seconds, so nothing was sent\n  \
             hint: raise the limit (netlab never changes it): sysctl -w \
             net.ipv4.neigh.default.gc_thresh3={room} net.ipv4.neigh.default.gc_thresh2={}",
            self.need,
            self.free,
            self.limit,
            self.entries,
            room / 2
        )
    }
}

impl std::error::Error for NeighbourTableTooSmall {}

/// The neighbour entries (container, address) a sweep makes the kernel hold: for each pair
/// on a shared subnet, one in the source for the destination and one in the destination for
/// the source's address there (for its reply); for the others, the source's gateway.
fn needed_neighbours(lab: &Lab, columns: &[Vec<(usize, Ipv4Addr)>]) -> HashSet<(usize, Ipv4Addr)> {
    let mut need = HashSet::new();
    for (i, row) in columns.iter().enumerate() {
        let c = &lab.containers[i];
        for &(j, addr) in row {
            match c.endpoints.iter().find(|e| e.address.contains(addr)) {
                Some(e) => {
                    need.insert((i, addr));
                    need.insert((j, e.address.ip()));
                }
                None => {
                    if let Some(gw) = c.default_gateway {
                        need.insert((i, gw));
                    }
                }
            }
        }
    }
    need
}

/// Entries kept free for everything else on the machine (the host, other labs).
fn neighbour_margin(limit: u64) -> u64 {
    (limit / 32).max(64)
}

/// Refuse when the sweep would overflow the kernel's neighbour table, which every namespace
/// shares (its limit is the root namespace's gc_thresh3, and entries younger than 5 s are
/// never reclaimed): past the limit the kernel drops requests and replies that need a new
/// entry, in every namespace, the host's own too. Entries the lab's namespaces already hold
/// are reused, so a second pingall needs none of the first one's.
fn neighbour_room(
    lab: &Lab,
    columns: &[Vec<(usize, Ipv4Addr)>],
    table: Option<icmp::NeighbourTable>,
) -> Result<(), NeighbourTableTooSmall> {
    let Some(icmp::NeighbourTable {
        limit: Some(limit),
        entries,
        ..
    }) = table
    else {
        return Ok(());
    };
    let free = limit.saturating_sub(entries + neighbour_margin(limit));
    let mut need = needed_neighbours(lab, columns);
    if need.len() as u64 <= free {
        return Ok(());
    }
    // Close to the limit: look at what the lab's namespaces hold already.
    for i in 0..lab.containers.len() {
        let held = icmp::neighbours_in(&netns::path(&lab.container_ns(i))).unwrap_or_default();
        for a in held {
            need.remove(&(i, a));
        }
    }
    if need.len() as u64 <= free {
        return Ok(());
    }
    Err(NeighbourTableTooSmall {
        need: need.len(),
        free,
        limit,
        entries,
    })
}

/// When the kernel's neighbour table overflowed during the sweep and some pairs got no reply:
/// they may have been dropped for that alone (all namespaces share the table, whose limit is
/// the root namespace's to raise; netlab never touches it).
fn neighbour_warning(
    before: Option<icmp::NeighbourTable>,
    after: Option<icmp::NeighbourTable>,
    m: &Matrix,
) -> Option<String> {
    let (before, after) = (before?, after?);
    let refused = after.table_fulls.saturating_sub(before.table_fulls);
    let lost = m.summary.pairs - m.summary.reachable;
    if refused == 0 || lost == 0 {
        return None;
    }
    let limit = before.limit.map_or_else(
        || "with a limit".to_string(),
        |l| format!("limited to {l} entries"),
    );
    let room = (m.summary.pairs as u64 + before.entries)
        .next_power_of_two()
        .max(4096);
    Some(format!(
        "the kernel's neighbour (ARP) table overflowed during pingall ({refused} new entries \
         refused): one table serves all namespaces, {limit} (net.ipv4.neigh.default.gc_thresh3; \
         {} in use before), and {} pairs need about one entry each at once, so some of the \
         {lost} pairs without a reply may in fact be reachable. For labs this big, raise the \
         limit: sysctl -w net.ipv4.neigh.default.gc_thresh3={room} \
         net.ipv4.neigh.default.gc_thresh2={}",
        before.entries,
        m.summary.pairs,
        room / 2
    ))
}

/// What became of one pair's echo requests.
#[derive(Debug, Clone)]
pub enum Probe {
    Sent {
        from: usize,
        to: usize,
        address: Ipv4Addr,
        result: icmp::PingResult,
    },
    /// Nothing was sent: `why` says why (the source's namespace is gone: "probe failed: ...").
    Failed {
        from: usize,
        to: usize,
        address: Ipv4Addr,
        why: String,
    },
}

/// The matrix from the probes' results (in any order), with the lab's checks set against it.
pub fn assemble(lab: &Lab, mut probes: Vec<Probe>, seconds: f64) -> Matrix {
    let key = |p: &Probe| match p {
        Probe::Sent { from, to, .. } | Probe::Failed { from, to, .. } => (*from, *to),
    };
    probes.sort_by_key(key);
    let name = |i: usize| lab.containers[i].name.clone();
    let mut pairs: Vec<Pair> = probes
        .into_iter()
        .map(|p| {
            let (from, to) = key(&p);
            let blank = |address: Ipv4Addr| Pair {
                from: name(from),
                to: name(to),
                address: address.to_string(),
                reachable: false,
                ttl: None,
                rtt_ms: None,
                sent: 0,
                received: 0,
                detail: None,
                expected: None,
                expected_ttl: None,
                differs: None,
                from_index: from,
                to_index: to,
                probe_failed: false,
            };
            match p {
                Probe::Sent {
                    address, result, ..
                } => Pair {
                    reachable: result.received > 0,
                    sent: result.sent,
                    received: result.received,
                    ttl: result.ttl,
                    rtt_ms: result.rtt_ms,
                    detail: result.error,
                    ..blank(address)
                },
                Probe::Failed { address, why, .. } => Pair {
                    probe_failed: why.starts_with("probe failed"),
                    detail: Some(why),
                    ..blank(address)
                },
            }
        })
        .collect();
    let mut checks = Vec::new();
    let mut not_compared = Vec::new();
    let mut differ = 0;
    for c in &lab.checks {
        let address = c.address.to_string();
        let hit = pairs.iter().position(|p| {
            p.from == c.from
                && p.address == address
                && (p.to == c.to || c.to.parse::<Ipv4Addr>().is_ok())
        });
        let Some(k) = hit else {
            not_compared.push(Uncompared {
                from: c.from.clone(),
                to: c.to.clone(),
            });
            continue;
        };
        let p = &mut pairs[k];
        let got = if p.reachable {
            Expect::Reachable
        } else {
            Expect::Unreachable
        };
        let ttl_ok = match (c.ttl, p.ttl) {
            (Some(want), Some(seen)) => want == seen,
            _ => true,
        };
        let differs = p.probe_failed || got != c.expect || !ttl_ok;
        differ += usize::from(differs);
        // Two checks of one pair: the cell shows the first, and differs if either does.
        if p.expected.is_none() {
            p.expected = Some(c.expect);
            p.expected_ttl = c.ttl;
        }
        p.differs = Some(p.differs.unwrap_or(false) || differs);
        checks.push((c.to.clone(), k));
    }
    let summary = Summary {
        containers: lab.containers.len(),
        pairs: pairs.len(),
        reachable: pairs.iter().filter(|p| p.reachable).count(),
        checks_compared: checks.len(),
        checks_differ: differ,
        checks_not_compared: not_compared,
        seconds,
        warnings: Vec::new(),
    };
    Matrix {
        lab: lab.name.clone(),
        containers: lab.containers.iter().map(|c| c.name.clone()).collect(),
        pairs,
        checks,
        summary,
    }
}

/// The matrix for a person: the full table for a small lab, one line per source for a big one
/// (or one too wide for the terminal), then the lab's checks, expected against got.
pub fn render(m: &Matrix) -> String {
    render_with(m, crate::table::colour(), crate::table::terminal_width())
}

/// [`render`] with the decisions made by the caller (tests).
pub fn render_with(m: &Matrix, styled: bool, width: Option<u16>) -> String {
    let mut out = if m.containers.len() <= MATRIX_MAX && fits(m, width) {
        let mut s = grid(m, styled, width).to_string();
        s.push_str(
            "\nrows ping columns: the reply's TTL, X no reply; ✓ a lab check agrees, ≠ it differs",
        );
        s
    } else {
        compact(m, styled, width).to_string()
    };
    if !m.checks.is_empty() {
        out.push('\n');
        out.push_str(&checks_table(m, styled, width).to_string());
    }
    out
}

fn word(e: Expect) -> &'static str {
    match e {
        Expect::Reachable => "reachable",
        Expect::Unreachable => "unreachable",
    }
}

/// A cell's text: the reply's TTL or X, marked when a check agrees or differs.
fn cell_text(p: &Pair) -> String {
    let got = match p.ttl {
        Some(t) if p.reachable => t.to_string(),
        _ => "X".to_string(),
    };
    match p.differs {
        Some(false) => format!("{got} ✓"),
        Some(true) => format!("{got} ≠"),
        None => got,
    }
}

fn cell(p: &Pair) -> Cell {
    let c = Cell::new(cell_text(p)).fg(if p.reachable {
        Color::Green
    } else {
        Color::Red
    });
    if p.differs == Some(true) {
        c.add_attribute(Attribute::Bold)
    } else {
        c
    }
}

const CORNER: &str = "from \\ to";

/// Would the full table fit `width` columns? (Padding of one each side, one border each.)
fn fits(m: &Matrix, width: Option<u16>) -> bool {
    let Some(width) = width else {
        return true;
    };
    let n = m.containers.len();
    let mut cols = vec![0usize; n + 1];
    cols[0] = m
        .containers
        .iter()
        .map(|c| c.chars().count())
        .chain([CORNER.len()])
        .max()
        .unwrap_or(0);
    for (j, c) in m.containers.iter().enumerate() {
        cols[j + 1] = c.chars().count().max(1);
    }
    for p in &m.pairs {
        let w = &mut cols[p.to_index + 1];
        *w = (*w).max(cell_text(p).chars().count());
    }
    let total: usize = cols.iter().map(|w| w + 3).sum::<usize>() + 1;
    total <= usize::from(width)
}

fn grid(m: &Matrix, styled: bool, width: Option<u16>) -> Table {
    let header: Vec<&str> = std::iter::once(CORNER)
        .chain(m.containers.iter().map(|s| s.as_str()))
        .collect();
    let mut t = crate::table::with(&header, styled, width);
    let n = m.containers.len();
    let mut at = vec![vec![None; n]; n];
    for p in &m.pairs {
        at[p.from_index][p.to_index] = Some(p);
    }
    for (i, row) in at.iter().enumerate() {
        let mut cells = vec![Cell::new(&m.containers[i])];
        cells.extend(row.iter().enumerate().map(|(j, p)| match p {
            Some(p) => cell(p),
            None if i == j => Cell::new("·"),
            None => Cell::new("-"),
        }));
        t.add_row(cells);
    }
    t
}

/// How many unreachable destinations a compact row names before it only counts the rest.
const NAMED: usize = 8;

fn compact(m: &Matrix, styled: bool, width: Option<u16>) -> Table {
    let mut t = crate::table::with(&["from", "reachable", "unreachable"], styled, width);
    let mut rows: Vec<Vec<&Pair>> = vec![Vec::new(); m.containers.len()];
    for p in &m.pairs {
        rows[p.from_index].push(p);
    }
    for (i, row) in rows.iter().enumerate() {
        let ok = row.iter().filter(|p| p.reachable).count();
        let colour = match ok {
            _ if ok == row.len() => Color::Green,
            0 => Color::Red,
            _ => Color::Yellow,
        };
        let lost: Vec<&&Pair> = row.iter().filter(|p| !p.reachable).collect();
        let mut named: Vec<String> = lost
            .iter()
            .take(NAMED)
            .map(|p| match p.differs {
                Some(true) => format!("{} ≠", p.to),
                _ => p.to.clone(),
            })
            .collect();
        let unreachable = match lost.len() {
            0 => "-".to_string(),
            k if k == row.len() && k > NAMED => format!("all {k}"),
            k => {
                if k > NAMED {
                    named.push(format!("and {} more", k - NAMED));
                }
                named.join(", ")
            }
        };
        let differs = row.iter().any(|p| p.differs == Some(true));
        let mut reach = Cell::new(format!("{ok}/{}", row.len())).fg(colour);
        if differs {
            reach = reach.add_attribute(Attribute::Bold);
        }
        t.add_row(vec![
            Cell::new(&m.containers[i]),
            reach,
            Cell::new(unreachable),
        ]);
    }
    t
}

fn checks_table(m: &Matrix, styled: bool, width: Option<u16>) -> Table {
    let mut t = crate::table::with(&["from", "to", "expected", "got", "check"], styled, width);
    for (to, k) in &m.checks {
        let p = &m.pairs[*k];
        let to = if *to == p.address {
            format!("{to} ({})", p.to)
        } else {
            format!("{to} ({})", p.address)
        };
        let expect = p.expected.unwrap_or(Expect::Reachable);
        let expected = match p.expected_ttl {
            Some(t) => format!("{} ttl={t}", word(expect)),
            None => word(expect).to_string(),
        };
        let got = match (p.reachable, p.ttl, &p.detail) {
            (true, Some(t), _) => format!("reachable ttl={t}"),
            (true, None, _) => "reachable".to_string(),
            (false, _, Some(d)) => format!("unreachable: {d}"),
            (false, _, None) => "unreachable".to_string(),
        };
        let result = if p.differs == Some(true) {
            Cell::new("DIFFERS").fg(Color::Red)
        } else {
            Cell::new("agrees").fg(Color::Green)
        };
        t.add_row(vec![
            Cell::new(&p.from),
            Cell::new(to),
            Cell::new(expected),
            Cell::new(got),
            result.add_attribute(Attribute::Bold),
        ]);
    }
    t
}

/// "pingall: 4/6 pairs reachable; 0 checks differ (0.01s)", and a note for the lab checks
/// that are not between two containers.
pub fn summary(m: &Matrix) -> String {
    let s = &m.summary;
    let differ = match s.checks_differ {
        1 => "1 check differs".to_string(),
        k => format!("{k} checks differ"),
    };
    let mut line = format!(
        "pingall: {}/{} pairs reachable; {differ} ({:.2}s)",
        s.reachable, s.pairs, s.seconds
    );
    if !s.checks_not_compared.is_empty() {
        let list: Vec<String> = s
            .checks_not_compared
            .iter()
            .map(|u| format!("{} -> {}", u.from, u.to))
            .collect();
        line.push_str(&format!(
            "\nnot between two containers, so not compared: {} ({}); `netlab check {}` runs them",
            crate::table::count(list.len(), "check", "checks"),
            list.join(", "),
            m.lab
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Check, Container, Driver, Endpoint, Host, Network, Underlay};

    fn net(ip: &str) -> ipnetwork::Ipv4Network {
        ip.parse().unwrap()
    }

    /// A bridge lab of `n` containers c0..c(n-1) on one host, 172.20.0.(i+2), plus `checks`.
    fn lab(n: usize, checks: Vec<Check>) -> Lab {
        Lab {
            name: "big".into(),
            description: None,
            source: "big.toml".into(),
            underlay: Underlay {
                subnet: net("10.1.1.0/24"),
                mtu: 1500,
            },
            hosts: vec![Host {
                name: "host1".into(),
                nic: "ens33".into(),
                address: net("10.1.1.11/24"),
                nics: vec![],
                vlans: vec![],
                addresses: vec![],
                forwarding: false,
                firewall: vec![],
            }],
            networks: vec![Network {
                name: "net1".into(),
                id: "0".repeat(64),
                driver: Driver::Bridge {
                    bridge: "br-000000000000".into(),
                    icc: true,
                    masquerade: true,
                },
                subnet: net("172.20.0.0/16"),
                gateway: "172.20.0.1".parse().unwrap(),
                implicit: false,
                internal: false,
                subnet_only: false,
                mtu: None,
                ipv6: None,
                pools: Vec::new(),
                hosts: Vec::new(),
                ingress: false,
            }],
            containers: (0..n)
                .map(|i| Container {
                    name: format!("c{i}"),
                    host: 0,
                    ingress_sbox: false,
                    lb: None,
                    task: None,
                    endpoints: vec![Endpoint {
                        network: 0,
                        ifname: "eth0".into(),
                        address: net(&format!("172.20.{}.{}/16", (i + 2) / 256, (i + 2) % 256)),
                        address6: None,
                        mac: [0; 6],
                        sandbox_if: None,
                        aliases: Vec::new(),
                        secondary: Vec::new(),
                    }],
                    default_gateway: None,
                    mode: Default::default(),
                    ports: Vec::new(),
                })
                .collect(),
            checks,
            scenarios: Vec::new(),
            sandbox_next: Default::default(),
            outside: None,
            ipsec_secret: None,
            services: Vec::new(),
        }
    }

    fn check(from: &str, to: &str, address: &str, expect: Expect) -> Check {
        Check {
            from: from.into(),
            to: to.into(),
            address: address.parse().unwrap(),
            expect,
            count: 2,
            ttl: None,
        }
    }

    /// Every pair reachable with TTL 64, except those `lost` says.
    fn probes(lab: &Lab, lost: impl Fn(usize, usize) -> bool) -> Vec<Probe> {
        let n = lab.containers.len();
        let mut v = Vec::new();
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let ok = !lost(i, j);
                v.push(Probe::Sent {
                    from: i,
                    to: j,
                    address: destination_address(lab, i, j).unwrap(),
                    result: icmp::PingResult {
                        sent: if ok { 1 } else { 2 },
                        received: u32::from(ok),
                        ttl: ok.then_some(64),
                        rtt_ms: ok.then_some(0.02),
                        error: None,
                        mtu: None,
                    },
                });
            }
        }
        // Any order: assemble sorts.
        v.reverse();
        v
    }

    #[test]
    fn pingall_matrix_of_a_small_lab_marks_checks() {
        let l = lab(
            3,
            vec![
                check("c0", "c1", "172.20.0.3", Expect::Reachable),
                check("c2", "172.20.0.2", "172.20.0.2", Expect::Reachable),
                check("c0", "host1", "10.1.1.11", Expect::Reachable),
            ],
        );
        let m = assemble(&l, probes(&l, |i, j| (i, j) == (2, 0)), 0.01);
        assert_eq!(m.pairs.len(), 6);
        assert_eq!(m.summary.reachable, 5);
        assert_eq!(m.summary.checks_compared, 2);
        assert_eq!(m.summary.checks_differ, 1);
        assert_eq!(
            m.summary.checks_not_compared,
            vec![Uncompared {
                from: "c0".into(),
                to: "host1".into()
            }]
        );
        let s = render_with(&m, false, Some(100));
        assert!(!s.contains('\x1b'), "{s:?}");
        assert!(s.contains("from \\ to"), "the full matrix: {s}");
        assert!(s.contains("64 ✓"), "{s}");
        assert!(s.contains("X ≠"), "{s}");
        assert!(s.contains("DIFFERS"), "{s}");
        assert!(s.contains("172.20.0.2"), "{s}");
        assert!(s.lines().all(|l| l.chars().count() <= 100), "{s}");
        assert_eq!(
            summary(&m).lines().next().unwrap(),
            "pingall: 5/6 pairs reachable; 1 check differs (0.01s)"
        );
        let j = serde_json::to_value(&m).unwrap();
        let p = &j["pairs"][0];
        assert_eq!(p["from"], "c0");
        assert_eq!(p["to"], "c1");
        assert_eq!(p["expected"], "reachable");
        assert_eq!(p["ttl"], 64);
        assert!(j["pairs"][1].get("expected").is_none(), "{j}");
        assert!(j["pairs"][1].get("from_index").is_none(), "{j}");
        assert_eq!(j["summary"]["checks_differ"], 1);
    }

    /// A big lab: one line per source, not a 20-column table; unreachable destinations named
    /// (a few, then counted), and colour does not break the columns.
    #[test]
    fn pingall_compact_form_for_a_big_lab() {
        let l = lab(20, vec![check("c3", "c4", "172.20.0.6", Expect::Reachable)]);
        // c3 reaches nobody, c5 misses c0 and c1.
        let m = assemble(&l, probes(&l, |i, j| i == 3 || (i == 5 && j < 2)), 0.5);
        assert_eq!(m.pairs.len(), 380);
        for (styled, width) in [(false, None), (true, Some(80))] {
            let s = render_with(&m, styled, width);
            assert!(!s.contains("from \\ to"), "no matrix: {s}");
            let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("│ c")).collect();
            // 20 sources, one line each, plus the one check's row.
            assert_eq!(rows.len(), 21, "{s}");
            let plain = crate::table::strip_ansi(&s);
            assert!(plain.contains("│ c0   ┆ 19/19     ┆ -"), "{plain}");
            assert!(plain.contains("all 19"), "{plain}");
            assert!(plain.contains("c0, c1 "), "{plain}");
            assert!(plain.contains("DIFFERS"), "{plain}");
            assert_eq!(s.contains('\x1b'), styled, "{s:?}");
            let widths: Vec<usize> = plain.lines().map(|l| l.chars().count()).collect();
            if let Some(w) = width {
                assert!(widths.iter().all(|&x| x <= usize::from(w)), "{plain}");
            }
        }
        // Nine or more lost, some reached: eight named, the rest counted.
        let m = assemble(&l, probes(&l, |i, j| i == 0 && j > 1 && j < 15), 0.5);
        let s = render_with(&m, false, None);
        assert!(
            s.contains("c2, c3, c4, c5, c6, c7, c8, c9, and 5 more"),
            "{s}"
        );
        assert!(summary(&m).starts_with("pingall: 367/380 pairs reachable; 0 checks differ"));
    }

    /// A small lab too wide for the terminal gets the compact form too.
    #[test]
    fn pingall_matrix_too_wide_for_the_terminal_goes_compact() {
        let l = lab(10, vec![]);
        let m = assemble(&l, probes(&l, |_, _| false), 0.1);
        assert!(render_with(&m, false, Some(200)).contains("from \\ to"));
        let narrow = render_with(&m, false, Some(40));
        assert!(!narrow.contains("from \\ to"), "{narrow}");
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
    }

    #[test]
    fn pingall_destination_is_on_a_shared_network() {
        let mut l = lab(3, vec![]);
        // c2 on a second network only c1 shares: from c1 that address, from c0 its first.
        l.networks.push(Network {
            name: "net2".into(),
            subnet: net("172.21.0.0/16"),
            gateway: "172.21.0.1".parse().unwrap(),
            ..l.networks[0].clone()
        });
        l.containers[2].endpoints.insert(
            0,
            Endpoint {
                network: 1,
                ifname: "eth0".into(),
                address: net("172.21.0.2/16"),
                address6: None,
                mac: [0; 6],
                sandbox_if: None,
                aliases: Vec::new(),
                secondary: Vec::new(),
            },
        );
        l.containers[1].endpoints.push(Endpoint {
            network: 1,
            ifname: "eth1".into(),
            address: net("172.21.0.3/16"),
            address6: None,
            mac: [0; 6],
            sandbox_if: None,
            aliases: Vec::new(),
            secondary: Vec::new(),
        });
        l.containers[0].endpoints.clear();
        l.containers[0].endpoints.push(Endpoint {
            network: 1,
            ifname: "eth0".into(),
            address: net("172.21.0.4/16"),
            address6: None,
            mac: [0; 6],
            sandbox_if: None,
            aliases: Vec::new(),
            secondary: Vec::new(),
        });
        assert_eq!(
            destination_address(&l, 1, 2),
            Some("172.21.0.2".parse().unwrap())
        );
        // c0 is only on net2 now: c1's address there, not its first.
        assert_eq!(
            destination_address(&l, 0, 1),
            Some("172.21.0.3".parse().unwrap())
        );
        l.containers[1].endpoints.pop();
        assert_eq!(
            destination_address(&l, 0, 1),
            Some("172.20.0.3".parse().unwrap())
        );
        // Host-local networks connect containers on the same host only.
        l.hosts.push(Host {
            name: "host2".into(),
            ..l.hosts[0].clone()
        });
        l.containers[2].host = 1;
        l.containers[1].endpoints.push(Endpoint {
            network: 1,
            ifname: "eth1".into(),
            address: net("172.21.0.3/16"),
            address6: None,
            mac: [0; 6],
            sandbox_if: None,
            aliases: Vec::new(),
            secondary: Vec::new(),
        });
        assert_eq!(
            destination_address(&l, 1, 2),
            Some("172.21.0.2".parse().unwrap()),
            "first address"
        );
        assert_eq!(
            destination_address(&l, 2, 1),
            Some("172.20.0.3".parse().unwrap()),
            "no shared network across hosts: the first address"
        );
    }
}
