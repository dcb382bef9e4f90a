//! The lab file exactly as written: serde types that mirror the TOML, with spans kept so that
//! validation can point at `file:line:col`. Nothing here interprets values.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_spanned::Spanned;

pub type Name = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub lab: Spanned<RawLabMeta>,
    #[serde(default)]
    pub underlay: Option<Spanned<RawUnderlay>>,
    #[serde(default)]
    pub hosts: IndexMap<Name, Spanned<RawHost>>,
    #[serde(default)]
    pub networks: IndexMap<Name, Spanned<RawNetwork>>,
    #[serde(default)]
    pub containers: IndexMap<Name, Spanned<RawContainer>>,
    #[serde(default)]
    pub checks: Vec<Spanned<RawCheck>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabMeta {
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnderlay {
    #[serde(default)]
    pub subnet: Option<Spanned<String>>,
    #[serde(default)]
    pub mtu: Option<Spanned<i64>>,
    #[serde(default)]
    pub nic: Option<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    #[serde(default)]
    pub nic: Option<Name>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub driver: Spanned<String>,
    #[serde(default)]
    pub subnet: Option<Spanned<String>>,
    #[serde(default)]
    pub gateway: Option<Spanned<String>>,
    #[serde(default)]
    pub vni: Option<Spanned<i64>>,
    /// Bridge driver: Docker's `com.docker.network.bridge.enable_icc`.
    #[serde(default)]
    pub icc: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContainer {
    pub host: Name,
    pub networks: Spanned<Vec<Name>>,
    /// Static addresses: `ip = { ov_net1 = "10.0.0.10" }`.
    #[serde(default)]
    pub ip: IndexMap<Name, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub from: Name,
    pub to: Name,
    #[serde(default)]
    pub expect: Option<Spanned<String>>,
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    #[serde(default)]
    pub ttl: Option<Spanned<i64>>,
}
