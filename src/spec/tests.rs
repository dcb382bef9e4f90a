//! Lab-file parsing and Docker-faithful address allocation, checked against the shipped labs
//! and small synthetic ones. Bad files are covered end to end by tests/bad_input.rs.

use super::*;

const OVERLAY: &str = include_str!("../../labs/overlay.toml");
const BRIDGE: &str = include_str!("../../labs/bridge.toml");

/// Where `lab` says its text comes from: the shipped labs' directory, since their scenarios'
/// `apply` steps name files next to them.
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/labs/t.toml");

fn lab(text: &str) -> Lab {
    parse("t.toml", SOURCE, text, None).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse("t.toml", "t.toml", text, None) {
        Ok(l) => panic!("accepted a bad lab: {l:?}"),
        Err(e) => e.diagnostics,
    }
}

fn net<'a>(l: &'a Lab, name: &str) -> &'a Network {
    l.networks
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no network {name}"))
}

fn container<'a>(l: &'a Lab, name: &str) -> &'a Container {
    l.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// (ifname, network name, address, mac) of each endpoint.
fn endpoints(l: &Lab, name: &str) -> Vec<(String, String, String, String)> {
    container(l, name)
        .endpoints
        .iter()
        .map(|e| {
            (
                e.ifname.clone(),
                l.networks[e.network].name.clone(),
                e.address.to_string(),
                format_mac(&e.mac),
            )
        })
        .collect()
}

fn ep(ifname: &str, net: &str, addr: &str, mac: &str) -> (String, String, String, String) {
    (ifname.into(), net.into(), addr.into(), mac.into())
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn subnet(s: &str) -> Ipv4Network {
    s.parse().unwrap()
}

#[test]
fn overlay_lab_is_docker_faithful() {
    let l = lab(OVERLAY);
    assert_eq!(l.name, "overlay");
    assert_eq!(l.source, SOURCE);
    assert_eq!(l.underlay.subnet, subnet("10.1.1.0/24"));
    assert_eq!(l.underlay.mtu, 1500);

    let hosts: Vec<(&str, &str, String)> = l
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.nic.as_str(), h.address.to_string()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("nas4", "ens33", "10.1.1.14/24".to_string()),
            ("nas5", "ens33", "10.1.1.15/24".to_string())
        ]
    );

    // Declared networks in file order, then the implicit docker_gwbridge.
    let names: Vec<&str> = l.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["ov_net1", "ov_net2", "docker_gwbridge"]);

    let ov1 = net(&l, "ov_net1");
    assert_eq!(ov1.subnet, subnet("10.0.0.0/24"));
    assert_eq!(ov1.gateway, ip("10.0.0.1"));
    assert_eq!(
        ov1.driver,
        Driver::Overlay {
            vni: 256,
            encrypted: false
        }
    );
    assert!(!ov1.implicit);

    let ov2 = net(&l, "ov_net2");
    assert_eq!(ov2.subnet, subnet("10.0.1.0/24"));
    assert_eq!(ov2.gateway, ip("10.0.1.1"));
    assert_eq!(
        ov2.driver,
        Driver::Overlay {
            vni: 257,
            encrypted: false
        }
    );

    let gw = net(&l, "docker_gwbridge");
    assert_eq!(gw.subnet, subnet("172.18.0.0/16"));
    assert_eq!(gw.gateway, ip("172.18.0.1"));
    assert!(gw.implicit);
    assert_eq!(
        gw.driver,
        Driver::Bridge {
            bridge: "docker_gwbridge".into(),
            icc: false,
            masquerade: true
        }
    );

    for n in &l.networks {
        assert_eq!(n.id.len(), 64, "{}", n.id);
        assert!(n
            .id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        if n.name == "ov_net1" {
            // The lab file gives seed 000's id: its sandbox is the article's 1-c2ad163525.
            assert_eq!(n.overlay_sandbox(), "1-c2ad163525");
        } else {
            assert_eq!(n.id, network_id("overlay", &n.name));
        }
    }
    let ids: HashSet<&str> = l.networks.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), l.networks.len(), "network ids must differ");

    // Overlay addresses are global; docker_gwbridge is a per-host pool, so bbox1 (nas4) and
    // bbox2 (nas5) both get 172.18.0.2 there.
    let order: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["bbox1", "bbox2", "bbox3"]);
    assert_eq!(l.hosts[container(&l, "bbox1").host].name, "nas4");
    assert_eq!(l.hosts[container(&l, "bbox2").host].name, "nas5");
    assert_eq!(l.hosts[container(&l, "bbox3").host].name, "nas5");
    assert_eq!(
        endpoints(&l, "bbox1"),
        [
            ep("eth0", "ov_net1", "10.0.0.2/24", "02:42:0a:00:00:02"),
            ep(
                "eth1",
                "docker_gwbridge",
                "172.18.0.2/16",
                "02:42:ac:12:00:02"
            ),
        ]
    );
    assert_eq!(
        endpoints(&l, "bbox2"),
        [
            ep("eth0", "ov_net1", "10.0.0.3/24", "02:42:0a:00:00:03"),
            ep(
                "eth1",
                "docker_gwbridge",
                "172.18.0.2/16",
                "02:42:ac:12:00:02"
            ),
        ]
    );
    assert_eq!(
        endpoints(&l, "bbox3"),
        [
            ep("eth0", "ov_net2", "10.0.1.2/24", "02:42:0a:00:01:02"),
            ep(
                "eth1",
                "docker_gwbridge",
                "172.18.0.3/16",
                "02:42:ac:12:00:03"
            ),
        ]
    );
    for c in &l.containers {
        // The default route goes through docker_gwbridge, as in Docker.
        assert_eq!(c.default_gateway, Some(ip("172.18.0.1")), "{}", c.name);
        for e in &c.endpoints {
            assert_eq!(e.mac, docker_mac(e.address.ip()));
        }
    }

    type Row<'a> = (&'a str, &'a str, Ipv4Addr, Expect, u32, Option<u8>);
    let checks: Vec<Row> = l
        .checks
        .iter()
        .map(|c| {
            (
                c.from.as_str(),
                c.to.as_str(),
                v4(c.address),
                c.expect,
                c.count,
                c.ttl,
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            (
                "bbox2",
                "bbox1",
                ip("10.0.0.2"),
                Expect::Reachable,
                2,
                Some(64)
            ),
            (
                "bbox3",
                "10.0.0.2",
                ip("10.0.0.2"),
                Expect::Unreachable,
                2,
                None
            ),
            (
                "bbox3",
                "172.18.0.2",
                ip("172.18.0.2"),
                Expect::Unreachable,
                2,
                None
            ),
            (
                "bbox1",
                "outside",
                ip("203.0.113.1"),
                Expect::Reachable,
                2,
                Some(63)
            ),
        ]
    );
}

#[test]
fn bridge_lab_is_docker_faithful() {
    let l = lab(BRIDGE);
    assert_eq!(l.name, "bridge");
    assert_eq!(l.hosts.len(), 1);
    assert_eq!(l.hosts[0].address.to_string(), "10.1.1.11/24");

    // No overlay container, so no docker_gwbridge.
    let names: Vec<&str> = l.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["my_net2", "quiet_net"]);

    let my = net(&l, "my_net2");
    assert_eq!(my.subnet, subnet("172.18.0.0/16"));
    assert_eq!(my.gateway, ip("172.18.0.1"));
    assert_eq!(
        my.driver,
        Driver::Bridge {
            bridge: format!("br-{}", &my.id[..12]),
            icc: true,
            masquerade: true
        }
    );
    let quiet = net(&l, "quiet_net");
    assert_eq!(quiet.subnet, subnet("172.22.16.0/24"));
    assert_eq!(quiet.gateway, ip("172.22.16.1"));
    assert_eq!(
        quiet.driver,
        Driver::Bridge {
            bridge: format!("br-{}", &quiet.id[..12]),
            icc: false,
            masquerade: true
        }
    );
    for n in &l.networks {
        let Driver::Bridge { bridge, .. } = &n.driver else {
            panic!("{} is not a bridge", n.name)
        };
        assert!(bridge.len() <= IFNAME_MAX, "{bridge}");
    }

    let order: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["web", "db", "cache"]);
    assert_eq!(
        endpoints(&l, "web"),
        [ep("eth0", "my_net2", "172.18.0.2/16", "02:42:ac:12:00:02")]
    );
    assert_eq!(
        endpoints(&l, "db"),
        [
            ep("eth0", "my_net2", "172.18.0.10/16", "02:42:ac:12:00:0a"),
            ep("eth1", "quiet_net", "172.22.16.2/24", "02:42:ac:16:10:02"),
        ]
    );
    assert_eq!(
        endpoints(&l, "cache"),
        [ep(
            "eth0",
            "quiet_net",
            "172.22.16.3/24",
            "02:42:ac:16:10:03"
        )]
    );
    // The first bridge network gives the default route.
    assert_eq!(container(&l, "db").default_gateway, Some(ip("172.18.0.1")));
    assert_eq!(
        container(&l, "cache").default_gateway,
        Some(ip("172.22.16.1"))
    );

    let targets: Vec<(&str, Ipv4Addr, Expect)> = l
        .checks
        .iter()
        .map(|c| (c.to.as_str(), v4(c.address), c.expect))
        .collect();
    assert_eq!(
        targets,
        [
            ("db", ip("172.18.0.10"), Expect::Reachable),
            ("172.22.16.1", ip("172.22.16.1"), Expect::Reachable),
            // cache and db share quiet_net: the name resolves to db's address there.
            ("db", ip("172.22.16.2"), Expect::Unreachable),
            ("172.22.16.3", ip("172.22.16.3"), Expect::Unreachable),
        ]
    );
}

const HEAD: &str = "[lab]\nname = \"t\"\n\n[hosts.h1]\n\n[hosts.h2]\n";

