//! nftables rules, written in-process through nfnetlink (never by running `nft` or
//! `iptables`). This module owns a small typed model of what a lab's router needs (masquerade,
//! DNAT/SNAT, a forward filter with conntrack state), its rendering in `nft` syntax (for
//! `--dry-run`), and the one place where that model is encoded as nf_tables netlink messages.
//! It must not decide *which* rules a lab gets (that is the plan's job) nor know about labs.
//!
//! Every table is of family `inet`: one table filters and NATs IPv4 and, later, IPv6, as the
//! articles' iptables rules would in both `iptables` and `ip6tables`; inet NAT chains exist since
//! Linux 5.2. Matches on IPv4 addresses are guarded by `meta nfproto ipv4`, as `nft` does in an
//! inet table, so they never misread an IPv6 header.
//!
//! [`apply_in`] sends a single batch (NFNL_MSG_BATCH_BEGIN .. END), so the kernel commits all
//! of it or none of it: a rule it rejects leaves no table, no chain and no earlier rule behind.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use super::netns;

/// An nftables table of family inet, with its chains in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub chains: Vec<Chain>,
}

/// A base chain: attached to a netfilter hook, with a type, a priority and a policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    pub hook: Hook,
    pub kind: ChainKind,
    /// Lower runs first. nft's names: dstnat -100, filter 0, srcnat 100.
    pub priority: i32,
    pub policy: Policy,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    Filter,
    Nat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    Accept,
    Drop,
}

/// Every match must hold (they are ANDed, in order), then the action is taken.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub matches: Vec<Match>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Input interface name (`iifname`): a name, so it may name a device that comes later.
    Iif(String),
    /// Output interface name (`oifname`).
    Oif(String),
    /// Any input interface but this one (`iifname != NAME`, iptables' `! -i`).
    NotIif(String),
    /// Any output interface but this one (`oifname != NAME`).
    NotOif(String),
    Saddr(Ipv4Network),
    Daddr(Ipv4Network),
    /// Layer-4 protocol (`meta l4proto`).
    Proto(L4Proto),
    /// Destination port of TCP or UDP (`tcp dport 8080`).
    Dport {
        proto: L4Proto,
        port: u16,
    },
    /// Connection tracking state, any of these (`ct state established,related`).
    CtState(Vec<CtState>),
    /// Every `modulus`-th packet this rule sees, the first included (`numgen inc mod N 0`):
    /// a counter of the rule's own, so rules for N, N-1, ... 1 backends, in that order, share
    /// connections out round robin (a service's virtual IP, as IPVS's rr would).
    Numgen {
        modulus: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L4Proto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtState {
    Invalid,
    Established,
    Related,
    New,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Accept,
    Drop,
    /// Source NAT to the address of the output interface (`masquerade`).
    Masquerade,
    /// Destination NAT (`dnat ip to ADDR[:PORT]`); a port needs a TCP or UDP match.
    Dnat {
        addr: Ipv4Addr,
        port: Option<u16>,
    },
    /// Source NAT to a fixed address (`snat ip to ADDR`).
    Snat {
        addr: Ipv4Addr,
    },
}

impl Chain {
    /// A NAT chain at the priority nft calls dstnat (-100) before routing and srcnat (100)
    /// after it; policy accept (a NAT chain only rewrites).
    pub fn nat(name: &str, hook: Hook, rules: Vec<Rule>) -> Chain {
        let priority = match hook {
            Hook::Prerouting | Hook::Output => -100,
            Hook::Postrouting | Hook::Input | Hook::Forward => 100,
        };
        Chain {
            name: name.into(),
            hook,
            kind: ChainKind::Nat,
            priority,
            policy: Policy::Accept,
            rules,
        }
    }

    /// A filter chain at priority filter (0).
    pub fn filter(name: &str, hook: Hook, policy: Policy, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            hook,
            kind: ChainKind::Filter,
            priority: 0,
            policy,
            rules,
        }
    }
}

impl Rule {
    pub fn new(matches: Vec<Match>, action: Action) -> Rule {
        Rule { matches, action }
    }
}

// ---------------------------------------------------------------------------------------------
// nft syntax

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

impl ChainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
        }
    }
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        }
    }
}

impl L4Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Icmp => "icmp",
        }
    }
}

impl CtState {
    pub fn as_str(self) -> &'static str {
        match self {
            CtState::Invalid => "invalid",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::New => "new",
        }
    }
}

fn prefix(n: &Ipv4Network) -> String {
    if n.prefix() == 32 {
        n.ip().to_string()
    } else {
        format!("{}/{}", n.network(), n.prefix())
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Iif(n) => write!(f, "iifname \"{n}\""),
            Match::Oif(n) => write!(f, "oifname \"{n}\""),
            Match::NotIif(n) => write!(f, "iifname != \"{n}\""),
            Match::NotOif(n) => write!(f, "oifname != \"{n}\""),
            Match::Saddr(n) => write!(f, "ip saddr {}", prefix(n)),
            Match::Daddr(n) => write!(f, "ip daddr {}", prefix(n)),
            Match::Proto(p) => write!(f, "meta l4proto {}", p.as_str()),
            Match::Dport { proto, port } => write!(f, "{} dport {port}", proto.as_str()),
            Match::CtState(s) => {
                let s: Vec<&str> = s.iter().map(|s| s.as_str()).collect();
                write!(f, "ct state {}", s.join(","))
            }
            Match::Numgen { modulus } => write!(f, "numgen inc mod {modulus} 0"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => write!(f, "accept"),
            Action::Drop => write!(f, "drop"),
            Action::Masquerade => write!(f, "masquerade"),
            Action::Dnat { addr, port: None } => write!(f, "dnat ip to {addr}"),
            Action::Dnat {
                addr,
                port: Some(p),
            } => write!(f, "dnat ip to {addr}:{p}"),
            Action::Snat { addr } => write!(f, "snat ip to {addr}"),
        }
    }
}

