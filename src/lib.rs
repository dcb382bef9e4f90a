//! netlab: container-network labs in Linux network namespaces.
//!
//! Write side: `spec` (lab file -> checked [`spec::Lab`]) -> `plan` (pure, ordered kernel
//! objects) -> `engine` (journal, apply, roll back, tear down). Read side: `observe` (live
//! kernel state of every namespace -> snapshot) -> `diag` (netns, find-link, inspect, vxlan,
//! bridge) and `trace`. `graph` draws a lab's topology from its model (pure, like `plan`).
//! Kernel access lives in `kernel`.

pub mod app;
pub mod check;
pub mod cli;
pub mod completion;
pub mod diag;
mod driver;
pub mod engine;
pub mod etc_netns;
pub mod graph;
pub mod junit;
pub mod kernel;
pub mod observe;
pub mod pingall;
pub mod plan;
pub mod progress;
pub mod scenario;
pub mod spec;
pub mod state;
pub mod table;
pub mod trace;
