//! Policy: judge every kernel and process limit for a role and a connection target, plan the capacity,
//! and apply or roll back the fixes (`tune`).
#![deny(missing_docs)]
