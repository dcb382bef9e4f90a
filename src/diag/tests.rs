//! Diagnostics on a recorded snapshot of labs/overlay.toml run as lab "fx" (no root needed).
//! Re-record with: netlab up --name fx labs/overlay.toml; netlab netns --snapshot (fx.* only),
//! and /run/netlab/fx/lab.json.

use super::*;
use crate::observe::Snapshot;
use crate::state::Record;

fn snap() -> Snapshot {
    serde_json::from_str(include_str!("fixtures/overlay-snapshot.json")).unwrap()
}

fn record() -> Record {
    serde_json::from_str(include_str!("fixtures/overlay-record.json")).unwrap()
}

fn ov1(host: &str) -> String {
    let r = record();
    format!("fx.{host}.1-{}", &r.lab.networks[0].id[..10])
}

#[test]
fn resolves_containers_hosts_and_namespaces_and_suggests_close_names() {
    let s = snap();
    let recs = vec![record()];
    assert_eq!(resolve(&s, &recs, "bbox1").unwrap().name, "fx.bbox1");
    assert_eq!(resolve(&s, &recs, "nas5").unwrap().name, "fx.nas5");
    assert_eq!(
        resolve(&s, &recs, "fx.underlay").unwrap().name,
        "fx.underlay"
    );
    let e = resolve(&s, &recs, "bbox7").unwrap_err().0;
    assert!(
        e.contains("did you mean \"bbox1\"") || e.contains("did you mean \"bbox"),
        "{e}"
    );
    // The same node name in two labs must be disambiguated.
    let mut other = record();
    other.lab.name = "fy".into();
    let e = resolve(&s, &[record(), other], "bbox1").unwrap_err().0;
    assert!(e.contains("fx.bbox1") && e.contains("fy.bbox1"), "{e}");
}

#[test]
fn peer_of_follows_veth_into_the_right_namespace() {
    let s = snap();
    let recs = vec![record()];
    let b1 = resolve(&s, &recs, "bbox1").unwrap();
    let r = links::peer_of(&s, b1, "eth0").unwrap();
    assert_eq!(r.relation, "veth peer");
    assert_eq!(r.peer.unwrap().namespace, ov1("nas4"));
    assert_eq!(r.peer_link.unwrap().name, "veth0");
    let r = links::peer_of(&s, b1, "eth1").unwrap();
    assert_eq!(r.peer.unwrap().namespace, "fx.nas4");
    assert_eq!(
        r.peer_link.unwrap().master.as_deref(),
        Some("docker_gwbridge")
    );
    // The VXLAN's other side is its UDP socket's namespace: the host.
    let ons = s.namespace(&ov1("nas5")).unwrap();
    let r = links::peer_of(&s, ons, "vxlan0").unwrap();
    assert_eq!(r.peer.unwrap().namespace, "fx.nas5");
    assert!(links::peer_of(&s, b1, "eth9")
        .unwrap_err()
        .0
        .contains("no interface eth9"));
}

#[test]
fn find_link_lists_every_namespace_with_that_index() {
    let s = snap();
    let found = links::find(&s, Some(2));
    // Every container's eth0 is index 2 in its own namespace, and more.
    assert!(found.iter().filter(|f| f.link.name == "eth0").count() >= 3);
    let line = &found
        .iter()
        .find(|f| f.namespace == "fx.bbox1")
        .unwrap()
        .line;
    assert!(line.starts_with("2: eth0@if"), "{line}");
    assert!(
        line.contains("mtu 1450")
            && line.contains("link/ether 02:42:0a:00:00:02")
            && line.contains("link-netnsid"),
        "{line}"
    );
    let all = links::find(&s, None);
    assert_eq!(
        all.len(),
        s.namespaces.iter().map(|n| n.links.len()).sum::<usize>()
    );
}

