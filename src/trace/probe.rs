//! `trace --probe`, hop by hop: what a probe sent with TTL k should get back according to a
//! [`Trace`] (time exceeded from the k-th router; past the last, the destination's answer: an
//! echo reply, a TCP SYN-ACK or RST, a UDP port unreachable; or nothing), compared with what
//! really came back. Pure: the probe itself is sent by the caller.

use std::net::IpAddr;

use serde::Serialize;

use super::{Disposition, Flow, Hop, Trace};
use crate::kernel::icmp::TtlProbe;
use crate::observe::Snapshot;

/// One TTL-limited probe, judged against the prediction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeHop {
    pub ttl: u8,
    /// What came back: "echo-reply", "syn-ack", "rst", "datagram", "port-unreachable",
    /// "time-exceeded", "unreachable" or "none".
    pub kind: String,
    /// Who sent it.
    pub from: Option<IpAddr>,
    /// Why the request never left, when the kernel refused to send it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The namespace that holds `from` (the predicted router first, then the source's lab:
    /// labs reuse addresses, and so do the hosts of one lab).
    pub namespace: Option<String>,
    /// What the trace predicts, in words.
    pub expected: String,
    /// The router predicted to answer "time exceeded" (None: the destination, or nobody).
    pub expected_namespace: Option<String>,
    /// That router's address on the device the request came in on, where Linux sends time
    /// exceeded from.
    pub expected_from: Option<IpAddr>,
    pub agrees: bool,
}

/// The hops where the echo request is forwarded (routers), in order.
pub(crate) fn router_hops(t: &Trace) -> Vec<&Hop> {
    t.hops
        .iter()
        .filter(|h| h.layer == "l3" && super::is_forwarding(h))
        .collect()
}

/// An address of device `dev` in namespace `ns` of the family of `dst`.
fn address_on(snap: &Snapshot, ns: &str, dev: Option<&str>, dst: IpAddr) -> Option<IpAddr> {
    super::device_address(snap.namespace(ns)?, dev?, dst)
}

/// The namespace holding `ip`: `prefer` if it does, else one of `lab`, else any.
fn holder(snap: &Snapshot, ip: IpAddr, prefer: Option<&str>, lab: Option<&str>) -> Option<String> {
    let has = |n: &&crate::observe::Namespace| super::ips(n).any(|a| a == ip);
    let holders: Vec<&crate::observe::Namespace> = snap.namespaces.iter().filter(has).collect();
    holders
        .iter()
        .find(|n| Some(n.name.as_str()) == prefer)
        .or_else(|| {
            holders
                .iter()
                .find(|n| lab.is_some() && n.lab.as_deref() == lab)
        })
        .or_else(|| holders.first())
        .map(|n| n.name.clone())
}

/// Judge what came back for the probe with TTL `got.ttl` (1 = the first hop).
pub fn judge(snap: &Snapshot, t: &Trace, got: &TtlProbe) -> ProbeHop {
    let routers = router_hops(t);
    let router = (got.ttl as usize)
        .checked_sub(1)
        .and_then(|i| routers.get(i));
    let delivered = t.disposition == Disposition::Delivered;
    let expected_namespace = router.map(|h| h.namespace.clone());
    let expected_from =
        router.and_then(|h| address_on(snap, &h.namespace, h.in_dev.as_deref(), t.to));
    let src_lab = snap.namespace(&t.from).and_then(|n| n.lab.as_deref());
    // The destination's answer comes from the namespace it was delivered to, whose address
    // NAT may have hidden (a published port's container answers as its host).
    let from_destination = expected_namespace.is_none()
        && delivered
        && got.from == Some(t.to)
        && got.kind != "time-exceeded";
    let namespace = match &t.delivered_to {
        Some(d) if from_destination => Some(d.clone()),
        _ => got
            .from
            .and_then(|ip| holder(snap, ip, expected_namespace.as_deref(), src_lab)),
    };
    let expected = match &expected_namespace {
        Some(r) => format!(
            "time exceeded from {r}{}",
            expected_from.map(|a| format!(" ({a})")).unwrap_or_default()
        ),
        None => expected_answer(t, delivered),
    };
    let agrees = match (&expected_namespace, got.kind.as_str()) {
        (Some(r), "time-exceeded") => namespace.as_deref() == Some(r.as_str()),
        (Some(_), _) => false,
        (None, kind) => answer_agrees(t, delivered, kind, got.from),
    };
    ProbeHop {
        ttl: got.ttl,
        kind: got.kind.clone(),
        from: got.from,
        error: got.error.clone(),
        namespace,
        expected,
        expected_namespace,
        expected_from,
        agrees,
    }
}

