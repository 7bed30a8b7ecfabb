//! `c1m bench`: ramp serve + load on this machine, sample the kernel, and write the report.
#![deny(missing_docs)]
