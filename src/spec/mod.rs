//! Lab files: parse TOML (`raw`), validate every name, reference and address, and allocate
//! addresses the way Docker's IPAM does, producing a checked [`Lab`]. Pure: no syscalls, no
//! kernel state. Errors point at `file:line:col` and all of them are reported at once.

pub mod change;
mod diag;
mod ipv6;
mod model;
mod outside;
mod raw;
pub mod scenario;
pub mod schema;
mod service;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;

use ipnetwork::Ipv4Network;
use serde_spanned::Spanned;
use sha2::{Digest, Sha256};

pub use diag::{line_col, Diagnostic, SpecError};
pub use model::*;

pub(crate) use diag::Reporter;
use raw::*;
pub(crate) use raw::{Name, RawNetwork, RawParent};

use crate::driver::{self, AddressPool, NetworkDriver};

/// Lab files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Refuse labs that would create more namespaces than this (override: NETLAB_MAX_NAMESPACES).
pub const DEFAULT_MAX_NAMESPACES: usize = 4096;
const NODE_NAME_MAX: usize = 48;
const LAB_NAME_MAX: usize = 32;
const GWBRIDGE: &str = "docker_gwbridge";
/// Ports a Linux bridge can have (BR_MAX_PORTS is 1024, port numbers 1..1023).
pub(crate) const BRIDGE_MAX_PORTS: usize = 1023;
/// 802.1Q VLAN ids: 0 and 4095 are reserved.
pub(crate) const MAX_VLAN: u32 = 4094;
/// Docker's network drivers (seed 002's overview), some not built by this version.
const DOCKER_DRIVERS: [&str; 6] = ["bridge", "overlay", "macvlan", "ipvlan", "host", "none"];

/// Read and validate a lab file. `name_override` replaces `[lab] name` (to run two copies).
pub fn load(path: &Path, name_override: Option<&str>) -> Result<Lab, SpecError> {
    let shown = path.display().to_string();
    let bytes = read_lab_file(path).map_err(|d| SpecError {
        file: shown.clone(),
        diagnostics: vec![d],
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        SpecError {
            file: shown.clone(),
            diagnostics: vec![Diagnostic::at(
                line,
                col,
                "lab file is not valid UTF-8 (a binary file, or another encoding?)",
            )
            .with_help("save the lab file as UTF-8 text")],
        }
    })?;
    let source = std::fs::canonicalize(path).unwrap_or(path.to_path_buf());
    parse(&shown, &source.display().to_string(), &text, name_override)
}

/// The bytes of a lab file, which must be a regular file of at most [`MAX_FILE_BYTES`]. A FIFO
/// would block the read until some writer came (forever, for `validate`), and a directory,
/// device or socket is no lab file either: they are refused without being read.
fn read_lab_file(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let cannot_read = |e: std::io::Error| {
        Diagnostic::whole_file(format!("cannot read lab file: {}", io_reason(&e)))
    };
    // Look before opening: opening a device can have effects of its own (a tape rewinds, a
    // terminal becomes the controlling one).
    let meta = std::fs::metadata(path).map_err(cannot_read)?;
    not_a_lab_file(&meta)?;
    // Look again at what was opened, since the path may have changed in between; O_NONBLOCK
    // so that a FIFO put there meanwhile cannot block the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot_read)?;
    let meta = file.metadata().map_err(cannot_read)?;
    not_a_lab_file(&meta)?;
    let too_big = |size: String| {
        Diagnostic::whole_file(format!(
            "lab file is {size}; the limit is {MAX_FILE_BYTES} bytes (is this really a lab file?)"
        ))
    };
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_big(format!("{} bytes", meta.len())));
    }
    // At most one byte past the limit: the file may grow while it is read.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big(format!("more than {MAX_FILE_BYTES} bytes")));
    }
    Ok(bytes)
}

/// Refuses anything but a regular file, saying what it is.
fn not_a_lab_file(meta: &std::fs::Metadata) -> Result<(), Diagnostic> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(Diagnostic::whole_file(format!("is {kind}, not a lab file"))
        .with_help("give the path of a lab file, a regular TOML file like labs/overlay.toml"))
}

/// An I/O error as the C library says it, without Rust's " (os error N)".
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// Parse and validate lab-file text. `file` is used in messages, `source` is recorded (and
/// the files of scenarios' `apply` steps are found relative to its directory).
pub fn parse(
    file: &str,
    source: &str,
    text: &str,
    name_override: Option<&str>,
) -> Result<Lab, SpecError> {
    parse_nested(file, source, text, name_override, 0)
}

/// [`parse`] of a file that another file's `apply` step names, `depth` files deep.
fn parse_nested(
    file: &str,
    source: &str,
    text: &str,
    name_override: Option<&str>,
    depth: usize,
) -> Result<Lab, SpecError> {
    let err = |diagnostics| SpecError {
        file: file.to_string(),
        diagnostics,
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(err(vec![Diagnostic::whole_file(format!(
            "lab file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
            text.len()
        ))]));
    }
    if let Some(at) = text.find('\0') {
        let (line, col) = line_col(text, at);
        return Err(err(vec![Diagnostic::at(
            line,
            col,
            "lab file contains a NUL byte (is it a binary file?)",
        )
        .with_help("a lab file is TOML text")]));
    }
    let (mut raw, shape_errors) = match RawLab::read(text) {
        Ok(read) => read,
        Err(e) => {
            let (span, message, help) = toml_problem(text, &e);
            let d = Diagnostic::in_text(text, span, message);
            return Err(err(vec![Diagnostic { help, ..d }]));
        }
    };
    let mut r = Reporter::new(text);
    for e in &shape_errors {
        let (span, message, help) = toml_problem(text, e);
        r.report(span, message, help);
    }
    let lab = Validator {
        r: &mut r,
        source,
        name_override,
        vlans: HashMap::new(),
        depth,
        outside_gateway: None,
    }
    .lab(&mut raw);
    match lab {
        Some(lab) if !r.has_errors() => Ok(lab),
        _ => Err(err(r.finish())),
    }
}

/// A TOML syntax or shape error: where it is, the message and a hint for the common ones.
fn toml_problem(text: &str, e: &ShapeError) -> (Range<usize>, String, Option<String>) {
    let message = e
        .message
        .trim()
        .replace('\n', " ")
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array")
        .replace(", expected nothing", "");
    let recursion = message.contains("recursion");
    let mut span = match &e.span {
        Some(s) => s.clone(),
        // toml reports over-long dotted keys without a position: find the key ourselves.
        None if recursion => deepest_key(text).map_or(0..0, |o| o..o),
        None => 0..0,
    };
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
        match syntax_hint(text, &span, &message) {
            Some((help, at)) => {
                // toml points where its reading failed (inside `10.0.0.0/24`, after `10.0`);
                // the mistake is the whole value.
                span = at.unwrap_or(span);
                (message, Some(help))
            }
            None => (message, None),
        }
    };
    (span, message, help)
}

