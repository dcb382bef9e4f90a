//! The JSON Schema of the lab file, for editors (completion, hover text, errors as you type)
//! and for CI that checks lab files without netlab. Derived with schemars from the serde types
//! the file is read with (`raw`, `scenario`), so a key added there is in the schema; the
//! checked-in copy `schema/netlab-lab.schema.json` is kept equal to it by tests/generated.rs.
//!
//! It describes the shape validation accepts (tables, keys, types, ranges, the values of
//! `driver`, `mode`, `expect`, `state` and `do`, the keys of each action, name patterns); what
//! needs the whole lab (addresses inside subnets, names that exist, overlaps) is left to
//! `netlab validate`. A lab file is TOML: the schema applies to its JSON form.

use indexmap::IndexMap;
use schemars::transform::RecursiveTransform;
use schemars::JsonSchema;

use super::raw::{
    RawCheck, RawContainer, RawHost, RawLabMeta, RawNetwork, RawOutside, RawService, RawUnderlay,
};
use super::scenario::RawScenario;

/// The top-level tables, as `raw::RawLab::read` reads them one by one (it is no serde type
/// itself, so this mirrors it; a unit test keeps the two equal).
#[allow(dead_code)] // only its schema is used
#[derive(JsonSchema)]
#[schemars(
    title = "netlab lab file",
    description = "A netlab lab (TOML, here in its JSON form): hosts on an underlay, Docker networks, containers, checks and scenarios. See netlab-lab(5).",
    deny_unknown_fields
)]
struct LabFile {
    lab: RawLabMeta,
    #[serde(default)]
    #[schemars(with = "RawUnderlay")]
    underlay: Option<RawUnderlay>,
    #[serde(default)]
    #[schemars(with = "RawOutside")]
    outside: Option<RawOutside>,
    /// The hosts, by name (at least one).
    #[schemars(extend("minProperties" = 1, "propertyNames" = node_names()))]
    hosts: IndexMap<String, RawHost>,
    /// The networks, by name.
    #[serde(default)]
    #[schemars(extend("propertyNames" = node_names()))]
    networks: IndexMap<String, RawNetwork>,
    /// The containers, by name.
    #[serde(default)]
    #[schemars(extend("propertyNames" = node_names()))]
    containers: IndexMap<String, RawContainer>,
    /// Swarm services, by name (a lab with an ingress network).
    #[serde(default)]
    #[schemars(extend("propertyNames" = node_names()))]
    services: IndexMap<String, RawService>,
    /// Pings and their expected results, as [[checks]] tables.
    #[serde(default)]
    checks: Vec<RawCheck>,
    /// The scenarios, by name.
    #[serde(default)]
    #[schemars(extend("propertyNames" = node_names()))]
    scenarios: IndexMap<String, RawScenario>,
}

/// Host, network, container and scenario names.
fn node_names() -> serde_json::Value {
    serde_json::json!({ "pattern": super::raw::NAME_PATTERN, "maxLength": 48 })
}

/// The schema, as `netlab schema` prints it and `schema/netlab-lab.schema.json` holds it.
pub fn json() -> String {
    // serde's `default` of an absent key is `None`, which schemars writes as `"default": null`:
    // no TOML value, and not the default validation gives. Only the constant ones are kept
    // (set on the fields); computed ones (the next free address) are in the descriptions.
    let drop_null_defaults = RecursiveTransform(|s: &mut schemars::Schema| {
        if s.get("default").is_some_and(|d| d.is_null()) {
            s.remove("default");
        }
    });
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .with_transform(drop_null_defaults)
        .into_generator()
        .into_root_schema_for::<LabFile>();
    serde_json::to_string_pretty(&schema).expect("a schema is JSON") + "\n"
}

#[cfg(test)]
mod tests {
    use super::super::raw::SECTIONS;

    #[test]
    fn the_schema_has_the_sections_the_reader_reads() {
        let v: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        let props: Vec<&str> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(props, SECTIONS);
        assert_eq!(v["additionalProperties"], false, "{v:#}");
        assert_eq!(v["required"], serde_json::json!(["lab", "hosts"]), "{v:#}");
    }
}
