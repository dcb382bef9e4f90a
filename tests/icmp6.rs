//! Root tests of netlab's native ICMPv6 echo (`netlab::kernel::icmp`), called as a library: each
//! test builds its own namespaces with iproute2 (removed on drop, also on panic), addresses
//! added with `nodad` so they work at once, and checks `ping_in` and `probe_ttl` against what
//! the kernel must answer, with iputils' `ping -6` as an independent oracle where it can be.
//! The IPv4 probes run over the same veth, with the same options, so the two families can be
//! seen to behave alike.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use netlab::kernel::icmp::{self, PingOptions};

fn ns_path(ns: &ForeignNs) -> PathBuf {
    PathBuf::from(format!("/run/netns/{}", ns.0))
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `sysctl -w key=value` inside `ns` only (`ip netns exec` enters its network namespace, and
/// net.* sysctls are per namespace).
fn sysctl(ns: &ForeignNs, key: &str, value: &str) {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "sysctl {key} in {}: {}", ns.0, text(&o));
}

/// [`iputils_ttl`] for a path that must answer: a few tries, for a veth just brought up (its
/// carrier comes through the kernel's linkwatch, which a loaded machine runs late, and the
/// first neighbour solicitation can be lost meanwhile). None only if every try failed.
fn iputils_ttl_answered(ns: &ForeignNs, dst: &str) -> Option<u8> {
    (0..5).find_map(|_| iputils_ttl(ns, dst))
}

/// iputils' ping from `ns`: the hop limit (or TTL) of its first reply, None if none came.
fn iputils_ttl(ns: &ForeignNs, dst: &str) -> Option<u8> {
    let o = Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "ping", "-n", "-c", "1", "-W", "2", dst,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("ttl=")?.parse().ok())
}

/// A namespace with loopback up, as a container has it, and no duplicate address detection
/// on the devices it gets: `nodad` covers the addresses the tests add, but a link-local
/// address would still be tentative for a second or two after its link comes up, and until
/// then a router cannot solicit a neighbour for a packet it forwards (it has no address to
/// send the solicitation from), so the first ping through it would wait a retransmission.
fn namespace(name: String) -> ForeignNs {
    let ns = ForeignNs::add(&name);
    ns.ip(&["link", "set", "lo", "up"]);
    sysctl(&ns, "net.ipv6.conf.default.accept_dad", "0");
    ns
}

/// Namespaces `a` and `b` joined by a veth (va in a, vb in b), both ends up, with the given
/// addresses (`nodad`: usable at once, no duplicate address detection to wait for).
fn veth_pair(prefix: &str, a_addrs: &[&str], b_addrs: &[&str]) -> (ForeignNs, ForeignNs) {
    let base = unique(prefix);
    let a = namespace(format!("{base}-a"));
    let b = namespace(format!("{base}-b"));
    a.ip(&[
        "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.0,
    ]);
    for (ns, dev, addrs) in [(&a, "va", a_addrs), (&b, "vb", b_addrs)] {
        for ad in addrs {
            if ad.contains(':') {
                ns.ip(&["addr", "add", ad, "dev", dev, "nodad"]);
            } else {
                ns.ip(&["addr", "add", ad, "dev", dev]);
            }
        }
        ns.ip(&["link", "set", dev, "up"]);
    }
    (a, b)
}

#[test]
fn ping6_over_a_veth_gets_replies_with_hop_limit_64() {
    if !require_root("ping6_over_a_veth_gets_replies_with_hop_limit_64") {
        return;
    }
    let (a, b) = veth_pair(
        "nl6v",
        &["2001:db8:6a::1/64", "10.206.0.1/24"],
        &["2001:db8:6a::2/64", "10.206.0.2/24"],
    );
    // The oracle first: the path works, and iputils sees the kernel's default hop limit.
    assert_eq!(
        iputils_ttl_answered(&a, "2001:db8:6a::2"),
        Some(64),
        "iputils ping -6"
    );
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:6a::2"), PingOptions::default()).unwrap();
    assert_eq!((r.sent, r.received), (2, 2), "{r:?}");
    assert_eq!(r.ttl, Some(64), "hop limit from IPV6_HOPLIMIT: {r:?}");
    assert_eq!(r.error, None, "{r:?}");
    assert!(r.rtt_ms.is_some_and(|t| t > 0.0 && t < 1000.0), "{r:?}");
    // IPv4 on the same veth, as before.
    let r4 = icmp::ping_in(&ns_path(&a), addr("10.206.0.2"), PingOptions::default()).unwrap();
    assert_eq!((r4.sent, r4.received, r4.ttl), (2, 2, Some(64)), "{r4:?}");
    // A hop limit set in b shows in a: it is read from the reply, not assumed.
    sysctl(&b, "net.ipv6.conf.vb.hop_limit", "17");
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:6a::2"), PingOptions::default()).unwrap();
    assert_eq!((r.received, r.ttl), (2, Some(17)), "{r:?}");
    assert_eq!(
        iputils_ttl(&a, "2001:db8:6a::2"),
        Some(17),
        "iputils ping -6"
    );
}

