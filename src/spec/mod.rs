//! Lab files: parse TOML (`raw`), validate every name, reference and address, and allocate
//! addresses the way Docker's IPAM does, producing a checked [`Lab`]. Pure: no syscalls, no
//! kernel state. Errors point at `file:line:col` and all of them are reported at once.

mod diag;
mod model;
mod raw;

use std::collections::{BTreeMap, HashMap, HashSet};
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
/// Ports a Linux bridge can have (BR_MAX_PORTS is 1024, port numbers 1..1023).
const BRIDGE_MAX_PORTS: usize = 1023;
const MAX_VNI: i64 = (1 << 24) - 1;
/// 802.1Q VLAN ids: 0 and 4095 are reserved.
const MAX_VLAN: u32 = 4094;

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
    // Read at most one byte past the limit: the file may be a pipe or a device (/dev/zero)
    // whose metadata says nothing about its length.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            use std::io::Read;
            f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)
        })
        .map_err(|e| fail(format!("cannot read lab file: {e}")))?;
    if bytes.len() > MAX_FILE_BYTES {
        let size = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| format!("{} bytes", m.len()))
            .unwrap_or_else(|| format!("more than {MAX_FILE_BYTES} bytes"));
        return Err(fail(format!(
            "lab file is {size}; the limit is {MAX_FILE_BYTES} bytes (is this really a lab file?)"
        )));
    }
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
                message: "lab file is not valid UTF-8 (a binary file, or another encoding?)".into(),
                help: Some("save the lab file as UTF-8 text".into()),
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
    if let Some(at) = text.find('\0') {
        let (line, col) = line_col(text, at);
        return Err(err(vec![Diagnostic {
            line,
            col,
            message: "lab file contains a NUL byte (is it a binary file?)".into(),
            help: Some("a lab file is TOML text".into()),
        }]));
    }
    let raw: RawLab = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Err(err(vec![toml_diagnostic(text, &e)])),
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
        _ => Err(err(r.finish())),
    }
}

/// A TOML syntax or shape error as a diagnostic, with a hint for the common ones.
fn toml_diagnostic(text: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e
        .message()
        .trim()
        .replace('\n', " ")
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array");
    let recursion = message.contains("recursion");
    let offset = match e.span() {
        Some(s) => s.start,
        // toml reports over-long dotted keys without a position: find the key ourselves.
        None if recursion => deepest_key(text).unwrap_or(0),
        None => 0,
    };
    let (line, col) = line_col(text, offset);
    let (message, help) = if recursion {
        (
            "tables, arrays or dotted keys are nested too deeply".to_string(),
            Some("a lab file needs at most three levels, like [containers.NAME] ip = { net = \"...\" }".to_string()),
        )
    } else if message == "duplicate key" {
        (
            "duplicate key: this key or table is already defined above".to_string(),
            Some("each table and key may appear once; remove or rename one of them".to_string()),
        )
    } else if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let help = match field {
            "lab" => "start the file with [lab] and name = \"...\"".to_string(),
            "name" => "add name = \"...\" (letters, digits, '_' and '-')".to_string(),
            "driver" => "add driver = \"overlay\" or driver = \"bridge\"".to_string(),
            "host" => "add host = \"NAME\", naming one of the [hosts]".to_string(),
            "networks" => "add networks = [\"NAME\", ...], naming [networks]".to_string(),
            "from" => "add from = \"NAME\", a container or host".to_string(),
            "to" => "add to = \"NAME\" (a container or host) or an IPv4 address".to_string(),
            _ => format!("add {field} = ... to this table"),
        };
        (message.clone(), Some(help))
    } else {
        (message, None)
    };
    Diagnostic {
        line,
        col,
        message,
        help,
    }
}

/// Byte offset of the key with the most dots (a table header or `key = value` line).
fn deepest_key(text: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let rest = &line[indent..];
        let (skip, key) = if let Some(h) = rest.strip_prefix("[[") {
            (2, h.split(']').next().unwrap_or(""))
        } else if let Some(h) = rest.strip_prefix('[') {
            (1, h.split(']').next().unwrap_or(""))
        } else {
            (0, rest.split('=').next().unwrap_or(""))
        };
        let dots = key.matches('.').count();
        if dots > 0 && best.is_none_or(|(d, _)| dots > d) {
            let key_indent = key.len() - key.trim_start().len();
            best = Some((dots, start + indent + skip + key_indent));
        }
        start += line.len();
    }
    best.map(|(_, offset)| offset)
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