/// The rule as nft writes it: `oifname "ens38.10" masquerade`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            write!(f, "{m} ")?;
        }
        write!(f, "{}", self.action)
    }
}

impl Rule {
    /// The rule as netlab writes it, with the counter every rule of it has before its action:
    /// `oifname "ens38.10" counter masquerade`.
    pub fn counted(&self) -> String {
        let mut s = String::new();
        for m in &self.matches {
            s.push_str(&format!("{m} "));
        }
        format!("{s}counter {}", self.action)
    }
}

/// A table's counters by chain, each chain's in rule order (None: a rule without a counter).
pub type ChainCounters = BTreeMap<String, Vec<Option<Counter>>>;

/// What a rule's counter has seen since the rule was written: packets and their bytes (a NAT
/// rule sees a connection's first packet only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

impl Table {
    /// The `nft` commands that build this table, one per line, as the articles' readers would
    /// type them (`nft add rule inet netlab postrouting oifname "ens38.10" counter masquerade`).
    pub fn commands(&self) -> Vec<String> {
        let t = &self.name;
        let mut v = vec![format!("nft add table inet {t}")];
        for c in &self.chains {
            v.push(format!(
                "nft add chain inet {t} {} '{{ type {} hook {} priority {}; policy {}; }}'",
                c.name,
                c.kind.as_str(),
                c.hook.as_str(),
                c.priority,
                c.policy.as_str()
            ));
        }
        for c in &self.chains {
            for r in &c.rules {
                v.push(format!("nft add rule inet {t} {} {}", c.name, r.counted()));
            }
        }
        v
    }
}

/// The table as `nft add` commands, one a line.
impl Table {
    /// The whole table as one `nft` invocation, for a shell: its commands separated by `;` in
    /// one single-quoted argument, which nft applies as one transaction (all or nothing, as
    /// [`apply_in`] does): `nft 'add table inet netlab; add chain ...; add rule ...'`.
    pub fn script(&self) -> String {
        let cmds: Vec<String> = self
            .commands()
            .iter()
            .map(|c| c.trim_start_matches("nft ").replace('\'', ""))
            .collect();
        format!("nft '{}'", cmds.join("; "))
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.commands() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Checks the kernel would make less clearly (or not at all), done before anything is sent.

/// IFNAMSIZ: 16 bytes with the terminating NUL.
const IFNAMSIZ: usize = 16;
/// NFT_NAME_MAXLEN: table and chain names, with the NUL.
const NFT_NAME_MAXLEN: usize = 256;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn check_name(what: &str, name: &str) -> io::Result<()> {
    if name.is_empty()
        || name.len() >= NFT_NAME_MAXLEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(invalid(format!(
            "{what} {name:?}: an nftables name is 1 to {} letters, digits, '_', '-' or '.'",
            NFT_NAME_MAXLEN - 1
        )));
    }
    Ok(())
}

fn check_ifname(name: &str) -> io::Result<()> {
    if name.is_empty()
        || name.len() >= IFNAMSIZ
        || name
            .bytes()
            .any(|b| b == b'/' || b == b'"' || b == b'\0' || b.is_ascii_whitespace())
    {
        return Err(invalid(format!(
            "interface name {name:?}: a Linux interface name is 1 to {} bytes, without '/', quotes or spaces",
            IFNAMSIZ - 1
        )));
    }
    Ok(())
}

fn check_rule(r: &Rule) -> io::Result<()> {
    let mut ports = false;
    for m in &r.matches {
        match m {
            Match::Iif(n) | Match::Oif(n) | Match::NotIif(n) | Match::NotOif(n) => check_ifname(n)?,
            Match::Dport {
                proto: L4Proto::Icmp,
                ..
            } => return Err(invalid(format!("{m}: ICMP has no ports"))),
            Match::Dport { .. } | Match::Proto(L4Proto::Tcp | L4Proto::Udp) => ports = true,
            Match::CtState(s) if s.is_empty() => {
                return Err(invalid("ct state: name at least one state".into()))
            }
            Match::Numgen { modulus: 0 } => {
                return Err(invalid("numgen: the modulus is at least 1".into()))
            }
            _ => {}
        }
    }
    if let Action::Dnat { port: Some(_), .. } = r.action {
        if !ports {
            return Err(invalid(format!(
                "{r}: a DNAT port needs a TCP or UDP match in the rule (e.g. tcp dport 8080)"
            )));
        }
    }
    Ok(())
}

impl Table {
    /// The model's own rules: names the kernel accepts, no duplicate chain, ports only where
    /// there are ports. (What depends on the chain, e.g. masquerade outside a NAT postrouting
    /// chain, is left to the kernel, whose refusal [`apply_in`] explains.)
    pub fn check(&self) -> io::Result<()> {
        check_name("table", &self.name)?;
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.chains {
            check_name("chain", &c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(invalid(format!(
                    "table {}: chain {} appears twice",
                    self.name, c.name
                )));
            }
            for (i, r) in c.rules.iter().enumerate() {
                check_rule(r).map_err(|e| {
                    invalid(format!(
                        "table {} chain {} rule {}: {e}",
                        self.name,
                        c.name,
                        i + 1
                    ))
                })?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Writing to the kernel

/// Make the namespace `ns` is a handle on hold exactly `table` (family inet): one batch that
/// creates the table if absent, deletes it (so a table of that name from an earlier run, or a
/// half-remembered one after a crash, goes), and builds it anew with its chains and rules. The
/// kernel commits the batch whole or not at all, so this is also safe to repeat.
pub fn apply_in(ns: &File, table: &Table) -> io::Result<()> {
    table.check()?;
    match send_in(ns, wire::apply_batch(table), &table.name)? {
        None => Ok(()),
        Some((part, errno)) => Err(refusal(&table.name, &part, errno)),
    }
}

/// Remove the table `name` (family inet) from the namespace `ns` is a handle on, with its
/// chains and rules. A table that is not there is not an error.
pub fn delete_in(ns: &File, name: &str) -> io::Result<()> {
    check_name("table", name)?;
    match send_in(ns, wire::delete_batch(name), name)? {
        None | Some((Part::DeleteTable, libc::ENOENT)) => Ok(()),
        Some((part, errno)) => Err(refusal(name, &part, errno)),
    }
}

/// What one message of a batch was, to say which one the kernel refused.
#[derive(Debug, Clone)]
enum Part {
    Batch,
    NewTable,
    DeleteTable,
    Chain(Chain),
    Rule {
        chain: String,
        index: usize,
        rule: Rule,
    },
}

/// How long to wait for the kernel's answer to a batch (it answers at once; this only keeps a
/// lost answer from hanging netlab).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The counters of the rules of table `name` (family inet) in the namespace `ns` is a handle
/// on, read back from the kernel (NFT_MSG_GETRULE): per chain, in rule order (None: a rule
/// without a counter, one netlab did not write). None: the kernel has no such table.
pub fn counters_in(ns: &File, name: &str) -> io::Result<Option<ChainCounters>> {
    check_name("table", name)?;
    let sock = socket_in(ns, name)?;
    let Some(rules) = wire::dump_rules(&sock, name, ANSWER_TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("reading nftables table {name}: {e}")))?
    else {
        return Ok(None);
    };
    let mut out = ChainCounters::new();
    for (chain, counter) in rules {
        out.entry(chain).or_default().push(counter);
    }
    Ok(Some(out))
}

/// Send `batch` from a socket opened in `ns`; the part the kernel refused first, and its errno.
fn send_in(ns: &File, batch: wire::Batch, table: &str) -> io::Result<Option<(Part, i32)>> {
    let wire::Batch {
        bytes,
        parts,
        acked,
    } = batch;
    let sock = socket_in(ns, table)?;
    let failures = wire::talk(&sock, &bytes, &acked, ANSWER_TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("nftables table {table}: {e}")))?;
    // The first refusal is the cause; later ones in the same batch usually follow from it (a
    // rule in a chain that could not be made).
    Ok(failures
        .into_iter()
        .next()
        .map(|(seq, errno)| (parts.get(&seq).cloned().unwrap_or(Part::Batch), errno)))
}

/// An nfnetlink socket opened in `ns`, for table `table`'s messages.
fn socket_in(ns: &File, table: &str) -> io::Result<netlink_sys::Socket> {
    netns::run_in_handle(ns, || {
        netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)
    })
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "opening an nfnetlink socket for nftables table {table}: {e}{}",
                if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
                    " (the kernel lacks nfnetlink: CONFIG_NETFILTER_NETLINK, CONFIG_NF_TABLES)"
                } else {
                    ""
                }
            ),
        )
    })
}

