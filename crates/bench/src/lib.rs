//! `c1m bench`: ramp serve + load on this machine, sample the kernel, and write the report.
#![deny(missing_docs)]

pub mod html;
mod report;
pub mod svg;
pub mod text;

pub use report::*;