#[test]
fn inspect_network_has_docker_fields_from_live_state() {
    let s = snap();
    let r = record();
    let v = inspect::network(&s, &r, 0, None, false);
    let n = &v[0];
    let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(&keys[..5], &["Name", "Id", "Created", "Scope", "Driver"]);
    assert_eq!(n["Name"], "ov_net1");
    assert_eq!(n["Scope"], "global");
    assert_eq!(n["Created"], "2019-08-13T09:06:33Z");
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.0.0.0/24");
    assert_eq!(
        n["Options"],
        serde_json::json!({}),
        "seed 000: a k-v overlay's"
    );
    assert_eq!(n["Labels"], serde_json::json!({}));
    assert!(n.get("Netlab").is_none() && n.get("Peers").is_none(), "{n}");
    let cs: Vec<&serde_json::Value> = n["Containers"].as_object().unwrap().values().collect();
    assert_eq!(cs.len(), 2);
    let b1 = cs.iter().find(|c| c["Name"] == "bbox1").unwrap();
    assert_eq!(b1["MacAddress"], "02:42:0a:00:00:02");
    assert_eq!(b1["IPv4Address"], "10.0.0.2/24");
    let mine = inspect::network(&s, &r, 0, None, true);
    assert_eq!(mine[0]["Netlab"]["VNI"], 256);
    assert_eq!(mine[0]["Netlab"]["Peers"].as_array().unwrap().len(), 2);
    let gw = inspect::network(&s, &r, 2, None, false);
    assert_eq!(gw[0]["Name"], "docker_gwbridge");
    assert_eq!(
        gw[0]["Options"]["com.docker.network.bridge.enable_icc"],
        "false"
    );
    assert_eq!(gw[0]["IPAM"]["Options"], serde_json::Value::Null);
    assert_eq!(gw[0]["Scope"], "local");
}

#[test]
fn vxlan_report_shows_vni_fdb_and_socket_namespace_per_host() {
    let s = snap();
    let recs = vec![record()];
    let v = inspect::vxlans(&s, &recs, "ov_net1").unwrap();
    assert_eq!(v.len(), 2);
    let nas4 = v
        .iter()
        .find(|x| x.host.as_deref() == Some("nas4"))
        .unwrap();
    assert_eq!(nas4.vxlan.id, Some(256));
    assert_eq!(nas4.vxlan.port, Some(4789));
    assert_eq!(nas4.vxlan.learning, Some(false));
    assert_eq!(nas4.socket_namespace, Some("fx.nas4"));
    assert_eq!(nas4.fdb.len(), 1);
    assert_eq!(nas4.fdb[0].dst.as_deref(), Some("10.1.1.15"));
    assert_eq!(nas4.neighbours[0].ip, "10.0.0.3");
    let text = inspect::render_vxlans(&v);
    assert!(
        text.contains("vxlan id 256")
            && text.contains("dstport 4789")
            && text.contains("nolearning proxy l2miss l3miss"),
        "{text}"
    );
    assert!(inspect::vxlans(&s, &recs, "docker_gwbridge")
        .unwrap_err()
        .0
        .contains("bridge network"));
    assert!(inspect::vxlans(&s, &recs, "ov_net9")
        .unwrap_err()
        .0
        .contains("did you mean"));
}

#[test]
fn bridge_report_lists_ports_with_isolation_and_peers() {
    let s = snap();
    let r = links::bridges(s.namespace("fx.nas5").unwrap());
    assert_eq!(r.bridges.len(), 1);
    let b = &r.bridges[0];
    assert_eq!(b.name, "docker_gwbridge");
    assert_eq!(b.ports.len(), 2);
    assert!(b.ports.iter().all(|p| p.isolated == Some(true)));
    let peers: Vec<&str> = b
        .ports
        .iter()
        .filter_map(|p| p.peer.map(|x| x.namespace.as_str()))
        .collect();
    assert!(
        peers.contains(&"fx.bbox2") && peers.contains(&"fx.bbox3"),
        "{peers:?}"
    );
    assert!(links::render_bridges(&r).contains("docker_gwbridge"));
}

#[test]
fn netns_rows_carry_roles_and_hide_link_local() {
    let s = snap();
    let rows = netns_rows(&s);
    let b1 = rows.iter().find(|r| r.name == "fx.bbox1").unwrap();
    assert_eq!(b1.role, Some("container"));
    assert_eq!(b1.lab, Some("fx"));
    assert_eq!(b1.addresses, vec!["10.0.0.2/24", "172.18.0.2/16"]);
    assert!(rows.iter().any(|r| r.role == Some("overlay network")));
    assert!(netns_table(&s).contains("fx.underlay"));
}