/// A host's underlay NIC shares the host namespace with what netlab creates there.
fn host_nic_problem(name: &str) -> Option<String> {
    if let Some(p) = ifname_problem(name) {
        return Some(p);
    }
    if let Some((nic, id)) = split_vlan(name) {
        return Some(format!(
            "{name:?} names VLAN {id} on {nic:?}, not a NIC; list the NIC ({nic:?}) here, and use \"{name}\" as a macvlan parent or in addresses"
        ));
    }
    let taken = ["lo", "vxlan0", GWBRIDGE].contains(&name)
        || name.starts_with("br-")
        || name.starts_with("veth");
    taken.then(|| {
        format!(
            "interface name {name:?} is taken in the host namespace (lo, vxlan0, {GWBRIDGE}, br-*, veth*); \
             pick another NIC name, like \"ens33\" or \"eth0\""
        )
    })
}

/// A host's NICs as written (`nics`, or `nic`, or the underlay's default), first one first.
fn host_nics(h: &RawHost, default_nic: &str) -> Vec<String> {
    match (&h.nics, &h.nic) {
        (Some(n), _) if !n.get_ref().is_empty() => {
            n.get_ref().iter().map(|x| x.get_ref().clone()).collect()
        }
        (_, Some(n)) => vec![n.get_ref().clone()],
        _ => vec![default_nic.to_string()],
    }
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
    /// Where `subnet` / `vni` are written, for errors about them.
    subnet_span: Option<Range<usize>>,
    gateway: Option<(Ipv4Addr, Range<usize>)>,
    vni: Option<u32>,
    vni_span: Option<Range<usize>>,
    icc: bool,
    macvlan: Option<MacvlanDraft>,
}

/// A macvlan network's parent while validating.
struct MacvlanDraft {
    parent: String,
    parent_span: Range<usize>,
    mode: MacvlanMode,
}

impl MacvlanDraft {
    /// The NIC under the parent (`ens38` for `ens38.10`) and the VLAN id, if any.
    fn nic(&self) -> (&str, Option<u16>) {
        match split_vlan(&self.parent) {
            Some((nic, id)) => (nic, Some(id as u16)),
            None => (&self.parent, None),
        }
    }
}