/// The kernel's refusal of one part of a batch, said with what it was and what to do.
fn refusal(table: &str, part: &Part, errno: i32) -> io::Error {
    let os = io::Error::from_raw_os_error(errno);
    let what = match part {
        Part::Batch => format!("committing nftables table inet {table}"),
        Part::NewTable => format!("creating nftables table inet {table}"),
        Part::DeleteTable => format!("deleting nftables table inet {table}"),
        Part::Chain(c) => format!(
            "creating chain {} (type {} hook {}) in nftables table inet {table}",
            c.name,
            c.kind.as_str(),
            c.hook.as_str()
        ),
        Part::Rule { chain, index, rule } => format!(
            "adding rule {} of chain {chain} in nftables table inet {table} ({rule})",
            index + 1
        ),
    };
    let hint = hint(part, errno);
    let sep = if hint.is_empty() { "" } else { ": " };
    io::Error::new(os.kind(), format!("{what}: {os}{sep}{hint}"))
}

fn hint(part: &Part, errno: i32) -> String {
    let missing = errno == libc::ENOENT || errno == libc::EOPNOTSUPP;
    match part {
        _ if errno == libc::EPERM => "netlab needs CAP_NET_ADMIN (run it as root)".into(),
        Part::NewTable if errno == libc::EAFNOSUPPORT || errno == libc::ENOENT => {
            "the kernel lacks inet nftables tables (CONFIG_NF_TABLES_INET)".into()
        }
        Part::Chain(c) if c.kind == ChainKind::Nat && missing => {
            "a nat chain needs the kernel's nftables NAT (CONFIG_NF_NAT, CONFIG_NFT_NAT: module nft_chain_nat)".into()
        }
        Part::Chain(_) if errno == libc::EBUSY => {
            "the chain's priority or hook clashes with one already in the table".into()
        }
        Part::Rule { rule, .. } => {
            let uses_ct = rule.matches.iter().any(|m| matches!(m, Match::CtState(_)));
            let uses_numgen = rule
                .matches
                .iter()
                .any(|m| matches!(m, Match::Numgen { .. }));
            let action = match rule.action {
                Action::Masquerade if errno == libc::ENOENT => {
                    "masquerade needs CONFIG_NFT_MASQ (module nft_masq) and CONFIG_NF_NAT"
                }
                Action::Masquerade if errno == libc::EOPNOTSUPP => {
                    "masquerade works only in a nat chain on the postrouting hook (and needs CONFIG_NFT_MASQ)"
                }
                Action::Dnat { .. } if errno == libc::ENOENT => {
                    "dnat needs CONFIG_NFT_NAT (module nft_nat) and CONFIG_NF_NAT"
                }
                Action::Dnat { .. } if errno == libc::EOPNOTSUPP => {
                    "dnat works only in a nat chain on the prerouting or output hook (and needs CONFIG_NFT_NAT)"
                }
                Action::Snat { .. } if errno == libc::ENOENT => {
                    "snat needs CONFIG_NFT_NAT (module nft_nat) and CONFIG_NF_NAT"
                }
                Action::Snat { .. } if errno == libc::EOPNOTSUPP => {
                    "snat works only in a nat chain on the postrouting or input hook (and needs CONFIG_NFT_NAT)"
                }
                _ => "",
            };
            if !action.is_empty() {
                action.into()
            } else if uses_ct && missing {
                "ct state needs connection tracking (CONFIG_NF_CONNTRACK, CONFIG_NFT_CT)".into()
            } else if uses_numgen && missing {
                "numgen needs CONFIG_NFT_NUMGEN (module nft_numgen)".into()
            } else if errno == libc::EINVAL || errno == libc::ERANGE {
                "the kernel refused the rule's encoding: a netlab bug, please report it with this rule".into()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// The nf_tables wire format: every constant named after include/uapi/linux/netfilter/
/// nf_tables.h (and nfnetlink.h, netfilter.h, nf_nat.h), every expression built here. Table,
/// chain, rule and the common expressions come typed from netlink-packet-netfilter; ct, masq,
/// nat and numgen, which it does not have, are flat lists of u32 attributes built from the constants
/// below.
mod wire {
    use super::*;

    use netlink_packet_core::{
        DefaultNla, NetlinkMessage, NetlinkPayload, Nla, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
        NLM_F_DUMP, NLM_F_REQUEST,
    };
    use netlink_packet_netfilter::nftables::{
        Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, ExpressionAttribute,
        Expressions, Hook as NlHook, HookNumber, Immediate, InetHookNumber, ListAttribute, Meta,
        MetaKey, NfTablesMessage, Operator, Payload, Register, RuleAttribute, RuleMessage,
        TableAttribute, TableMessage, Verdict, VerdictAttribute,
    };
    use netlink_packet_netfilter::none::ControlMessage;
    use netlink_packet_netfilter::{
        NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily as Family,
    };

    // nfnetlink.h
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    // netfilter.h: verdicts and protocol families
    const NF_DROP: u32 = 0;
    const NF_ACCEPT: u32 = 1;
    const NFPROTO_IPV4: u8 = 2;
    // enum nft_payload_bases
    const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
    const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
    // enum nft_ct_attributes, enum nft_ct_keys
    const NFTA_CT_DREG: u16 = 1;
    const NFTA_CT_KEY: u16 = 2;
    const NFT_CT_STATE: u32 = 0;
    // nf_conntrack_common.h: NF_CT_STATE_INVALID_BIT, NF_CT_STATE_BIT(IP_CT_*)
    const NF_CT_STATE_INVALID_BIT: u32 = 1 << 0;
    const NF_CT_STATE_ESTABLISHED_BIT: u32 = 1 << 1; // IP_CT_ESTABLISHED = 0
    const NF_CT_STATE_RELATED_BIT: u32 = 1 << 2; // IP_CT_RELATED = 1
    const NF_CT_STATE_NEW_BIT: u32 = 1 << 3; // IP_CT_NEW = 2
                                             // enum nft_nat_attributes, enum nft_nat_types
    const NFTA_NAT_TYPE: u16 = 1;
    const NFTA_NAT_FAMILY: u16 = 2;
    const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
    const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
    const NFTA_NAT_FLAGS: u16 = 7;
    const NFT_NAT_SNAT: u32 = 0;
    const NFT_NAT_DNAT: u32 = 1;
    // nf_nat.h
    const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;
    // enum nft_registers: the 16-byte registers 1 and 2
    const NFT_REG_1: u32 = 1;
    const NFT_REG_2: u32 = 2;
    // IPv4 header offsets of the addresses, TCP/UDP header offset of the destination port
    const IPV4_SADDR: u32 = 12;
    const IPV4_DADDR: u32 = 16;
    const TH_DPORT: u32 = 2;
    // NLMSG_ERROR, NLMSG_DONE (netlink.h)
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    // enum nft_counter_attributes
    const NFTA_COUNTER_BYTES: u16 = 1;
    const NFTA_COUNTER_PACKETS: u16 = 2;
    // enum nft_ng_attributes, enum nft_ng_types
    const NFTA_NG_DREG: u16 = 1;
    const NFTA_NG_MODULUS: u16 = 2;
    const NFTA_NG_TYPE: u16 = 3;
    const NFT_NG_INCREMENTAL: u32 = 0;

    /// A batch ready to send: its bytes, what each sequence number was, and the sequence
    /// numbers the kernel will acknowledge (all but BEGIN and END).
    pub(super) struct Batch {
        pub bytes: Vec<u8>,
        pub parts: BTreeMap<u32, Part>,
        pub acked: Vec<u32>,
    }

    struct Builder {
        batch: Batch,
        seq: u32,
    }

    impl Builder {
        fn new() -> Builder {
            let mut b = Builder {
                batch: Batch {
                    bytes: Vec::new(),
                    parts: BTreeMap::new(),
                    acked: Vec::new(),
                },
                seq: 0,
            };
            // BEGIN names the subsystem in res_id; its sequence number is the one a
            // commit-time refusal comes back with.
            b.push(
                NetfilterHeader::new(Family::Unspec, 0, NFNL_SUBSYS_NFTABLES),
                ControlMessage::BatchBegin.into(),
                0,
                Part::Batch,
            );
            b
        }

        fn push(
            &mut self,
            header: NetfilterHeader,
            inner: netlink_packet_netfilter::NetfilterMessageInner,
            flags: u16,
            part: Part,
        ) {
            self.seq += 1;
            let mut m = NetlinkMessage::from(NetfilterMessage::new(header, inner));
            m.header.flags = NLM_F_REQUEST | flags;
            m.header.sequence_number = self.seq;
            m.finalize();
            let start = self.batch.bytes.len();
            self.batch.bytes.resize(start + m.buffer_len(), 0);
            m.serialize(&mut self.batch.bytes[start..]);
            if flags & NLM_F_ACK != 0 {
                self.batch.acked.push(self.seq);
            }
            self.batch.parts.insert(self.seq, part);
        }

        fn nft(&mut self, msg: NfTablesMessage, flags: u16, part: Part) {
            self.push(
                NetfilterHeader::new(Family::Inet, 0, 0),
                msg.into(),
                NLM_F_ACK | flags,
                part,
            );
        }

        fn finish(mut self) -> Batch {
            self.push(
                NetfilterHeader::new(Family::Unspec, 0, NFNL_SUBSYS_NFTABLES),
                ControlMessage::BatchEnd.into(),
                0,
                Part::Batch,
            );
            self.batch
        }
    }

    fn table_msg(name: &str) -> TableMessage {
        TableMessage {
            attributes: vec![TableAttribute::Name(name.into())],
        }
    }

    pub(super) fn delete_batch(name: &str) -> Batch {
        let mut b = Builder::new();
        b.nft(
            NfTablesMessage::DeleteTable(table_msg(name)),
            0,
            Part::DeleteTable,
        );
        b.finish()
    }

    pub(super) fn apply_batch(t: &Table) -> Batch {
        let mut b = Builder::new();
        // add table; delete table; add table ...: the classic atomic replace.
        b.nft(
            NfTablesMessage::NewTable(table_msg(&t.name)),
            NLM_F_CREATE,
            Part::NewTable,
        );
        b.nft(
            NfTablesMessage::DeleteTable(table_msg(&t.name)),
            0,
            Part::DeleteTable,
        );
        b.nft(
            NfTablesMessage::NewTable(table_msg(&t.name)),
            NLM_F_CREATE,
            Part::NewTable,
        );
        for c in &t.chains {
            b.nft(
                NfTablesMessage::NewChain(chain_msg(&t.name, c)),
                NLM_F_CREATE,
                Part::Chain(c.clone()),
            );
        }
        for c in &t.chains {
            for (index, r) in c.rules.iter().enumerate() {
                let msg = RuleMessage {
                    attributes: vec![
                        RuleAttribute::Table(t.name.clone()),
                        RuleAttribute::Chain(c.name.clone()),
                        RuleAttribute::Expressions(
                            expressions(r).into_iter().map(Into::into).collect(),
                        ),
                    ],
                };
                b.nft(
                    NfTablesMessage::NewRule(msg),
                    NLM_F_CREATE | NLM_F_APPEND,
                    Part::Rule {
                        chain: c.name.clone(),
                        index,
                        rule: r.clone(),
                    },
                );
            }
        }
        b.finish()
    }

    fn chain_msg(table: &str, c: &Chain) -> ChainMessage {
        let hook = match c.hook {
            Hook::Prerouting => InetHookNumber::PreRouting,
            Hook::Input => InetHookNumber::LocalIn,
            Hook::Forward => InetHookNumber::Forward,
            Hook::Output => InetHookNumber::LocalOut,
            Hook::Postrouting => InetHookNumber::PostRouting,
        };
        ChainMessage {
            attributes: vec![
                ChainAttribute::Table(table.into()),
                ChainAttribute::Name(c.name.clone()),
                ChainAttribute::Hook(vec![
                    NlHook::Number(HookNumber::Inet(hook)),
                    // NFTA_HOOK_PRIORITY is a signed 32-bit number sent as big-endian u32.
                    NlHook::Priority(c.priority as u32),
                ]),
                ChainAttribute::Type(c.kind.as_str().into()),
                ChainAttribute::Policy(match c.policy {
                    Policy::Accept => NF_ACCEPT,
                    Policy::Drop => NF_DROP,
                }),
            ],
        }
    }

    fn u32_attr(kind: u16, v: u32) -> DefaultNla {
        DefaultNla::new(kind, v.to_be_bytes().to_vec())
    }

    fn meta(key: MetaKey) -> Expressions {
        Expressions::Meta(vec![
            Meta::Key(key),
            Meta::DestinationRegister(Register::Reg1),
        ])
    }

    fn cmp(op: Operator, data: Vec<u8>) -> Expressions {
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(op),
            Cmp::Data(DataAttribute::Value(data)),
        ])
    }

    fn payload(base: u32, offset: u32, len: u32) -> Expressions {
        Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(base),
            Payload::Offset(offset),
            Payload::Len(len),
        ])
    }

    /// reg1 = reg1 & mask (xor 0), over mask's length.
    fn and(mask: Vec<u8>) -> Expressions {
        Expressions::Bitwise(vec![
            Bitwise::SourceRegister(Register::Reg1),
            Bitwise::DestinationRegister(Register::Reg1),
            Bitwise::Length(mask.len() as u32),
            Bitwise::Xor(DataAttribute::Value(vec![0; mask.len()])),
            Bitwise::Mask(DataAttribute::Value(mask)),
        ])
    }

    fn l4proto(p: L4Proto) -> [Expressions; 2] {
        let n = match p {
            L4Proto::Tcp => libc::IPPROTO_TCP,
            L4Proto::Udp => libc::IPPROTO_UDP,
            L4Proto::Icmp => libc::IPPROTO_ICMP,
        };
        [meta(MetaKey::L4Proto), cmp(Operator::Equal, vec![n as u8])]
    }

    fn ipv4_prefix(offset: u32, n: &Ipv4Network) -> Vec<Expressions> {
        let mut v = vec![
            meta(MetaKey::Nfproto),
            cmp(Operator::Equal, vec![NFPROTO_IPV4]),
        ];
        if n.prefix() == 0 {
            return v;
        }
        v.push(payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4));
        if n.prefix() < 32 {
            v.push(and(n.mask().octets().to_vec()));
        }
        v.push(cmp(Operator::Equal, n.network().octets().to_vec()));
        v
    }

    /// An interface name as meta iifname/oifname loads it: IFNAMSIZ bytes, NUL-padded.
    fn ifname(n: &str) -> Vec<u8> {
        let mut v = n.as_bytes().to_vec();
        v.resize(IFNAMSIZ, 0);
        v
    }

    fn match_exprs(m: &Match) -> Vec<Expressions> {
        match m {
            Match::Iif(n) => vec![meta(MetaKey::Iifname), cmp(Operator::Equal, ifname(n))],
            Match::Oif(n) => vec![meta(MetaKey::Oifname), cmp(Operator::Equal, ifname(n))],
            Match::NotIif(n) => vec![meta(MetaKey::Iifname), cmp(Operator::NotEqual, ifname(n))],
            Match::NotOif(n) => vec![meta(MetaKey::Oifname), cmp(Operator::NotEqual, ifname(n))],
            Match::Saddr(n) => ipv4_prefix(IPV4_SADDR, n),
            Match::Daddr(n) => ipv4_prefix(IPV4_DADDR, n),
            Match::Proto(p) => l4proto(*p).into(),
            Match::Dport { proto, port } => {
                let mut v: Vec<Expressions> = l4proto(*proto).into();
                v.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, TH_DPORT, 2));
                v.push(cmp(Operator::Equal, port.to_be_bytes().to_vec()));
                v
            }
            Match::CtState(states) => {
                let mask = states.iter().fold(0u32, |m, s| {
                    m | match s {
                        CtState::Invalid => NF_CT_STATE_INVALID_BIT,
                        CtState::Established => NF_CT_STATE_ESTABLISHED_BIT,
                        CtState::Related => NF_CT_STATE_RELATED_BIT,
                        CtState::New => NF_CT_STATE_NEW_BIT,
                    }
                });
                // ct state is a host-order u32: state & mask != 0.
                vec![
                    Expressions::Other {
                        expression_type: "ct".into(),
                        attributes: vec![
                            u32_attr(NFTA_CT_DREG, NFT_REG_1),
                            u32_attr(NFTA_CT_KEY, NFT_CT_STATE),
                        ],
                    },
                    and(mask.to_ne_bytes().to_vec()),
                    cmp(Operator::NotEqual, vec![0; 4]),
                ]
            }
            // reg1 = (the rule's counter++) % modulus, a host-order u32; == 0.
            Match::Numgen { modulus } => vec![
                Expressions::Other {
                    expression_type: "numgen".into(),
                    attributes: vec![
                        u32_attr(NFTA_NG_DREG, NFT_REG_1),
                        u32_attr(NFTA_NG_MODULUS, *modulus),
                        u32_attr(NFTA_NG_TYPE, NFT_NG_INCREMENTAL),
                    ],
                },
                cmp(Operator::Equal, vec![0; 4]),
            ],
        }
    }

    fn verdict(code: u32) -> Expressions {
        Expressions::Immediate(vec![
            Immediate::DestinationRegister(Register::Verdict),
            Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(
                Verdict::Other(code),
            )])),
        ])
    }

    fn immediate(reg: Register, data: Vec<u8>) -> Expressions {
        Expressions::Immediate(vec![
            Immediate::DestinationRegister(reg),
            Immediate::Data(DataAttribute::Value(data)),
        ])
    }

    fn nat(kind: u32, addr: Ipv4Addr, port: Option<u16>) -> Vec<Expressions> {
        let mut v = vec![immediate(Register::Reg1, addr.octets().to_vec())];
        let mut attrs = vec![
            u32_attr(NFTA_NAT_TYPE, kind),
            u32_attr(NFTA_NAT_FAMILY, NFPROTO_IPV4 as u32),
            u32_attr(NFTA_NAT_REG_ADDR_MIN, NFT_REG_1),
        ];
        if let Some(p) = port {
            v.push(immediate(Register::Reg2, p.to_be_bytes().to_vec()));
            attrs.push(u32_attr(NFTA_NAT_REG_PROTO_MIN, NFT_REG_2));
            attrs.push(u32_attr(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED));
        }
        v.push(Expressions::Other {
            expression_type: "nat".into(),
            attributes: attrs,
        });
        v
    }

    pub(super) fn expressions(r: &Rule) -> Vec<Expressions> {
        let mut v: Vec<Expressions> = r.matches.iter().flat_map(match_exprs).collect();
        // A counter (zero to begin with) on every rule, read back by `netlab firewall`.
        v.push(Expressions::Other {
            expression_type: "counter".into(),
            attributes: vec![],
        });
        match &r.action {
            Action::Accept => v.push(verdict(NF_ACCEPT)),
            Action::Drop => v.push(verdict(NF_DROP)),
            Action::Masquerade => v.push(Expressions::Other {
                expression_type: "masq".into(),
                attributes: vec![],
            }),
            Action::Dnat { addr, port } => v.extend(nat(NFT_NAT_DNAT, *addr, *port)),
            Action::Snat { addr } => v.extend(nat(NFT_NAT_SNAT, *addr, None)),
        }
        v
    }

    /// The request for every rule of table `table` (family inet): a GETRULE dump.
    pub(super) fn get_rules(table: &str) -> Vec<u8> {
        let msg = NfTablesMessage::GetRule(RuleMessage {
            attributes: vec![RuleAttribute::Table(table.into())],
        });
        let inner: netlink_packet_netfilter::NetfilterMessageInner = msg.into();
        let mut m = NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(Family::Inet, 0, 0),
            inner,
        ));
        m.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        m.header.sequence_number = 1;
        m.finalize();
        let mut bytes = vec![0; m.buffer_len()];
        m.serialize(&mut bytes);
        bytes
    }

    /// A rule's chain and the counter among its expressions.
    fn rule_counter(r: &RuleMessage) -> RuleCounter {
        let mut chain = String::new();
        let mut counter = None;
        for a in &r.attributes {
            match a {
                RuleAttribute::Chain(c) => chain = c.clone(),
                RuleAttribute::Expressions(list) => {
                    for e in list {
                        let ListAttribute::Element(attrs) = e else {
                            continue;
                        };
                        for x in attrs {
                            if let ExpressionAttribute::Data(Expressions::Other {
                                expression_type,
                                attributes,
                            }) = x
                            {
                                if expression_type == "counter" {
                                    counter = Some(read_counter(attributes));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        (chain, counter)
    }

    fn read_counter(attrs: &[DefaultNla]) -> Counter {
        let mut c = Counter::default();
        for a in attrs {
            let mut v = vec![0u8; a.value_len()];
            a.emit_value(&mut v);
            let Ok(n) = <[u8; 8]>::try_from(v.as_slice()) else {
                continue;
            };
            match a.kind() {
                NFTA_COUNTER_BYTES => c.bytes = u64::from_be_bytes(n),
                NFTA_COUNTER_PACKETS => c.packets = u64::from_be_bytes(n),
                _ => {}
            }
        }
        c
    }

    /// A rule's chain and its counter.
    type RuleCounter = (String, Option<Counter>);

    /// Every rule of table `table`, in the kernel's order (chain by chain, each in rule order):
    /// its chain and counter. None: the table is not there (ENOENT).
    pub(super) fn dump_rules(
        sock: &netlink_sys::Socket,
        table: &str,
        timeout: Duration,
    ) -> io::Result<Option<Vec<RuleCounter>>> {
        use nix::sys::socket::{setsockopt, sockopt};
        use nix::sys::time::TimeVal;
        setsockopt(
            sock,
            sockopt::ReceiveTimeout,
            &TimeVal::new(timeout.as_secs() as i64, 0),
        )?;
        sock.send(&get_rules(table), 0)?;
        let mut out = Vec::new();
        loop {
            let (buf, _) = sock.recv_from_full()?;
            for msg in crate::kernel::nl_messages(&buf) {
                if msg.kind == NLMSG_DONE {
                    return Ok(Some(out));
                }
                let m = NetlinkMessage::<NetfilterMessage>::deserialize(msg.whole)
                    .map_err(|e| io::Error::other(format!("unreadable nf_tables answer: {e}")))?;
                match m.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        Some(code) if -code.get() == libc::ENOENT => return Ok(None),
                        Some(code) => return Err(io::Error::from_raw_os_error(-code.get())),
                        None => {}
                    },
                    NetlinkPayload::InnerMessage(NetfilterMessage {
                        inner: NetfilterMessageInner::NfTables(NfTablesMessage::NewRule(r)),
                        ..
                    }) => out.push(rule_counter(&r)),
                    _ => {}
                }
            }
        }
    }

    /// Send the batch in one datagram (a batch cannot span two) and collect the kernel's
    /// answers until every acknowledged message has one: the refusals, as (sequence number,
    /// errno), in the order they came. A commit-time refusal is sent before the
    /// acknowledgements and carries BEGIN's sequence number.
    pub(super) fn talk(
        sock: &netlink_sys::Socket,
        bytes: &[u8],
        acked: &[u32],
        timeout: Duration,
    ) -> io::Result<Vec<(u32, i32)>> {
        use nix::sys::socket::{setsockopt, sockopt};
        use nix::sys::time::TimeVal;
        // Room for the whole batch, and for one acknowledgement per message (an skb each).
        let _ = setsockopt(sock, sockopt::SndBufForce, &(bytes.len() * 2 + 65536));
        let _ = setsockopt(sock, sockopt::RcvBufForce, &(acked.len() * 2048 + 65536));
        setsockopt(
            sock,
            sockopt::ReceiveTimeout,
            &TimeVal::new(timeout.as_secs() as i64, 0),
        )?;
        // Answers are short without the request copied back (NETLINK_CAP_ACK).
        let _ = sock.set_cap_ack(true);
        let sent = sock.send(bytes, 0)?;
        if sent != bytes.len() {
            return Err(io::Error::other(format!(
                "the kernel took {sent} of the batch's {} bytes",
                bytes.len()
            )));
        }
        let mut pending: std::collections::BTreeSet<u32> = acked.iter().copied().collect();
        let mut refused = Vec::new();
        while !pending.is_empty() {
            let (buf, _) = sock.recv_from_full().map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "nf_tables did not answer {} of the batch's messages within {timeout:?}",
                            pending.len()
                        ),
                    )
                } else {
                    e
                }
            })?;
            for msg in crate::kernel::nl_messages(&buf) {
                if msg.kind != NLMSG_ERROR {
                    continue;
                }
                let m = NetlinkMessage::<NetfilterMessage>::deserialize(msg.whole)
                    .map_err(|e| io::Error::other(format!("unreadable nf_tables answer: {e}")))?;
                let NetlinkPayload::Error(e) = m.payload else {
                    continue;
                };
                // The refused request's nlmsghdr follows the error code: its sequence number
                // is at bytes 8..12.
                let Some(seq) = e.header.get(8..12) else {
                    continue;
                };
                let seq = u32::from_ne_bytes(seq.try_into().unwrap());
                pending.remove(&seq);
                if let Some(code) = e.code {
                    refused.push((seq, -code.get()));
                }
            }
        }
        Ok(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> Table {
        Table {
            name: "netlab".into(),
            chains: vec![
                Chain::nat(
                    "postrouting",
                    Hook::Postrouting,
                    vec![Rule::new(
                        vec![Match::Oif("ens38.10".into())],
                        Action::Masquerade,
                    )],
                ),
                Chain::filter(
                    "forward",
                    Hook::Forward,
                    Policy::Drop,
                    vec![
                        Rule::new(
                            vec![Match::CtState(vec![CtState::Established, CtState::Related])],
                            Action::Accept,
                        ),
                        Rule::new(
                            vec![Match::Iif("ens38.10".into()), Match::Oif("ens38.20".into())],
                            Action::Accept,
                        ),
                    ],
                ),
                Chain::nat(
                    "prerouting",
                    Hook::Prerouting,
                    vec![Rule::new(
                        vec![
                            Match::Daddr("203.0.113.0/24".parse().unwrap()),
                            Match::Dport {
                                proto: L4Proto::Tcp,
                                port: 8080,
                            },
                        ],
                        Action::Dnat {
                            addr: "10.0.0.2".parse().unwrap(),
                            port: Some(80),
                        },
                    )],
                ),
            ],
        }
    }

    #[test]
    fn renders_as_nft_commands() {
        let t = gateway();
        assert_eq!(
            t.commands(),
            [
                "nft add table inet netlab",
                "nft add chain inet netlab postrouting '{ type nat hook postrouting priority 100; policy accept; }'",
                "nft add chain inet netlab forward '{ type filter hook forward priority 0; policy drop; }'",
                "nft add chain inet netlab prerouting '{ type nat hook prerouting priority -100; policy accept; }'",
                "nft add rule inet netlab postrouting oifname \"ens38.10\" counter masquerade",
                "nft add rule inet netlab forward ct state established,related counter accept",
                "nft add rule inet netlab forward iifname \"ens38.10\" oifname \"ens38.20\" counter accept",
                "nft add rule inet netlab prerouting ip daddr 203.0.113.0/24 tcp dport 8080 counter dnat ip to 10.0.0.2:80",
            ]
        );
        let r = Rule::new(
            vec![Match::Saddr("192.0.2.7/32".parse().unwrap())],
            Action::Snat {
                addr: "198.51.100.1".parse().unwrap(),
            },
        );
        assert_eq!(r.to_string(), "ip saddr 192.0.2.7 snat ip to 198.51.100.1");
    }

    #[test]
    fn round_trips_through_serde() {
        let t = gateway();
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(r#"{"oif":"ens38.10"}"#), "{json}");
        assert!(
            json.contains(r#""ct_state":["established","related"]"#),
            "{json}"
        );
        let back: Table = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn refuses_what_the_kernel_would_misread() {
        let mut t = gateway();
        t.chains[0].rules[0].matches = vec![Match::Oif("a-name-too-long0".into())];
        let e = t.check().unwrap_err().to_string();
        assert!(
            e.contains("chain postrouting rule 1") && e.contains("1 to 15 bytes"),
            "{e}"
        );

        let mut t = gateway();
        t.chains[2].rules[0].matches.remove(1);
        let e = t.check().unwrap_err().to_string();
        assert!(e.contains("needs a TCP or UDP match"), "{e}");

        let mut t = gateway();
        t.chains.push(t.chains[0].clone());
        let e = t.check().unwrap_err().to_string();
        assert!(e.contains("chain postrouting appears twice"), "{e}");

        let mut t = gateway();
        t.name = "net lab".into();
        assert!(t.check().is_err());
        assert!(gateway().check().is_ok());
    }

    #[test]
    fn batch_is_framed_and_every_part_is_acknowledged() {
        let b = wire::apply_batch(&gateway());
        // BEGIN, table, delete, table, 3 chains, 4 rules, END.
        assert_eq!(b.parts.len(), 12);
        assert_eq!(b.acked, (2..=11).collect::<Vec<u32>>());
        // Walk the messages: type (subsystem << 8 | message) and sequence numbers in order.
        let mut off = 0;
        let mut types = Vec::new();
        while off < b.bytes.len() {
            let len = u32::from_ne_bytes(b.bytes[off..off + 4].try_into().unwrap()) as usize;
            types.push(u16::from_ne_bytes([b.bytes[off + 4], b.bytes[off + 5]]));
            let seq = u32::from_ne_bytes(b.bytes[off + 8..off + 12].try_into().unwrap());
            assert_eq!(seq as usize, types.len());
            off += len;
        }
        // NFNL_MSG_BATCH_BEGIN 16, NFT_MSG_NEWTABLE 0, DELTABLE 2, NEWCHAIN 3, NEWRULE 6, END 17
        let nft = |m: u16| (10 << 8) | m;
        assert_eq!(
            types,
            [
                16,
                nft(0),
                nft(2),
                nft(0),
                nft(3),
                nft(3),
                nft(3),
                nft(6),
                nft(6),
                nft(6),
                nft(6),
                17
            ]
        );
    }

    #[test]
    fn refusals_name_the_part_and_the_kernel_option() {
        let t = gateway();
        let part = Part::Rule {
            chain: "postrouting".into(),
            index: 0,
            rule: t.chains[0].rules[0].clone(),
        };
        let e = refusal("netlab", &part, libc::ENOENT).to_string();
        assert!(
            e.contains("rule 1 of chain postrouting")
                && e.contains("oifname \"ens38.10\" masquerade")
                && e.contains("CONFIG_NFT_MASQ"),
            "{e}"
        );
        let e = refusal("netlab", &Part::Chain(t.chains[0].clone()), libc::ENOENT).to_string();
        assert!(e.contains("CONFIG_NF_NAT"), "{e}");
    }
}