/// netlab's hint for the TOML mistakes people make in lab files, below toml's own message:
/// YAML's `key: value`, an unquoted address or word, a quoted number, an array left open.
fn syntax_hint(
    text: &str,
    span: &Range<usize>,
    message: &str,
) -> Option<(String, Option<Range<usize>>)> {
    let at = span.start.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[line_start..line_end];
    let key = |l: &str| l.split(['=', ':']).next().unwrap_or("").trim().to_string();
    // The bare value after `=` on this line, up to a comment, and where it is in the text.
    let bare = || {
        let eq = line.find('=')?;
        let v = line[eq + 1..].split('#').next().unwrap_or("");
        let v = v.trim().trim_end_matches([',', ']', '}']).trim();
        let start = line_start + eq + 1 + line[eq + 1..].find(v)?;
        (!v.is_empty()).then(|| (v.to_string(), start..start + v.len()))
    };
    let looks_like_address = |v: &str| {
        v.parse::<Ipv4Network>().is_ok()
            || v.parse::<std::net::IpAddr>().is_ok()
            || (v.contains(':')
                && v.chars()
                    .all(|c| c.is_ascii_hexdigit() || ":/.".contains(c)))
    };
    if message.starts_with("key with no value") && line.contains(':') && !line.contains('=') {
        let (k, v) = line.split_once(':')?;
        return Some((
            format!(
                "TOML assigns with `=`, not `:` (YAML): {} = {}",
                k.trim(),
                v.trim()
            ),
            None,
        ));
    }
    if message.starts_with("string values must be quoted") {
        let (v, at) = bare()?;
        let what = if looks_like_address(&v) {
            "addresses are strings"
        } else {
            "words are strings"
        };
        return Some((format!("{what}: {} = \"{v}\"", key(line)), Some(at)));
    }
    if message.starts_with("invalid float")
        || message.starts_with("invalid integer")
        || message.starts_with("invalid number")
        || message.contains("date")
        || message.contains("time")
    {
        let (v, at) = bare()?;
        if looks_like_address(&v) {
            return Some((
                format!("addresses are strings: {} = \"{v}\"", key(line)),
                Some(at),
            ));
        }
        return None;
    }
    if let Some(rest) = message.strip_prefix("invalid type: string ") {
        let quoted = rest.split(", expected").next()?.trim_matches('"');
        if (rest.contains("expected i") || rest.contains("expected u"))
            && quoted.parse::<i64>().is_ok()
        {
            return Some((
                format!("numbers are written without quotes: {quoted}"),
                None,
            ));
        }
        return None;
    }
    if let Some(rest) = message.strip_prefix("invalid type: integer `") {
        let n = rest.split('`').next()?;
        if rest.contains("expected a string") {
            return Some((format!("quote it: \"{n}\""), None));
        }
        return None;
    }
    if message.starts_with("missing comma between array elements") {
        // The array opened above and not closed: name its line.
        let before = &text[..line_start];
        let (mut depth, mut opened) = (0i32, None);
        for (i, l) in before.lines().enumerate() {
            let code = l.split('#').next().unwrap_or("");
            if code.trim_start().starts_with('[') && !code.contains('=') {
                (depth, opened) = (0, None);
                continue;
            }
            for c in code.chars() {
                match c {
                    '[' => {
                        if depth == 0 {
                            opened = Some(i + 1);
                        }
                        depth += 1
                    }
                    ']' => depth -= 1,
                    _ => {}
                }
            }
        }
        if let (true, Some(l)) = (depth > 0, opened) {
            return Some((
                format!(
                    "the array opened on line {l} is not closed: end it with `]` (or add a `,` if it goes on)"
                ),
                None,
            ));
        }
    }
    None
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
/// Docker's default address pools for bridge networks: 172.18+.0.0/16, then 192.168.x.0/20.
pub(crate) fn bridge_pool() -> Vec<Ipv4Network> {
    (18..=31u8)
        .map(|x| Ipv4Network::new(Ipv4Addr::new(172, x, 0, 0), 16).unwrap())
        .chain(
            (0..=255u8)
                .step_by(16)
                .map(|x| Ipv4Network::new(Ipv4Addr::new(192, 168, x, 0), 20).unwrap()),
        )
        .collect()
}

/// Docker's rule for a container's default route: the gateway of its first network that is
/// not an overlay nor internal (a bridge, docker_gwbridge, a macvlan's router, an ipvlan L3
/// network's device), at `up` and at run time.
pub(crate) fn default_gateway_of(nets: &[Network], endpoints: &[Endpoint]) -> Option<Ipv4Addr> {
    endpoints
        .iter()
        .find(|e| {
            let n = &nets[e.network];
            n.gives_default_route()
                && n.driver().default_route(&n.driver) != driver::DefaultRoute::None
        })
        .map(|e| nets[e.network].pool_of(e.address.ip()).1)
}

/// libnetwork's needDefaultGW, at run time: a container needs a docker_gwbridge leg when one of
/// its networks (not internal) gives no default route (an overlay) and none gives one.
pub(crate) fn needs_gwbridge(nets: &[Network], endpoints: &[Endpoint]) -> bool {
    let joined: Vec<&Network> = endpoints
        .iter()
        .map(|e| &nets[e.network])
        .filter(|n| !n.internal && !n.implicit)
        .collect();
    joined.iter().any(|n| !n.gives_default_route())
        && !joined.iter().any(|n| n.gives_default_route())
}

pub fn network_id(lab: &str, network: &str) -> String {
    let digest = Sha256::digest(format!("netlab/{lab}/{network}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn span<T>(s: &Spanned<T>) -> Range<usize> {
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
pub(crate) fn ifname_problem(name: &str) -> Option<String> {
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

pub(crate) struct Validator<'r, 'a> {
    pub(crate) r: &'r mut Reporter<'a>,
    source: &'r str,
    name_override: Option<&'r str>,
    /// Per host (by index), the 802.1Q sub-interfaces named so far, by NIC and VLAN id.
    vlans: HashMap<usize, HashMap<(String, u16), VlanSpelling>>,
    /// How many `apply` steps deep this file is (0: the file given).
    depth: usize,
    /// The outside's address on the underlay, once checked: no host or container takes it.
    outside_gateway: Option<Ipv4Addr>,
}

/// How a sub-interface was written, where and as what: `ens38.10` and `ens38.010` are both
/// VLAN 10 on ens38, and a NIC can have only one sub-interface per VLAN id.
pub(crate) struct VlanSpelling {
    pub name: String,
    pub at: Range<usize>,
    /// "in addresses", "parent of network n1".
    pub role: String,
}

/// A network while validating: its subnet and its driver's settings.
pub(crate) struct NetDraft {
    pub name: String,
    pub span: Range<usize>,
    pub driver: &'static dyn NetworkDriver,
    pub options: driver::Options,
    /// `None` after allocation: the subnet written was refused, or no default one was free;
    /// addresses on this network are not checked then (they would all look wrong).
    subnet: Option<Ipv4Network>,
    /// Where `subnet` is written, for errors about it.
    subnet_span: Option<Range<usize>>,
    /// A subnet was written but refused: none is allocated in its place.
    subnet_refused: bool,
    gateway: Option<(Ipv4Addr, Range<usize>)>,
    /// The subnets after the first (`subnet = [...]`, macvlan and ipvlan), with their gateways.
    pools: Vec<DraftPool>,
    internal: bool,
    /// Docker's com.docker.network.driver.mtu, checked.
    mtu: Option<u32>,
    /// The id the lab file gives, checked.
    id: Option<String>,
    /// The hosts the lab file creates it on (`hosts = [...]`), as written, each a defined host.
    pub hosts: Vec<Name>,
    /// Its id, the lab file's or derived, once every network has one (empty before).
    pub settled_id: String,
    /// Swarm's ingress network (`ingress = true`, overlay only).
    pub ingress: bool,
}

/// Why container `container` on host `host` cannot be on network `net`, if the network's
/// `hosts` list leaves that host out (at `up` and at a run-time connect alike).
pub(crate) fn not_created_on(
    container: &str,
    host: usize,
    net: &Network,
    hosts: &[Host],
) -> Option<String> {
    if net.hosts.is_empty() || net.hosts.contains(&host) {
        return None;
    }
    let listed: Vec<&str> = net.hosts.iter().map(|&h| hosts[h].name.as_str()).collect();
    Some(format!(
        "container {container} is on host {}, where network {} is not created: its hosts are {}",
        hosts[host].name,
        net.name,
        listed.join(", ")
    ))
}

/// Swarm's ingress network's default subnet (seed 004: 10.255.0.0/16, gateway 10.255.0.1).
const INGRESS_SUBNET: Ipv4Network = match Ipv4Network::new_checked(Ipv4Addr::new(10, 255, 0, 0), 16)
{
    Some(n) => n,
    None => panic!(),
};

/// A subnet of a network after its first, as written and checked.
pub(crate) struct DraftPool {
    subnet: Ipv4Network,
    span: Range<usize>,
    gateway: Option<Ipv4Addr>,
}

/// A stand-in subnet for a network whose own was refused, so that the rest of the lab can
/// still be checked; such a lab is never returned.
const UNKNOWN_SUBNET: Ipv4Network = match Ipv4Network::new_checked(Ipv4Addr::UNSPECIFIED, 24) {
    Some(n) => n,
    None => panic!(),
};

/// The containers as placed, and the names of those whose placement is incomplete because of
/// an error reported elsewhere (unknown host, network not defined or refused).
struct Placed {
    containers: Vec<Container>,
    partial: HashSet<String>,
    services: Vec<Service>,
}

/// Each service's virtual IPs, allocated when it is created, before its tasks (seed 004:
/// 10.255.0.4 on ingress, after the nodes' ingress_sbox; 10.0.0.2 on uber-svc).
fn service_vips(
    services: &[service::Draft],
    nets: &[Network],
    net_at: &HashMap<&str, usize>,
    unsettled: &HashSet<usize>,
    taken: &mut HashMap<(usize, Option<usize>), HashMap<Ipv4Addr, String>>,
) -> Vec<Vec<(usize, Ipv4Addr)>> {
    let mut vips = Vec::new();
    for s in services {
        let mut v = Vec::new();
        for n in &s.networks {
            let Some(&ni) = net_at.get(n.as_str()) else {
                continue;
            };
            if unsettled.contains(&ni) {
                continue;
            }
            let pool = taken.entry((ni, None)).or_default();
            if let Some(ip) = first_free(&nets[ni], pool) {
                pool.insert(ip, format!("service {}'s virtual IP", s.name));
                v.push((ni, ip));
            }
        }
        vips.push(v);
    }
    vips
}

/// A published port's `PORTS[/tcp|udp]`: the ports and the protocol (TCP when none is given;
/// None for another one), as `docker run -p` and `docker service create -p` read it.
pub(crate) fn split_proto(text: &str) -> (&str, Option<crate::kernel::nft::L4Proto>) {
    use crate::kernel::nft::L4Proto;
    match text.rsplit_once('/') {
        Some((a, "tcp")) => (a, Some(L4Proto::Tcp)),
        Some((a, "udp")) => (a, Some(L4Proto::Udp)),
        Some((a, _)) => (a, None),
        None => (text, Some(L4Proto::Tcp)),
    }
}

/// The lowest address of `net`'s subnet that is neither its gateway nor in `pool`.
fn first_free(net: &Network, pool: &HashMap<Ipv4Addr, String>) -> Option<Ipv4Addr> {
    let base = u32::from(net.subnet.network());
    let last = u32::from(net.subnet.broadcast());
    (base + 1..last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != net.gateway && !pool.contains_key(ip))
}

impl Validator<'_, '_> {
    /// Every check runs whatever the others found, so that one run reports every problem;
    /// what is built on a refused value gets a stand-in, and checks that would only repeat
    /// an error in other words skip what the error touches.
    fn lab(&mut self, raw: &mut RawLab) -> Option<Lab> {
        let name = match (self.name_override, raw.lab.as_ref()) {
            (Some(n), _) => n.to_string(),
            (None, Some(m)) => m.get_ref().name.get_ref().clone(),
            // [lab] is missing or unreadable (reported): no name to check.
            (None, None) => String::new(),
        };
        // The services' tasks are containers from here on (their ids derive from the name).
        let services = self.services(raw, &name);
        let raw: &RawLab = raw;
        let meta = raw.lab.as_ref().map(|l| l.get_ref());
        let lab_span = raw.lab.as_ref().map(span).unwrap_or(0..0);
        let lab_name_problem = (self.name_override.is_some() || meta.is_some())
            .then(|| name_problem(&name, LAB_NAME_MAX))
            .flatten();
        if let Some(p) = lab_name_problem {
            let s = meta.map(|m| span(&m.name)).unwrap_or(0..0);
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

        let (underlay, underlay_known) = self.underlay(raw);
        let outside = self.outside(raw, &underlay, underlay_known);
        self.outside_gateway = outside.as_ref().map(|o| o.gateway.ip());
        let mut hosts = self.hosts(raw, &underlay, underlay_known, &lab_span);
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
            // A task's name is Docker's (`uber-svc.1.<task id>`), made of a checked service name.
            let task = services.iter().any(|s| s.tasks.contains(n.get_ref()));
            if let Some(p) = name_problem(n.get_ref(), NODE_NAME_MAX).filter(|_| !task) {
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
        // Each host's ingress_sbox has a docker_gwbridge leg too.
        let needs_gw = overlay_users.iter().any(|u| *u) || drafts.iter().any(|d| d.ingress);
        if needs_gw {
            drafts.push(NetDraft {
                name: GWBRIDGE.into(),
                span: 0..0,
                driver: &driver::bridge::Bridge,
                options: driver::Options {
                    settings: Driver::Bridge {
                        bridge: GWBRIDGE.into(),
                        icc: false,
                        masquerade: true,
                    },
                    spans: Vec::new(),
                    host_spans: Vec::new(),
                    ok: true,
                },
                subnet: None,
                subnet_span: None,
                subnet_refused: false,
                gateway: None,
                pools: Vec::new(),
                internal: false,
                mtu: None,
                id: None,
                hosts: Vec::new(),
                settled_id: String::new(),
                ingress: false,
            });
        }
        self.allocate_subnets(
            &mut drafts,
            underlay_known.then_some(&underlay),
            outside.as_ref(),
        );
        for d in driver::ALL {
            d.allocate(self.r, &mut drafts);
        }
        let unsettled: HashSet<usize> = drafts
            .iter()
            .enumerate()
            .filter(|(_, d)| d.subnet.is_none())
            .map(|(i, _)| i)
            .collect();
        let networks: Vec<Network> = drafts
            .iter()
            .map(|d| {
                let id = d.id.clone().unwrap_or_else(|| network_id(&name, &d.name));
                let subnet = d.subnet.unwrap_or(UNKNOWN_SUBNET);
                let mut driver = d.options.settings.clone();
                d.driver.finish(&mut driver, &id);
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
                    internal: d.internal,
                    subnet_only: d.subnet_span.is_some() && d.gateway.is_none(),
                    pools: d
                        .pools
                        .iter()
                        .map(|p| Pool {
                            subnet: p.subnet,
                            gateway: p.gateway.unwrap_or_else(|| p.subnet.nth(1).unwrap()),
                            subnet_only: p.gateway.is_none(),
                        })
                        .collect(),
                    mtu: d.mtu,
                    ipv6: None,
                    // Swarm's ingress is on every node from `docker swarm init` (seed 004).
                    hosts: if d.ingress {
                        (0..hosts.len()).collect()
                    } else {
                        d.hosts
                            .iter()
                            .filter_map(|h| hosts.iter().position(|x| x.name == *h.get_ref()))
                            .collect()
                    },
                    ingress: d.ingress,
                }
            })
            .collect();
        let mut networks = networks;
        for (d, n) in drafts.iter_mut().zip(&networks) {
            d.settled_id = n.id.clone();
        }
        let refused6 = self.ipv6_networks(raw, &mut networks);
        let mut placed = self.containers(
            raw,
            &hosts,
            &networks,
            &overlay_users,
            &unsettled,
            &services,
        );
        self.ipv6_addresses(raw, &networks, &refused6, &mut placed.containers);
        for d in driver::ALL {
            d.place(self, &drafts, &mut hosts, &placed.containers);
        }
        let lab = Lab {
            name,
            description: meta.and_then(|m| m.description.clone()),
            source: self.source.to_string(),
            underlay,
            outside,
            hosts,
            networks,
            containers: placed.containers,
            checks: Vec::new(),
            scenarios: Vec::new(),
            sandbox_next: Default::default(),
            ipsec_secret: None,
            services: placed.services,
        };
        self.dnat_targets(raw, &lab, &unsettled);
        self.limits(&lab, lab_span);
        let checks = self.checks(raw, &lab, &placed.partial);
        let scenarios = scenario::validate(self.r, &raw.scenarios, &lab, self.depth);
        if self.r.has_errors() {
            return None;
        }
        // Drawn only for a lab that encrypts: every other lab stays a pure function of its file.
        let ipsec_secret = lab
            .networks
            .iter()
            .any(|n| {
                matches!(
                    n.driver,
                    Driver::Overlay {
                        encrypted: true,
                        ..
                    }
                )
            })
            .then(crate::driver::overlay::new_secret);
        Some(Lab {
            checks,
            scenarios,
            ipsec_secret,
            ..lab
        })
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
            // First: neither clearing host bits nor another prefix length would mend it.
            Ok(n) if n.prefix() >= 8 && Reserved::overlapping(masked(n)).is_some() => {
                let block = Reserved::overlapping(masked(n)).unwrap();
                self.r.error_help(
                    span(s),
                    format!("{what} {} {}", s.get_ref(), block.describe(masked(n))),
                    UNICAST_HELP,
                );
                None
            }
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
                let message = format!(
                    "{what} {:?} is not an IPv4 subnet like 10.0.0.0/24",
                    s.get_ref()
                );
                if what == "subnet" && s.get_ref().parse::<ipnetwork::Ipv6Network>().is_ok() {
                    self.r.error_help(
                        span(s),
                        message,
                        "this is IPv6: it goes in subnet6, with ipv6 = true (every network keeps an IPv4 subnet)",
                    );
                } else {
                    self.r.error(span(s), message);
                }
                None
            }
        }
    }

    fn parse_ip(&mut self, s: &Spanned<String>, what: &str) -> Option<Ipv4Addr> {
        match s.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                let message = format!("{what} {:?} is not an IPv4 address", s.get_ref());
                if s.get_ref().parse::<std::net::Ipv6Addr>().is_ok() {
                    let key = if what == "gateway" { "gateway6" } else { "ip6" };
                    self.r.error_help(
                        span(s),
                        message,
                        format!("this is IPv6: it goes in {key}, on a network with ipv6 = true"),
                    );
                    return None;
                }
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

    /// The underlay, and whether its subnet is known (not refused): host addresses are only
    /// checked against a known one. A refused value is replaced by its default.
    fn underlay(&mut self, raw: &RawLab) -> (Underlay, bool) {
        let mut u = Underlay {
            subnet: "10.1.1.0/24".parse().unwrap(),
            mtu: 1500,
        };
        let Some(given) = &raw.underlay else {
            return (u, !raw.underlay_unread);
        };
        let given = given.get_ref();
        let mut subnet_known = true;
        if let Some(s) = &given.subnet {
            match self.parse_net(s, "underlay subnet") {
                Some(n) => u.subnet = n,
                None => subnet_known = false,
            }
        }
        if let Some(m) = &given.mtu {
            if !(1280..=9000).contains(m.get_ref()) {
                self.r.error(
                    span(m),
                    format!("underlay mtu {} must be between 1280 and 9000", m.get_ref()),
                );
            } else {
                u.mtu = *m.get_ref() as u32;
            }
        }
        if let Some(nic) = &given.nic {
            if let Some(p) = host_nic_problem(nic.get_ref()) {
                self.r.error(span(nic), p);
            }
        }
        (u, subnet_known)
    }

    /// Every host of the file, in file order (so `raw.hosts` indexes them too), whatever is
    /// wrong with them. `subnet_known`: the underlay subnet was not refused, so host addresses
    /// can be checked against it.
    fn hosts(
        &mut self,
        raw: &RawLab,
        underlay: &Underlay,
        subnet_known: bool,
        lab_span: &Range<usize>,
    ) -> Vec<Host> {
        if raw.hosts.is_empty() && raw.unread_hosts.is_empty() {
            self.r.error_help(
                lab_span.clone(),
                "the lab has no hosts",
                "add a [hosts.NAME] table",
            );
            return Vec::new();
        }
        let checked = subnet_known.then_some(underlay);
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
        for (hi, (name, host)) in raw.hosts.iter().enumerate() {
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
                self.host_address(hi, name.get_ref(), &nics, dev, a, &mut explicit_extra);
            }
            if let Some(a) = &h.address {
                let ip = a.get_ref().split('/').next().unwrap_or("");
                let prefix_given = a.get_ref().contains('/');
                match ip.parse::<Ipv4Addr>() {
                    Ok(ip) => {
                        if let Some(u) = checked {
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
        for (ip, at, n) in &explicit {
            if Some(*ip) == self.outside_gateway {
                self.r.error_help(
                    at.clone(),
                    format!("host address {ip} is the outside's gateway (host {n})"),
                    "every host's default route is through it: give the host another address, or set [outside] gateway",
                );
            }
            used.insert(*ip, n.clone());
        }
        if let Some(g) = self.outside_gateway {
            used.entry(g).or_insert_with(|| "the outside".into());
        }
        // A host's extra address inside the underlay subnet is taken too.
        for (ip, n, at) in &explicit_extra {
            if let Some((_, _, other)) = explicit.iter().find(|(e, _, _)| e == ip) {
                self.r.error(
                    at.clone(),
                    format!("address {ip} is already the underlay address of host {other}"),
                );
            }
            if Some(*ip) == self.outside_gateway {
                self.r.error_help(
                    at.clone(),
                    format!("address {ip} is the outside's gateway"),
                    "give the host another address, or set [outside] gateway",
                );
            }
            used.entry(*ip).or_insert_with(|| n.clone());
        }
        let mut next = underlay
            .subnet
            .iter()
            .skip(1)
            .take_while(|ip| *ip != underlay.subnet.broadcast());
        let mut full = false;
        for (name, host) in &raw.hosts {
            let h = host.get_ref();
            let explicit_ip = h
                .address
                .as_ref()
                .and_then(|a| a.get_ref().split('/').next()?.parse().ok());
            let ip = match explicit_ip {
                Some(ip) => ip,
                None => match next.find(|ip| !used.contains_key(ip)) {
                    Some(ip) => {
                        used.insert(ip, name.get_ref().clone());
                        ip
                    }
                    None => {
                        // Once: the hosts after this one are short of an address for the same
                        // reason. Not at all if the subnet is a stand-in for a refused one.
                        if !full && subnet_known {
                            self.r.error_help(
                                span(name),
                                format!(
                                    "the underlay subnet {} has no free address left",
                                    underlay.subnet
                                ),
                                "set a larger [underlay] subnet",
                            );
                        }
                        full = true;
                        underlay.subnet.network()
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
                firewall: h
                    .firewall
                    .iter()
                    .filter_map(|r| self.firewall_rule(r.get_ref()))
                    .collect(),
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
        hosts
    }

    /// One entry of a host's `addresses`: the device must be one of its NICs or a VLAN of one
    /// (spelt one way only), the address must carry its prefix length, be unique among the
    /// hosts and be an interface address at all.
    fn host_address(
        &mut self,
        hi: usize,
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
        let (nic, vlan) = match split_vlan(d) {
            Some((nic, id)) => {
                if !(1..=MAX_VLAN).contains(&id) {
                    self.r.error_help(
                        span(dev),
                        format!("VLAN id {id} in {d:?} is out of range: 802.1Q VLAN ids are 1 to {MAX_VLAN}"),
                        format!("write NIC.VLAN with a VLAN id from 1 to {MAX_VLAN}, like \"{nic}.10\""),
                    );
                    return;
                }
                (nic, Some(id as u16))
            }
            None => (d.as_str(), None),
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
        if let Some(id) = vlan {
            self.vlan_spelling(
                hi,
                host,
                nic,
                id,
                VlanSpelling {
                    name: d.clone(),
                    at: span(dev),
                    role: "in addresses".into(),
                },
            );
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
        if let Some(block) = (net.prefix() >= 8)
            .then(|| Reserved::overlapping(masked(net)))
            .flatten()
        {
            self.r.error_help(
                span(a),
                format!("address {text} for {d} {}", block.describe(masked(net))),
                UNICAST_HELP,
            );
            return;
        }
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

    /// One firewall rule, every part checked with its position: the chain is a hook of ours,
    /// the action belongs in that chain (NAT in prerouting/postrouting, filtering elsewhere),
    /// names are interface names, addresses parse, a port comes with tcp or udp.
    fn firewall_rule(&mut self, raw: &RawRule) -> Option<FirewallRule> {
        use crate::kernel::nft::{Action, CtState, Hook, L4Proto, Match, Rule};
        let mut ok = true;
        let chain = match raw.chain.get_ref().as_str() {
            "prerouting" => Some(Hook::Prerouting),
            "input" => Some(Hook::Input),
            "forward" => Some(Hook::Forward),
            "output" => Some(Hook::Output),
            "postrouting" => Some(Hook::Postrouting),
            other => {
                self.r.error_help(
                    span(&raw.chain),
                    format!("unknown firewall chain {other:?}"),
                    "use \"prerouting\", \"input\", \"forward\", \"output\" or \"postrouting\" (iptables' chains, lower case)",
                );
                None
            }
        };
        let mut matches = Vec::new();
        for (key, dev, make) in [
            ("iif", &raw.iif, Match::Iif as fn(String) -> Match),
            ("oif", &raw.oif, Match::Oif as fn(String) -> Match),
        ] {
            let Some(d) = dev else { continue };
            match ifname_problem(d.get_ref()) {
                Some(p) => {
                    self.r.error(span(d), format!("{key}: {p}"));
                    ok = false;
                }
                None => matches.push(make(d.get_ref().clone())),
            }
        }
        for (key, a, make) in [
            (
                "saddr",
                &raw.saddr,
                Match::Saddr as fn(Ipv4Network) -> Match,
            ),
            (
                "daddr",
                &raw.daddr,
                Match::Daddr as fn(Ipv4Network) -> Match,
            ),
        ] {
            let Some(a) = a else { continue };
            let text = a.get_ref();
            let parsed = if text.contains('/') {
                text.parse::<Ipv4Network>().ok().map(masked)
            } else {
                text.parse::<Ipv4Addr>().ok().map(Ipv4Network::from)
            };
            match parsed {
                Some(n) => matches.push(make(n)),
                None => {
                    self.r.error_help(
                        span(a),
                        format!("{key} {text:?} is not an IPv4 address or subnet"),
                        "write it like \"10.0.0.2\" or \"10.0.0.0/24\"",
                    );
                    ok = false;
                }
            }
        }
        let proto = match raw.proto.as_ref().map(|p| (p, p.get_ref().as_str())) {
            None => None,
            Some((_, "tcp")) => Some(L4Proto::Tcp),
            Some((_, "udp")) => Some(L4Proto::Udp),
            Some((_, "icmp")) => Some(L4Proto::Icmp),
            Some((p, other)) => {
                self.r.error_help(
                    span(p),
                    format!("unknown protocol {other:?}"),
                    "use \"tcp\", \"udp\" or \"icmp\"",
                );
                ok = false;
                None
            }
        };
        match (&raw.dport, proto) {
            (Some(d), Some(p @ (L4Proto::Tcp | L4Proto::Udp))) => {
                match u16::try_from(*d.get_ref()).ok().filter(|p| *p > 0) {
                    Some(port) => matches.push(Match::Dport { proto: p, port }),
                    None => {
                        self.r.error(
                            span(d),
                            format!(
                                "dport {} is out of range: ports are 1 to 65535",
                                d.get_ref()
                            ),
                        );
                        ok = false;
                    }
                }
            }
            (Some(d), _) if raw.proto.is_none() || proto.is_some() => {
                self.r.error_help(
                    span(d),
                    "dport needs proto = \"tcp\" or \"udp\"",
                    "add proto = \"tcp\" (or \"udp\") to this rule",
                );
                ok = false;
            }
            (None, Some(p)) => matches.push(Match::Proto(p)),
            _ => {}
        }
        if let Some(ct) = &raw.ct {
            let mut states = Vec::new();
            for st in ct.get_ref() {
                match st.get_ref().as_str() {
                    "new" => states.push(CtState::New),
                    "established" => states.push(CtState::Established),
                    "related" => states.push(CtState::Related),
                    "invalid" => states.push(CtState::Invalid),
                    other => {
                        self.r.error_help(
                            span(st),
                            format!("unknown connection state {other:?}"),
                            "use \"new\", \"established\", \"related\" or \"invalid\"",
                        );
                        ok = false;
                    }
                }
            }
            if states.is_empty() && ok {
                self.r.error(span(ct), "ct lists no connection state");
                ok = false;
            }
            matches.push(Match::CtState(states));
        }
        let to = raw.to.as_ref().map(|t| {
            let text = t.get_ref();
            let (addr, port) = match text.rsplit_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (text.as_str(), None),
            };
            (
                t,
                addr.parse::<Ipv4Addr>().ok(),
                port.map(|p| p.parse::<u16>().ok().filter(|p| *p > 0)),
            )
        });
        let action_name = raw.action.get_ref().as_str();
        let action = match action_name {
            "accept" => Some(Action::Accept),
            "drop" => Some(Action::Drop),
            "masquerade" => Some(Action::Masquerade),
            "dnat" | "snat" => match &to {
                None => {
                    self.r.error_help(
                        span(&raw.action),
                        format!("{action_name} needs to = \"ADDRESS\""),
                        if action_name == "dnat" {
                            "add to = \"10.0.0.2\" (or \"10.0.0.2:80\" with proto = \"tcp\")"
                        } else {
                            "add to = \"203.0.113.1\""
                        },
                    );
                    None
                }
                Some((t, None, _)) | Some((t, _, Some(None))) => {
                    self.r.error_help(
                        span(t),
                        format!(
                            "{action_name} target {:?} is not ADDRESS or ADDRESS:PORT",
                            t.get_ref()
                        ),
                        "write it like \"10.0.0.2\" or \"10.0.0.2:80\"",
                    );
                    None
                }
                Some((t, Some(_), Some(Some(_)))) if action_name == "snat" => {
                    self.r
                        .error(span(t), "snat takes an address without a port here");
                    None
                }
                Some((t, Some(_), Some(Some(_))))
                    if !matches!(proto, Some(L4Proto::Tcp | L4Proto::Udp)) =>
                {
                    self.r.error_help(
                        span(t),
                        "a dnat port needs proto = \"tcp\" or \"udp\"",
                        "add proto = \"tcp\" (or \"udp\") to this rule",
                    );
                    None
                }
                Some((_, Some(addr), port)) if action_name == "dnat" => Some(Action::Dnat {
                    addr: *addr,
                    port: port.flatten(),
                }),
                Some((_, Some(addr), _)) => Some(Action::Snat { addr: *addr }),
            },
            other => {
                self.r.error_help(
                    span(&raw.action),
                    format!("unknown firewall action {other:?}"),
                    "use \"accept\", \"drop\", \"masquerade\", \"dnat\" or \"snat\"",
                );
                None
            }
        };
        if let (Some(t), false) = (&raw.to, matches!(action_name, "dnat" | "snat")) {
            self.r.error_help(
                span(t),
                format!("to only applies to dnat and snat, not {action_name}"),
                "remove to",
            );
            ok = false;
        }
        // Where each action can be: the NAT hooks rewrite, the others filter.
        if let (Some(c), Some(a)) = (chain, &action) {
            let fits = match a {
                Action::Masquerade | Action::Snat { .. } => c == Hook::Postrouting,
                Action::Dnat { .. } => c == Hook::Prerouting,
                Action::Accept | Action::Drop => {
                    matches!(c, Hook::Input | Hook::Forward | Hook::Output)
                }
            };
            if fits && matches!(a, Action::Masquerade) && raw.oif.is_none() {
                // iptables accepts it, but it then rewrites every packet the host routes,
                // the lab's own traffic between its networks included.
                self.r.error_help(
                    span(&raw.action),
                    "a masquerade needs oif: the interface whose address the packets take",
                    "add oif = \"NIC\", as iptables -o does (-t nat -A POSTROUTING -o ens38.10 -j MASQUERADE)",
                );
                ok = false;
            }
            if !fits {
                let want = match a {
                    Action::Masquerade | Action::Snat { .. } => "postrouting",
                    Action::Dnat { .. } => "prerouting",
                    _ => "input, forward or output",
                };
                self.r.error_help(
                    span(&raw.action),
                    format!("{action_name} does not belong in chain {}", c.as_str()),
                    format!("{action_name} goes in {want}, as with iptables"),
                );
                ok = false;
            }
        }
        Some(FirewallRule {
            chain: chain?,
            rule: Rule::new(matches, action?),
        })
        .filter(|_| ok)
    }

    /// A dnat rule sends packets to an address in the lab: a network's subnet, the underlay,
    /// a host's extra address or the outside. Any other address has no route from the host
    /// (it would only follow the default route out of the lab), so it is refused at its `to`.
    /// Networks whose subnet is still unknown (a reported error) accept anything.
    fn dnat_targets(&mut self, raw: &RawLab, lab: &Lab, unsettled: &HashSet<usize>) {
        if !unsettled.is_empty() {
            return;
        }
        let mut subnets: Vec<Ipv4Network> = lab
            .networks
            .iter()
            .flat_map(|n| n.pools4().map(|(s, _)| s))
            .collect();
        subnets.push(lab.underlay.subnet);
        subnets.extend(lab.outside.iter().map(|o| o.address));
        subnets.extend(
            lab.hosts
                .iter()
                .flat_map(|h| h.addresses.iter().map(|a| a.address)),
        );
        for (_, h) in &raw.hosts {
            for r in &h.get_ref().firewall {
                let r = r.get_ref();
                let (Some(t), "dnat") = (&r.to, r.action.get_ref().as_str()) else {
                    continue;
                };
                let text = t.get_ref();
                let addr = text.rsplit_once(':').map_or(text.as_str(), |(a, _)| a);
                let Ok(addr) = addr.parse::<Ipv4Addr>() else {
                    continue;
                };
                if !subnets.iter().any(|s| s.contains(addr)) {
                    self.r.error_help(
                        span(t),
                        format!("dnat target {addr} is outside every network of the lab"),
                        "send it to a container's address (or a host's): nothing else is reachable from the host",
                    );
                }
            }
        }
    }

    /// Records that host `hi` has VLAN `id` of `nic` as `spelt`, and refuses another spelling
    /// of it (`ens38.010` beside `ens38.10`): the kernel would refuse the second sub-interface
    /// with EEXIST halfway through `up`. The error is at the later of the two in the file, and
    /// names the other. True when `spelt` may be created.
    pub(crate) fn vlan_spelling(
        &mut self,
        hi: usize,
        host: &str,
        nic: &str,
        id: u16,
        spelt: VlanSpelling,
    ) -> bool {
        let seen = self.vlans.entry(hi).or_default();
        let Some(first) = seen.get(&(nic.to_string(), id)) else {
            seen.insert((nic.to_string(), id), spelt);
            return true;
        };
        if first.name == spelt.name {
            return true;
        }
        let (later, earlier) = if spelt.at.start >= first.at.start {
            (&spelt, first)
        } else {
            (first, &spelt)
        };
        let (l, c) = self.r.line_col(earlier.at.start);
        let message = format!(
            "\"{}\" ({}) is VLAN {id} on {nic}, which host {host} already has as \"{}\" ({}, line {l}, column {c})",
            later.name, later.role, earlier.name, earlier.role
        );
        let help = format!(
            "a NIC has one sub-interface per VLAN id (the kernel refuses a second): spell it \"{}\" here too, as at line {l}",
            earlier.name
        );
        let at = later.at.clone();
        self.r.error_help(at, message, help);
        false
    }

    /// A network id the lab file gives: 64 hex digits (a daemon's) or 25 lowercase letters
    /// and digits (swarm's), whose first 10 (the overlay sandbox's name) no other network of
    /// the lab shares.
    fn network_id_of(
        &mut self,
        net: &str,
        id: &Spanned<String>,
        seen: &[(String, String)],
    ) -> Option<String> {
        let s = id.get_ref();
        let daemon = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let swarm = s.len() == 25
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !daemon && !swarm {
            self.r.error_help(
                span(id),
                format!("invalid network id {s:?}: Docker's are 64 hex digits, swarm's 25 lowercase letters and digits"),
                "copy the id as `docker network inspect` or `docker network ls --no-trunc` prints it, or leave id out",
            );
            return None;
        }
        if let Some((_, other)) = seen.iter().find(|(o, _)| o[..10] == s[..10]) {
            self.r.error_help(
                span(id),
                format!("network {net}'s id starts as network {other}'s does ({}): their sandboxes would have one name", &s[..10]),
                "give each network its own id",
            );
            return None;
        }
        Some(s.clone())
    }

    fn networks(&mut self, raw: &RawLab) -> Vec<NetDraft> {
        let mut out = Vec::new();
        let mut seen_ids: Vec<(String, String)> = Vec::new();
        for (name, net) in &raw.networks {
            if let Some(p) = name_problem(name.get_ref(), NODE_NAME_MAX) {
                self.r
                    .error(span(name), format!("invalid network name: {p}"));
            }
            if name.get_ref() == GWBRIDGE {
                self.r.error(span(name), format!("{GWBRIDGE} is created by netlab for overlay containers; choose another name"));
            }
            if NetworkMode::predefined(name.get_ref()).is_some() {
                self.r.error_help(
                    span(name),
                    format!(
                        "{:?} is one of Docker's predefined networks; choose another name",
                        name.get_ref()
                    ),
                    format!(
                        "a container joins it with networks = [{:?}]",
                        name.get_ref()
                    ),
                );
            }
            let n = net.get_ref();
            let kind = driver::named(n.driver.get_ref());
            if kind.is_none() {
                let other = n.driver.get_ref().as_str();
                let known: Vec<String> = driver::names().iter().map(|d| format!("{d:?}")).collect();
                let help = if DOCKER_DRIVERS.contains(&other) {
                    let (last, rest) = known.split_last().unwrap();
                    format!(
                        "driver {other:?} is not supported yet; this version has {} and {last}",
                        rest.join(", ")
                    )
                } else {
                    format!("known drivers: {}", known.join(", "))
                };
                self.r.error_help(
                    span(&n.driver),
                    format!("unknown network driver {other:?}"),
                    help,
                );
            }
            let subnets = n.subnet.as_ref().map(RawList::items).unwrap_or_default();
            let parsed: Vec<Option<Ipv4Network>> = subnets
                .iter()
                .map(|s| self.parse_net(s, "subnet"))
                .collect();
            let subnet = parsed.first().copied().flatten();
            // Each gateway to the subnet it is in; with one subnet, the gateway is its own.
            let mut gateways: Vec<Option<(Ipv4Addr, Range<usize>)>> = vec![None; parsed.len()];
            for g in n.gateway.as_ref().map(RawList::items).unwrap_or_default() {
                let Some(ip) = self.parse_ip(&g, "gateway") else {
                    continue;
                };
                if n.subnet.is_none() {
                    self.r.error_help(
                        span(&g),
                        "a gateway needs an explicit subnet",
                        "add subnet = \"...\" to this network",
                    );
                    continue;
                }
                let at = if parsed.len() == 1 {
                    match subnet {
                        Some(sn) if !usable(sn, ip) => {
                            self.r.error_help(
                                span(&g),
                                format!("gateway {ip} is not a usable address of subnet {sn}"),
                                format!("pick an address inside {sn}, not its first or last, or leave gateway out"),
                            );
                            None
                        }
                        _ => Some(0),
                    }
                } else {
                    let at = parsed.iter().position(|s| s.is_some_and(|s| usable(s, ip)));
                    if at.is_none() && parsed.iter().all(|s| s.is_some()) {
                        let all: Vec<String> =
                            parsed.iter().flatten().map(|s| s.to_string()).collect();
                        self.r.error_help(
                            span(&g),
                            format!(
                                "gateway {ip} is not a usable address of any of the subnets {}",
                                all.join(", ")
                            ),
                            "give each subnet's gateway inside it, or leave gateway out",
                        );
                    }
                    at
                };
                let Some(at) = at else {
                    continue;
                };
                match &gateways[at] {
                    Some((other, _)) => self.r.error_help(
                        span(&g),
                        format!(
                            "subnet {} has a gateway already, {other}",
                            parsed[at].map_or(String::new(), |s| s.to_string())
                        ),
                        "give one gateway per subnet",
                    ),
                    None => gateways[at] = Some((ip, span(&g))),
                }
            }
            let gateway = gateways.first().cloned().flatten();
            let pools: Vec<DraftPool> = parsed
                .iter()
                .zip(&subnets)
                .zip(&gateways)
                .skip(1)
                .filter_map(|((s, at), g)| {
                    Some(DraftPool {
                        subnet: (*s)?,
                        span: span(at),
                        gateway: g.as_ref().map(|g| g.0),
                    })
                })
                .collect();
            // Without a driver, which options apply is unknown: the network is left out, and
            // containers on it are not reported again (containers_pre knows it is declared).
            let Some(kind) = kind else {
                continue;
            };
            // Other drivers' options on this network; a key several drivers take (`parent`,
            // `mode`) names them all.
            let mut foreign: Vec<&str> = Vec::new();
            for other in driver::ALL.iter().filter(|d| d.name() != kind.name()) {
                for key in other.keys() {
                    if !kind.keys().contains(key) && !foreign.contains(key) {
                        foreign.push(key);
                    }
                }
            }
            for key in foreign {
                let Some(at) = n.span_of(key) else {
                    continue;
                };
                let takers: Vec<&str> = driver::ALL
                    .iter()
                    .filter(|d| d.keys().contains(&key))
                    .map(|d| d.name())
                    .collect();
                let drivers = match takers.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} and {last}", rest.join(", "))
                    }
                    _ => takers.join(""),
                };
                let set = takers
                    .iter()
                    .map(|d| format!("driver = \"{d}\""))
                    .collect::<Vec<_>>()
                    .join(" or ");
                if key == "hosts" && kind.docker_scope() == "global" {
                    self.r.error_help(
                        at,
                        format!(
                            "hosts only applies to host-local ({drivers}) networks: an {} network is global, Docker creates it on each host where a container joins it",
                            kind.name()
                        ),
                        "remove hosts",
                    );
                    continue;
                }
                self.r.error_help(
                    at,
                    format!("{key} only applies to {drivers} networks"),
                    format!("remove {key}, or set {set}"),
                );
            }
            if let Some(i) = n.internal.as_ref().filter(|i| *i.get_ref()) {
                if matches!(kind.name(), "macvlan" | "ipvlan") && n.parent.is_some() {
                    self.r.error_help(
                        span(i),
                        format!(
                            "an internal {} network has no parent: Docker ignores -o parent= with --internal and gives it a dummy one",
                            kind.name()
                        ),
                        "remove parent (the network's parent is then a dummy device on each host), or remove internal",
                    );
                }
            }
            if let Some(second) = subnets.get(1) {
                if !matches!(kind.name(), "macvlan" | "ipvlan") {
                    self.r.error_help(
                        span(second),
                        format!(
                            "a {} network has one IPv4 subnet; several are for macvlan and ipvlan networks",
                            kind.name()
                        ),
                        "give this network one subnet, or split it into networks of one subnet each",
                    );
                }
            }
            let options = kind.options(self.r, name, n);
            out.push(NetDraft {
                name: name.get_ref().clone(),
                span: span(name),
                driver: kind,
                options,
                subnet_refused: n.subnet.is_some() && subnet.is_none(),
                subnet,
                subnet_span: subnets.first().map(span),
                gateway,
                pools,
                internal: n.internal.as_ref().is_some_and(|b| *b.get_ref()),
                mtu: n.mtu.as_ref().and_then(|m| {
                    let v = *m.get_ref();
                    if (1280..=9000).contains(&v) {
                        Some(v as u32)
                    } else {
                        self.r.error(
                            span(m),
                            format!("network mtu {v} must be between 1280 and 9000"),
                        );
                        None
                    }
                }),
                id: n
                    .id
                    .as_ref()
                    .and_then(|i| self.network_id_of(name.get_ref(), i, &seen_ids)),
                hosts: self.network_hosts(raw, name, n),
                settled_id: String::new(),
                ingress: n.ingress.as_ref().is_some_and(|b| *b.get_ref())
                    && kind.name() == "overlay",
            });
            if let Some(i) = n.ingress.as_ref().filter(|i| *i.get_ref()) {
                if let Some(first) = out[..out.len() - 1].iter().find(|d| d.ingress) {
                    let (l, c) = self.r.line_col(first.span.start);
                    self.r.error_help(
                        span(i),
                        format!(
                            "network {} is an ingress network, and so is network {} (line {l}, column {c}): a swarm has one",
                            name.get_ref(),
                            first.name
                        ),
                        "keep ingress = true on one overlay network",
                    );
                }
            }
            if let Some(id) = &out.last().and_then(|d| d.id.clone()) {
                seen_ids.push((id.clone(), name.get_ref().clone()));
            }
        }
        out
    }

    /// A network's `hosts = [...]`: each a defined host, once; those not defined are left out.
    fn network_hosts(&mut self, raw: &RawLab, name: &Name, n: &RawNetwork) -> Vec<Name> {
        let Some(list) = &n.hosts else {
            return Vec::new();
        };
        if list.get_ref().is_empty() {
            self.r.error_help(
                span(list),
                format!("network {} has an empty hosts list, which creates it nowhere", name.get_ref()),
                "name the hosts it is created on, or remove hosts (the network is then on the hosts its containers are on)",
            );
        }
        let mut out: Vec<Name> = Vec::new();
        for h in list.get_ref() {
            if let Some(prev) = out.iter().find(|p| p.get_ref() == h.get_ref()) {
                let (l, c) = self.r.line_col(span(prev).start);
                self.r.error(
                    span(h),
                    format!("host {} is listed twice in network {}'s hosts (first at line {l}, column {c})", h.get_ref(), name.get_ref()),
                );
                continue;
            }
            if raw.unread_hosts.contains(h.get_ref()) {
                continue;
            }
            if !raw.hosts.contains_key(h.get_ref().as_str()) {
                let help = close_match(h.get_ref(), raw.hosts.keys().map(|k| k.get_ref().as_str()))
                    .unwrap_or_else(|| {
                        let all: Vec<&str> =
                            raw.hosts.keys().map(|k| k.get_ref().as_str()).collect();
                        format!("the lab's hosts: {}", all.join(", "))
                    });
                self.r.error_help(
                    span(h),
                    format!(
                        "network {} is created on host {:?}, which is not defined",
                        name.get_ref(),
                        h.get_ref()
                    ),
                    help,
                );
                continue;
            }
            out.push(h.clone());
        }
        out
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
            let host = c.host.get_ref().as_str();
            if !raw.hosts.contains_key(host) && !raw.unread_hosts.contains(host) {
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
            let mode = self.network_mode(cname, c);
            let mut seen = HashSet::new();
            let mut overlay = false;
            let mut bridge = false;
            for n in c.networks.get_ref() {
                if NetworkMode::predefined(n.get_ref()).is_some() {
                    continue;
                }
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
                // libnetwork's needDefaultGW: an internal network counts for neither.
                match net_at.get(n.get_ref().as_str()).map(|&i| &nets[i]) {
                    Some(d) if d.internal => {}
                    Some(d) if !d.driver.gives_default_route() => overlay = true,
                    Some(_) => bridge = true,
                    None => {
                        let help = (!self.r.is_full())
                            .then(|| close_match(n.get_ref(), nets.iter().map(|d| d.name.as_str())))
                            .flatten();
                        // Declared but left out (its driver or shape was refused): reported.
                        let declared = raw.networks.contains_key(n.get_ref().as_str())
                            || raw.unread_networks.contains(n.get_ref());
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
            self.aliases(cname, c);
            out.push(mode.is_default() && overlay && !bridge);
        }
        out
    }

    /// `aliases = { NET = ["name", ...] }`: on networks the container joins, names a
    /// resolver takes (RFC 1123 host names), each once.
    fn aliases(&mut self, cname: &Name, c: &RawContainer) {
        for (n, names) in &c.aliases {
            if !c.networks.get_ref().iter().any(|x| {
                x.get_ref() == n.get_ref() && NetworkMode::predefined(n.get_ref()).is_none()
            }) {
                self.r.error_help(
                    span(n),
                    format!(
                        "aliases for network {}, which container {} does not join",
                        n.get_ref(),
                        cname.get_ref()
                    ),
                    format!("add {} to networks, or remove it from aliases", n.get_ref()),
                );
            }
            let mut seen = HashSet::new();
            for a in names.get_ref() {
                let name = a.get_ref();
                if let Err(why) = crate::plan::names::check_host_name(name) {
                    self.r.error_help(
                        span(a),
                        format!("alias {name:?} is not a host name: {why}"),
                        "use letters, digits and '-' in dot-separated labels, like \"db\" or \"db.internal\"",
                    );
                } else if name == cname.get_ref().as_str() {
                    self.r.error(
                        span(a),
                        format!("alias {name:?} is the container's own name"),
                    );
                } else if !seen.insert(name.to_ascii_lowercase()) {
                    self.r.error(
                        span(a),
                        format!("alias {name:?} is given twice on network {}", n.get_ref()),
                    );
                }
            }
        }
    }

    /// Docker's `--network none` / `host`: `networks = ["none"]` or `["host"]`, alone.
    /// Reports what Docker refuses with it; [`mode_of`] reads it.
    fn network_mode(&mut self, cname: &Name, c: &RawContainer) -> NetworkMode {
        let nets = c.networks.get_ref();
        let Some((at, mode)) = nets
            .iter()
            .find_map(|n| NetworkMode::predefined(n.get_ref()).map(|m| (n, m)))
        else {
            return NetworkMode::Sandbox;
        };
        if nets.len() > 1 {
            self.r.error_help(
                span(at),
                format!(
                    "container {} is in {} mode, so it joins no other network",
                    cname.get_ref(),
                    at.get_ref()
                ),
                format!(
                    "as in Docker, networks = [{:?}] stands alone: remove the other networks, or this one",
                    at.get_ref()
                ),
            );
        }
        if let Some((n, _)) = c.ip.first() {
            self.r.error(
                span(n),
                format!(
                    "container {} is in {} mode: it has no address of its own",
                    cname.get_ref(),
                    at.get_ref()
                ),
            );
        }
        mode
    }

    /// Checks written subnets for overlaps and gives the others Docker's defaults. `underlay`:
    /// the underlay, unless its subnet was refused (then nothing can overlap it).
    fn allocate_subnets(
        &mut self,
        drafts: &mut [NetDraft],
        underlay: Option<&Underlay>,
        outside: Option<&Outside>,
    ) {
        let mut taken = Taken::default();
        if let Some(u) = underlay {
            taken.insert(u.subnet, "the underlay".into());
        }
        if let Some(o) = outside {
            let n = Ipv4Network::new(o.address.network(), o.address.prefix()).unwrap();
            taken.insert(n, "the outside".into());
        }
        // Subnets of networks alone: a macvlan network on a plain NIC may share the subnet of
        // the segment that NIC is on (that is what macvlan is for), but not another network's.
        let mut networks_only = Taken::default();
        for d in drafts.iter() {
            let first = d
                .subnet
                .map(|s| (s, d.subnet_span.clone().unwrap_or(d.span.clone())));
            let rest = d.pools.iter().map(|p| (p.subnet, p.span.clone()));
            for (s, at) in first.into_iter().chain(rest) {
                let on_nic = d.driver.may_share_underlay(d);
                let clash = if on_nic {
                    networks_only.find(s)
                } else {
                    taken.find(s).or_else(|| networks_only.find(s))
                }
                .map(|(n, who)| (n, who.to_string()));
                networks_only.insert(s, format!("network {}", d.name));
                if let Some((other, who)) = clash {
                    self.r.error_help(
                        at,
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
        let bridge_pool = bridge_pool();
        // Swarm's ingress: 10.255.0.0/16 (seed 004), taken before the other defaults.
        for d in drafts
            .iter_mut()
            .filter(|d| d.ingress && d.subnet.is_none() && !d.subnet_refused)
        {
            let s = INGRESS_SUBNET;
            match taken.find(s).or_else(|| networks_only.find(s)) {
                Some((other, who)) => {
                    let who = who.to_string();
                    self.r.error_help(
                        d.span.clone(),
                        format!(
                            "ingress network {} takes swarm's default subnet {s}, which overlaps {other} of {who}",
                            d.name
                        ),
                        "set subnet = \"...\" on this network",
                    );
                }
                None => {
                    taken.insert(s, format!("network {}", d.name));
                    networks_only.insert(s, format!("network {}", d.name));
                    d.subnet = Some(s);
                }
            }
        }
        let mut next = [0usize; 2];
        for d in drafts
            .iter_mut()
            .filter(|d| d.subnet.is_none() && !d.subnet_refused)
        {
            let (pool, at) = if d.driver.pool() == AddressPool::Global {
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

    /// Places the containers and gives them addresses. A container on an unknown host is left
    /// out, and one on a network that was left out misses that endpoint; both are reported
    /// elsewhere, and listed in [`Placed::partial`] so that checks do not report them again.
    /// `unsettled`: networks without a known subnet, whose addresses are not checked.
    fn containers(
        &mut self,
        raw: &RawLab,
        hosts: &[Host],
        nets: &[Network],
        needs_gw: &[bool],
        unsettled: &HashSet<usize>,
        services: &[service::Draft],
    ) -> Placed {
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
        let mut next_free: HashMap<((usize, Option<usize>), usize), u64> = HashMap::new();
        let mut exhausted: HashSet<(usize, Option<usize>)> = HashSet::new();
        // Macvlan pools are lab-wide too: Docker's are per host, but the hosts share one segment,
        // so two containers with one address would clash on the wire.
        let scope =
            |net: usize, host: usize| (net, (!nets[net].driver().spans_hosts()).then_some(host));
        // A macvlan network shares its segment with the hosts: their addresses are taken.
        for (ni, net) in nets
            .iter()
            .enumerate()
            .filter(|(_, n)| n.driver().on_hosts_segment())
        {
            if unsettled.contains(&ni) {
                continue;
            }
            let pool = taken.entry((ni, None)).or_default();
            for h in hosts {
                let all = std::iter::once(h.address.ip())
                    .chain(h.addresses.iter().map(|a| a.address.ip()));
                for ip in all.filter(|ip| net.pools4().any(|(s, g)| s.contains(*ip) && *ip != g)) {
                    pool.insert(ip, format!("host {}", h.name));
                }
            }
            if let Some(g) = self
                .outside_gateway
                .filter(|g| net.pools4().any(|(s, _)| s.contains(*g)))
            {
                pool.insert(g, "the outside".into());
            }
        }
        // Swarm's ingress_sbox on each host, made at `docker swarm init` before any container:
        // the first free addresses of ingress (in host order) and of its host's docker_gwbridge
        // (seed 004: 10.255.0.2 and 172.19.0.2), which containers' addresses then skip.
        let mut sboxes = Vec::new();
        if let (Some(ii), Some(gi)) = (nets.iter().position(|n| n.ingress), gw_index) {
            if !unsettled.contains(&ii) && !unsettled.contains(&gi) {
                for (hi, h) in hosts.iter().enumerate() {
                    let name = format!("{}.ingress_sbox", h.name);
                    let mut endpoints = Vec::new();
                    for (i, ni) in [ii, gi].into_iter().enumerate() {
                        let net = &nets[ni];
                        let pool = taken.entry(scope(ni, hi)).or_default();
                        let Some(ip) = first_free(net, pool) else {
                            continue;
                        };
                        pool.insert(ip, name.clone());
                        endpoints.push(Endpoint {
                            network: ni,
                            ifname: format!("eth{i}"),
                            address: Ipv4Network::new(ip, net.subnet.prefix()).unwrap(),
                            address6: None,
                            mac: docker_mac(ip),
                            sandbox_if: None,
                            aliases: Vec::new(),
                            secondary: Vec::new(),
                        });
                    }
                    let default_gateway = default_gateway_of(nets, &endpoints);
                    sboxes.push(Container {
                        name,
                        host: hi,
                        endpoints,
                        default_gateway,
                        mode: NetworkMode::Sandbox,
                        ports: Vec::new(),
                        ingress_sbox: true,
                        lb: None,
                        task: None,
                    });
                }
            }
        }
        let task_of: HashMap<&str, Task> = services
            .iter()
            .enumerate()
            .flat_map(|(si, s)| {
                s.tasks.iter().enumerate().map(move |(i, t)| {
                    (
                        t.as_str(),
                        Task {
                            service: si,
                            slot: i as u32 + 1,
                        },
                    )
                })
            })
            .collect();
        // First pass: static addresses, so automatic ones never take them. They are checked
        // even on a container whose host is unknown, except against host-local pools.
        for (cname, c) in &raw.containers {
            let c = c.get_ref();
            let host = host_at.get(c.host.get_ref().as_str()).copied();
            for (nname, ip) in &c.ip {
                let Some(&ni) = net_at.get(nname.get_ref().as_str()) else {
                    continue;
                };
                let Some(addr) = self.parse_ip(ip, "address") else {
                    continue;
                };
                if unsettled.contains(&ni) {
                    continue;
                }
                let net = &nets[ni];
                let within = net.pools4().find(|(s, _)| usable(*s, addr));
                if within.is_none() {
                    self.r.error_help(
                        span(ip),
                        format!(
                            "address {addr} is not a usable address of {} ({})",
                            net.name,
                            net.subnets_text()
                        ),
                        format!(
                            "pick an address inside {}, not its first or last",
                            if net.pools.is_empty() {
                                net.subnet.to_string()
                            } else {
                                format!("one of {}", net.subnets_text())
                            }
                        ),
                    );
                } else if within.is_some_and(|(_, g)| g == addr) {
                    self.r.error_help(
                        span(ip),
                        format!("address {addr} is the gateway of {}", net.name),
                        "pick another address, or leave this one out to get a free one",
                    );
                } else if let Some(other) = host
                    .map(|h| scope(ni, h))
                    .or(nets[ni].driver().spans_hosts().then_some((ni, None)))
                    .and_then(|key| {
                        taken
                            .entry(key)
                            .or_default()
                            .insert(addr, cname.get_ref().clone())
                    })
                {
                    self.r.error_help(
                        span(ip),
                        format!("address {addr} on {} is already given to {other}", net.name),
                        "give each container its own address, or leave ip out to get a free one",
                    );
                }
            }
        }
        // The sandboxes first, as they were made first (veth0 on ingress's br0 is the sbox's).
        let mut out = sboxes;
        let mut partial = HashSet::new();
        let mut publishers: Vec<(String, PublishedPort, Range<usize>, String)> = Vec::new();
        // The services are created after the lab file's containers, before their tasks.
        let mut vips = None;
        for (ci, (cname, c)) in raw.containers.iter().enumerate() {
            if vips.is_none() && task_of.contains_key(cname.get_ref().as_str()) {
                vips = Some(service_vips(services, nets, &net_at, unsettled, &mut taken));
            }
            let c = c.get_ref();
            let Some(&host) = host_at.get(c.host.get_ref().as_str()) else {
                partial.insert(cname.get_ref().clone());
                continue;
            };
            let mode = mode_of(c);
            let joined = c
                .networks
                .get_ref()
                .iter()
                .filter(|n| NetworkMode::predefined(n.get_ref()).is_none());
            for n in joined.clone() {
                let Some(&ni) = net_at.get(n.get_ref().as_str()) else {
                    continue;
                };
                let net = &nets[ni];
                let Some(why) = not_created_on(cname.get_ref(), host, net, hosts) else {
                    continue;
                };
                let at = raw
                    .networks
                    .iter()
                    .find(|(k, _)| *k.get_ref() == net.name)
                    .and_then(|(_, v)| v.get_ref().hosts.as_ref().map(span))
                    .map(|s| self.r.line_col(s.start));
                let at = at
                    .map(|(l, c)| format!(" (line {l}, column {c})"))
                    .unwrap_or_default();
                self.r.error_help(
                    span(n),
                    why,
                    format!(
                        "add \"{}\" to the network's hosts{at}, or put the container on one of its hosts",
                        hosts[host].name
                    ),
                );
            }
            let mut attach: Vec<(usize, Option<Ipv4Addr>)> = joined
                .clone()
                .filter_map(|n| net_at.get(n.get_ref().as_str()).copied())
                .map(|ni| {
                    let ip =
                        c.ip.iter()
                            .find(|(k, _)| *k.get_ref() == nets[ni].name)
                            .and_then(|(_, v)| v.get_ref().parse().ok());
                    (ni, ip)
                })
                .collect();
            if attach.len() < joined.count() {
                partial.insert(cname.get_ref().clone());
            }
            if needs_gw[ci] {
                attach.extend(gw_index.map(|g| (g, None)));
            }
            let mut endpoints = Vec::new();
            for (i, (ni, ip)) in attach.into_iter().enumerate() {
                let net = &nets[ni];
                let ip = match ip {
                    Some(ip) => ip,
                    // No subnet to allocate from: a stand-in, never used.
                    None if unsettled.contains(&ni) => net.subnet.network(),
                    None => {
                        // Lowest free address. Nothing is ever freed, so each pool's search
                        // resumes where its last one stopped: linear, not quadratic, in a big lab.
                        // The first subnet with a free address, as Docker's IPAM takes its
                        // pools in order.
                        let key = scope(ni, host);
                        let pool = taken.entry(key).or_default();
                        let mut found = None;
                        for (pi, (subnet, gateway)) in net.pools4().enumerate() {
                            let from = next_free.entry((key, pi)).or_insert(1);
                            let base = u32::from(subnet.network()) as u64;
                            let last = (1u64 << (32 - subnet.prefix())) - 1; // broadcast
                            found = (*from..last)
                                .map(|k| (k, Ipv4Addr::from((base + k) as u32)))
                                .find(|(_, ip)| *ip != gateway && !pool.contains_key(ip));
                            if let Some((k, _)) = found {
                                *from = k + 1;
                                break;
                            }
                            *from = last;
                        }
                        match found {
                            Some((_, ip)) => {
                                pool.insert(ip, cname.get_ref().clone());
                                ip
                            }
                            None => {
                                // Once per pool: the containers after this one are short of
                                // an address for the same reason.
                                if exhausted.insert(key) {
                                    self.r.error_help(
                                        span(cname),
                                        format!(
                                            "network {} ({}) has no free address left for {}",
                                            net.name,
                                            net.subnets_text(),
                                            cname.get_ref()
                                        ),
                                        "give the network a larger subnet",
                                    );
                                }
                                net.subnet.network()
                            }
                        }
                    }
                };
                let aliases = c
                    .aliases
                    .iter()
                    .find(|(k, _)| *k.get_ref() == net.name)
                    .map(|(_, v)| v.get_ref().iter().map(|a| a.get_ref().clone()).collect())
                    .unwrap_or_default();
                endpoints.push(Endpoint {
                    network: ni,
                    ifname: format!("eth{i}"),
                    address: Ipv4Network::new(ip, net.pool_of(ip).0.prefix()).unwrap(),
                    address6: None,
                    mac: docker_mac(ip),
                    sandbox_if: None,
                    aliases,
                    secondary: Vec::new(),
                });
            }
            // A Linux bridge has at most 1023 ports (BR_MAX_PORTS - 1); the kernel would refuse the
            // next veth with EXFULL halfway through `up`. An overlay's br0 also holds vxlan0.
            for e in &endpoints {
                let Some(limit) = nets[e.network].driver().container_limit() else {
                    continue;
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
            let default_gateway = default_gateway_of(nets, &endpoints);
            let published = self.published_ports(
                cname,
                c,
                &hosts[host],
                mode,
                default_gateway.is_some(),
                &mut publishers,
            );
            out.push(Container {
                name: cname.get_ref().clone(),
                host,
                endpoints,
                default_gateway,
                mode,
                ports: published,
                ingress_sbox: false,
                lb: None,
                task: task_of.get(cname.get_ref().as_str()).copied(),
            });
        }
        // The routing mesh takes a service's published port on every host (Docker refuses a
        // container's -p of it, and a service's of a container's).
        for (host, port, at, cname) in &publishers {
            let mesh = services.iter().find(|s| {
                s.ports
                    .iter()
                    .any(|p| p.published == port.host_port && p.proto == port.proto)
            });
            if let Some(s) = mesh {
                self.r.error_help(
                    at.clone(),
                    format!(
                        "port {}/{} of host {host} is published by service {} through the routing mesh, so container {cname} cannot publish it",
                        port.host_port,
                        port.proto.as_str(),
                        s.name
                    ),
                    "publish another host port",
                );
            }
        }
        let vips =
            vips.unwrap_or_else(|| service_vips(services, nets, &net_at, unsettled, &mut taken));
        let services = self.load_balancers(nets, hosts, services, vips, &mut out, &mut taken);
        Placed {
            containers: out,
            partial,
            services,
        }
    }

    fn limits(&mut self, lab: &Lab, at: Range<usize>) {
        let max = std::env::var("NETLAB_MAX_NAMESPACES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_NAMESPACES);
        let overlay_ns: usize = lab
            .networks
            .iter()
            .enumerate()
            .filter(|(_, n)| n.driver().sandbox_per_host())
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
        let own = lab
            .containers
            .iter()
            .filter(|c| c.mode != NetworkMode::Host)
            .count();
        let total = 1 + lab.hosts.len() + own + overlay_ns;
        if total > max {
            self.r.error_help(
                at,
                format!("this lab needs {total} namespaces; the limit is {max}"),
                "raise it with the environment variable NETLAB_MAX_NAMESPACES if your machine can take it",
            );
        }
    }

    /// A container's `ports`, as `docker run -p` reads them: `[IP:]HOST:CONTAINER[/tcp|udp]`.
    /// A host port (and protocol) is published once per host address; the container needs a
    /// network that gives it a way out (the DNAT'd connection's replies go through its default
    /// gateway), so none, host (Docker discards -p there) and internal-only containers have none.
    /// `taken`: (host, port, where, container) published so far.
    fn published_ports(
        &mut self,
        cname: &Name,
        c: &RawContainer,
        host: &Host,
        mode: NetworkMode,
        way_out: bool,
        taken: &mut Vec<(String, PublishedPort, Range<usize>, String)>,
    ) -> Vec<PublishedPort> {
        let mut out = Vec::new();
        for p in &c.ports {
            let text = p.get_ref();
            if mode != NetworkMode::Sandbox {
                let why = if mode == NetworkMode::Host {
                    "its ports are its host's own (Docker discards -p in host mode)"
                } else {
                    "nothing reaches it"
                };
                self.r.error(
                    span(p),
                    format!(
                        "container {} is in {} mode: {why}, so it publishes no port",
                        cname.get_ref(),
                        if mode == NetworkMode::Host {
                            "host"
                        } else {
                            "none"
                        }
                    ),
                );
                continue;
            }
            let (spec, proto) = split_proto(text);
            let parts: Vec<&str> = spec.split(':').collect();
            let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
            let parsed = match (parts.as_slice(), proto) {
                ([h, c], Some(proto)) => port(h).zip(port(c)).map(|(h, c)| (None, h, c, proto)),
                ([ip, h, c], Some(proto)) => ip
                    .parse::<Ipv4Addr>()
                    .ok()
                    .and_then(|ip| port(h).zip(port(c)).map(|(h, c)| (Some(ip), h, c, proto))),
                _ => None,
            };
            let Some((host_ip, host_port, container_port, proto)) = parsed else {
                self.r.error_help(
                    span(p),
                    format!("port {text:?} is not [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]"),
                    "write it as docker run -p takes it, like \"8080:80\" or \"5353:53/udp\" (ports 1 to 65535)",
                );
                continue;
            };
            let own: Vec<Ipv4Addr> = std::iter::once(host.address.ip())
                .chain(host.addresses.iter().map(|a| a.address.ip()))
                .collect();
            if let Some(ip) = host_ip.filter(|ip| !own.contains(ip)) {
                self.r.error_help(
                    span(p),
                    format!("{ip} is not an address of host {}", host.name),
                    format!(
                        "publish on one of {}, or leave the address out to publish on all",
                        own.iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            }
            if !way_out {
                self.r.error_help(
                    span(p),
                    format!(
                        "container {} has no network with a way out to publish port {host_port} on",
                        cname.get_ref()
                    ),
                    "ports need a bridge (or overlay, through docker_gwbridge) network that is not internal",
                );
                continue;
            }
            let new = PublishedPort {
                host_ip,
                host_port,
                container_port,
                proto,
            };
            let clash = taken.iter().find(|(h, o, _, _)| {
                *h == host.name
                    && o.host_port == host_port
                    && o.proto == proto
                    && (o.host_ip.is_none() || host_ip.is_none() || o.host_ip == host_ip)
            });
            if let Some((_, _, at, other)) = clash {
                let (l, col) = self.r.line_col(at.start);
                self.r.error_help(
                    span(p),
                    format!(
                        "port {host_port}/{} of host {} is already published by container {other} (line {l}, column {col})",
                        proto.as_str(),
                        host.name
                    ),
                    "publish another host port, as Docker refuses a port in use",
                );
                continue;
            }
            taken.push((
                host.name.clone(),
                new.clone(),
                span(p),
                cname.get_ref().clone(),
            ));
            out.push(new);
        }
        out
    }

    /// Each check's source, target, expectation, count and ttl are checked independently.
    /// `partial`: containers placed incompletely because of an error reported elsewhere; a
    /// check naming one is not refused for what that error took away.
    fn checks(&mut self, raw: &RawLab, lab: &Lab, partial: &HashSet<String>) -> Vec<Check> {
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
                .chain(lab.outside.iter().map(|o| o.name.as_str()))
        };
        // Named in the file but not in `lab` (unreadable, or on an unknown host): reported.
        let declared = |n: &str| {
            raw.containers.contains_key(n)
                || raw.unread_containers.contains(n)
                || raw.unread_hosts.contains(n)
        };
        for check in &raw.checks {
            let ch = check.get_ref();
            let mut ok = true;
            let from = ch.from.get_ref();
            let src_container = container_at.get(from.as_str()).copied();
            let src_host = host_at.get(from.as_str()).copied();
            let src_outside = lab.outside.as_ref().is_some_and(|o| o.name == *from);
            let src_known = src_container.is_some() || src_host.is_some() || src_outside;
            if !src_known {
                ok = false;
                if !declared(from) {
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
                }
            }
            let to = ch.to.get_ref();
            let address = if let Ok(ip) = to.parse::<std::net::Ipv6Addr>() {
                self.check_target6(&ch.to, ip).map(std::net::IpAddr::V6)
            } else {
                let a4 = if let Ok(ip) = to.parse::<Ipv4Addr>() {
                    if let Some(block) = Reserved::overlapping(Ipv4Network::from(ip)) {
                        self.r.error_help(
                        span(&ch.to),
                        format!(
                            "check target {ip} is not a unicast address a lab can have (it {}); a ping to it proves nothing",
                            block.describe_briefly(Ipv4Network::from(ip))
                        ),
                        "give the address of one container, host or gateway",
                    );
                        None
                    } else {
                        Some(ip)
                    }
                } else if let Some(t) = container_at
                    .get(to.as_str())
                    .map(|&i| &lab.containers[i])
                    .filter(|t| t.mode == NetworkMode::Host)
                {
                    Some(lab.hosts[t.host].address.ip())
                } else if let Some(t) = container_at
                    .get(to.as_str())
                    .map(|&i| &lab.containers[i])
                    .filter(|t| t.mode == NetworkMode::None)
                {
                    self.r.error_help(
                    span(&ch.to),
                    format!("container {} is in none mode: it has only lo, so nothing can ping it", t.name),
                    "a container with networks = [\"none\"] is unreachable by design (as in Docker); give it a network to check it",
                );
                    None
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
                    match (shared, t.endpoints.first()) {
                        (Some(e), _) => Some(e.address.ip()),
                        // The source is unknown, or one of them lacks a network it was meant to have:
                        // both reported already.
                        _ if !src_known || partial.contains(from) || partial.contains(to) => None,
                        (None, Some(first)) => {
                            self.r.error_help(
                            span(&ch.to),
                            format!("{from} shares no network with {to}, so the name {to} does not resolve from it"),
                            format!("write the address instead, e.g. to = \"{}\"", first.address.ip()),
                        );
                            None
                        }
                        // A container on no network at all: reported.
                        (None, None) => None,
                    }
                } else if let Some(h) = host_at.get(to.as_str()).map(|&i| &lab.hosts[i]) {
                    Some(h.address.ip())
                } else if let Some(o) = lab.outside.as_ref().filter(|o| o.name == *to) {
                    Some(o.address.ip())
                } else if let Some(ip) =
                    src_container.and_then(|s| crate::plan::names::resolve(lab, s, to))
                {
                    // An alias, at the address the source container resolves it to (Docker's
                    // embedded DNS; the lab's hosts files).
                    Some(ip)
                } else if declared(to) {
                    None
                } else {
                    let help = (!self.r.is_full())
                        .then(|| close_match(to, names()))
                        .flatten()
                        .unwrap_or_else(|| {
                            "name a container or host, or give an IPv4 address".into()
                        });
                    self.r.error_help(
                    span(&ch.to),
                    format!("check target {to:?} is not a container, host, alias the source resolves, or IP address"),
                    help,
                );
                    None
                };
                a4.map(std::net::IpAddr::V4)
            };
            ok &= address.is_some();
            let expect = match ch.expect.as_ref().map(|e| e.get_ref().as_str()) {
                None | Some("reachable") => Some(Expect::Reachable),
                Some("unreachable") => Some(Expect::Unreachable),
                Some(other) => {
                    self.r.error(
                        span(ch.expect.as_ref().unwrap()),
                        format!("expect must be \"reachable\" or \"unreachable\", not {other:?}"),
                    );
                    None
                }
            };
            let count = match &ch.count {
                None => Some(2),
                Some(c) if (1..=100).contains(c.get_ref()) => Some(*c.get_ref() as u32),
                Some(c) => {
                    self.r.error(
                        span(c),
                        format!("count {} must be between 1 and 100", c.get_ref()),
                    );
                    None
                }
            };
            let ttl = match &ch.ttl {
                None => Some(None),
                Some(t) if (1..=255).contains(t.get_ref()) => Some(Some(*t.get_ref() as u8)),
                Some(t) => {
                    self.r.error(
                        span(t),
                        format!("ttl {} must be between 1 and 255", t.get_ref()),
                    );
                    None
                }
            };
            if matches!(ttl, Some(Some(_))) && expect == Some(Expect::Unreachable) {
                self.r.error_help(
                    span(ch.ttl.as_ref().unwrap()),
                    "a ttl can only be expected from a reachable target",
                    "remove ttl, or expect = \"reachable\"",
                );
                ok = false;
            }
            if let (true, Some(address), Some(expect), Some(count), Some(ttl)) =
                (ok, address, expect, count, ttl)
            {
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

/// A container's network mode as written (the first predefined network it names).
fn mode_of(c: &RawContainer) -> NetworkMode {
    c.networks
        .get_ref()
        .iter()
        .find_map(|n| NetworkMode::predefined(n.get_ref()))
        .unwrap_or_default()
}

/// Record the sub-interface `name` (VLAN `id` on `nic`) on a host, once.
pub(crate) fn add_vlan(host: &mut Host, name: &str, nic: &str, id: u16) {
    if !host.vlans.iter().any(|v| v.name == name) {
        host.vlans.push(Vlan {
            name: name.to_string(),
            nic: nic.to_string(),
            id,
        });
    }
}

/// An IPv4 block that holds no interface's addresses, so no lab's (RFC 6890): a subnet, host
/// address or check target in one is refused, whatever the kernel would make of it.
struct Reserved {
    block: Ipv4Network,
    name: &'static str,
    why: &'static str,
}

const fn block(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Network {
    match Ipv4Network::new_checked(Ipv4Addr::new(a, b, c, d), prefix) {
        Some(n) => n,
        None => panic!("not a prefix length"),
    }
}

/// Most specific first: the limited broadcast address is inside 240.0.0.0/4.
const RESERVED: [Reserved; 5] = [
    Reserved {
        block: block(255, 255, 255, 255, 32),
        name: "the limited broadcast address",
        why: "it means every host on the link, never one interface (RFC 919)",
    },
    Reserved {
        block: block(0, 0, 0, 0, 8),
        name: "the \"this network\" block",
        why: "its addresses are only a source while a host learns its own, and never routed (RFC 1122)",
    },
    Reserved {
        block: block(127, 0, 0, 0, 8),
        name: "the loopback range",
        why: "the kernel drops packets from or to it on every interface but lo (RFC 1122)",
    },
    Reserved {
        block: block(224, 0, 0, 0, 4),
        name: "the multicast range",
        why: "its addresses name groups of receivers, not interfaces (RFC 5771)",
    },
    Reserved {
        block: block(240, 0, 0, 0, 4),
        name: "the reserved range",
        why: "it is set aside for future use (RFC 1112), and routers and most systems drop it",
    },
];

/// Advice for an address range refused by [`Reserved`].
const UNICAST_HELP: &str =
    "use a unicast range, like the private ones: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16";

impl Reserved {
    /// The reserved block that shares an address with `n`. CIDR blocks either nest or are
    /// disjoint, so one contains the other's first address or they do not meet.
    fn overlapping(n: Ipv4Network) -> Option<&'static Reserved> {
        RESERVED
            .iter()
            .find(|r| r.block.contains(n.network()) || n.contains(r.block.network()))
    }

    /// "is in the multicast range 224.0.0.0/4", of `n` (which overlaps this block).
    fn describe_briefly(&self, n: Ipv4Network) -> String {
        let b = self.block;
        let shown = if b.prefix() == 32 {
            b.ip().to_string()
        } else {
            b.to_string()
        };
        let relation = if b.prefix() == n.prefix() && b.prefix() == 32 {
            "is"
        } else if b.prefix() <= n.prefix() {
            "is in"
        } else {
            "contains"
        };
        format!("{relation} {} {shown}", self.name)
    }

    /// [`describe_briefly`](Self::describe_briefly), and why no lab can use it.
    fn describe(&self, n: Ipv4Network) -> String {
        format!("{}: {}", self.describe_briefly(n), self.why)
    }
}

/// The subnet `n` is in (`10.0.0.0/24` for `10.0.0.7/24`).
fn masked(n: Ipv4Network) -> Ipv4Network {
    Ipv4Network::new(n.network(), n.prefix()).unwrap()
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
    // Optimal string alignment: a swapped pair of letters ("wbe" for "web") is one edit, as
    // people mistype, where plain Levenshtein counts two and ties it with unrelated names.
    let best = known.map(|k| (strsim::osa_distance(wanted, k), k)).min()?;
    (best.0 <= 2.max(wanted.len() / 3)).then(|| format!("did you mean {:?}?", best.1))
}

#[cfg(test)]
mod man_page;
#[cfg(test)]
mod tests;
