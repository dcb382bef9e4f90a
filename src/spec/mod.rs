//! Lab files: parse TOML (`raw`), validate every name, reference and address, and allocate
//! addresses the way Docker's IPAM does, producing a checked [`Lab`]. Pure: no syscalls, no
//! kernel state. Errors point at `file:line:col` and all of them are reported at once.

mod diag;
mod model;
mod raw;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;

use ipnetwork::Ipv4Network;
use serde_spanned::Spanned;
use sha2::{Digest, Sha256};

pub use diag::{line_col, Diagnostic, SpecError};
pub use model::*;

use diag::Reporter;
use raw::*;

/// Lab files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Refuse labs that would create more namespaces than this (override: NETLAB_MAX_NAMESPACES).
pub const DEFAULT_MAX_NAMESPACES: usize = 4096;
const NODE_NAME_MAX: usize = 48;
const LAB_NAME_MAX: usize = 32;
const GWBRIDGE: &str = "docker_gwbridge";
const FIRST_VNI: u32 = 256;
const MAX_VNI: i64 = (1 << 24) - 1;

/// Read and validate a lab file. `name_override` replaces `[lab] name` (to run two copies).
pub fn load(path: &Path, name_override: Option<&str>) -> Result<Lab, SpecError> {
    let shown = path.display().to_string();
    let fail = |message: String| SpecError {
        file: shown.clone(),
        diagnostics: vec![Diagnostic {
            line: 1,
            col: 1,
            message,
            help: None,
        }],
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read lab file: {e}")))?;
    if meta.len() as usize > MAX_FILE_BYTES {
        return Err(fail(format!(
            "lab file is {} bytes; the limit is {} bytes",
            meta.len(),
            MAX_FILE_BYTES
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read lab file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        SpecError {
            file: shown.clone(),
            diagnostics: vec![Diagnostic {
                line,
                col,
                message: "lab file is not valid UTF-8".into(),
                help: None,
            }],
        }
    })?;
    let source = std::fs::canonicalize(path).unwrap_or(path.to_path_buf());
    parse(&shown, &source.display().to_string(), &text, name_override)
}

/// Parse and validate lab-file text. `file` is used in messages, `source` is recorded.
pub fn parse(
    file: &str,
    source: &str,
    text: &str,
    name_override: Option<&str>,
) -> Result<Lab, SpecError> {
    let err = |diagnostics| SpecError {
        file: file.to_string(),
        diagnostics,
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(err(vec![Diagnostic {
            line: 1,
            col: 1,
            message: format!(
                "lab file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                text.len()
            ),
            help: None,
        }]));
    }
    let raw: RawLab = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, col) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
            let message = e.message().trim().replace('\n', " ");
            return Err(err(vec![Diagnostic {
                line,
                col,
                message,
                help: None,
            }]));
        }
    };
    let mut r = Reporter::new(text);
    let lab = Validator {
        r: &mut r,
        source,
        name_override,
    }
    .lab(&raw);
    match lab {
        Some(lab) if !r.has_errors() => Ok(lab),
        _ => Err(err(r.diagnostics)),
    }
}