#[test]
fn a_target_that_ignores_echo6_is_silence_not_an_error() {
    if !require_root("a_target_that_ignores_echo6_is_silence_not_an_error") {
        return;
    }
    let (a, b) = veth_pair(
        "nl6q",
        &["2001:db8:6b::1/64", "10.206.1.1/24"],
        &["2001:db8:6b::2/64", "10.206.1.2/24"],
    );
    assert!(
        iputils_ttl_answered(&a, "2001:db8:6b::2").is_some(),
        "reachable before"
    );
    sysctl(&b, "net.ipv6.icmp.echo_ignore_all", "1");
    sysctl(&b, "net.ipv4.icmp_echo_ignore_all", "1");
    assert_eq!(iputils_ttl(&a, "2001:db8:6b::2"), None, "iputils: ignored");
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:6b::2"), PingOptions::default()).unwrap();
    assert_eq!((r.sent, r.received, r.ttl), (2, 0, None), "{r:?}");
    assert_eq!(r.error, None, "silence says nothing: {r:?}");
    // Patience means the same for both families: silence until 1.2 s (the last request's
    // timeout) is past 1 s of patience, so one more request goes at 1.2 s, waited for until
    // 2.2 s, which is past 2 s: three requests in all.
    let patient = PingOptions {
        patience: Duration::from_secs(2),
        ..Default::default()
    };
    for dst in ["2001:db8:6b::2", "10.206.1.2"] {
        let t = Instant::now();
        let r = icmp::ping_in(&ns_path(&a), addr(dst), patient).unwrap();
        assert_eq!(
            (r.sent, r.received, &r.error),
            (3, 0, &None),
            "{dst}: {r:?}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(2100),
            "{dst}: {:?}",
            t.elapsed()
        );
    }
    // The ignoring is what made it silent: switched back, the same call gets replies.
    sysctl(&b, "net.ipv6.icmp.echo_ignore_all", "0");
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:6b::2"), PingOptions::default()).unwrap();
    assert_eq!(r.received, 2, "{r:?}");
}

#[test]
fn unroutable_and_unresolvable_v6_destinations_say_why() {
    if !require_root("unroutable_and_unresolvable_v6_destinations_say_why") {
        return;
    }
    let (a, _b) = veth_pair("nl6u", &["2001:db8:6c::1/64"], &["2001:db8:6c::2/64"]);
    // No route at all: the kernel refuses the send, as iputils' "connect: Network is
    // unreachable" says.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &a.0,
            "ping",
            "-c1",
            "-W1",
            "2001:db8:77::1",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Network is unreachable"),
        "iputils: {}",
        text(&o)
    );
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:77::1"), PingOptions::default()).unwrap();
    assert_eq!(r.received, 0, "{r:?}");
    let e = r.error.as_deref().unwrap_or_default();
    assert!(e.contains("Network is unreachable"), "{r:?}");
    let p = icmp::probe_ttl(
        &ns_path(&a),
        addr("2001:db8:77::1"),
        1,
        Duration::from_millis(700),
    )
    .unwrap();
    assert_eq!((p.kind.as_str(), p.from), ("unreachable", None), "{p:?}");
    assert!(
        p.error
            .as_deref()
            .unwrap_or_default()
            .contains("Network is unreachable"),
        "{p:?}"
    );
    // On the link but held by nobody: a's own kernel gives up on neighbour discovery (three
    // solicitations a second apart) and says so from a's own address.
    let opts = PingOptions {
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let r = icmp::ping_in(&ns_path(&a), addr("2001:db8:6c::99"), opts).unwrap();
    assert_eq!(r.received, 0, "{r:?}");
    assert_eq!(
        r.error.as_deref(),
        Some("address unreachable (ICMPv6 from 2001:db8:6c::1)"),
        "{r:?}"
    );
}

/// a -- r -- b: r forwards IPv6 (in its own namespace only), a and b route through it.
struct Routed {
    a: ForeignNs,
    r: ForeignNs,
    b: ForeignNs,
}

fn routed(prefix: &str) -> Routed {
    let base = unique(prefix);
    let a = namespace(format!("{base}-a"));
    let r = namespace(format!("{base}-r"));
    let b = namespace(format!("{base}-b"));
    r.ip(&[
        "link", "add", "ra", "type", "veth", "peer", "name", "veth-a", "netns", &a.0,
    ]);
    r.ip(&[
        "link", "add", "rb", "type", "veth", "peer", "name", "veth-b", "netns", &b.0,
    ]);
    for (ns, dev, ad) in [
        (&a, "veth-a", "2001:db8:a::2/64"),
        (&r, "ra", "2001:db8:a::1/64"),
        (&r, "rb", "2001:db8:b::1/64"),
        (&b, "veth-b", "2001:db8:b::2/64"),
    ] {
        ns.ip(&["addr", "add", ad, "dev", dev, "nodad"]);
        ns.ip(&["link", "set", dev, "up"]);
    }
    a.ip(&["-6", "route", "add", "default", "via", "2001:db8:a::1"]);
    b.ip(&["-6", "route", "add", "default", "via", "2001:db8:b::1"]);
    sysctl(&r, "net.ipv6.conf.all.forwarding", "1");
    // Every ICMPv6 error r owes is sent, however close together the tests ask for them.
    sysctl(&r, "net.ipv6.icmp.ratelimit", "0");
    Routed { a, r, b }
}