#[test]
fn static_addresses_are_skipped_by_the_allocator() {
    // A static address later in the file still wins over an automatic one earlier in it.
    let l = lab(&format!(
        "{HEAD}
[networks.n]
driver = \"bridge\"
subnet = \"10.5.0.0/24\"

[containers.a]
host = \"h1\"
networks = [\"n\"]

[containers.b]
host = \"h1\"
networks = [\"n\"]
ip = {{ n = \"10.5.0.2\" }}

[containers.c]
host = \"h1\"
networks = [\"n\"]

[containers.d]
host = \"h1\"
networks = [\"n\"]
ip = {{ n = \"10.5.0.4\" }}

[containers.e]
host = \"h1\"
networks = [\"n\"]
"
    ));
    let got: Vec<(&str, String)> = l
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.endpoints[0].address.ip().to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "10.5.0.3".to_string()),
            ("b", "10.5.0.2".to_string()),
            ("c", "10.5.0.5".to_string()),
            ("d", "10.5.0.4".to_string()),
            ("e", "10.5.0.6".to_string()),
        ]
    );
}

#[test]
fn explicit_gateway_is_skipped_by_the_allocator() {
    let l = lab(&format!(
        "{HEAD}
[networks.n]
driver = \"bridge\"
subnet = \"10.5.0.0/24\"
gateway = \"10.5.0.2\"

[containers.a]
host = \"h1\"
networks = [\"n\"]

[containers.b]
host = \"h1\"
networks = [\"n\"]
"
    ));
    assert_eq!(l.networks[0].gateway, ip("10.5.0.2"));
    // .1 is free (the gateway moved), .2 is the gateway.
    assert_eq!(l.containers[0].endpoints[0].address.ip(), ip("10.5.0.1"));
    assert_eq!(l.containers[1].endpoints[0].address.ip(), ip("10.5.0.3"));
}

#[test]
fn explicit_subnets_push_default_subnets_further() {
    // The default overlay subnet 10.0.0.0/24 and bridge subnets 172.18/16, 172.19/16 are taken
    // by explicit ones declared later in the file, so the defaults move on.
    let l = lab(&format!(
        "{HEAD}
[networks.auto_ov]
driver = \"overlay\"

[networks.auto_br]
driver = \"bridge\"

[networks.fixed_ov]
driver = \"overlay\"
subnet = \"10.0.0.0/23\"

[networks.fixed_br]
driver = \"bridge\"
subnet = \"172.18.5.0/24\"

[networks.fixed_br2]
driver = \"bridge\"
subnet = \"172.19.0.0/16\"

[containers.a]
host = \"h1\"
networks = [\"auto_ov\"]

[containers.b]
host = \"h2\"
networks = [\"auto_br\", \"fixed_ov\"]
"
    ));
    assert_eq!(net(&l, "auto_ov").subnet, subnet("10.0.2.0/24"));
    assert_eq!(net(&l, "auto_br").subnet, subnet("172.20.0.0/16"));
    assert_eq!(net(&l, "fixed_ov").subnet, subnet("10.0.0.0/23"));
    // docker_gwbridge (for a, only on an overlay) comes last and takes the next free pool.
    assert_eq!(net(&l, "docker_gwbridge").subnet, subnet("172.21.0.0/16"));
    // b joins a bridge network, so it gets no docker_gwbridge endpoint.
    assert_eq!(container(&l, "b").endpoints.len(), 2);
    assert_eq!(container(&l, "a").endpoints.len(), 2);
    // VNIs are given in file order.
    assert_eq!(
        net(&l, "auto_ov").driver,
        Driver::Overlay {
            vni: 256,
            encrypted: false
        }
    );
    assert_eq!(
        net(&l, "fixed_ov").driver,
        Driver::Overlay {
            vni: 257,
            encrypted: false
        }
    );
}

#[test]
fn explicit_vnis_are_skipped() {
    let l = lab(&format!(
        "{HEAD}
[networks.a]
driver = \"overlay\"

[networks.b]
driver = \"overlay\"
vni = 256

[containers.c]
host = \"h1\"
networks = [\"a\", \"b\"]
"
    ));
    assert_eq!(
        net(&l, "a").driver,
        Driver::Overlay {
            vni: 257,
            encrypted: false
        }
    );
    assert_eq!(
        net(&l, "b").driver,
        Driver::Overlay {
            vni: 256,
            encrypted: false
        }
    );
}

#[test]
fn name_override_changes_the_lab_name_and_ids() {
    let original = lab(OVERLAY);
    let copy = parse("t.toml", "t.toml", OVERLAY, Some("overlay2")).unwrap();
    assert_eq!(copy.name, "overlay2");
    assert_eq!(copy.host_ns(0), "overlay2.nas4");
    for (a, b) in original.networks.iter().zip(&copy.networks) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.subnet, b.subnet);
        if a.name == "ov_net1" {
            // An id the lab file gives is the file's, whatever the lab is called (its
            // namespaces still differ: they carry the lab's name).
            assert_eq!(a.id, b.id);
            continue;
        }
        assert_ne!(
            a.id, b.id,
            "a renamed lab must not share derived network ids"
        );
        assert_eq!(b.id, network_id("overlay2", &b.name));
    }
    assert_eq!(original.containers, copy.containers);

    let e = parse("t.toml", "t.toml", OVERLAY, Some("../etc")).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    assert!(e.diagnostics[0].message.contains("--name"), "{e}");
}

#[test]
fn file_order_is_kept_not_sorted() {
    let l = lab("[lab]
name = \"t\"

[hosts.zulu]
[hosts.alpha]

[networks.omega]
driver = \"bridge\"
subnet = \"10.9.0.0/24\"

[networks.beta]
driver = \"bridge\"
subnet = \"10.8.0.0/24\"

[containers.zeta]
host = \"zulu\"
networks = [\"omega\", \"beta\"]

[containers.alpha1]
host = \"alpha\"
networks = [\"beta\", \"omega\"]

[containers.mid]
host = \"zulu\"
networks = [\"omega\"]
");
    let hosts: Vec<&str> = l.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["zulu", "alpha"]);
    assert_eq!(l.hosts[0].address.ip(), ip("10.1.1.1"));
    assert_eq!(l.hosts[1].address.ip(), ip("10.1.1.2"));
    let nets: Vec<&str> = l.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nets, ["omega", "beta"]);
    let cs: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cs, ["zeta", "alpha1", "mid"]);
    // Interfaces follow the order of `networks`.
    assert_eq!(
        endpoints(&l, "alpha1")
            .into_iter()
            .map(|e| (e.0, e.1))
            .collect::<Vec<_>>(),
        [
            ("eth0".to_string(), "beta".to_string()),
            ("eth1".to_string(), "omega".to_string())
        ]
    );
    // Bridge pools are per host: zeta and mid on zulu get .2 and .3, alpha1 on alpha gets .2.
    assert_eq!(endpoints(&l, "zeta")[0].2, "10.9.0.2/24");
    assert_eq!(endpoints(&l, "mid")[0].2, "10.9.0.3/24");
    assert_eq!(endpoints(&l, "alpha1")[1].2, "10.9.0.2/24");
}

#[test]
fn every_problem_is_reported_at_once() {
    let d = errors(
        "[lab]
name = \"t\"

[hosts.h1]

[networks.n1]
driver = \"bridge\"
vni = 7

[containers.c1]
host = \"h9\"
networks = [\"n1\", \"n2\"]
",
    );
    let got: Vec<Option<(usize, usize)>> = d.iter().map(|d| d.at).collect();
    assert_eq!(got, [Some((8, 7)), Some((11, 8)), Some((12, 19))], "{d:?}");
}

#[test]
fn a_flood_of_problems_is_capped() {
    let mut text = String::from("[lab]\nname = \"t\"\n\n[hosts.h1]\n");
    for i in 0..500 {
        text.push_str(&format!(
            "\n[containers.c{i}]\nhost = \"nowhere\"\nnetworks = [\"none\"]\n"
        ));
    }
    let d = errors(&text);
    assert_eq!(d.len(), diag::MAX_DIAGNOSTICS + 1);
    assert!(d
        .last()
        .unwrap()
        .message
        .contains("more problems not shown"));
}

#[test]
fn big_labs_allocate_quickly_and_in_order() {
    // Linear allocation: thousands of containers on one /16 must not take quadratic time. An
    // overlay's pool is lab-wide, so addresses follow file order across the hosts (four hosts:
    // a Linux bridge takes at most 1023 ports per host).
    let mut text = String::from(
        "[lab]\nname = \"t\"\n\n[networks.n]\ndriver = \"overlay\"\nsubnet = \"10.8.0.0/16\"\n",
    );
    for h in 1..=4 {
        text.push_str(&format!("\n[hosts.h{h}]\n"));
    }
    for i in 0..3000 {
        text.push_str(&format!(
            "\n[containers.c{i}]\nhost = \"h{}\"\nnetworks = [\"n\"]\n",
            i % 4 + 1
        ));
    }
    let l = lab(&text);
    for (i, c) in l.containers.iter().enumerate() {
        let want = Ipv4Addr::from(u32::from(ip("10.8.0.2")) + i as u32);
        assert_eq!(c.endpoints[0].address.ip(), want, "{}", c.name);
    }
}

#[test]
fn subnet_bookkeeping_finds_every_overlap() {
    let mut t = Taken::default();
    t.insert(subnet("10.1.1.0/24"), "u".into());
    t.insert(subnet("172.18.0.0/16"), "a".into());
    assert_eq!(t.find(subnet("10.1.1.128/25")).map(|x| x.1), Some("u"));
    assert_eq!(t.find(subnet("10.0.0.0/8")).map(|x| x.1), Some("u"));
    assert_eq!(t.find(subnet("172.18.255.0/24")).map(|x| x.1), Some("a"));
    assert_eq!(t.find(subnet("172.16.0.0/12")).map(|x| x.1), Some("a"));
    assert!(t.find(subnet("10.1.2.0/24")).is_none());
    assert!(t.find(subnet("172.19.0.0/16")).is_none());
    assert!(t.find(subnet("10.1.0.0/24")).is_none());
}

#[test]
fn deepest_key_points_at_the_long_dotted_key() {
    let text = "[lab]\nname = \"x\"\n[a.b]\n  c.d.e.f = 1\n";
    assert_eq!(deepest_key(text), Some(text.find("c.d").unwrap()));
    let text = "[[x.y.z.w]]\n";
    assert_eq!(deepest_key(text), Some(2));
}

#[test]
fn host_nics_do_not_clash_with_what_netlab_creates() {
    for bad in [
        "lo",
        "vxlan0",
        "docker_gwbridge",
        "br-0123456789ab",
        "veth1a2b3c4",
    ] {
        assert!(host_nic_problem(bad).is_some(), "{bad}");
    }
    for good in ["ens33", "eth0", "enp0s3", "nic-1"] {
        assert!(host_nic_problem(good).is_none(), "{good}");
    }
}

/// Parsing must never panic: every prefix of the shipped labs and many byte-mutated copies
/// are either accepted or rejected with positions inside the text.
#[test]
fn parse_never_panics_on_mangled_input() {
    fn try_one(text: &str) {
        let result = std::panic::catch_unwind(|| parse("t.toml", "t.toml", text, None));
        let Ok(result) = result else {
            panic!("parse panicked on:\n{text}");
        };
        if let Err(e) = result {
            assert!(!e.diagnostics.is_empty(), "an error without diagnostics");
            let lines = text.split('\n').count();
            for d in &e.diagnostics {
                // Text always has a position to point at.
                let (line, col) = d.at.unwrap_or_else(|| panic!("{d:?} without a position"));
                assert!(line >= 1 && line <= lines, "{d:?} in\n{text}");
                assert!(col >= 1, "{d:?}");
            }
        }
    }
    let pieces: &[&[u8]] = &[
        b"\"",
        b"[",
        b"]",
        b"{",
        b"}",
        b"=",
        b".",
        b"\n",
        b"0",
        b"/",
        b"\\",
        b"#",
        b"'''",
        b"-1",
        b"99999999999999999999",
        b"\"\"",
        b"\xc3\xa9",
        b"::",
        b"255.255.255.255",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    // NETLAB_FUZZ_ITERATIONS=100000 for a longer run.
    let iterations: usize = std::env::var("NETLAB_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    // The macvlan and router labs reach VLAN, parent and host-address validation.
    for base in [OVERLAY, BRIDGE, MACVLAN_VLAN, ROUTED] {
        for cut in (0..=base.len()).filter(|&i| base.is_char_boundary(i)) {
            try_one(&base[..cut]);
        }
        for _ in 0..iterations {
            let mut bytes = base.as_bytes().to_vec();
            for _ in 0..1 + rand(4) {
                let at = rand(bytes.len());
                let piece = pieces[rand(pieces.len())];
                match rand(3) {
                    0 => {
                        bytes.splice(at..at, piece.iter().copied());
                    }
                    1 => {
                        let end = (at + 1 + rand(8)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                    _ => {
                        let end = (at + piece.len()).min(bytes.len());
                        bytes.splice(at..end, piece.iter().copied());
                    }
                }
            }
            if let Ok(text) = String::from_utf8(bytes) {
                try_one(&text);
            }
        }
    }
}

const MACVLAN: &str = include_str!("../../labs/macvlan.toml");
const MACVLAN_VLAN: &str = include_str!("../../labs/macvlan-vlan.toml");
const ROUTED: &str = include_str!("../../labs/routed-gateway.toml");

fn host<'a>(l: &'a Lab, name: &str) -> &'a Host {
    l.hosts
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

#[test]
fn macvlan_lab_is_docker_faithful() {
    let l = lab(MACVLAN);
    let m = net(&l, "mac_net1");
    assert_eq!(
        m.driver,
        Driver::Macvlan {
            parent: "ens33".into(),
            mode: MacvlanMode::Bridge,
            dummy_parent: false
        }
    );
    assert_eq!(m.driver_name(), "macvlan");
    // The same subnet as the underlay its parent NIC is on: allowed, that is what macvlan is for.
    assert_eq!(m.subnet, l.underlay.subnet);
    assert_eq!(m.gateway, ip("10.1.1.1"));
    assert!(
        !l.networks.iter().any(|n| n.implicit),
        "no docker_gwbridge for macvlan"
    );
    assert_eq!(
        endpoints(&l, "bbox11"),
        [ep("eth0", "mac_net1", "10.1.1.111/24", "02:42:0a:01:01:6f")]
    );
    assert_eq!(
        endpoints(&l, "bbox21"),
        [ep("eth0", "mac_net1", "10.1.1.121/24", "02:42:0a:01:01:79")]
    );
    // Docker: the default route goes to the macvlan network's gateway.
    assert_eq!(
        container(&l, "bbox11").default_gateway,
        Some(ip("10.1.1.1"))
    );
    for h in &l.hosts {
        assert_eq!(h.nics, ["ens33"]);
        assert!(h.vlans.is_empty() && h.addresses.is_empty() && !h.forwarding);
    }
    // The checks resolve container names across hosts on a macvlan network.
    assert_eq!(l.checks[0].address, ip("10.1.1.111"));
    assert_eq!(l.checks[2].address, ip("10.1.1.15"));
}

#[test]
fn vlan_parents_become_sub_interfaces_of_each_host_that_needs_them() {
    let l = lab(MACVLAN_VLAN);
    for h in ["nas4", "nas5"] {
        let h = host(&l, h);
        assert_eq!(h.nic, "ens33");
        assert_eq!(h.nics, ["ens33", "ens38"]);
        assert_eq!(
            h.vlans,
            [
                Vlan {
                    name: "ens38.10".into(),
                    nic: "ens38".into(),
                    id: 10
                },
                Vlan {
                    name: "ens38.20".into(),
                    nic: "ens38".into(),
                    id: 20
                },
            ]
        );
        assert!(!h.forwarding);
    }
    assert_eq!(net(&l, "mac_net10").gateway, ip("172.16.10.254"));
    assert_eq!(
        container(&l, "bbox2").default_gateway,
        Some(ip("172.16.20.254"))
    );
    assert_eq!(
        endpoints(&l, "bbox4"),
        [ep(
            "eth0",
            "mac_net20",
            "172.16.20.11/24",
            "02:42:ac:10:14:0b"
        )]
    );
}

#[test]
fn a_router_host_holds_addresses_on_sub_interfaces_and_forwards() {
    let l = lab(ROUTED);
    let r = host(&l, "vm-vpn");
    assert!(r.forwarding);
    assert_eq!(r.address, subnet("10.1.1.16/24"));
    let addrs: Vec<(&str, String)> = r
        .addresses
        .iter()
        .map(|a| (a.dev.as_str(), a.address.to_string()))
        .collect();
    assert_eq!(
        addrs,
        [
            ("ens38.10", "172.16.10.254/24".to_string()),
            ("ens38.20", "172.16.20.254/24".to_string())
        ]
    );
    let vlans: Vec<&str> = r.vlans.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        vlans,
        ["ens38.10", "ens38.20"],
        "created because its addresses need them"
    );
    assert!(!host(&l, "nas4").forwarding);
    let ttls: Vec<Option<u8>> = l.checks.iter().map(|c| c.ttl).collect();
    assert_eq!(
        ttls,
        [Some(64), Some(64), Some(63), Some(63), Some(63), Some(64)]
    );
}

const TWO_HOSTS: &str = "[lab]\nname = \"t\"\n[hosts.nas4]\naddress = \"10.1.1.14\"\n[hosts.nas5]\naddress = \"10.1.1.15\"\n";

#[test]
fn macvlan_addresses_are_lab_wide_and_skip_host_addresses() {
    // Docker's macvlan IPAM is per host; on one segment that hands out clashing addresses, so
    // netlab allocates lab-wide and never gives a container a host's address.
    let l = lab(&format!(
        "{TWO_HOSTS}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"10.1.1.0/28\"\ngateway = \"10.1.1.2\"\n\
         [containers.a]\nhost = \"nas4\"\nnetworks = [\"m\"]\n\
         [containers.b]\nhost = \"nas5\"\nnetworks = [\"m\"]\n"
    ));
    let a = &container(&l, "a").endpoints[0];
    let b = &container(&l, "b").endpoints[0];
    assert_eq!(a.address, subnet("10.1.1.1/28"));
    assert_eq!(
        b.address,
        subnet("10.1.1.3/28"),
        "not .1 again on the other host, not the gateway"
    );
    let l = lab(&format!(
        "{TWO_HOSTS}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"10.1.1.0/28\"\n\
         {}",
        (0..12)
            .map(|i| format!("[containers.c{i}]\nhost = \"nas4\"\nnetworks = [\"m\"]\n"))
            .collect::<String>()
    ));
    let got: Vec<String> = l
        .containers
        .iter()
        .map(|c| c.endpoints[0].address.ip().to_string())
        .collect();
    // nas4's 10.1.1.14 is inside the /28 and skipped; .1 is the gateway.
    assert!(!got.contains(&"10.1.1.14".to_string()), "{got:?}");
    assert_eq!(got.last().unwrap(), "10.1.1.13");
}

#[test]
fn one_parent_per_host_but_the_same_parent_on_two_hosts_is_fine() {
    let base = format!(
        "{TWO_HOSTS}[networks.m1]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"172.16.1.0/24\"\n\
         [networks.m2]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"172.16.2.0/24\"\n\
         [containers.a]\nhost = \"nas4\"\nnetworks = [\"m1\"]\n"
    );
    // m2 exists only on nas5: no clash.
    lab(&format!(
        "{base}[containers.b]\nhost = \"nas5\"\nnetworks = [\"m2\"]\n"
    ));
    let e = errors(&format!(
        "{base}[containers.b]\nhost = \"nas4\"\nnetworks = [\"m2\"]\n"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].message,
        format!(
            "network dm-{} is already using parent interface ens33 (that is network m1, on host nas4), so network m2 cannot",
            &network_id("t", "m1")[..12]
        )
    );
}

#[test]
fn only_a_macvlan_on_a_plain_nic_may_share_the_underlay_subnet() {
    let on_vlan = format!(
        "{}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33.10\"\nsubnet = \"10.1.1.0/24\"\n\
         [containers.a]\nhost = \"nas4\"\nnetworks = [\"m\"]\n",
        TWO_HOSTS
    );
    let e = errors(&on_vlan);
    assert!(
        e[0].message
            .contains("overlaps 10.1.1.0/24 of the underlay"),
        "{e:?}"
    );
    let two = format!(
        "{TWO_HOSTS}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"10.1.1.0/24\"\n\
         [networks.b]\ndriver = \"bridge\"\nsubnet = \"10.1.1.0/25\"\n\
         [containers.a]\nhost = \"nas4\"\nnetworks = [\"m\", \"b\"]\n"
    );
    let e = errors(&two);
    assert!(e[0].message.contains("overlaps"), "{e:?}");
}

#[test]
fn vlan_ids_and_sub_interface_names_are_checked() {
    assert_eq!(split_vlan("ens38.10"), Some(("ens38", 10)));
    assert_eq!(split_vlan("ens38.0"), Some(("ens38", 0)));
    assert_eq!(split_vlan("ens38"), None);
    assert_eq!(split_vlan("ens38."), None);
    assert_eq!(split_vlan(".10"), None);
    assert_eq!(split_vlan("ens38.x"), None);
    for (parent, msg) in [
        ("ens33.0", "VLAN id 0"),
        ("ens33.4095", "VLAN id 4095"),
        ("e.9999999999", "neither a NIC name nor NIC.VLAN"),
    ] {
        let e = errors(&format!(
            "{TWO_HOSTS}[networks.m]\ndriver = \"macvlan\"\nparent = \"{parent}\"\n\
             [containers.a]\nhost = \"nas4\"\nnetworks = [\"m\"]\n"
        ));
        assert!(e[0].message.contains(msg), "{parent}: {e:?}");
    }
    lab(&format!(
        "{TWO_HOSTS}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33.4094\"\n\
         [containers.a]\nhost = \"nas4\"\nnetworks = [\"m\"]\n"
    ));
}

#[test]
fn a_bridge_with_more_ports_than_linux_allows_is_refused() {
    let mut text = String::from("[lab]\nname = \"big\"\n[hosts.h1]\n[networks.n]\ndriver = \"bridge\"\nsubnet = \"10.8.0.0/16\"\n");
    for i in 0..1024 {
        text.push_str(&format!(
            "[containers.c{i}]\nhost = \"h1\"\nnetworks = [\"n\"]\n"
        ));
    }
    let err = parse("big.toml", "big.toml", &text, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("network n would have more than 1023 containers on host h1"),
        "{err}"
    );
    assert!(
        err.contains("[containers.c1023]") || err.contains("big.toml:"),
        "{err}"
    );
    // 1023 fit.
    let ok: String = text.split("[containers.c1023]").next().unwrap().to_string();
    assert!(parse("big.toml", "big.toml", &ok, None).is_ok());
}

/// One bridge network with `subnet` and a container on it.
fn with_subnet(subnet: &str) -> String {
    format!(
        "[lab]\nname = \"t\"\n[hosts.h1]\n[networks.n]\ndriver = \"bridge\"\nsubnet = \"{subnet}\"\n\
         [containers.c]\nhost = \"h1\"\nnetworks = [\"n\"]\n"
    )
}

#[test]
fn subnets_in_reserved_ranges_are_refused() {
    for (subnet, what) in [
        ("224.1.0.0/24", "is in the multicast range 224.0.0.0/4"),
        ("239.1.1.0/24", "is in the multicast range 224.0.0.0/4"),
        ("224.0.0.0/8", "is in the multicast range 224.0.0.0/4"),
        ("127.5.0.0/16", "is in the loopback range 127.0.0.0/8"),
        ("127.0.0.0/8", "is in the loopback range 127.0.0.0/8"),
        ("0.0.0.0/8", "is in the \"this network\" block 0.0.0.0/8"),
        ("0.1.2.0/24", "is in the \"this network\" block 0.0.0.0/8"),
        ("240.0.1.0/24", "is in the reserved range 240.0.0.0/4"),
        ("254.0.0.0/8", "is in the reserved range 240.0.0.0/4"),
        (
            "255.255.255.0/24",
            "contains the limited broadcast address 255.255.255.255",
        ),
    ] {
        let e = errors(&with_subnet(subnet));
        assert_eq!(e.len(), 1, "{subnet}: {e:?}");
        assert!(
            e[0].message.contains(&format!("subnet {subnet} {what}")),
            "{subnet}: {e:?}"
        );
        assert_eq!(e[0].at, Some((6, 10)), "{subnet}: {e:?}");
        // The underlay's subnet too.
        let e = errors(&format!(
            "[lab]\nname = \"t\"\n[underlay]\nsubnet = \"{subnet}\"\n[hosts.h1]\n"
        ));
        assert!(
            e.iter().any(|d| d
                .message
                .contains(&format!("underlay subnet {subnet} {what}"))),
            "{subnet}: {e:?}"
        );
    }
    // Unicast neighbours of the reserved blocks, and the other special ones a lab can use.
    for subnet in [
        "1.0.0.0/8",
        "126.255.255.0/24",
        "128.0.0.0/24",
        "223.255.255.0/24",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "192.0.2.0/24",
    ] {
        let l = lab(&with_subnet(subnet));
        assert_eq!(net(&l, "n").subnet, self::subnet(subnet));
    }
}

#[test]
fn host_addresses_and_check_targets_in_reserved_ranges_are_refused() {
    for (address, what) in [
        ("127.0.0.2/8", "is in the loopback range"),
        ("239.0.0.254/24", "is in the multicast range"),
        ("240.0.0.1/24", "is in the reserved range"),
        ("0.0.0.1/8", "is in the \"this network\" block"),
        ("255.255.255.255/32", "is the limited broadcast address"),
    ] {
        let e = errors(&format!(
            "[lab]\nname = \"t\"\n[hosts.r]\nnics = [\"ens33\", \"ens38\"]\naddresses = {{ \"ens38.10\" = \"{address}\" }}\n"
        ));
        assert_eq!(e.len(), 1, "{address}: {e:?}");
        assert!(
            e[0].message
                .contains(&format!("address {address} for ens38.10 {what}")),
            "{address}: {e:?}"
        );
    }
    for (target, what) in [
        ("127.0.0.1", "it is in the loopback range 127.0.0.0/8"),
        ("0.0.0.0", "it is in the \"this network\" block"),
        ("0.1.2.3", "it is in the \"this network\" block"),
        ("224.0.0.1", "it is in the multicast range"),
        ("240.1.1.1", "it is in the reserved range"),
        ("255.255.255.255", "it is the limited broadcast address"),
    ] {
        let e = errors(&format!(
            "{}[[checks]]\nfrom = \"c\"\nto = \"{target}\"\n",
            with_subnet("10.5.0.0/24")
        ));
        assert_eq!(e.len(), 1, "{target}: {e:?}");
        assert!(
            e[0].message
                .contains(&format!("check target {target} is not a unicast address")),
            "{target}: {e:?}"
        );
        assert!(e[0].message.contains(what), "{target}: {e:?}");
    }
}

/// A router with two NICs, and a macvlan network `m` on `parent` with a container on `host`.
fn vlan_lab(addresses: &str, parent: &str, host: &str) -> String {
    format!(
        "[lab]\nname = \"t\"\n\
         [hosts.r]\nnics = [\"ens33\", \"ens38\"]\naddresses = {{ {addresses} }}\n\
         [hosts.h]\nnics = [\"ens33\", \"ens38\"]\n\
         [networks.m]\ndriver = \"macvlan\"\nparent = \"{parent}\"\nsubnet = \"172.16.10.0/24\"\n\
         [containers.c]\nhost = \"{host}\"\nnetworks = [\"m\"]\n"
    )
}

#[test]
fn one_vlan_is_spelt_one_way_on_a_host() {
    // Alone, a leading zero is just a name: the kernel takes "ens38.010" for VLAN 10, as
    // Docker's macvlan driver does.
    let l = lab(&vlan_lab("", "ens38.010", "h"));
    assert_eq!(
        host(&l, "h").vlans,
        [Vlan {
            name: "ens38.010".into(),
            nic: "ens38".into(),
            id: 10
        }]
    );
    // One spelling for an address and a parent on one host: one sub-interface.
    let l = lab(&vlan_lab(
        "\"ens38.10\" = \"172.16.10.254/24\"",
        "ens38.10",
        "r",
    ));
    assert_eq!(host(&l, "r").vlans.len(), 1);
    // Two spellings on two hosts: each host has its own sub-interface.
    let l = lab(&vlan_lab(
        "\"ens38.10\" = \"172.16.10.254/24\"",
        "ens38.010",
        "h",
    ));
    assert_eq!(host(&l, "r").vlans[0].name, "ens38.10");
    assert_eq!(host(&l, "h").vlans[0].name, "ens38.010");

    // Two spellings on one host: refused at the second, naming the first.
    let e = errors(&vlan_lab(
        "\"ens38.10\" = \"172.16.10.254/24\"",
        "ens38.010",
        "r",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].at, Some((10, 10)), "{e:?}");
    assert!(
        e[0].message.contains(
            "\"ens38.010\" (parent of network m) is VLAN 10 on ens38, which host r already has as \"ens38.10\" (in addresses, line 5, column 15)"
        ),
        "{e:?}"
    );
    assert!(
        e[0].help
            .as_deref()
            .unwrap()
            .contains("spell it \"ens38.10\""),
        "{e:?}"
    );
    // Within one host's addresses.
    let e = errors(&vlan_lab(
        "\"ens38.010\" = \"172.16.10.254/24\", \"ens38.10\" = \"172.16.11.254/24\"",
        "ens38.20",
        "h",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].at, Some((5, 49)), "{e:?}");
    assert!(
        e[0].message
            .contains("\"ens38.10\" (in addresses) is VLAN 10 on ens38, which host r already has as \"ens38.010\""),
        "{e:?}"
    );
    // The network written before the host: the error is at the later one in the file.
    let text = "[lab]\nname = \"t\"\n\
        [networks.m]\ndriver = \"macvlan\"\nparent = \"ens38.010\"\nsubnet = \"172.16.10.0/24\"\n\
        [hosts.r]\nnics = [\"ens33\", \"ens38\"]\naddresses = { \"ens38.10\" = \"172.16.10.254/24\" }\n\
        [containers.c]\nhost = \"r\"\nnetworks = [\"m\"]\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].at, Some((9, 15)), "{e:?}");
    assert!(
        e[0].message.contains(
            "\"ens38.10\" (in addresses) is VLAN 10 on ens38, which host r already has as \"ens38.010\" (parent of network m, line 5, column 10)"
        ),
        "{e:?}"
    );
    // Two macvlan networks on one VLAN of one host, spelt differently: one parent, twice.
    let e = errors(
        "[lab]\nname = \"t\"\n[hosts.h]\nnics = [\"ens33\", \"ens38\"]\n\
         [networks.a]\ndriver = \"macvlan\"\nparent = \"ens38.10\"\nsubnet = \"172.16.10.0/24\"\n\
         [networks.b]\ndriver = \"macvlan\"\nparent = \"ens38.0010\"\nsubnet = \"172.16.11.0/24\"\n\
         [containers.c]\nhost = \"h\"\nnetworks = [\"a\", \"b\"]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].at, Some((11, 10)), "{e:?}");
    assert!(
        e[0].message.contains(
            "parent \"ens38.0010\" of network b is VLAN 10 on ens38, which network a already uses on host h as \"ens38.10\" (line 7, column 10)"
        ),
        "{e:?}"
    );
}

#[test]
fn independent_problems_in_every_section_are_reported_in_one_pass() {
    let text = "[lab]
name = \"t\"

[underlay]
subnet = \"127.1.1.0/24\"

[hosts.h1]
adress = \"10.1.1.5\"

[hosts.h2]
address = \"10.1.1.300\"

[networks.n1]
driver = \"bridge\"
subnet = \"224.1.0.0/24\"

[networks.n2]
driver = \"overlay\"
vni = 0

[networks.n3]
driver = \"host\"
subnet = \"10.9.0.0/33\"

[containers.c1]
host = \"h9\"
networks = [\"n2\"]

[containers.c2]
host = \"h2\"
networks = [\"n1\", \"n2\", \"n4\"]
ip = { n2 = \"10.0.0.0\" }

[containers.c3]
hots = \"h2\"

[[checks]]
from = \"c2\"
to = \"nobody\"

[[checks]]
from = \"c9\"
to = \"c2\"
expect = \"maybe\"
count = 0
ttl = 300
";
    let d = errors(text);
    let got: Vec<(usize, usize, &str)> = d
        .iter()
        .map(|d| {
            let (l, c) = d.at.unwrap();
            (l, c, d.message.as_str())
        })
        .collect();
    let want: &[(usize, usize, &str)] = &[
        (
            5,
            10,
            "underlay subnet 127.1.1.0/24 is in the loopback range",
        ),
        (8, 1, "unknown field `adress`"),
        (11, 11, "host address \"10.1.1.300\" is not an IPv4 address"),
        (15, 10, "subnet 224.1.0.0/24 is in the multicast range"),
        (19, 7, "vni 0 is out of range"),
        (22, 10, "unknown network driver \"host\""),
        (23, 10, "subnet \"10.9.0.0/33\" is not an IPv4 subnet"),
        (
            26,
            8,
            "container c1 is on host \"h9\", which is not defined",
        ),
        (31, 25, "network \"n4\" is not defined"),
        (
            32,
            13,
            "address 10.0.0.0 is not a usable address of n2 (10.0.0.0/24)",
        ),
        (35, 1, "unknown field `hots`"),
        (
            39,
            6,
            "check target \"nobody\" is not a container, host, alias the source resolves, or IP address",
        ),
        (42, 8, "check source \"c9\" is not a container or host"),
        (44, 10, "expect must be"),
        (45, 9, "count 0 must be between 1 and 100"),
        (46, 7, "ttl 300 must be between 1 and 255"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((l, c, m), (wl, wc, wm)) in got.iter().zip(want) {
        assert!(
            (l, c) == (wl, wc) && m.contains(wm),
            "got {l}:{c}: {m}\nwanted {wl}:{wc}: {wm}\nall: {got:#?}"
        );
    }
}

#[test]
fn consequences_of_a_reported_problem_are_not_reported_again() {
    let only = |text: &str, message: &str| {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}\nin\n{text}");
        assert!(e[0].message.contains(message), "{e:#?}");
    };
    let head = "[lab]\nname = \"t\"\n[hosts.h1]\n[hosts.h2]\n";
    // A network with an unknown driver: its containers miss it, checks between them say nothing.
    only(
        &format!(
            "{head}[networks.n]\ndriver = \"vlan\"\n\
             [containers.a]\nhost = \"h1\"\nnetworks = [\"n\"]\n\
             [containers.b]\nhost = \"h2\"\nnetworks = [\"n\"]\n\
             [[checks]]\nfrom = \"a\"\nto = \"b\"\n"
        ),
        "unknown network driver",
    );
    // A refused subnet: the addresses written for it are not checked against a stand-in.
    only(
        &format!(
            "{head}[networks.n]\ndriver = \"bridge\"\nsubnet = \"10.5.0.0/33\"\ngateway = \"10.5.0.1\"\n\
             [containers.a]\nhost = \"h1\"\nnetworks = [\"n\"]\nip = {{ n = \"10.5.0.9\" }}\n"
        ),
        "is not an IPv4 subnet",
    );
    // A refused macvlan parent: its subnet may have been the segment's, and it is no bridge.
    only(
        &format!(
            "{head}[networks.m]\ndriver = \"macvlan\"\nparent = \"ens33.0\"\nsubnet = \"10.1.1.0/24\"\n\
             [containers.a]\nhost = \"h1\"\nnetworks = [\"m\"]\n\
             [containers.b]\nhost = \"h2\"\nnetworks = [\"m\"]\n\
             [[checks]]\nfrom = \"a\"\nto = \"b\"\n"
        ),
        "VLAN id 0",
    );
    // A refused underlay subnet: host addresses are not checked against the default one.
    only(
        "[lab]\nname = \"t\"\n[underlay]\nsubnet = \"10.2.0.0/8\"\n[hosts.h1]\naddress = \"10.2.0.5\"\n",
        "has host bits set",
    );
    // An unreadable host, container or network: references to it are not "undefined".
    only(
        "[lab]\nname = \"t\"\n[hosts.h1]\nnic = 7\n[networks.n]\ndriver = \"bridge\"\n\
             [containers.a]\nhost = \"h1\"\nnetworks = [\"n\"]\n\
             [[checks]]\nfrom = \"a\"\nto = \"h1\"\n",
        "invalid type: integer `7`",
    );
    only(
        &format!(
            "{head}[networks.n]\ndriver = \"bridge\"\nvni = \"x\"\n\
             [containers.a]\nhost = \"h1\"\nnetworks = [\"n\"]\n"
        ),
        "invalid type: string \"x\"",
    );
    only(
        &format!(
            "{head}[containers.a]\nhost = \"h1\"\n\
             [[checks]]\nfrom = \"a\"\nto = \"h2\"\n"
        ),
        "missing field `networks`",
    );
    // A whole section of the wrong shape.
    only(
        "hosts = [\"h1\"]\n[lab]\nname = \"t\"\n[networks.n]\ndriver = \"bridge\"\n\
         [containers.a]\nhost = \"h1\"\nnetworks = [\"n\"]\n",
        "expected a table",
    );
    // No [lab]: the rest is still checked.
    let e = errors("[hosts.h1]\n[networks.n]\ndriver = \"bridge\"\nsubnet = \"127.0.0.0/8\"\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].message.contains("missing field `lab`"), "{e:#?}");
    assert!(e[1].message.contains("loopback"), "{e:#?}");
}

#[test]
fn a_file_that_cannot_be_read_has_no_position() {
    let e = load(Path::new("/nonexistent/netlab/lab.toml"), None).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    assert_eq!(e.diagnostics[0].at, None);
    assert_eq!(
        e.to_string(),
        "/nonexistent/netlab/lab.toml: cannot read lab file: No such file or directory"
    );
    let e = load(Path::new("/"), None).unwrap_err();
    assert_eq!(e.diagnostics[0].at, None);
    assert!(
        e.to_string()
            .starts_with("/: is a directory, not a lab file"),
        "{e}"
    );
}

#[test]
fn a_reserved_range_is_named_before_smaller_mistakes() {
    // Clearing the host bits would only lead to the multicast error: say that one at once.
    let e = errors(&with_subnet("224.1.0.5/24"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("subnet 224.1.0.5/24 is in the multicast range"),
        "{e:?}"
    );
    let e = errors(
        "[lab]\nname = \"t\"\n[hosts.r]\nnics = [\"ens33\", \"ens38\"]\naddresses = { ens38 = \"127.0.0.0/8\" }\n",
    );
    assert!(e[0].message.contains("is in the loopback range"), "{e:?}");
}

/// A directory of its own under the temp dir, with `files` written in it.
fn lab_dir(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netlab-spec-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

const TWO: &str = "[lab]\nname = \"t\"\n[hosts.h1]\naddress = \"10.1.1.11\"\n[networks.n1]\ndriver = \"bridge\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"n1\"]\n";

/// An `apply` step's file is found next to the lab file and read with it; the steps after it
/// name the nodes it has (extra), the steps before it those of the lab (c1); `expect_fail` and
/// `dry_run` leave the names as they were.
#[test]
fn apply_steps_bring_the_nodes_of_the_applied_file() {
    use scenario::Action;
    let more = format!("{TWO}[containers.extra]\nhost = \"h1\"\nnetworks = [\"n1\"]\n");
    let dir = lab_dir("apply", &[("more.toml", &more)]);
    let source = dir.join("base.toml");
    let source = source.to_str().unwrap();
    let step = |body: &str| format!("[[scenarios.s.steps]]\n{body}\n");
    let ping_extra = step("do = \"ping\"\nfrom = \"extra\"\nto = \"c1\"");
    let apply = step("do = \"apply\"\nfile = \"more.toml\"");
    // Before and after the apply step: only the one before is an error.
    let text = format!("{TWO}[scenarios.s]\n{ping_extra}{apply}{ping_extra}");
    let e = parse("base.toml", source, &text, None).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    assert_eq!(e.diagnostics[0].at, Some((13, 8)), "{e}");
    assert!(e.diagnostics[0]
        .message
        .contains("from \"extra\" is not a container or host of this lab"));
    let text = format!("{TWO}[scenarios.s]\n{apply}{ping_extra}");
    let l = parse("base.toml", source, &text, Some("renamed")).unwrap_or_else(|e| panic!("{e}"));
    let want = dir.join("more.toml").canonicalize().unwrap();
    assert_eq!(
        l.scenarios[0].steps[0].action,
        Action::Apply {
            file: "more.toml".into(),
            path: want.display().to_string(),
            dry_run: false
        }
    );
    assert_eq!(l.scenarios[0].steps[0].name, "apply more.toml");
    // A step that must fail, or a dry run, changes nothing: extra is still unknown after it.
    for how in ["expect_fail = true", "dry_run = true"] {
        let apply = step(&format!("do = \"apply\"\nfile = \"more.toml\"\n{how}"));
        let text = format!("{TWO}[scenarios.s]\n{apply}{ping_extra}");
        let e = parse("base.toml", source, &text, None).unwrap_err();
        assert!(e.to_string().contains("from \"extra\""), "{how}: {e}");
    }
    // Each scenario starts from the lab file's own nodes.
    let text = format!("{TWO}[scenarios.s]\n{apply}[scenarios.t]\n{ping_extra}").replace(
        "scenarios.s.steps]]\ndo = \"ping\"",
        "scenarios.t.steps]]\ndo = \"ping\"",
    );
    let e = parse("base.toml", source, &text, None).unwrap_err();
    assert!(e.to_string().contains("from \"extra\""), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A missing file, a file that is not TOML, and a lab the validation refuses are errors at the
/// step's `file`; the refused lab is accepted when the step must fail (that is what it shows).
/// A file that applies itself is read once, not forever.
#[test]
fn apply_files_are_checked_when_the_lab_file_is() {
    let bad = format!("{TWO}[containers.c9]\nhost = \"h9\"\nnetworks = [\"n1\"]\n");
    let dir = lab_dir(
        "applybad",
        &[("bad.toml", &bad), ("broken.toml", "[lab\nname = 1\n")],
    );
    let source = dir.join("base.toml");
    let source = source.to_str().unwrap();
    let with =
        |keys: &str| format!("{TWO}[scenarios.s]\n[[scenarios.s.steps]]\ndo = \"apply\"\n{keys}\n");
    let err = |text: &str| parse("base.toml", source, text, None).unwrap_err();
    let e = err(&with("file = \"nope.toml\""));
    assert_eq!(e.diagnostics[0].at, Some((13, 8)), "{e}");
    assert!(e.to_string().contains("apply file \"nope.toml\""), "{e}");
    assert!(e.to_string().contains("No such file or directory"), "{e}");
    let e = err(&with("file = \"broken.toml\"\nexpect_fail = true"));
    assert!(
        e.to_string()
            .contains("apply file \"broken.toml\" does not parse"),
        "{e}"
    );
    let e = err(&with("file = \"bad.toml\""));
    assert_eq!(e.diagnostics[0].at, Some((13, 8)), "{e}");
    assert!(
        e.to_string().contains("is not a valid lab: ")
            && e.to_string()
                .contains("bad.toml:11:8: container c9 is on host \"h9\""),
        "{e}"
    );
    parse(
        "base.toml",
        source,
        &with("file = \"bad.toml\"\nexpect_fail = true"),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The steps after a file that could not be read are not checked against it: one error.
    let e = err(&format!(
        "{}[[scenarios.s.steps]]\ndo = \"ping\"\nfrom = \"extra\"\nto = \"c1\"\n",
        with("file = \"nope.toml\"")
    ));
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let e = err(&with(""));
    assert!(e.to_string().contains("an apply step needs file"), "{e}");
    let e = err(&with("file = \"bad.toml\"\nnode = \"c1\""));
    assert!(
        e.to_string()
            .contains("node does not apply to an apply step"),
        "{e}"
    );
    // A file whose scenario applies the file itself.
    let selfish = with("file = \"self.toml\"");
    std::fs::write(dir.join("self.toml"), &selfish).unwrap();
    load(&dir.join("self.toml"), None).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped labs' `apply` steps name files that are there: routed-gateway's scenario
/// detaches vm-vpn and attaches it again, macvlan's applies a file the validation refuses.
#[test]
fn shipped_apply_steps_name_shipped_files() {
    use scenario::Action;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rg = load(&root.join("labs/routed-gateway.toml"), None).unwrap();
    let files: Vec<String> = rg.scenarios[0]
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Apply { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(files.len(), 2);
    let detached = load(Path::new(&files[0]), None).unwrap();
    let vpn = |l: &Lab| l.hosts.iter().find(|h| h.name == "vm-vpn").unwrap().clone();
    assert!(vpn(&detached).forwarding && vpn(&detached).addresses.is_empty());
    assert_eq!(load(Path::new(&files[1]), None).unwrap(), rg);
    let mv = load(&root.join("labs/macvlan.toml"), None).unwrap();
    let step = &mv.scenarios[0].steps[0];
    assert!(step.expect_fail);
    let Action::Apply { path, .. } = &step.action else {
        panic!("{step:?}")
    };
    let e = load(Path::new(path), None).unwrap_err();
    assert!(
        e.to_string().contains(
            "is already using parent interface ens33 (that is network mac_net1, on host nas4)"
        ),
        "{e}"
    );
}

/// "did you mean": a swapped pair of letters is one edit, so "wbe" is "web" and not "db" (both
/// two edits away by Levenshtein); far-off names get no suggestion.
#[test]
fn close_match_counts_a_transposition_as_one_edit() {
    let names = ["db", "web", "cache"];
    assert_eq!(
        close_match("wbe", names.iter().copied()).as_deref(),
        Some("did you mean \"web\"?")
    );
    assert_eq!(
        close_match("cahce", names.iter().copied()).as_deref(),
        Some("did you mean \"cache\"?")
    );
    assert_eq!(close_match("router", names.iter().copied()), None);
}

const MODES: &str = include_str!("../../labs/network-modes.toml");

/// libnetwork's needDefaultGW: internal networks count neither as a way out nor as a network
/// needing docker_gwbridge; none and host mode have no endpoints.
#[test]
fn internal_networks_and_network_modes_follow_libnetwork() {
    let l = lab(MODES);
    let gw = |c: &str| container(&l, c).default_gateway;
    let nets = |c: &str| -> Vec<String> { endpoints(&l, c).into_iter().map(|e| e.1).collect() };
    assert!(net(&l, "ov_db").internal && net(&l, "backend").internal);
    assert!(!net(&l, "ov_app").internal && !net(&l, "docker_gwbridge").internal);
    assert_eq!(
        nets("db1"),
        ["ov_db"],
        "an internal overlay brings no gwbridge leg"
    );
    assert_eq!(gw("db1"), None);
    assert_eq!(nets("app1"), ["ov_app", "docker_gwbridge"]);
    assert_eq!(gw("app1"), Some(ip("172.18.0.1")));
    assert_eq!(nets("cache"), ["backend"]);
    assert_eq!(
        gw("cache"),
        None,
        "an internal bridge gives no default route"
    );
    assert_eq!(
        nets("worker"),
        ["backend", "ov_app", "docker_gwbridge"],
        "an internal bridge is no way out, so the overlay's gwbridge leg comes"
    );
    assert_eq!(gw("worker"), Some(ip("172.18.0.1")));
    for (c, mode) in [("sealed", NetworkMode::None), ("agent", NetworkMode::Host)] {
        assert_eq!(container(&l, c).mode, mode);
        assert!(container(&l, c).endpoints.is_empty());
    }
    let ai = l.containers.iter().position(|c| c.name == "agent").unwrap();
    assert_eq!(l.container_ns(ai), l.host_ns(container(&l, "agent").host));
    assert_eq!(l.node_ns("agent"), Some(format!("{}.node1", l.name)));
    // Check targets: a host-mode container is its host's address.
    let to_agent = l.checks.iter().find(|c| c.to == "agent").unwrap();
    assert_eq!(to_agent.address, ip("10.1.1.21"));
    // The plan: no namespace for the host-mode container, only lo up for the none one.
    let p = crate::plan::plan(&l);
    assert!(!p.namespaces.iter().any(|n| n.name.ends_with(".agent")));
    let sealed: Vec<String> = p
        .objects
        .iter()
        .filter(|o| o.ns().ends_with(".sealed"))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(sealed, [format!("ip -n {}.sealed link set lo up", l.name)]);
}

/// At run time the same rule: connecting to an internal overlay brings no gwbridge leg, and
/// none- or host-mode containers cannot be connected at all.
#[test]
fn run_time_changes_follow_the_same_rules() {
    let l = lab(MODES);
    let ni = |n: &str| l.networks.iter().position(|x| x.name == n).unwrap();
    let ci = |c: &str| l.containers.iter().position(|x| x.name == c).unwrap();
    let new = change::connect(&l, ni("ov_db"), ci("cache"), None).unwrap();
    let names: Vec<&str> = new.containers[ci("cache")]
        .endpoints
        .iter()
        .map(|e| new.networks[e.network].name.as_str())
        .collect();
    assert_eq!(names, ["backend", "ov_db"]);
    let new = change::connect(&l, ni("ov_app"), ci("db1"), None).unwrap();
    let names: Vec<&str> = new.containers[ci("db1")]
        .endpoints
        .iter()
        .map(|e| new.networks[e.network].name.as_str())
        .collect();
    assert_eq!(names, ["ov_db", "ov_app", "docker_gwbridge"]);
    // ... and leaving ov_app takes the leg again.
    let back = change::disconnect(&new, ni("ov_app"), ci("db1")).unwrap();
    assert_eq!(back.containers[ci("db1")], l.containers[ci("db1")]);
    for c in ["sealed", "agent"] {
        let e = change::connect(&l, ni("ov_app"), ci(c), None).unwrap_err();
        assert!(e.0.contains("mode"), "{e}");
    }
}

/// labs/ipvlan.toml: modes, the internal network's dummy parent, Docker's default routes (via
/// the gateway in L2, the device in L3, none on an internal network).
#[test]
fn ipvlan_lab_is_docker_faithful() {
    let l = lab(include_str!("../../labs/ipvlan.toml"));
    assert_eq!(
        net(&l, "db_net").driver,
        Driver::Ipvlan {
            parent: "ens33".into(),
            mode: IpvlanMode::L2,
            dummy_parent: false
        }
    );
    assert_eq!(
        net(&l, "ipnet210").driver,
        Driver::Ipvlan {
            parent: "ens34".into(),
            mode: IpvlanMode::L3,
            dummy_parent: false
        }
    );
    let iso = net(&l, "isolated1");
    assert_eq!(
        iso.driver,
        Driver::Ipvlan {
            parent: Parent::All(format!("di-{}", &iso.id[..12])),
            mode: IpvlanMode::L2,
            dummy_parent: true
        }
    );
    let ci = |n: &str| l.containers.iter().position(|c| c.name == n).unwrap();
    assert_eq!(
        l.default_route(ci("ipv1")),
        Some((Some(ip("192.168.1.1")), "eth0"))
    );
    assert_eq!(l.default_route(ci("l3a")), Some((None, "eth0")));
    // No parent is not internal: the default route stays (libnetwork; seed 002's ipnet210).
    assert_eq!(
        l.default_route(ci("cid1")),
        Some((Some(ip("192.168.10.1")), "eth0"))
    );
    // internal = true (Docker's --internal, which empties the parent) takes it away.
    let internal = lab(r#"
[lab]
name = "t"

[hosts.h1]

[networks.isolated2]
driver = "ipvlan"
mode = "l3"
subnet = "192.168.11.0/24"
internal = true

[containers.c1]
host = "h1"
networks = ["isolated2"]
"#);
    assert_eq!(internal.default_route(0), None);
    assert!(internal.networks[0].internal);
    // The hosts share db_net's segment: their addresses are skipped, and so is the gateway.
    assert_eq!(
        container(&l, "cid1").endpoints[0].address.ip(),
        ip("192.168.10.2")
    );
}

#[test]
fn ipvlan_mode_must_be_l2_or_l3() {
    let d = errors(
        "[lab]\nname = \"t\"\n[hosts.h1]\n[networks.n1]\ndriver = \"ipvlan\"\nparent = \"ens33\"\nmode = \"vepa\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"n1\"]\n",
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].at, Some((7, 8)));
    assert_eq!(d[0].message, "unknown ipvlan mode \"vepa\"");
    let help = d[0].help.as_deref().unwrap();
    assert!(help.contains("\"l2\"") && help.contains("\"l3\""), "{help}");
}

/// One parent, one network per host, whatever the drivers; on different hosts, or on two
/// VLANs of one NIC, both are fine. Each conflict is reported once, by the later network.
#[test]
fn one_parent_serves_one_macvlan_or_ipvlan_network_per_host() {
    let text = |second_host: &str, parent2: &str| {
        format!(
            "[lab]\nname = \"t\"\n[hosts.h1]\nnics = [\"ens33\", \"ens38\"]\n[hosts.h2]\nnics = [\"ens33\", \"ens38\"]\n\
             [networks.m]\ndriver = \"macvlan\"\nparent = \"ens33\"\nsubnet = \"10.5.0.0/24\"\n\
             [networks.i]\ndriver = \"ipvlan\"\nparent = \"{parent2}\"\nsubnet = \"10.6.0.0/24\"\n\
             [containers.c1]\nhost = \"h1\"\nnetworks = [\"m\"]\n\
             [containers.c2]\nhost = \"{second_host}\"\nnetworks = [\"i\"]\n"
        )
    };
    let d = errors(&text("h1", "ens33"));
    assert_eq!(d.len(), 1, "{d:?}");
    // The ipvlan driver refuses it, and names the other network as it names dummies.
    assert_eq!(
        d[0].message,
        format!(
            "network di-{} is already using parent interface ens33 (that is network m, on host h1), so network i cannot",
            &network_id("t", "m")[..12]
        )
    );
    assert!(d[0]
        .help
        .as_deref()
        .unwrap()
        .contains("one macvlan or ipvlan network per host"));
    lab(&text("h2", "ens33"));
    lab(&text("h1", "ens38"));
    lab(&text("h1", "ens33.20"));
}

/// A key several drivers take names them all on another driver's network.
#[test]
fn a_shared_key_on_another_driver_names_every_driver_that_takes_it() {
    let d = errors(
        "[lab]\nname = \"t\"\n[hosts.h1]\n[networks.n1]\ndriver = \"overlay\"\nparent = \"ens33\"\nmode = \"l2\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"n1\"]\n",
    );
    let m: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        m,
        [
            "parent only applies to macvlan and ipvlan networks",
            "mode only applies to macvlan and ipvlan networks"
        ]
    );
    // ipvlan takes both, so neither is refused there; the macvlan-only rule (parent required)
    // does not apply either: without a parent the network is internal.
    lab("[lab]\nname = \"t\"\n[hosts.h1]\n[networks.n1]\ndriver = \"ipvlan\"\nmode = \"l3\"\n[containers.c1]\nhost = \"h1\"\nnetworks = [\"n1\"]\n");
}

/// What `up` records is what every later command reads back: for every sample lab, the lab
/// model survives its JSON record unchanged (a flattened driver field must not collide with
/// a network's own, as ipvlan's dummy parent once did with `internal`).
#[test]
fn every_sample_lab_survives_its_record() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let l = load(&path, Some("t")).unwrap_or_else(|e| panic!("{e}"));
        let back: Lab = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l, "{}", path.display());
        n += 1;
    }
    assert!(n >= 8, "{n} sample labs");
}

/// `docker network inspect`'s IPAM.Config shows the gateway when IPAM chose the subnet or the
/// gateway was given, and only the subnet after `--subnet` alone.
#[test]
fn a_subnet_without_a_gateway_is_recorded_as_such() {
    let l = lab(include_str!("../../labs/bridge.toml"));
    assert!(!net(&l, "my_net2").subnet_only, "IPAM chose it");
    assert!(net(&l, "quiet_net").subnet_only, "--subnet alone");
    let m = lab(include_str!("../../labs/macvlan.toml"));
    for n in &m.networks {
        assert!(!n.subnet_only, "{}: --subnet and --gateway", n.name);
    }
}

/// A check may target an alias, at the address its source resolves it to; a source that does
/// not resolve it (not on the alias's network) is told so, with the position.
#[test]
fn a_check_can_target_an_alias_its_source_resolves() {
    let base = include_str!("../../labs/bridge.toml").replace(
        "ip = { my_net2 = \"172.18.0.10\" }",
        "ip = { my_net2 = \"172.18.0.10\" }\naliases = { quiet_net = [\"store\"] }",
    );
    let text =
        format!("{base}\n[[checks]]\nfrom = \"cache\"\nto = \"store\"\nexpect = \"unreachable\"\n");
    let l = lab(&text);
    let c = l.checks.iter().find(|c| c.to == "store").unwrap();
    assert_eq!(c.address, ip("172.22.16.2"), "db's address on quiet_net");
    let text = format!("{base}\n[[checks]]\nfrom = \"web\"\nto = \"store\"\n");
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("check target \"store\" is not a container, host, alias the source resolves"),
        "{e:?}"
    );
}

/// The message and help of the last problem in the file (the others are "no hosts" and such).
fn last_problem(text: &str) -> (String, String) {
    let d = errors(text).into_iter().max_by_key(|d| d.at).unwrap();
    (d.message, d.help.unwrap_or_default())
}

#[test]
fn toml_mistakes_get_netlab_hints() {
    let head = "[lab]\nname = \"x\"\n";
    let cases = [
        ("name2: \"y\"\n", "TOML assigns with `=`, not `:` (YAML): name2 = \"y\""),
        (
            "[networks.n]\ndriver = overlay\n",
            "words are strings: driver = \"overlay\"",
        ),
        (
            "[networks.n]\ndriver = \"bridge\"\nsubnet = 10.0.0.0/24 # a comment\n",
            "addresses are strings: subnet = \"10.0.0.0/24\"",
        ),
        (
            "[networks.n]\ndriver = \"overlay\"\nvni = \"4\"\n",
            "numbers are written without quotes: 4",
        ),
        (
            "[hosts.h]\nnic = \"ens33\"\naddress = \"10.1.1.2/24\"\n[containers.c]\nhost = \"h\"\nnetworks = [\"a\", \"b\"\nip = 3\n",
            "the array opened on line 8 is not closed",
        ),
    ];
    for (body, help) in cases {
        let (message, got) = last_problem(&format!("{head}{body}"));
        assert!(
            got.contains(help),
            "{body:?}: {message}: help {got:?}, wanted {help:?}"
        );
        assert!(!message.contains("expected nothing"), "{message}");
    }
}

#[test]
fn a_toml_problem_is_shown_with_the_line_it_is_on() {
    let e = parse(
        "t.toml",
        "t.toml",
        "[lab]\nname = \"x\"\nip = 10.0.0.2\n",
        None,
    )
    .unwrap_err();
    let shown = e.to_string();
    assert!(shown.starts_with("t.toml:3:6: "), "{shown}");
    assert!(shown.contains("  |      ^^^^^^^^\n"), "{shown}");
    assert!(shown.contains("3 | ip = 10.0.0.2\n"), "{shown}");
    assert!(
        shown.contains("= help: addresses are strings: ip = \"10.0.0.2\""),
        "{shown}"
    );
}

const MACVLAN_NODES: &str = include_str!("../../labs/macvlan-nodes.toml");
const MACVLAN_TRUNK: &str = include_str!("../../labs/macvlan-trunk.toml");

/// Seed 003: each node's daemon is given its own parent (ens33 on node-1, ens32 on node-2),
/// and the trunk half's sub-interfaces are each host's own.
#[test]
fn a_parent_may_name_a_device_per_host() {
    let l = lab(MACVLAN_NODES);
    let Driver::Macvlan { parent, .. } = &net(&l, "mac_net1").driver else {
        panic!()
    };
    assert_eq!(parent.on("node-1"), Some("ens33"));
    assert_eq!(parent.on("node-2"), Some("ens32"));
    assert_eq!(parent.on("node-3"), None);
    let t = lab(MACVLAN_TRUNK);
    let vlans = |h: &str| {
        let host = t.hosts.iter().find(|x| x.name == h).unwrap();
        let mut v: Vec<(String, String, u16)> = host
            .vlans
            .iter()
            .map(|v| (v.name.clone(), v.nic.clone(), v.id))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        vlans("node-1"),
        [
            ("ens33.10".to_string(), "ens33".to_string(), 10),
            ("ens33.20".to_string(), "ens33".to_string(), 20)
        ]
    );
    assert_eq!(
        vlans("node-2"),
        [
            ("ens32.10".to_string(), "ens32".to_string(), 10),
            ("ens32.20".to_string(), "ens32".to_string(), 20)
        ]
    );
    // The record keeps the table, and reads back the same.
    let json = serde_json::to_string(&l).unwrap();
    assert!(
        json.contains(r#""parent":{"node-1":"ens33","node-2":"ens32"}"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Lab>(&json).unwrap(), l);
}

/// The per-host parent's problems, each where it is written.
#[test]
fn a_per_host_parent_is_checked_host_by_host() {
    let with = |parent: &str, extra: &str| {
        format!(
            "[lab]\nname = \"x\"\n[hosts.node-1]\nnic = \"ens33\"\n[hosts.node-2]\nnic = \"ens32\"\n\
             [networks.m]\ndriver = \"macvlan\"\nparent = {parent}\nsubnet = \"10.0.0.0/24\"\n\
             [containers.a]\nhost = \"node-1\"\nnetworks = [\"m\"]\n\
             [containers.b]\nhost = \"node-2\"\nnetworks = [\"m\"]\n{extra}"
        )
    };
    let messages = |text: &str| -> Vec<String> {
        errors(text)
            .into_iter()
            .map(|d| {
                let (l, c) = d.at.unwrap();
                format!("{l}:{c}: {}", d.message)
            })
            .collect()
    };
    // A host of the lab missing from the table, while it has a container on the network.
    assert_eq!(
        messages(&with(r#"{ node-1 = "ens33" }"#, "")),
        ["9:10: network m has no parent on host node-2, which has 1 container on it"]
    );
    // A host the lab does not have (a typo), with the closest name.
    let e = errors(&with(r#"{ node-1 = "ens33", nod-2 = "ens32" }"#, ""));
    assert!(
        e.iter().any(|d| d.at == Some((9, 30))
            && d.message == "parent of network m names host nod-2, which the lab does not have"
            && d.help
                .as_deref()
                .unwrap()
                .starts_with("did you mean \"node-2\"? The lab's hosts: node-1, node-2")),
        "{e:?}"
    );
    // Each host's device checked for its form and against that host's NICs, at the device.
    assert_eq!(
        messages(&with(r#"{ node-1 = "ens33", node-2 = "ens33" }"#, "")),
        ["9:39: parent interface ens33 of network m does not exist on host node-2 (its NICs: ens32)"]
    );
    assert_eq!(
        messages(&with(r#"{ node-1 = "ens33.5000", node-2 = "ens32" }"#, "")),
        [
            r#"9:21: VLAN id 5000 in parent "ens33.5000" is out of range: 802.1Q VLAN ids are 1 to 4094"#
        ]
    );
    assert_eq!(messages(&with("{}", "")), ["9:10: parent names no host"]);
    // One parent per host: node-2's ens32 is taken by m; node-1's ens33 would be free.
    let second = "[networks.m2]\ndriver = \"macvlan\"\nparent = { node-1 = \"ens33.7\", node-2 = \"ens32\" }\n\
                  [containers.c]\nhost = \"node-2\"\nnetworks = [\"m2\"]\n";
    assert_eq!(
        messages(&with(r#"{ node-1 = "ens33", node-2 = "ens32" }"#, second)),
        [format!(
            "19:41: network dm-{} is already using parent interface ens32 (that is network m, on host node-2), so network m2 cannot",
            &network_id("x", "m")[..12]
        )]
    );
    // A number is no interface name.
    let e = errors(&with("{ node-1 = 3 }", ""));
    assert!(e[0].message.contains("invalid type: integer `3`"), "{e:?}");
}

/// At run time as at `up`: a container joins a per-host network only on a host it names.
#[test]
fn connect_to_a_per_host_parent_needs_one_on_the_containers_host() {
    let text = MACVLAN_NODES.replace(
        "[containers.bbox-1]",
        "[hosts.node-3]\nnic = \"ens33\"\n\n[networks.n]\ndriver = \"bridge\"\n\n\
         [containers.bbox-3]\nhost = \"node-3\"\nnetworks = [\"n\"]\n\n[containers.bbox-1]",
    );
    let l = lab(&text);
    let ni = l
        .networks
        .iter()
        .position(|n| n.name == "mac_net1")
        .unwrap();
    let ci = |name: &str| l.containers.iter().position(|c| c.name == name).unwrap();
    let e = change::connect(&l, ni, ci("bbox-3"), None).unwrap_err();
    assert!(
        e.0.starts_with("network mac_net1 has no parent on host node-3 (its parent: node-1: ens33, node-2: ens32)"),
        "{}",
        e.0
    );
    // bbox-2 may join a second network on node-2's ens32 only if mac_net1 leaves it first.
    let new = change::disconnect(&l, ni, ci("bbox-2")).unwrap();
    let back = change::connect(&new, ni, ci("bbox-2"), None).unwrap();
    assert_eq!(back.containers[ci("bbox-2")].endpoints.len(), 1);
}

/// A check's address that must be IPv4.
fn v4(a: std::net::IpAddr) -> Ipv4Addr {
    match a {
        std::net::IpAddr::V4(a) => a,
        other => panic!("{other} is not IPv4"),
    }
}

/// Several subnets on a network: addresses come from the first subnet until it is full, then
/// from the next (Docker's IPAM takes its pools in order); each keeps its own prefix; a subnet
/// without a written gateway gets its first address; the default route is the gateway of the
/// address's subnet.
#[test]
fn a_network_with_several_subnets_fills_them_in_order() {
    let l = lab(r#"
[lab]
name = "t"

[hosts.h1]

[networks.m]
driver = "macvlan"
parent = "ens33"
subnet = ["192.168.114.0/30", "192.168.116.0/24"]
gateway = ["192.168.116.254"]

[containers.a]
host = "h1"
networks = ["m"]

[containers.b]
host = "h1"
networks = ["m"]

[containers.c]
host = "h1"
networks = ["m"]
"#);
    let m = net(&l, "m");
    assert_eq!(
        (m.subnet, m.gateway),
        (subnet("192.168.114.0/30"), ip("192.168.114.1"))
    );
    assert!(m.subnet_only, "no gateway written for the first subnet");
    assert_eq!(
        m.pools,
        vec![Pool {
            subnet: subnet("192.168.116.0/24"),
            gateway: ip("192.168.116.254"),
            subnet_only: false,
        }]
    );
    // The /30 has two usable addresses, .1 its gateway: a takes .2, then the /24 from .1.
    let addr = |c: &str| container(&l, c).endpoints[0].address.to_string();
    assert_eq!(
        [addr("a"), addr("b"), addr("c")],
        ["192.168.114.2/30", "192.168.116.1/24", "192.168.116.2/24"]
    );
    assert_eq!(
        container(&l, "a").default_gateway,
        Some(ip("192.168.114.1"))
    );
    assert_eq!(
        container(&l, "b").default_gateway,
        Some(ip("192.168.116.254"))
    );
}

/// Swarm's ingress (seed 004): VNI 4096 and 10.255.0.0/16 on every host; the other overlays
/// count from 4097 and take the usual 10.0.0.0/24; each host's ingress_sbox comes first, with
/// the first free addresses of ingress (in host order) and of its docker_gwbridge, and the
/// containers' addresses skip them.
#[test]
fn an_ingress_network_makes_the_lab_a_swarm() {
    let l = lab("[lab]\nname = \"t\"\n[hosts.m]\n[hosts.w]\n\
         [networks.uber]\ndriver = \"overlay\"\n\
         [networks.ingress]\ndriver = \"overlay\"\ningress = true\n\
         [containers.t1]\nhost = \"m\"\nnetworks = [\"ingress\", \"uber\"]\n");
    let vni = |n: &str| match net(&l, n).driver {
        Driver::Overlay { vni, .. } => vni,
        _ => panic!("{n} is no overlay"),
    };
    assert_eq!((vni("ingress"), vni("uber")), (4096, 4097));
    assert_eq!(net(&l, "ingress").subnet, subnet("10.255.0.0/16"));
    assert_eq!(net(&l, "uber").subnet, subnet("10.0.0.0/24"));
    assert_eq!(l.hosts_of(1), vec![0, 1]);
    let addresses = |c: &Container| -> Vec<String> {
        c.endpoints.iter().map(|e| e.address.to_string()).collect()
    };
    let names: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["m.ingress_sbox", "w.ingress_sbox", "t1"]);
    assert!(l.containers[0].ingress_sbox && !l.containers[2].ingress_sbox);
    assert_eq!(
        addresses(&l.containers[0]),
        ["10.255.0.2/16", "172.18.0.2/16"]
    );
    assert_eq!(
        addresses(&l.containers[1]),
        ["10.255.0.3/16", "172.18.0.2/16"]
    );
    assert_eq!(
        addresses(&l.containers[2]),
        ["10.255.0.4/16", "10.0.0.2/24", "172.18.0.3/16"]
    );
    assert_eq!(l.user_containers(), 1);
    // Without ingress, the same overlay is 256 and no sandbox is made.
    let plain = lab(
        "[lab]\nname = \"t\"\n[hosts.m]\n[networks.uber]\ndriver = \"overlay\"\n\
         [containers.t1]\nhost = \"m\"\nnetworks = [\"uber\"]\n",
    );
    assert!(matches!(
        plain.networks[0].driver,
        Driver::Overlay { vni: 256, .. }
    ));
    assert!(plain.containers.iter().all(|c| !c.ingress_sbox));
}

/// Seed 004's service: virtual IPs before the tasks, tasks named and placed as swarm does,
/// load balancer sandboxes after them in addresses and before them in the containers.
#[test]
fn a_service_gets_its_virtual_ips_first_then_its_tasks_then_its_load_balancers() {
    let l = lab("[lab]\nname = \"t\"\n[hosts.m]\n[hosts.w]\n\
         [networks.ingress]\ndriver = \"overlay\"\ningress = true\n\
         [networks.uber]\ndriver = \"overlay\"\n\
         [containers.alone]\nhost = \"w\"\nnetworks = [\"uber\"]\n\
         [services.svc]\nnetworks = [\"uber\"]\npublish = [\"80:8080\"]\nreplicas = 3\n\
         tasks = [\"kh8zs9a2umwf9cix381zr9x38\"]\n");
    let names: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
    let t2 = names[6];
    assert!(
        t2.starts_with("svc.2.") && t2.len() == "svc.2.".len() + 25,
        "{names:?}"
    );
    let lb = |h: &str| format!("{h}.lb_{}", &net(&l, "uber").id[..9]);
    let want = [
        "m.ingress_sbox".to_string(),
        "w.ingress_sbox".into(),
        "alone".into(),
        lb("m"),
        lb("w"),
    ];
    assert_eq!(
        names[..5],
        want.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    let addresses = |name: &str| -> Vec<String> {
        let c = l.containers.iter().find(|c| c.name == name).unwrap();
        c.endpoints
            .iter()
            .flat_map(|e| std::iter::once(e.address).chain(e.secondary.iter().copied()))
            .map(|a| a.to_string())
            .collect()
    };
    // alone took 10.0.0.2 first; the service's VIPs: 10.255.0.4 (after both sboxes), 10.0.0.3.
    assert_eq!(
        l.services[0].vips,
        [(0, ip("10.255.0.4")), (1, ip("10.0.0.3"))]
    );
    assert_eq!(
        addresses("m.ingress_sbox"),
        ["10.255.0.2/16", "10.255.0.4/32", "172.18.0.2/16"]
    );
    let t1 = "svc.1.kh8zs9a2umwf9cix381zr9x38";
    assert_eq!(
        addresses(t1),
        ["10.255.0.5/16", "10.0.0.4/24", "172.18.0.3/16"]
    );
    // Tasks in turn over the hosts: 1 on m, 2 on w, 3 on m.
    let hosts: Vec<usize> = l
        .tasks_of(0)
        .iter()
        .map(|&ci| l.containers[ci].host)
        .collect();
    assert_eq!(hosts, [0, 1, 0]);
    // The load balancers come after the three tasks' addresses, and hold the VIP.
    assert_eq!(addresses(&lb("m")), ["10.0.0.7/24", "10.0.0.3/32"]);
    assert_eq!(addresses(&lb("w")), ["10.0.0.8/24", "10.0.0.3/32"]);
    assert_eq!(l.user_containers(), 4);
}