/// Stable 64-hex-digit id for a network, like Docker's network ids.
pub fn network_id(lab: &str, network: &str) -> String {
    let digest = Sha256::digest(format!("netlab/{lab}/{network}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

/// Lab, node and network names become parts of namespace and state paths.
fn name_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("name is empty".into());
    }
    if name.len() > max {
        return Some(format!(
            "name is {} bytes long; the limit is {max}",
            name.len()
        ));
    }
    let first = name.chars().next().unwrap();
    if !first.is_ascii_alphanumeric() {
        return Some(format!("name {name:?} must start with a letter or digit"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Some(format!(
            "name {name:?} contains {bad:?}; use letters, digits, '_' and '-' only"
        ));
    }
    None
}

/// A Linux interface name: 1..=15 bytes, no '/', ':', whitespace, not "." or "..".
fn ifname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("interface name is empty".into());
    }
    if name.len() > IFNAME_MAX {
        return Some(format!(
            "interface name {name:?} is {} bytes long; Linux allows at most {IFNAME_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} is not a valid interface name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || !c.is_ascii_graphic())
    {
        return Some(format!("interface name {name:?} contains {bad:?}"));
    }
    None
}

struct Validator<'r, 'a> {
    r: &'r mut Reporter<'a>,
    source: &'r str,
    name_override: Option<&'r str>,
}

/// A network's subnet while validating: `explicit` ones come from the file.
struct NetDraft {
    name: String,
    span: Range<usize>,
    overlay: bool,
    subnet: Option<Ipv4Network>,
    gateway: Option<(Ipv4Addr, Range<usize>)>,
    vni: Option<u32>,
    icc: bool,
}

impl Validator<'_, '_> {
    fn lab(&mut self, raw: &RawLab) -> Option<Lab> {
        let name = match self.name_override {
            Some(n) => n.to_string(),
            None => raw.lab.get_ref().name.get_ref().clone(),
        };
        if let Some(p) = name_problem(&name, LAB_NAME_MAX) {
            let s = span(&raw.lab.get_ref().name);
            self.r.error_help(
                s,
                format!("invalid lab name: {p}"),
                "lab names become namespace and /run/netlab names",
            );
        }

        let underlay = self.underlay(raw.underlay.as_ref());
        let hosts = self.hosts(raw, underlay.as_ref());
        let mut names: HashMap<String, Range<usize>> = HashMap::new();
        for (n, _) in &raw.hosts {
            names.insert(n.get_ref().clone(), span(n));
        }
        for (n, _) in &raw.containers {
            if let Some(prev) = names.get(n.get_ref()) {
                let (l, c) = line_col(self.r.source_text(), prev.start);
                self.r.error(
                    span(n),
                    format!(
                        "container {:?} has the same name as the host at line {l}, column {c}",
                        n.get_ref()
                    ),
                );
            }
            if let Some(p) = name_problem(n.get_ref(), NODE_NAME_MAX) {
                self.r
                    .error(span(n), format!("invalid container name: {p}"));
            }
            if n.get_ref() == "underlay" {
                self.r.error(
                    span(n),
                    "\"underlay\" is reserved for the lab's underlay switch",
                );
            }
        }

        let mut drafts = self.networks(raw);
        let overlay_users = self.containers_pre(raw, &drafts);
        // docker_gwbridge: every host with a container that is on an overlay network but on no
        // bridge network gets one, like Docker's.
        let needs_gw = overlay_users.iter().any(|u| *u);
        if needs_gw {
            drafts.push(NetDraft {
                name: GWBRIDGE.into(),
                span: 0..0,
                overlay: false,
                subnet: None,
                gateway: None,
                vni: None,
                icc: false,
            });
        }
        let underlay = underlay?;
        self.allocate_subnets(&mut drafts, &underlay);
        self.allocate_vnis(&mut drafts);
        if self.r.has_errors() {
            return None;
        }
        let networks: Vec<Network> = drafts
            .iter()
            .map(|d| {
                let id = network_id(&name, &d.name);
                let subnet = d.subnet.unwrap();
                let driver = if d.overlay {
                    Driver::Overlay {
                        vni: d.vni.unwrap(),
                    }
                } else if d.name == GWBRIDGE {
                    Driver::Bridge {
                        bridge: GWBRIDGE.into(),
                        icc: false,
                    }
                } else {
                    Driver::Bridge {
                        bridge: format!("br-{}", &id[..12]),
                        icc: d.icc,
                    }
                };
                Network {
                    name: d.name.clone(),
                    driver,
                    gateway: d
                        .gateway
                        .as_ref()
                        .map(|g| g.0)
                        .unwrap_or_else(|| subnet.nth(1).unwrap()),
                    subnet,
                    id,
                    implicit: d.name == GWBRIDGE,
                }
            })
            .collect();
        let hosts = hosts?;
        let containers = self.containers(raw, &hosts, &networks, &overlay_users)?;
        let lab = Lab {
            name,
            description: raw.lab.get_ref().description.clone(),
            source: self.source.to_string(),
            underlay,
            hosts,
            networks,
            containers,
            checks: Vec::new(),
        };
        self.limits(&lab, &raw.lab);
        let checks = self.checks(raw, &lab);
        if self.r.has_errors() {
            return None;
        }
        Some(Lab { checks, ..lab })
    }

    fn parse_net(&mut self, s: &Spanned<String>, what: &str) -> Option<Ipv4Network> {
        match s.get_ref().parse::<Ipv4Network>() {
            Ok(n) if n.network() != n.ip() => {
                self.r.error_help(
                    span(s),
                    format!("{what} {} has host bits set", s.get_ref()),
                    format!("did you mean {}/{}?", n.network(), n.prefix()),
                );
                None
            }
            Ok(n) if n.prefix() > 30 || n.prefix() < 8 => {
                self.r.error(
                    span(s),
                    format!("{what} {} must be between /8 and /30", s.get_ref()),
                );
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.r.error(
                    span(s),
                    format!(
                        "{what} {:?} is not an IPv4 subnet like 10.0.0.0/24",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn parse_ip(&mut self, s: &Spanned<String>, what: &str) -> Option<Ipv4Addr> {
        match s.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.r.error(
                    span(s),
                    format!("{what} {:?} is not an IPv4 address", s.get_ref()),
                );
                None
            }
        }
    }

    fn underlay(&mut self, raw: Option<&Spanned<RawUnderlay>>) -> Option<Underlay> {
        let mut u = Underlay {
            subnet: "10.1.1.0/24".parse().unwrap(),
            mtu: 1500,
        };
        let Some(raw) = raw else { return Some(u) };
        let raw = raw.get_ref();
        let mut ok = true;
        if let Some(s) = &raw.subnet {
            match self.parse_net(s, "underlay subnet") {
                Some(n) => u.subnet = n,
                None => ok = false,
            }
        }
        if let Some(m) = &raw.mtu {
            if !(1280..=9000).contains(m.get_ref()) {
                self.r.error(
                    span(m),
                    format!("underlay mtu {} must be between 1280 and 9000", m.get_ref()),
                );
                ok = false;
            } else {
                u.mtu = *m.get_ref() as u32;
            }
        }
        if let Some(nic) = &raw.nic {
            if let Some(p) = ifname_problem(nic.get_ref()) {
                self.r.error(span(nic), p);
                ok = false;
            }
        }
        ok.then_some(u)
    }

    fn hosts(&mut self, raw: &RawLab, underlay: Option<&Underlay>) -> Option<Vec<Host>> {
        if raw.hosts.is_empty() {
            self.r.error_help(
                span(&raw.lab),
                "the lab has no hosts",
                "add a [hosts.NAME] table",
            );
            return None;
        }
        let default_nic = raw
            .underlay
            .as_ref()
            .and_then(|u| u.get_ref().nic.as_ref())
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| "ens33".into());
        let mut hosts = Vec::new();
        let mut used: HashMap<Ipv4Addr, String> = HashMap::new();
        let mut explicit: Vec<(Ipv4Addr, Range<usize>, String)> = Vec::new();
        for (name, host) in &raw.hosts {
            if let Some(p) = name_problem(name.get_ref(), NODE_NAME_MAX) {
                self.r.error(span(name), format!("invalid host name: {p}"));
            }
            if name.get_ref() == "underlay" {
                self.r.error(
                    span(name),
                    "\"underlay\" is reserved for the lab's underlay switch",
                );
            }
            let h = host.get_ref();
            if let Some(nic) = &h.nic {
                if let Some(p) = ifname_problem(nic.get_ref()) {
                    self.r.error(span(nic), p);
                }
            }
            if let Some(a) = &h.address {
                let ip = a.get_ref().split('/').next().unwrap_or("");
                let prefix_given = a.get_ref().contains('/');
                match ip.parse::<Ipv4Addr>() {
                    Ok(ip) => {
                        if let Some(u) = underlay {
                            let given = a.get_ref().parse::<Ipv4Network>().ok();
                            if prefix_given && given.map(|g| g.prefix()) != Some(u.subnet.prefix())
                            {
                                self.r.error(
                                    span(a),
                                    format!(
                                        "host address {} does not match the underlay subnet {}",
                                        a.get_ref(),
                                        u.subnet
                                    ),
                                );
                            } else if !u.subnet.contains(ip)
                                || ip == u.subnet.network()
                                || ip == u.subnet.broadcast()
                            {
                                self.r.error_help(
                                    span(a),
                                    format!("host address {ip} is not a usable address of the underlay subnet {}", u.subnet),
                                    "set [underlay] subnet, or pick an address inside it",
                                );
                            }
                        }
                        if let Some((_, _, other)) = explicit.iter().find(|(e, _, _)| *e == ip) {
                            self.r.error(
                                span(a),
                                format!("host address {ip} is already used by host {other}"),
                            );
                        }
                        explicit.push((ip, span(a), name.get_ref().clone()));
                    }
                    Err(_) => self.r.error(
                        span(a),
                        format!("host address {:?} is not an IPv4 address", a.get_ref()),
                    ),
                }
            }
        }
        let underlay = underlay?;
        for (ip, _, n) in &explicit {
            used.insert(*ip, n.clone());
        }
        let mut next = underlay.subnet.iter().skip(1);
        for (name, host) in &raw.hosts {
            let h = host.get_ref();
            let ip = match h
                .address
                .as_ref()
                .and_then(|a| a.get_ref().split('/').next()?.parse().ok())
            {
                Some(ip) => ip,
                None => loop {
                    match next.next() {
                        Some(ip) if ip == underlay.subnet.broadcast() => {
                            self.r.error(
                                span(name),
                                format!(
                                    "the underlay subnet {} has no free address left",
                                    underlay.subnet
                                ),
                            );
                            return None;
                        }
                        Some(ip) if !used.contains_key(&ip) => {
                            used.insert(ip, name.get_ref().clone());
                            break ip;
                        }
                        Some(_) => continue,
                        None => return None,
                    }
                },
            };
            hosts.push(Host {
                name: name.get_ref().clone(),
                nic: h
                    .nic
                    .as_ref()
                    .map(|n| n.get_ref().clone())
                    .unwrap_or_else(|| default_nic.clone()),
                address: Ipv4Network::new(ip, underlay.subnet.prefix()).unwrap(),
            });
        }
        (!self.r.has_errors()).then_some(hosts)
    }

    fn networks(&mut self, raw: &RawLab) -> Vec<NetDraft> {
        let mut out = Vec::new();
        for (name, net) in &raw.networks {
            if let Some(p) = name_problem(name.get_ref(), NODE_NAME_MAX) {
                self.r
                    .error(span(name), format!("invalid network name: {p}"));
            }
            if name.get_ref() == GWBRIDGE {
                self.r.error(span(name), format!("{GWBRIDGE} is created by netlab for overlay containers; choose another name"));
            }
            let n = net.get_ref();
            let overlay = match n.driver.get_ref().as_str() {
                "overlay" => true,
                "bridge" => false,
                other => {
                    let help = if ["macvlan", "ipvlan", "host", "none"].contains(&other) {
                        format!("driver {other:?} is not supported yet; this version has \"overlay\" and \"bridge\"")
                    } else {
                        "known drivers: \"overlay\", \"bridge\"".to_string()
                    };
                    self.r.error_help(
                        span(&n.driver),
                        format!("unknown network driver {other:?}"),
                        help,
                    );
                    continue;
                }
            };
            let subnet = n.subnet.as_ref().and_then(|s| self.parse_net(s, "subnet"));
            let mut gateway = None;
            if let Some(g) = &n.gateway {
                if let Some(ip) = self.parse_ip(g, "gateway") {
                    if n.subnet.is_none() {
                        self.r.error_help(
                            span(g),
                            "a gateway needs an explicit subnet",
                            "add subnet = \"...\" to this network",
                        );
                    } else if let Some(sn) = subnet {
                        if !usable(sn, ip) {
                            self.r.error(
                                span(g),
                                format!("gateway {ip} is not a usable address of subnet {sn}"),
                            );
                        }
                    }
                    gateway = Some((ip, span(g)));
                }
            }
            let mut vni = None;
            if let Some(v) = &n.vni {
                if !overlay {
                    self.r
                        .error(span(v), "vni only applies to overlay networks");
                } else if !(1..=MAX_VNI).contains(v.get_ref()) {
                    self.r.error(
                        span(v),
                        format!(
                            "vni {} is out of range: VXLAN ids are 1 to {MAX_VNI}",
                            v.get_ref()
                        ),
                    );
                } else {
                    vni = Some(*v.get_ref() as u32);
                }
            }
            if let Some(icc) = &n.icc {
                if overlay {
                    self.r
                        .error(span(icc), "icc only applies to bridge networks");
                }
            }
            out.push(NetDraft {
                name: name.get_ref().clone(),
                span: span(name),
                overlay,
                subnet,
                gateway,
                vni,
                icc: n.icc.as_ref().map(|b| *b.get_ref()).unwrap_or(true),
            });
        }
        out
    }

    /// Checks container references; returns, per container, whether it needs docker_gwbridge.
    fn containers_pre(&mut self, raw: &RawLab, nets: &[NetDraft]) -> Vec<bool> {
        let mut out = Vec::new();
        for (cname, c) in &raw.containers {
            let c = c.get_ref();
            if !raw.hosts.contains_key(c.host.get_ref().as_str()) {
                let help = close_match(
                    c.host.get_ref(),
                    raw.hosts.keys().map(|k| k.get_ref().as_str()),
                );
                self.r.error_help(
                    span(&c.host),
                    format!(
                        "container {} is on host {:?}, which is not defined",
                        cname.get_ref(),
                        c.host.get_ref()
                    ),
                    help.unwrap_or_else(|| "define it under [hosts]".into()),
                );
            }
            if c.networks.get_ref().is_empty() {
                self.r.error(
                    span(&c.networks),
                    format!("container {} joins no network", cname.get_ref()),
                );
            }
            let mut seen = HashSet::new();
            let mut overlay = false;
            let mut bridge = false;
            for n in c.networks.get_ref() {
                if !seen.insert(n.get_ref().clone()) {
                    self.r.error(
                        span(n),
                        format!(
                            "container {} joins network {} twice",
                            cname.get_ref(),
                            n.get_ref()
                        ),
                    );
                }
                match nets.iter().find(|d| d.name == *n.get_ref()) {
                    Some(d) if d.overlay => overlay = true,
                    Some(_) => bridge = true,
                    None => {
                        let help = close_match(n.get_ref(), nets.iter().map(|d| d.name.as_str()));
                        let declared = raw.networks.contains_key(n.get_ref().as_str());
                        if !declared {
                            self.r.error_help(
                                span(n),
                                format!("network {:?} is not defined", n.get_ref()),
                                help.unwrap_or_else(|| "define it under [networks]".into()),
                            );
                        }
                    }
                }
            }
            for (n, ip) in &c.ip {
                if !c
                    .networks
                    .get_ref()
                    .iter()
                    .any(|x| x.get_ref() == n.get_ref())
                {
                    self.r.error(
                        span(n),
                        format!(
                            "static address for network {}, which container {} does not join",
                            n.get_ref(),
                            cname.get_ref()
                        ),
                    );
                }
                let _ = ip;
            }
            out.push(overlay && !bridge);
        }
        out
    }

    fn allocate_subnets(&mut self, drafts: &mut [NetDraft], underlay: &Underlay) {
        let mut taken: Vec<(Ipv4Network, String)> = vec![(underlay.subnet, "the underlay".into())];
        for d in drafts.iter() {
            if let Some(s) = d.subnet {
                if let Some((other, who)) = taken.iter().find(|(t, _)| overlaps(*t, s)) {
                    self.r.error(
                        d.span.clone(),
                        format!("subnet {s} of network {} overlaps {other} of {who}", d.name),
                    );
                }
                taken.push((s, format!("network {}", d.name)));
            }
        }
        for d in drafts.iter_mut().filter(|d| d.subnet.is_none()) {
            // Docker's default pools: 10.0.x.0/24 for overlays, 172.18+.0.0/16 for bridges.
            let candidates: Box<dyn Iterator<Item = Ipv4Network>> = if d.overlay {
                Box::new(
                    (0..=255u8).map(|x| Ipv4Network::new(Ipv4Addr::new(10, 0, x, 0), 24).unwrap()),
                )
            } else {
                Box::new(
                    (18..=31u8)
                        .map(|x| Ipv4Network::new(Ipv4Addr::new(172, x, 0, 0), 16).unwrap())
                        .chain(
                            (0..=255u8).step_by(16).map(|x| {
                                Ipv4Network::new(Ipv4Addr::new(192, 168, x, 0), 20).unwrap()
                            }),
                        ),
                )
            };
            let mut picked = None;
            for c in candidates {
                if !taken.iter().any(|(t, _)| overlaps(*t, c)) {
                    picked = Some(c);
                    break;
                }
            }
            match picked {
                Some(s) => {
                    taken.push((s, format!("network {}", d.name)));
                    d.subnet = Some(s);
                }
                None => self.r.error(
                    d.span.clone(),
                    format!(
                        "no free default subnet left for network {}; set subnet",
                        d.name
                    ),
                ),
            }
        }
    }

    fn allocate_vnis(&mut self, drafts: &mut [NetDraft]) {
        let mut used: HashMap<u32, String> = HashMap::new();
        for d in drafts.iter().filter(|d| d.vni.is_some()) {
            let v = d.vni.unwrap();
            if let Some(other) = used.get(&v) {
                self.r.error(
                    d.span.clone(),
                    format!(
                        "network {} uses vni {v}, already used by network {other}",
                        d.name
                    ),
                );
            }
            used.insert(v, d.name.clone());
        }
        let mut next = FIRST_VNI;
        for d in drafts.iter_mut().filter(|d| d.overlay && d.vni.is_none()) {
            while used.contains_key(&next) {
                next += 1;
            }
            used.insert(next, d.name.clone());
            d.vni = Some(next);
        }
    }

    fn containers(
        &mut self,
        raw: &RawLab,
        hosts: &[Host],
        nets: &[Network],
        needs_gw: &[bool],
    ) -> Option<Vec<Container>> {
        let gw_index = nets.iter().position(|n| n.implicit);
        // Address pools: overlays are global (one pool per network), bridges are host-local.
        let mut taken: HashMap<(usize, Option<usize>), HashMap<Ipv4Addr, String>> = HashMap::new();
        let scope = |net: usize, host: usize| {
            (
                net,
                if nets[net].is_overlay() {
                    None
                } else {
                    Some(host)
                },
            )
        };
        // First pass: static addresses, so automatic ones never take them.
        for (cname, c) in &raw.containers {
            let c = c.get_ref();
            let host = hosts.iter().position(|h| h.name == *c.host.get_ref())?;
            for (nname, ip) in &c.ip {
                let Some(ni) = nets.iter().position(|n| n.name == *nname.get_ref()) else {
                    continue;
                };
                let Some(addr) = self.parse_ip(ip, "address") else {
                    continue;
                };
                let net = &nets[ni];
                if !usable(net.subnet, addr) {
                    self.r.error(
                        span(ip),
                        format!(
                            "address {addr} is not a usable address of {} ({})",
                            net.name, net.subnet
                        ),
                    );
                } else if addr == net.gateway {
                    self.r.error(
                        span(ip),
                        format!("address {addr} is the gateway of {}", net.name),
                    );
                } else if let Some(other) = taken
                    .entry(scope(ni, host))
                    .or_default()
                    .insert(addr, cname.get_ref().clone())
                {
                    self.r.error(
                        span(ip),
                        format!("address {addr} on {} is already given to {other}", net.name),
                    );
                }
            }
        }
        if self.r.has_errors() {
            return None;
        }
        let mut out = Vec::new();
        for (ci, (cname, c)) in raw.containers.iter().enumerate() {
            let c = c.get_ref();
            let host = hosts.iter().position(|h| h.name == *c.host.get_ref())?;
            let mut attach: Vec<(usize, Option<Ipv4Addr>)> = c
                .networks
                .get_ref()
                .iter()
                .filter_map(|n| nets.iter().position(|x| x.name == *n.get_ref()))
                .map(|ni| {
                    let ip =
                        c.ip.iter()
                            .find(|(k, _)| *k.get_ref() == nets[ni].name)
                            .and_then(|(_, v)| v.get_ref().parse().ok());
                    (ni, ip)
                })
                .collect();
            if needs_gw[ci] {
                attach.push((gw_index?, None));
            }
            let mut endpoints = Vec::new();
            for (i, (ni, ip)) in attach.into_iter().enumerate() {
                let net = &nets[ni];
                let ip = match ip {
                    Some(ip) => ip,
                    None => {
                        let pool = taken.entry(scope(ni, host)).or_default();
                        let Some(ip) = net
                            .subnet
                            .iter()
                            .skip(1)
                            .take_while(|ip| *ip != net.subnet.broadcast())
                            .find(|ip| *ip != net.gateway && !pool.contains_key(ip))
                        else {
                            self.r.error(
                                span(cname),
                                format!(
                                    "network {} ({}) has no free address left for {}",
                                    net.name,
                                    net.subnet,
                                    cname.get_ref()
                                ),
                            );
                            return None;
                        };
                        pool.insert(ip, cname.get_ref().clone());
                        ip
                    }
                };
                endpoints.push(Endpoint {
                    network: ni,
                    ifname: format!("eth{i}"),
                    address: Ipv4Network::new(ip, net.subnet.prefix()).unwrap(),
                    mac: docker_mac(ip),
                });
            }
            // Docker: the first bridge-driver network (docker_gwbridge included) gives the default route.
            let default_gateway = endpoints
                .iter()
                .find(|e| !nets[e.network].is_overlay())
                .map(|e| nets[e.network].gateway);
            out.push(Container {
                name: cname.get_ref().clone(),
                host,
                endpoints,
                default_gateway,
            });
        }
        Some(out)
    }

    fn limits(&mut self, lab: &Lab, at: &Spanned<RawLabMeta>) {
        let max = std::env::var("NETLAB_MAX_NAMESPACES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_NAMESPACES);
        let overlay_ns: usize = lab
            .networks
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_overlay())
            .map(|(ni, _)| {
                let hosts: HashSet<usize> = lab
                    .containers
                    .iter()
                    .filter(|c| c.endpoints.iter().any(|e| e.network == ni))
                    .map(|c| c.host)
                    .collect();
                hosts.len()
            })
            .sum();
        let total = 1 + lab.hosts.len() + lab.containers.len() + overlay_ns;
        if total > max {
            self.r.error_help(
                span(at),
                format!("this lab needs {total} namespaces; the limit is {max}"),
                "raise it with the environment variable NETLAB_MAX_NAMESPACES if your machine can take it",
            );
        }
    }

    fn checks(&mut self, raw: &RawLab, lab: &Lab) -> Vec<Check> {
        let mut out = Vec::new();
        for check in &raw.checks {
            let ch = check.get_ref();
            let from = ch.from.get_ref();
            let src_container = lab.containers.iter().position(|c| c.name == *from);
            let src_host = lab.hosts.iter().position(|h| h.name == *from);
            if src_container.is_none() && src_host.is_none() {
                let names = lab
                    .containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .chain(lab.hosts.iter().map(|h| h.name.as_str()));
                let help = close_match(from, names)
                    .unwrap_or_else(|| "name a container or a host of this lab".into());
                self.r.error_help(
                    span(&ch.from),
                    format!("check source {from:?} is not a container or host of this lab"),
                    help,
                );
                continue;
            }
            let to = ch.to.get_ref();
            let address = if let Ok(ip) = to.parse::<Ipv4Addr>() {
                Some(ip)
            } else if let Some(t) = lab.containers.iter().find(|c| c.name == *to) {
                let shared = t.endpoints.iter().find(|te| match src_container {
                    Some(s) => {
                        let s = &lab.containers[s];
                        s.endpoints.iter().any(|se| {
                            se.network == te.network
                                && (lab.networks[te.network].is_overlay() || s.host == t.host)
                        })
                    }
                    None => false,
                });
                match shared {
                    Some(e) => Some(e.address.ip()),
                    None => {
                        self.r.error_help(
                            span(&ch.to),
                            format!("{from} shares no network with {to}, so the name {to} does not resolve from it"),
                            format!("write the address instead, e.g. to = \"{}\"", t.endpoints[0].address.ip()),
                        );
                        None
                    }
                }
            } else if let Some(h) = lab.hosts.iter().find(|h| h.name == *to) {
                Some(h.address.ip())
            } else {
                let names = lab
                    .containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .chain(lab.hosts.iter().map(|h| h.name.as_str()));
                let help = close_match(to, names)
                    .unwrap_or_else(|| "name a container or host, or give an IPv4 address".into());
                self.r.error_help(
                    span(&ch.to),
                    format!("check target {to:?} is not a container, host or IPv4 address"),
                    help,
                );
                None
            };
            let expect = match ch.expect.as_ref().map(|e| e.get_ref().as_str()) {
                None | Some("reachable") => Expect::Reachable,
                Some("unreachable") => Expect::Unreachable,
                Some(other) => {
                    self.r.error(
                        span(ch.expect.as_ref().unwrap()),
                        format!("expect must be \"reachable\" or \"unreachable\", not {other:?}"),
                    );
                    continue;
                }
            };
            let count = match &ch.count {
                None => 2,
                Some(c) if (1..=100).contains(c.get_ref()) => *c.get_ref() as u32,
                Some(c) => {
                    self.r.error(
                        span(c),
                        format!("count {} must be between 1 and 100", c.get_ref()),
                    );
                    continue;
                }
            };
            let ttl = match &ch.ttl {
                None => None,
                Some(t) if (1..=255).contains(t.get_ref()) => Some(*t.get_ref() as u8),
                Some(t) => {
                    self.r.error(
                        span(t),
                        format!("ttl {} must be between 1 and 255", t.get_ref()),
                    );
                    continue;
                }
            };
            if ttl.is_some() && expect == Expect::Unreachable {
                self.r.error(
                    span(ch.ttl.as_ref().unwrap()),
                    "a ttl can only be expected from a reachable target",
                );
                continue;
            }
            if let Some(address) = address {
                out.push(Check {
                    from: from.clone(),
                    to: to.clone(),
                    address,
                    expect,
                    count,
                    ttl,
                });
            }
        }
        out
    }
}

fn usable(net: Ipv4Network, ip: Ipv4Addr) -> bool {
    net.contains(ip) && ip != net.network() && ip != net.broadcast()
}

fn overlaps(a: Ipv4Network, b: Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// "did you mean X?" for a misspelt name.
fn close_match<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let best = known.map(|k| (edit_distance(wanted, k), k)).min()?;
    (best.0 <= 2.max(wanted.len() / 3)).then(|| format!("did you mean {:?}?", best.1))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