#[test]
fn rfc3339_formats_unix_time() {
    assert_eq!(inspect::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(inspect::rfc3339(1565687193), "2019-08-13T09:06:33Z");
    assert_eq!(inspect::rfc3339(951782400), "2000-02-29T00:00:00Z");
}

/// `encrypted = true` shows in inspect's Options as Docker shows `--opt encrypted` (the key,
/// an empty value); a plain overlay has no such key.
#[test]
fn inspect_shows_an_encrypted_overlay_as_docker_does() {
    let s = snap();
    let mut r = record();
    assert!(inspect::network(&s, &r, 0, None, false)[0]["Options"]
        .get("encrypted")
        .is_none());
    r.lab.networks[0].driver = crate::spec::Driver::Overlay {
        vni: 256,
        encrypted: true,
    };
    let v = inspect::network(&s, &r, 0, None, false);
    assert_eq!(v[0]["Options"]["encrypted"], "");
}

/// `netlab vxlan` shows the SAs a VTEP's VXLAN goes through, out (selected by an outbound
/// policy on its one source port) and in (from the same peer), from the socket's namespace,
/// never a key; a device without a single source port (a plain overlay) shows none.
#[test]
fn vxlan_report_shows_the_ipsec_sas_of_an_encrypted_overlay() {
    use crate::kernel::xfrm::{ObservedPolicy, ObservedSa};
    let mut s = snap();
    let recs = vec![record()];
    let ons = ov1("nas5");
    let sa = |src: &str, dst: &str, spi: u32| ObservedSa {
        src: src.into(),
        dst: dst.into(),
        spi,
        proto: "esp".into(),
        mode: "transport".into(),
        reqid: crate::kernel::xfrm::REQID,
        algorithm: Some("rfc4106(gcm(aes))".into()),
        icv_bits: Some(128),
    };
    let host = s
        .namespaces
        .iter_mut()
        .find(|n| n.name == "fx.nas5")
        .unwrap();
    host.xfrm.states = vec![
        sa("10.1.1.14", "10.1.1.15", 0x111),
        sa("10.1.1.15", "10.1.1.14", 0x222),
    ];
    host.xfrm.policies = vec![ObservedPolicy {
        src: "10.1.1.15".into(),
        src_prefix: 32,
        dst: "10.1.1.14".into(),
        dst_prefix: 32,
        proto: 17,
        sport: (16640, 0xffff),
        dport: (4789, 0xffff),
        dir: "out".into(),
        tmpl: vec![("esp".into(), 0x222, "10.1.1.14".into())],
    }];
    let plain = inspect::vxlans(&s, &recs, "ov_net1").unwrap();
    assert!(plain.iter().all(|v| v.ipsec.is_empty()));
    let dev = s
        .namespaces
        .iter_mut()
        .find(|n| n.name == ons)
        .unwrap()
        .links
        .iter_mut()
        .find(|l| l.name == "vxlan0")
        .unwrap();
    dev.vxlan.as_mut().unwrap().port_range = Some((16640, 16641));
    let views = inspect::vxlans(&s, &recs, "ov_net1").unwrap();
    let v = views.iter().find(|v| v.namespace == ons).unwrap();
    let got: Vec<(&str, u32)> = v.ipsec.iter().map(|i| (i.direction, i.sa.spi)).collect();
    assert_eq!(got, [("out", 0x222), ("in", 0x111)]);
    let text = inspect::render_vxlans(&views);
    assert!(
        text.contains("ipsec out src 10.1.1.15 dst 10.1.1.14 proto esp spi 0x00000222 reqid 13681891 mode transport aead rfc4106(gcm(aes)) icv 128"),
        "{text}"
    );
    let json = serde_json::to_value(&views).unwrap().to_string();
    assert!(
        json.contains("\"direction\":\"in\"") && !json.contains("key"),
        "{json}"
    );
}