#[test]
fn probe_ttl6_through_a_router_meets_it_at_hop_limit_1_and_the_target_at_2() {
    if !require_root("probe_ttl6_through_a_router_meets_it_at_hop_limit_1_and_the_target_at_2") {
        return;
    }
    let n = routed("nl6r");
    let a = ns_path(&n.a);
    let dst = addr("2001:db8:b::2");
    assert_eq!(
        iputils_ttl_answered(&n.a, "2001:db8:b::2"),
        Some(63),
        "iputils ping -6"
    );
    let p = icmp::probe_ttl(&a, dst, 1, Duration::from_secs(2)).unwrap();
    assert_eq!(
        (p.ttl, p.kind.as_str(), p.from, &p.error),
        (1, "time-exceeded", Some(addr("2001:db8:a::1")), &None),
        "{p:?}"
    );
    let p = icmp::probe_ttl(&a, dst, 2, Duration::from_secs(2)).unwrap();
    assert_eq!(
        (p.ttl, p.kind.as_str(), p.from, &p.error),
        (2, "echo-reply", Some(dst), &None),
        "{p:?}"
    );
    // The reply came back through r, which took one off b's 64.
    let r = icmp::ping_in(&a, dst, PingOptions::default()).unwrap();
    assert_eq!((r.received, r.ttl), (2, Some(63)), "{r:?}");
    // It serialises as the bare address, as an IPv4 probe does.
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j["from"], "2001:db8:b::2", "{j}");
}

#[test]
fn icmp6_errors_from_a_router_are_matched_to_our_requests() {
    if !require_root("icmp6_errors_from_a_router_are_matched_to_our_requests") {
        return;
    }
    let n = routed("nl6e");
    let a = ns_path(&n.a);
    // r has no route to 2001:db8:c::/64: ICMPv6 destination unreachable, no route (code 0).
    let r = icmp::ping_in(&a, addr("2001:db8:c::1"), PingOptions::default()).unwrap();
    assert_eq!(r.received, 0, "{r:?}");
    assert_eq!(
        r.error.as_deref(),
        Some("no route to destination (ICMPv6 from 2001:db8:a::1)"),
        "{r:?}"
    );
    // An answer, so no waiting for the timeout.
    let t = Instant::now();
    let p = icmp::probe_ttl(&a, addr("2001:db8:c::1"), 5, Duration::from_secs(3)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(
        (p.kind.as_str(), p.from),
        ("unreachable", Some(addr("2001:db8:a::1"))),
        "{p:?}"
    );
    // A prohibit route in r: administratively prohibited (code 1).
    n.r.ip(&["-6", "route", "add", "prohibit", "2001:db8:d::/64"]);
    let r = icmp::ping_in(&a, addr("2001:db8:d::1"), PingOptions::default()).unwrap();
    assert_eq!(
        r.error.as_deref(),
        Some("communication administratively prohibited (ICMPv6 from 2001:db8:a::1)"),
        "{r:?}"
    );
    // Errors about someone else's requests are not ours (every raw ICMPv6 socket of a's
    // namespace sees every error): while a ping to b, which ignores echo, waits, a second ping
    // draws r's no-route errors for 2001:db8:c::1 (another destination, another identifier)
    // and a probe with hop limit 1 draws a time exceeded about b itself (the same destination,
    // another identifier). The quiet ping must hear only silence.
    sysctl(&n.b, "net.ipv6.icmp.echo_ignore_all", "1");
    let (quiet, noisy, probe) = std::thread::scope(|s| {
        let quiet = s.spawn(|| icmp::ping_in(&a, addr("2001:db8:b::2"), PingOptions::default()));
        std::thread::sleep(Duration::from_millis(100));
        let noisy = icmp::ping_in(&a, addr("2001:db8:c::1"), PingOptions::default());
        let probe = icmp::probe_ttl(&a, addr("2001:db8:b::2"), 1, Duration::from_secs(1));
        (
            quiet.join().unwrap().unwrap(),
            noisy.unwrap(),
            probe.unwrap(),
        )
    });
    assert!(noisy.error.is_some(), "{noisy:?}");
    assert_eq!(probe.kind, "time-exceeded", "{probe:?}");
    assert_eq!((quiet.received, &quiet.error), (0, &None), "{quiet:?}");
}
