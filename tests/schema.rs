//! The lab file's JSON Schema (`netlab schema`, `schema/netlab-lab.schema.json`) against real
//! lab files, validated with the `jsonschema` crate after TOML -> JSON with the `toml` crate.
//! It must never be stricter than netlab: it accepts every sample lab and every file netlab's
//! own parser accepts (the bad labs and the fuzz corpus included). And it rejects exactly the
//! bad labs of tests/bad-labs/ listed in [`REJECTED`], where a schema can see the mistake
//! without the rest of the lab. The others are left to `netlab validate`: they are not TOML,
//! or wrong in ways only the whole lab shows (an address outside its subnet, a name that is
//! not defined, overlapping subnets, a duration or pattern that does not parse), or, for
//! `float-vni.toml`, lost in the conversion (`256.0` is an integer in JSON's number model).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

/// The bad labs the schema rejects: the file, where (a JSON pointer into the lab), and why.
const REJECTED: &[(&str, &str, &str)] = &[
    // A string of the wrong form, which the schema's pattern catches.
    (
        "network-id-malformed.toml",
        "/networks/my_net/id",
        "an id that is neither 64 hex digits nor 25 lowercase letters and digits",
    ),
    // A value of the wrong type: a string, table or array where another type is expected.
    (
        "wrong-type.toml",
        "/underlay/mtu",
        "a string where an integer is expected",
    ),
    (
        "parent-per-host-not-a-string.toml",
        "/networks/mac_net1/parent",
        "an integer where a host's parent NIC name is expected",
    ),
    (
        "subnets-empty-list.toml",
        "/networks/mac114/subnet",
        "an empty list where a subnet or a non-empty list of them is expected",
    ),
    (
        "wrong-type-networks.toml",
        "/containers/c1/networks",
        "a string where an array is expected",
    ),
    (
        "host-forwarding-not-bool.toml",
        "/hosts/vm-vpn/forwarding",
        "a string where a boolean is expected",
    ),
    (
        "lab-is-a-string.toml",
        "/lab",
        "a string where the [lab] table is expected",
    ),
    (
        "lab-array-of-tables.toml",
        "/lab",
        "an array of tables where one table is expected",
    ),
    (
        "hosts-array-of-tables.toml",
        "/hosts",
        "an array where a table of hosts is expected",
    ),
    (
        "checks-not-array.toml",
        "/checks",
        "a string where an array of checks is expected",
    ),
    (
        "positional-host.toml",
        "/hosts/h1",
        "an array where a host table is expected",
    ),
    (
        "positional-container.toml",
        "/containers/c1",
        "an array where a container table is expected",
    ),
    // A key the table does not take (the parser denies unknown fields).
    (
        "unknown-key.toml",
        "/containers/c1",
        "network is no key of a container (networks is)",
    ),
    (
        "unknown-key-host.toml",
        "/hosts/h1",
        "adress is no key of a host",
    ),
    (
        "unknown-top-level-table.toml",
        "",
        "volumes is no table of a lab file",
    ),
    (
        "scenario-unknown-key.toml",
        "/scenarios/s/steps/0",
        "expct is no key of a step",
    ),
    (
        "scenario-key-not-for-action.toml",
        "/scenarios/s/steps/0",
        "network is a key of connect, not of this action",
    ),
    (
        "icc-on-overlay.toml",
        "/networks/ov",
        "icc is a key of bridge networks only",
    ),
    (
        "vni-on-bridge.toml",
        "/networks/n1",
        "vni is a key of overlay networks only",
    ),
    (
        "encrypted-on-bridge.toml",
        "/networks/b",
        "encrypted is a key of overlay networks only",
    ),
    (
        "ingress-on-bridge.toml",
        "/networks/b",
        "ingress is a key of overlay networks only",
    ),
    (
        "network-hosts-on-overlay.toml",
        "/networks/ov_net1",
        "hosts is a key of host-local networks only",
    ),
    (
        "network-mtu-on-macvlan.toml",
        "/networks/mac",
        "mtu is a key of bridge and overlay networks only",
    ),
    (
        "parent-on-bridge-network.toml",
        "/networks/n1",
        "parent is a key of macvlan networks only",
    ),
    (
        "host-nic-and-nics.toml",
        "/hosts/nas4",
        "nic and nics together",
    ),
    (
        "ttl-with-unreachable.toml",
        "/checks/0",
        "a ttl on a check expected unreachable",
    ),
    // A required key is missing.
    ("empty-file.toml", "", "no [lab], no hosts"),
    ("missing-lab.toml", "", "no [lab]"),
    ("no-hosts.toml", "", "no [hosts]"),
    ("missing-lab-name.toml", "/lab", "[lab] without name"),
    (
        "missing-driver.toml",
        "/networks/n1",
        "a network without driver",
    ),
    (
        "gateway-without-subnet.toml",
        "/networks/n1",
        "a gateway without subnet",
    ),
    (
        "ipv6-subnet6-without-ipv6.toml",
        "/networks/web",
        "an IPv6 subnet without ipv6",
    ),
    (
        "missing-container-host.toml",
        "/containers/c1",
        "a container without host",
    ),
    ("check-missing-to.toml", "/checks/0", "a check without to"),
    (
        "scenario-no-steps.toml",
        "/scenarios/s",
        "a scenario without steps",
    ),
    // A value that is not one of those allowed.
    (
        "unknown-driver.toml",
        "/networks/n1/driver",
        "driver overlayy",
    ),
    (
        "host-driver.toml",
        "/networks/n1/driver",
        "driver host (not supported)",
    ),
    ("macvlan-bad-mode.toml", "/networks/n1/mode", "mode bridged"),
    (
        "firewall-unknown-chain.toml",
        "/hosts/h1/firewall/0/chain",
        "chain FORWARD",
    ),
    (
        "ipvlan-bad-mode.toml",
        "/networks/n1/mode",
        "ipvlan mode bridge",
    ),
    ("check-bad-expect.toml", "/checks/0/expect", "expect maybe"),
    (
        "scenario-unknown-action.toml",
        "/scenarios/s/steps/0/do",
        "do pign",
    ),
    (
        "scenario-link-bad-state.toml",
        "/scenarios/s/steps/0/state",
        "state off",
    ),
    // A number out of its range.
    ("mtu-too-big.toml", "/underlay/mtu", "mtu above 9000"),
    ("mtu-too-small.toml", "/underlay/mtu", "mtu below 1280"),
    (
        "network-mtu-too-big.toml",
        "/networks/ov/mtu",
        "a network's mtu above 9000",
    ),
    ("vni-zero.toml", "/networks/ov/vni", "vni 0"),
    ("vni-negative.toml", "/networks/ov/vni", "vni -1"),
    ("vni-too-big.toml", "/networks/ov/vni", "vni above 16777215"),
    (
        "crlf-line-endings.toml",
        "/networks/ov/vni",
        "vni 0 (in a file with CRLF line endings)",
    ),
    ("count-zero.toml", "/checks/0/count", "count 0"),
    (
        "service-replicas-zero.toml",
        "/services/api/replicas",
        "replicas 0",
    ),
    ("count-too-big.toml", "/checks/0/count", "count above 100"),
    ("ttl-zero.toml", "/checks/0/ttl", "ttl 0"),
    ("ttl-too-big.toml", "/checks/0/ttl", "ttl above 255"),
    // An array too short or with an item twice.
    (
        "container-no-networks.toml",
        "/containers/c1/networks",
        "networks = []",
    ),
    (
        "container-joins-twice.toml",
        "/containers/c1/networks",
        "one network twice",
    ),
    ("host-nics-twice.toml", "/hosts/nas4/nics", "one NIC twice"),
    (
        "network-hosts-empty.toml",
        "/networks/user/hosts",
        "hosts = []",
    ),
    (
        "network-hosts-twice.toml",
        "/networks/user/hosts",
        "one host twice",
    ),
    // A name that cannot name a namespace.
    ("lab-name-absolute.toml", "/lab/name", "a lab name with '/'"),
    ("lab-name-escape.toml", "/lab/name", "a lab name with '..'"),
    (
        "lab-name-newline.toml",
        "/lab/name",
        "a lab name with a newline",
    ),
    (
        "lab-name-too-long.toml",
        "/lab/name",
        "a lab name above 32 bytes",
    ),
    (
        "name-control-char.toml",
        "/containers",
        "a container name with a NUL",
    ),
    ("name-dotdot.toml", "/containers", "a container named .."),
    ("name-empty.toml", "/containers", "an empty container name"),
    (
        "name-leading-dash.toml",
        "/containers",
        "a container name starting with '-'",
    ),
    (
        "name-non-ascii.toml",
        "/containers",
        "a container name that is not ASCII",
    ),
    (
        "name-space.toml",
        "/containers",
        "a container name with a space",
    ),
    (
        "name-too-long.toml",
        "/containers",
        "a container name above 48 bytes",
    ),
    ("name-with-dot.toml", "/hosts", "a host name with '.'"),
    (
        "name-with-slash.toml",
        "/containers",
        "a container name with '/'",
    ),
    (
        "network-name-slash.toml",
        "/networks",
        "a network name with '/'",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_text() -> String {
    std::fs::read_to_string(root().join("schema/netlab-lab.schema.json"))
        .expect("schema/netlab-lab.schema.json (NETLAB_BLESS=1 cargo test --test generated)")
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&schema_text()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// A lab file's text as JSON, or None when it is not TOML at all.
fn as_json(text: &str) -> Option<Value> {
    let table: toml::Table = text.parse().ok()?;
    Some(serde_json::to_value(table).expect("TOML is JSON"))
}

/// The schema's complaints about `lab`: where (a JSON pointer) and what.
fn errors(v: &jsonschema::Validator, lab: &Value) -> Vec<(String, String)> {
    v.iter_errors(lab)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

#[test]
fn the_schema_accepts_every_sample_lab() {
    let v = validator();
    let labs: Vec<PathBuf> = files(&root().join("labs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(labs.len() >= 5, "{labs:?}");
    for lab in labs {
        let json = as_json(&std::fs::read_to_string(&lab).unwrap()).expect("a sample lab is TOML");
        let e = errors(&v, &json);
        assert!(e.is_empty(), "{}: {e:?}", lab.display());
    }
}

/// The schema rejects the bad labs of [`REJECTED`], each at the place given, and accepts
/// every other bad lab that is TOML (so the list says exactly what the schema catches).
#[test]
fn the_schema_rejects_the_bad_labs_a_schema_can_see() {
    let v = validator();
    let mut rejected = BTreeSet::new();
    for path in files(&root().join("tests/bad-labs")) {
        let Some(json) = as_json(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        let e = errors(&v, &json);
        if e.is_empty() {
            continue;
        }
        rejected.insert(name(&path).to_string());
        if let Some((_, at, why)) = REJECTED.iter().find(|(f, _, _)| *f == name(&path)) {
            assert!(
                e.iter().any(|(p, _)| p == at),
                "{}: expected an error at {at:?} ({why}), got {e:?}",
                name(&path)
            );
        }
    }
    let listed: BTreeSet<String> = REJECTED.iter().map(|(f, _, _)| f.to_string()).collect();
    for f in &listed {
        assert!(
            root().join("tests/bad-labs").join(f).is_file(),
            "{f} is not in tests/bad-labs"
        );
    }
    let unexpected: Vec<_> = rejected.difference(&listed).collect();
    let missed: Vec<_> = listed.difference(&rejected).collect();
    assert!(
        unexpected.is_empty() && missed.is_empty(),
        "rejected but not listed in REJECTED: {unexpected:?}; listed but accepted: {missed:?}"
    );
}

/// Whatever netlab's parser accepts, the schema accepts: the sample labs, the bad labs and
/// the fuzz corpus (mostly mutations of the sample labs), several hundred files.
#[test]
fn the_schema_is_never_stricter_than_netlab() {
    let v = validator();
    let mut paths = files(&root().join("labs"));
    // The files the sample labs' apply steps name (one is refused on purpose).
    paths.extend(files(&root().join("labs/scenarios")));
    paths.extend(files(&root().join("tests/bad-labs")));
    paths.extend(files(&root().join("fuzz/corpus/lab")));
    let (mut valid, mut schema_rejects) = (0, 0);
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // not UTF-8: not a lab file for either
        };
        let Some(json) = as_json(&text) else {
            continue;
        };
        let e = errors(&v, &json);
        let shown = path.display().to_string();
        match netlab::spec::parse(&shown, &shown, &text, None) {
            Ok(_) => {
                valid += 1;
                assert!(
                    e.is_empty(),
                    "netlab accepts {shown}, the schema refuses it: {e:?}"
                );
            }
            Err(_) if !e.is_empty() => schema_rejects += 1,
            Err(_) => {}
        }
    }
    eprintln!("{valid} files netlab accepts, {schema_rejects} refused by both");
    // Enough of both for the comparison to mean something.
    assert!(valid >= 20, "only {valid} valid lab files compared");
    assert!(
        schema_rejects >= 50,
        "the schema rejected only {schema_rejects} files"
    );
}

/// `netlab schema` prints the checked-in schema, byte for byte, and changes nothing.
#[test]
fn netlab_schema_prints_the_checked_in_schema() {
    let o = common::netlab(&["schema"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), schema_text());
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