impl Validator<'_, '_> {
    fn lab(&mut self, raw: &RawLab) -> Option<Lab> {
        let name = match self.name_override {
            Some(n) => n.to_string(),
            None => raw.lab.get_ref().name.get_ref().clone(),
        };
        if let Some(p) = name_problem(&name, LAB_NAME_MAX) {
            let s = span(&raw.lab.get_ref().name);
            let what = if self.name_override.is_some() {
                "invalid lab name given with --name (it replaces this one)"
            } else {
                "invalid lab name"
            };
            self.r.error_help(
                s,
                format!("{what}: {p}"),
                "lab names become namespace and /run/netlab names: use letters, digits, '_' and '-' (at most 32)",
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
                let (l, c) = self.r.line_col(prev.start);
                self.r.error_help(
                    span(n),
                    format!(
                        "container {:?} has the same name as the host at line {l}, column {c}",
                        n.get_ref()
                    ),
                    "hosts and containers share one set of names (they name namespaces); rename one",
                );
            }
            if let Some(p) = name_problem(n.get_ref(), NODE_NAME_MAX) {
                self.r
                    .error(span(n), format!("invalid container name: {p}"));
            }
            if n.get_ref() == "underlay" {
                self.r.error(
                    span(n),
                    "\"underlay\" is reserved for the lab's underlay switch; choose another name",
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
                subnet_span: None,
                gateway: None,
                vni: None,
                vni_span: None,
                icc: false,
                macvlan: None,
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
                } else if let Some(m) = &d.macvlan {
                    Driver::Macvlan {
                        parent: m.parent.clone(),
                        mode: m.mode,
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
        let mut hosts = hosts?;
        let containers = self.containers(raw, &hosts, &networks, &overlay_users)?;
        self.macvlan_parents(&drafts, &mut hosts, &containers);
        if self.r.has_errors() {
            return None;
        }
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
        if !s.get_ref().contains('/') {
            let hint = match s.get_ref().parse::<Ipv4Addr>() {
                Ok(ip) => format!("write it with a prefix length, like {ip}/24"),
                Err(_) => "write it like 10.0.0.0/24".to_string(),
            };
            self.r.error_help(
                span(s),
                format!("{what} {:?} has no prefix length", s.get_ref()),
                hint,
            );
            return None;
        }
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
                self.r.error_help(
                    span(s),
                    format!("{what} {} must be between /8 and /30", s.get_ref()),
                    "use a prefix length from /8 to /30, like /24",
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
                let message = format!("{what} {:?} is not an IPv4 address", s.get_ref());
                match s.get_ref().split_once('/') {
                    Some((ip, _)) if ip.parse::<Ipv4Addr>().is_ok() => self.r.error_help(
                        span(s),
                        message,
                        format!(
                            "write the address alone, \"{ip}\": the prefix length is the network's"
                        ),
                    ),
                    _ => self.r.error(span(s), message),
                }
                None
            }
        }
    }

    fn underlay(&mut self, raw: Option<&Spanned<Table<RawUnderlay>>>) -> Option<Underlay> {
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
            if let Some(p) = host_nic_problem(nic.get_ref()) {
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
        let mut explicit_extra: Vec<(Ipv4Addr, String, Range<usize>)> = Vec::new();
        for (name, host) in &raw.hosts {
            if let Some(p) = name_problem(name.get_ref(), NODE_NAME_MAX) {
                self.r.error(span(name), format!("invalid host name: {p}"));
            }
            if name.get_ref() == "underlay" {
                self.r.error(
                    span(name),
                    "\"underlay\" is reserved for the lab's underlay switch; choose another name",
                );
            }
            let h = host.get_ref();
            if let Some(nic) = &h.nic {
                if let Some(p) = host_nic_problem(nic.get_ref()) {
                    self.r.error(span(nic), p);
                }
                if h.nics.is_some() {
                    self.r.error_help(
                        span(nic),
                        "give either nic or nics, not both",
                        "nics = [\"ens33\", \"ens38\"] lists every NIC; the first holds address",
                    );
                }
            }
            if let Some(nics) = &h.nics {
                if nics.get_ref().is_empty() {
                    self.r.error_help(
                        span(nics),
                        format!("host {} has no NIC", name.get_ref()),
                        "list at least one, like nics = [\"ens33\"]",
                    );
                }
                let mut seen = HashSet::new();
                for nic in nics.get_ref() {
                    if let Some(p) = host_nic_problem(nic.get_ref()) {
                        self.r.error(span(nic), p);
                    } else if !seen.insert(nic.get_ref().as_str()) {
                        self.r
                            .error(span(nic), format!("NIC {} is listed twice", nic.get_ref()));
                    }
                }
            }
            let nics = host_nics(h, &default_nic);
            for (dev, a) in &h.addresses {
                self.host_address(name.get_ref(), &nics, dev, a, &mut explicit_extra);
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
                                self.r.error_help(
                                    span(a),
                                    format!(
                                        "host address {} does not match the underlay subnet {}",
                                        a.get_ref(),
                                        u.subnet
                                    ),
                                    format!("write the address alone, \"{ip}\"; hosts take the underlay's prefix length"),
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
        // A host's extra address inside the underlay subnet is taken too.
        for (ip, n, at) in &explicit_extra {
            if let Some((_, _, other)) = explicit.iter().find(|(e, _, _)| e == ip) {
                self.r.error(
                    at.clone(),
                    format!("address {ip} is already the underlay address of host {other}"),
                );
            }
            used.entry(*ip).or_insert_with(|| n.clone());
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
                            self.r.error_help(
                                span(name),
                                format!(
                                    "the underlay subnet {} has no free address left",
                                    underlay.subnet
                                ),
                                "set a larger [underlay] subnet",
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
            let nics = host_nics(h, &default_nic);
            let mut host = Host {
                name: name.get_ref().clone(),
                nic: nics[0].clone(),
                address: Ipv4Network::new(ip, underlay.subnet.prefix()).unwrap(),
                nics,
                vlans: Vec::new(),
                addresses: Vec::new(),
                forwarding: h.forwarding.as_ref().is_some_and(|f| *f.get_ref()),
            };
            for (dev, a) in &h.addresses {
                let (Ok(address), dev) = (a.get_ref().parse::<Ipv4Network>(), dev.get_ref()) else {
                    continue;
                };
                if let Some((nic, id)) = split_vlan(dev) {
                    add_vlan(&mut host, dev, nic, id as u16);
                }
                host.addresses.push(HostAddress {
                    dev: dev.clone(),
                    address,
                });
            }
            hosts.push(host);
        }
        (!self.r.has_errors()).then_some(hosts)
    }

    /// One entry of a host's `addresses`: the device must be one of its NICs or a VLAN of one,
    /// the address must carry its prefix length and be unique among the hosts.
    fn host_address(
        &mut self,
        host: &str,
        nics: &[String],
        dev: &Name,
        a: &Spanned<String>,
        taken: &mut Vec<(Ipv4Addr, String, Range<usize>)>,
    ) {
        let d = dev.get_ref();
        if let Some(p) = ifname_problem(d) {
            self.r.error(span(dev), p);
            return;
        }
        let nic = match split_vlan(d) {
            Some((nic, id)) => {
                if !(1..=MAX_VLAN).contains(&id) {
                    self.r.error_help(
                        span(dev),
                        format!("VLAN id {id} in {d:?} is out of range: 802.1Q VLAN ids are 1 to {MAX_VLAN}"),
                        format!("write NIC.VLAN with a VLAN id from 1 to {MAX_VLAN}, like \"{nic}.10\""),
                    );
                    return;
                }
                nic
            }
            None => d.as_str(),
        };
        if !nics.iter().any(|n| n == nic) {
            self.r.error_help(
                span(dev),
                format!(
                    "interface {d} does not exist on host {host} (its NICs: {})",
                    nics.join(", ")
                ),
                format!("add {nic} to the host's nics, or use one of them"),
            );
            return;
        }
        let text = a.get_ref();
        let parsed = if text.contains('/') {
            text.parse::<Ipv4Network>().ok()
        } else {
            None
        };
        let Some(net) = parsed else {
            self.r.error_help(
                span(a),
                format!("address {text:?} for {d} is not an IPv4 address with a prefix length"),
                "write it like \"172.16.10.254/24\"",
            );
            return;
        };
        if net.prefix() < 8
            || (net.prefix() <= 30 && (net.ip() == net.network() || net.ip() == net.broadcast()))
        {
            self.r.error_help(
                span(a),
                format!("{text} is not a usable interface address"),
                "give a host address inside a subnet from /8 to /32, not its first or last",
            );
            return;
        }
        if let Some((_, other, _)) = taken.iter().find(|(ip, _, _)| *ip == net.ip()) {
            self.r.error(
                span(a),
                format!("address {} is already used by host {other}", net.ip()),
            );
            return;
        }
        taken.push((net.ip(), host.to_string(), span(a)));
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
            let (overlay, macvlan) = match n.driver.get_ref().as_str() {
                "overlay" => (true, false),
                "bridge" => (false, false),
                "macvlan" => (false, true),
                other => {
                    let help = if ["ipvlan", "host", "none"].contains(&other) {
                        format!("driver {other:?} is not supported yet; this version has \"overlay\", \"bridge\" and \"macvlan\"")
                    } else {
                        "known drivers: \"overlay\", \"bridge\", \"macvlan\"".to_string()
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
                            self.r.error_help(
                                span(g),
                                format!("gateway {ip} is not a usable address of subnet {sn}"),
                                format!("pick an address inside {sn}, not its first or last, or leave gateway out"),
                            );
                        }
                    }
                    gateway = Some((ip, span(g)));
                }
            }
            let mut vni = None;
            if let Some(v) = &n.vni {
                if !overlay {
                    self.r.error_help(
                        span(v),
                        "vni only applies to overlay networks",
                        "remove vni, or set driver = \"overlay\"",
                    );
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
                if overlay || macvlan {
                    self.r.error_help(
                        span(icc),
                        "icc only applies to bridge networks",
                        "remove icc, or set driver = \"bridge\"",
                    );
                }
            }
            let macvlan = if macvlan {
                self.macvlan_options(name, n)
            } else {
                for (key, at) in [
                    ("parent", n.parent.as_ref().map(span)),
                    ("mode", n.mode.as_ref().map(span)),
                ] {
                    if let Some(at) = at {
                        self.r.error_help(
                            at,
                            format!("{key} only applies to macvlan networks"),
                            format!("remove {key}, or set driver = \"macvlan\""),
                        );
                    }
                }
                None
            };
            out.push(NetDraft {
                name: name.get_ref().clone(),
                span: span(name),
                overlay,
                subnet,
                subnet_span: n.subnet.as_ref().map(span),
                gateway,
                vni,
                vni_span: n.vni.as_ref().map(span),
                icc: n.icc.as_ref().map(|b| *b.get_ref()).unwrap_or(true),
                macvlan,
            });
        }
        out
    }

    /// A macvlan network's `parent` and `mode`. The parent is checked for its form here, and
    /// against each host's NICs once containers are placed (`macvlan_parents`).
    fn macvlan_options(&mut self, name: &Name, n: &RawNetwork) -> Option<MacvlanDraft> {
        let mode = match &n.mode {
            None => Some(MacvlanMode::Bridge),
            Some(m) => {
                let mode = MacvlanMode::parse(m.get_ref());
                if mode.is_none() {
                    self.r.error_help(
                        span(m),
                        format!("unknown macvlan mode {:?}", m.get_ref()),
                        "use \"bridge\" (the default), \"vepa\", \"private\" or \"passthru\"",
                    );
                }
                mode
            }
        };
        let Some(parent) = &n.parent else {
            self.r.error_help(
                span(name),
                format!("macvlan network {} needs a parent interface", name.get_ref()),
                "add parent = \"ens33\" (a NIC of the hosts), or parent = \"ens38.10\" for VLAN 10 on ens38",
            );
            return None;
        };
        let p = parent.get_ref();
        if let Some(problem) = ifname_problem(p) {
            self.r.error(span(parent), format!("parent: {problem}"));
            return None;
        }
        if let Some((nic, id)) = split_vlan(p) {
            if !(1..=MAX_VLAN).contains(&id) {
                self.r.error_help(
                    span(parent),
                    format!("VLAN id {id} in parent {p:?} is out of range: 802.1Q VLAN ids are 1 to {MAX_VLAN}"),
                    format!("write the parent as NIC.VLAN with a VLAN id from 1 to {MAX_VLAN}, like \"{nic}.10\""),
                );
                return None;
            }
        } else if p.contains('.') {
            self.r.error_help(
                span(parent),
                format!("parent {p:?} is neither a NIC name nor NIC.VLAN"),
                "write a NIC name like \"ens33\", or NIC.VLAN like \"ens38.10\"",
            );
            return None;
        }
        Some(MacvlanDraft {
            parent: p.clone(),
            parent_span: span(parent),
            mode: mode?,
        })
    }

    /// Per host, the macvlan networks that exist there (those with a container on that host):
    /// each parent must be one of the host's NICs or a VLAN of one, and one parent serves one
    /// macvlan network, as Docker enforces. VLAN parents become the host's sub-interfaces.
    fn macvlan_parents(
        &mut self,
        drafts: &[NetDraft],
        hosts: &mut [Host],
        containers: &[Container],
    ) {
        for (hi, host) in hosts.iter_mut().enumerate() {
            let mut on_host: Vec<usize> = Vec::new();
            let mut per_net: HashMap<usize, usize> = HashMap::new();
            for c in containers.iter().filter(|c| c.host == hi) {
                for e in &c.endpoints {
                    if drafts[e.network].macvlan.is_some() {
                        *per_net.entry(e.network).or_default() += 1;
                        if !on_host.contains(&e.network) {
                            on_host.push(e.network);
                        }
                    }
                }
            }
            on_host.sort();
            let mut users: HashMap<&str, usize> = HashMap::new();
            for ni in on_host {
                let d = &drafts[ni];
                let m = d.macvlan.as_ref().unwrap();
                let (nic, vlan) = m.nic();
                if !host.all_nics().iter().any(|n| n == nic) {
                    let nics = host.all_nics().join(", ");
                    let mut with = host.all_nics();
                    with.push(nic.to_string());
                    self.r.error_help(
                        m.parent_span.clone(),
                        format!(
                            "parent interface {} of network {} does not exist on host {} (its NICs: {nics})",
                            m.parent, d.name, host.name
                        ),
                        format!(
                            "add the NIC to the host: [hosts.{}] nics = {:?}",
                            host.name, with
                        ),
                    );
                    continue;
                }
                if let Some(&other) = users.get(m.parent.as_str()) {
                    self.r.error_help(
                        m.parent_span.clone(),
                        format!(
                            "network {} is already using parent interface {} on host {}, so network {} cannot",
                            drafts[other].name, m.parent, host.name, d.name
                        ),
                        format!(
                            "a parent serves one macvlan network per host (as in Docker): give {} another NIC, or a VLAN sub-interface like \"{nic}.20\"",
                            d.name
                        ),
                    );
                    continue;
                }
                users.insert(&m.parent, ni);
                if m.mode == MacvlanMode::Passthru && per_net.get(&ni).copied().unwrap_or(0) > 1 {
                    self.r.error_help(
                        m.parent_span.clone(),
                        format!(
                            "network {} is in passthru mode, which gives the parent to one container, but host {} has {} containers on it",
                            d.name, host.name, per_net[&ni]
                        ),
                        "use mode = \"bridge\", or one container per host",
                    );
                }
                if let Some(id) = vlan {
                    add_vlan(host, &m.parent, nic, id);
                }
            }
        }
    }

    /// Checks container references; returns, per container, whether it needs docker_gwbridge.
    fn containers_pre(&mut self, raw: &RawLab, nets: &[NetDraft]) -> Vec<bool> {
        let mut out = Vec::new();
        let net_at: HashMap<&str, usize> = nets
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.as_str(), i))
            .collect();
        for (cname, c) in &raw.containers {
            let c = c.get_ref();
            if !raw.hosts.contains_key(c.host.get_ref().as_str()) {
                let help = (!self.r.is_full())
                    .then(|| {
                        close_match(
                            c.host.get_ref(),
                            raw.hosts.keys().map(|k| k.get_ref().as_str()),
                        )
                    })
                    .flatten();
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
                self.r.error_help(
                    span(&c.networks),
                    format!("container {} joins no network", cname.get_ref()),
                    "name at least one network, like networks = [\"NAME\"]",
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
                match net_at.get(n.get_ref().as_str()).map(|&i| &nets[i]) {
                    Some(d) if d.overlay => overlay = true,
                    Some(_) => bridge = true,
                    None => {
                        let help = (!self.r.is_full())
                            .then(|| close_match(n.get_ref(), nets.iter().map(|d| d.name.as_str())))
                            .flatten();
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
                    self.r.error_help(
                        span(n),
                        format!(
                            "static address for network {}, which container {} does not join",
                            n.get_ref(),
                            cname.get_ref()
                        ),
                        format!("add {} to networks, or remove it from ip", n.get_ref()),
                    );
                }
                let _ = ip;
            }
            out.push(overlay && !bridge);
        }
        out
    }

    fn allocate_subnets(&mut self, drafts: &mut [NetDraft], underlay: &Underlay) {
        let mut taken = Taken::default();
        taken.insert(underlay.subnet, "the underlay".into());
        // Subnets of networks alone: a macvlan network on a plain NIC may share the subnet of
        // the segment that NIC is on (that is what macvlan is for), but not another network's.
        let mut networks_only = Taken::default();
        for d in drafts.iter() {
            if let Some(s) = d.subnet {
                let on_nic = d
                    .macvlan
                    .as_ref()
                    .is_some_and(|m| split_vlan(&m.parent).is_none());
                let clash = if on_nic {
                    networks_only.find(s)
                } else {
                    taken.find(s).or_else(|| networks_only.find(s))
                }
                .map(|(n, who)| (n, who.to_string()));
                networks_only.insert(s, format!("network {}", d.name));
                if let Some((other, who)) = clash {
                    self.r.error_help(
                        d.subnet_span.clone().unwrap_or(d.span.clone()),
                        format!("subnet {s} of network {} overlaps {other} of {who}", d.name),
                        "give each network its own address range, or leave subnet out to get a free one",
                    );
                }
                taken.insert(s, format!("network {}", d.name));
            }
        }
        // Docker's default pools: 10.0.x.0/24 for overlays, 172.18+.0.0/16 then 192.168.x.0/20
        // for bridges. A candidate once skipped stays taken, so each pool's search resumes
        // where the last one stopped.
        let overlay_pool: Vec<Ipv4Network> = (0..=255u8)
            .map(|x| Ipv4Network::new(Ipv4Addr::new(10, 0, x, 0), 24).unwrap())
            .collect();
        let bridge_pool: Vec<Ipv4Network> = (18..=31u8)
            .map(|x| Ipv4Network::new(Ipv4Addr::new(172, x, 0, 0), 16).unwrap())
            .chain(
                (0..=255u8)
                    .step_by(16)
                    .map(|x| Ipv4Network::new(Ipv4Addr::new(192, 168, x, 0), 20).unwrap()),
            )
            .collect();
        let mut next = [0usize; 2];
        for d in drafts.iter_mut().filter(|d| d.subnet.is_none()) {
            let (pool, at) = if d.overlay {
                (&overlay_pool, &mut next[0])
            } else {
                (&bridge_pool, &mut next[1])
            };
            while *at < pool.len()
                && (taken.find(pool[*at]).is_some() || networks_only.find(pool[*at]).is_some())
            {
                *at += 1;
            }
            match pool.get(*at) {
                Some(&s) => {
                    taken.insert(s, format!("network {}", d.name));
                    networks_only.insert(s, format!("network {}", d.name));
                    d.subnet = Some(s);
                }
                None => {
                    let (first, last) = (pool[0], pool[pool.len() - 1]);
                    self.r.error_help(
                        d.span.clone(),
                        format!(
                            "no free default subnet left for network {}: each of {first} ... {last} overlaps a subnet in use",
                            d.name
                        ),
                        "set subnet = \"...\" on this network",
                    )
                }
            }
        }
    }

    fn allocate_vnis(&mut self, drafts: &mut [NetDraft]) {
        let mut used: HashMap<u32, String> = HashMap::new();
        for d in drafts.iter().filter(|d| d.vni.is_some()) {
            let v = d.vni.unwrap();
            if let Some(other) = used.get(&v) {
                self.r.error_help(
                    d.vni_span.clone().unwrap_or(d.span.clone()),
                    format!(
                        "network {} uses vni {v}, already used by network {other}",
                        d.name
                    ),
                    "give each overlay network its own vni, or leave vni out to get a free one",
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
        let net_at: HashMap<&str, usize> = nets
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let host_at: HashMap<&str, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        let mut ports: HashMap<(usize, usize), usize> = HashMap::new();
        // Address pools: overlays are global (one pool per network), bridges are host-local.
        let mut taken: HashMap<(usize, Option<usize>), HashMap<Ipv4Addr, String>> = HashMap::new();
        let mut next_free: HashMap<(usize, Option<usize>), u64> = HashMap::new();
        // Macvlan pools are lab-wide too: Docker's are per host, but the hosts share one segment,
        // so two containers with one address would clash on the wire.
        let scope = |net: usize, host: usize| {
            (
                net,
                if nets[net].spans_hosts() {
                    None
                } else {
                    Some(host)
                },
            )
        };
        // A macvlan network shares its segment with the hosts: their addresses are taken.
        for (ni, net) in nets.iter().enumerate().filter(|(_, n)| n.is_macvlan()) {
            let pool = taken.entry((ni, None)).or_default();
            for h in hosts {
                let all = std::iter::once(h.address.ip())
                    .chain(h.addresses.iter().map(|a| a.address.ip()));
                for ip in all.filter(|ip| net.subnet.contains(*ip) && *ip != net.gateway) {
                    pool.insert(ip, format!("host {}", h.name));
                }
            }
        }
        // First pass: static addresses, so automatic ones never take them.
        for (cname, c) in &raw.containers {
            let c = c.get_ref();
            let host = *host_at.get(c.host.get_ref().as_str())?;
            for (nname, ip) in &c.ip {
                let Some(&ni) = net_at.get(nname.get_ref().as_str()) else {
                    continue;
                };
                let Some(addr) = self.parse_ip(ip, "address") else {
                    continue;
                };
                let net = &nets[ni];
                if !usable(net.subnet, addr) {
                    self.r.error_help(
                        span(ip),
                        format!(
                            "address {addr} is not a usable address of {} ({})",
                            net.name, net.subnet
                        ),
                        format!(
                            "pick an address inside {}, not its first or last",
                            net.subnet
                        ),
                    );
                } else if addr == net.gateway {
                    self.r.error_help(
                        span(ip),
                        format!("address {addr} is the gateway of {}", net.name),
                        "pick another address, or leave this one out to get a free one",
                    );
                } else if let Some(other) = taken
                    .entry(scope(ni, host))
                    .or_default()
                    .insert(addr, cname.get_ref().clone())
                {
                    self.r.error_help(
                        span(ip),
                        format!("address {addr} on {} is already given to {other}", net.name),
                        "give each container its own address, or leave ip out to get a free one",
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
            let host = *host_at.get(c.host.get_ref().as_str())?;
            let mut attach: Vec<(usize, Option<Ipv4Addr>)> = c
                .networks
                .get_ref()
                .iter()
                .filter_map(|n| net_at.get(n.get_ref().as_str()).copied())
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
                        // Lowest free address. Nothing is ever freed, so each pool's search
                        // resumes where its last one stopped: linear, not quadratic, in a big lab.
                        let key = scope(ni, host);
                        let pool = taken.entry(key).or_default();
                        let from = next_free.entry(key).or_insert(1);
                        let base = u32::from(net.subnet.network()) as u64;
                        let last = (1u64 << (32 - net.subnet.prefix())) - 1; // broadcast
                        let found = (*from..last)
                            .map(|k| (k, Ipv4Addr::from((base + k) as u32)))
                            .find(|(_, ip)| *ip != net.gateway && !pool.contains_key(ip));
                        if let Some((k, _)) = found {
                            *from = k + 1;
                        }
                        let Some((_, ip)) = found else {
                            self.r.error_help(
                                span(cname),
                                format!(
                                    "network {} ({}) has no free address left for {}",
                                    net.name,
                                    net.subnet,
                                    cname.get_ref()
                                ),
                                "give the network a larger subnet",
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
            // A Linux bridge has at most 1023 ports (BR_MAX_PORTS - 1); the kernel would refuse the
            // next veth with EXFULL halfway through `up`. An overlay's br0 also holds vxlan0.
            for e in &endpoints {
                let limit = match nets[e.network].driver {
                    Driver::Bridge { .. } => BRIDGE_MAX_PORTS,
                    Driver::Overlay { .. } => BRIDGE_MAX_PORTS - 1,
                    _ => continue,
                };
                let n = ports.entry((e.network, host)).or_insert(0);
                *n += 1;
                if *n == limit + 1 {
                    self.r.error_help(
                        span(cname),
                        format!(
                            "network {} would have more than {limit} containers on host {}: a Linux bridge has at most {BRIDGE_MAX_PORTS} ports",
                            nets[e.network].name, hosts[host].name
                        ),
                        "spread the containers over more hosts, or over more networks",
                    );
                }
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

    fn limits(&mut self, lab: &Lab, at: &Spanned<Table<RawLabMeta>>) {
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
        let container_at: HashMap<&str, usize> = lab
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let host_at: HashMap<&str, usize> = lab
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        let names = || {
            lab.containers
                .iter()
                .map(|c| c.name.as_str())
                .chain(lab.hosts.iter().map(|h| h.name.as_str()))
        };
        for check in &raw.checks {
            let ch = check.get_ref();
            let from = ch.from.get_ref();
            let src_container = container_at.get(from.as_str()).copied();
            let src_host = host_at.get(from.as_str()).copied();
            if src_container.is_none() && src_host.is_none() {
                // Suggestions cost an edit distance per name: skip them once nobody will read them.
                let help = (!self.r.is_full())
                    .then(|| close_match(from, names()))
                    .flatten()
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
                if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                    self.r.error_help(
                        span(&ch.to),
                        format!("check target {ip} is not a unicast address; a ping to it proves nothing"),
                        "give the address of one container, host or gateway",
                    );
                    None
                } else {
                    Some(ip)
                }
            } else if let Some(t) = container_at.get(to.as_str()).map(|&i| &lab.containers[i]) {
                let shared = t.endpoints.iter().find(|te| match src_container {
                    Some(s) => {
                        let s = &lab.containers[s];
                        s.endpoints.iter().any(|se| {
                            se.network == te.network
                                && (lab.networks[te.network].spans_hosts() || s.host == t.host)
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
            } else if let Some(h) = host_at.get(to.as_str()).map(|&i| &lab.hosts[i]) {
                Some(h.address.ip())
            } else {
                let help = (!self.r.is_full())
                    .then(|| close_match(to, names()))
                    .flatten()
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
                self.r.error_help(
                    span(ch.ttl.as_ref().unwrap()),
                    "a ttl can only be expected from a reachable target",
                    "remove ttl, or expect = \"reachable\"",
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

/// Record the sub-interface `name` (VLAN `id` on `nic`) on a host, once.
fn add_vlan(host: &mut Host, name: &str, nic: &str, id: u16) {
    if !host.vlans.iter().any(|v| v.name == name) {
        host.vlans.push(Vlan {
            name: name.to_string(),
            nic: nic.to_string(),
            id,
        });
    }
}

fn usable(net: Ipv4Network, ip: Ipv4Addr) -> bool {
    net.contains(ip) && ip != net.network() && ip != net.broadcast()
}

/// Subnets in use, kept disjoint and ordered by first address, so finding an overlap is a
/// lookup rather than a scan (a lab file may declare thousands of networks).
#[derive(Default)]
struct Taken(BTreeMap<u32, (u32, Ipv4Network, String)>);

impl Taken {
    /// A subnet in use that overlaps `n`, and who uses it.
    fn find(&self, n: Ipv4Network) -> Option<(Ipv4Network, &str)> {
        let (start, end) = (u32::from(n.network()), u32::from(n.broadcast()));
        let before = self
            .0
            .range(..=start)
            .next_back()
            .filter(|(_, v)| v.0 >= start);
        let inside = self.0.range(start..=end).next();
        before
            .or(inside)
            .map(|(_, (_, net, who))| (*net, who.as_str()))
    }

    /// Records `n` unless it overlaps a subnet already recorded (that is an error elsewhere).
    fn insert(&mut self, n: Ipv4Network, who: String) {
        if self.find(n).is_none() {
            let end = u32::from(n.broadcast());
            self.0.insert(u32::from(n.network()), (end, n, who));
        }
    }
}

/// "did you mean X?" for a misspelt name.
pub fn close_match<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
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
