//! Policy: judge every kernel and process limit for a role and a connection target, plan the capacity,
//! and apply or roll back the fixes (`tune`).
//!
//! # Brief overview
//! [`Report::new`] (or [`evaluate`]) runs the rule table, one rule per [`Limit`](c1m_kernel::Limit), over a
//! [`Snapshot`](c1m_kernel::Snapshot) for a [`Role`] and a target, giving one [`Finding`] per limit and a
//! [`CapacityPlan`] (fds, processes, source addresses, memory and the largest N that fits). [`advice`] gives
//! the static why/fix/symptom of a limit for callers that hit one at run time (the load generator), and
//! [`explain`] the full story with the million-connections article's claim and its correction.
//! [`tune`] applies the sysctl fixes with a backup and an exact rollback.
#![deny(missing_docs)]

mod advice;
mod explain;
mod finding;
mod plan;
mod report;
mod role;
mod rules;
pub mod tune;
mod units;

pub use advice::{Advice, advice};
pub use explain::{Explanation, explain, topics};
pub use finding::{Finding, Setting, Status};
pub use plan::{CapacityPlan, TYPICAL_SLAB_PER_SOCKET};
pub use report::{Report, SCHEMA_VERSION, Summary, evaluate};
pub use role::Role;
pub use units::{bytes, thousands};