/// What the destination sends back to a probe that reaches it (`delivered`), in words: the
/// echo reply; TCP's SYN-ACK where a socket listens, RST where none does; UDP's port
/// unreachable where no socket is bound, nothing (or the application's answer) where one is.
pub fn expected_answer(t: &Trace, delivered: bool) -> String {
    let from = "from the destination";
    match (t.flow, delivered, t.listening) {
        (Flow::Icmp, true, _) => format!("echo reply {from}"),
        (Flow::Icmp, false, _) => "no reply".into(),
        (Flow::Tcp(_), true, Some(true)) => format!("SYN-ACK {from}"),
        (Flow::Tcp(_), true, Some(false)) => format!("RST {from}"),
        (Flow::Tcp(_), true, None) => format!("SYN-ACK or RST {from}"),
        (Flow::Tcp(_), false, _) => "no SYN-ACK or RST".into(),
        (Flow::Udp(_), true, Some(true)) => "no reply (a socket takes it), or its answer".into(),
        (Flow::Udp(_), true, Some(false)) => format!("port unreachable {from}"),
        (Flow::Udp(_), true, None) => {
            format!("port unreachable {from}, or nothing if a socket takes it")
        }
        (Flow::Udp(_), false, _) => "no answer from the destination".into(),
    }
}

/// Whether `kind` from `from` is what the destination answers by the prediction
/// ([`expected_answer`]).
pub fn answer_agrees(t: &Trace, delivered: bool, kind: &str, from: Option<IpAddr>) -> bool {
    let port_unreachable = kind == "port-unreachable" && from == Some(t.to);
    match t.flow {
        Flow::Icmp => (kind == "echo-reply") == delivered,
        Flow::Tcp(_) => {
            let answered = matches!(kind, "syn-ack" | "rst");
            match (delivered, t.listening) {
                (true, Some(true)) => kind == "syn-ack",
                (true, Some(false)) => kind == "rst",
                (true, None) => answered,
                (false, _) => !answered,
            }
        }
        Flow::Udp(_) => {
            let taken = matches!(kind, "none" | "datagram");
            match (delivered, t.listening) {
                (true, Some(true)) => taken,
                (true, Some(false)) => port_unreachable,
                (true, None) => taken || port_unreachable,
                (false, _) => kind != "datagram" && !port_unreachable,
            }
        }
    }
}

/// What came back ([`ProbeHop::kind`], an `l4::Answer`'s kind), in words.
pub fn kind_words(kind: &str) -> &str {
    match kind {
        "echo-reply" => "echo reply",
        "syn-ack" => "SYN-ACK",
        "rst" => "RST",
        "datagram" => "a datagram",
        "port-unreachable" => "port unreachable",
        "time-exceeded" => "time exceeded",
        "unreachable" => "destination unreachable",
        other => other,
    }
}

/// "probe ttl 1: time exceeded from 172.16.10.254 (lab.vm-vpn), predicted time exceeded from
/// lab.vm-vpn (172.16.10.254)", or "probe ttl 1: no reply, predicted ...  <-- DISAGREES".
pub fn render_hop(h: &ProbeHop) -> String {
    let what = kind_words(&h.kind);
    let seen = match h.from {
        Some(from) if h.kind != "none" => format!(
            "{what} from {from}{}",
            h.namespace
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_else(|| " (no namespace netlab sees holds it)".into())
        ),
        _ => match &h.error {
            Some(e) => format!("not sent ({e})"),
            None => "no reply".to_string(),
        },
    };
    format!(
        "probe ttl {}: {seen}, predicted {}{}",
        h.ttl,
        h.expected,
        if h.agrees { "" } else { "  <-- DISAGREES" }
    )
}
