use std::collections::BTreeMap;

use c1m_kernel::{Pid, Snapshot, Unreadable};
use serde::{Deserialize, Serialize};

use crate::rules::{Context, RULES};
use crate::{CapacityPlan, Finding, Role, Status, advice};

/// Judge every limit that applies to `role` for `target` connections on the machine `snapshot` describes.
pub fn evaluate(snapshot: &Snapshot, role: Role, target: u64) -> Vec<Finding> {
    let plan = CapacityPlan::new(snapshot, role, target);
    findings(snapshot, role, target, &plan)
}

fn findings(snap: &Snapshot, role: Role, target: u64, plan: &CapacityPlan) -> Vec<Finding> {
    let cx = Context {
        snap,
        role,
        target,
        plan,
    };
    RULES
        .iter()
        .filter_map(|rule| {
            let limit = rule.limit();
            let v = rule.judge(&cx)?;
            Some(Finding {
                limit,
                title: limit.title().to_string(),
                sysctl: limit.sysctl().map(str::to_string),
                status: v.status,
                current: v.current,
                needed: v.needed,
                why: v.why,
                fix: v.fix,
                symptom: advice(limit).symptom.to_string(),
                set: v.set,
            })
        })
        .collect()
}

/// How many findings have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Findings that are fine.
    pub ok: usize,
    /// Notes.
    pub info: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
}

/// Everything `c1m doctor` prints, as a table or as JSON (the schema is documented in docs/doctor.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// JSON schema version; bumped only on incompatible changes.
    pub schema: u32,
    /// The role judged.
    pub role: Role,
    /// The connection target.
    pub target: u64,
    /// `kernel.osrelease` of the judged machine.
    pub kernel: Option<String>,
    /// Whether the judged machine is this one (not a `--proc-root` snapshot).
    pub live: bool,
    /// The process whose fd limits were judged (`null` for c1m itself).
    pub pid: Option<u32>,
    /// One finding per applicable limit.
    pub findings: Vec<Finding>,
    /// fds, processes, ports and memory for the target.
    pub plan: CapacityPlan,
    /// Every sysctl read, as `sysctl -n` prints it (`null` when absent).
    pub sysctls: BTreeMap<String, Option<String>>,
    /// Sources that exist but could not be read.
    pub unreadable: Vec<Unreadable>,
    /// Counts per status.
    pub summary: Summary,
    /// The exit code: 0 all ok (info included), 1 warnings only, 2 any failure.
    pub exit_code: u8,
}

/// The current JSON schema version.
pub const SCHEMA_VERSION: u32 = 1;

impl Report {
    /// Judge `snapshot` for `role` and `target`.
    pub fn new(snapshot: &Snapshot, role: Role, target: u64) -> Report {
        let plan = CapacityPlan::new(snapshot, role, target);
        let findings = findings(snapshot, role, target, &plan);
        let mut summary = Summary::default();
        for f in &findings {
            *match f.status {
                Status::Ok => &mut summary.ok,
                Status::Info => &mut summary.info,
                Status::Warn => &mut summary.warn,
                Status::Fail => &mut summary.fail,
            } += 1;
        }
        let exit_code = match findings.iter().map(|f| f.status).max() {
            Some(Status::Fail) => 2,
            Some(Status::Warn) => 1,
            _ => 0,
        };
        Report {
            schema: SCHEMA_VERSION,
            role,
            target,
            kernel: snapshot.kernel.as_ref().map(|k| k.release.clone()),
            live: snapshot.live,
            pid: match snapshot.process.pid {
                Pid::Own => None,
                Pid::Other(pid) => Some(pid),
            },
            findings,
            plan,
            sysctls: snapshot.sysctls.clone(),
            unreadable: snapshot.unreadable.clone(),
            summary,
            exit_code,
        }
    }
}

#[cfg(test)]
mod tests {
    use c1m_kernel::Limit;

    use super::*;
    use crate::rules::tests::fixture;

    fn statuses(report: &Report) -> Vec<(Limit, Status)> {
        report.findings.iter().map(|f| (f.limit, f.status)).collect()
    }

    #[test]
    fn this_host_both_million() {
        let r = Report::new(&fixture("this-host"), Role::Both, 1_000_000);
        assert_eq!(r.exit_code, 2, "tcp_mem fails");
        let s = statuses(&r);
        for (limit, status) in [
            (Limit::NofileHard, Status::Warn),
            (Limit::FileMax, Status::Warn),
            (Limit::EphemeralPorts, Status::Warn),
            (Limit::TcpMem, Status::Fail),
            (Limit::ConntrackMax, Status::Warn),
            (Limit::Memory, Status::Ok),
            (Limit::EpollMaxUserWatches, Status::Ok),
            (Limit::Somaxconn, Status::Ok),
        ] {
            assert!(
                s.contains(&(limit, status)),
                "{limit:?} should be {status:?}: {s:?}"
            );
        }
        assert_eq!(r.findings.len(), 23, "every limit applies to both");
        assert_eq!(r.plan.server_processes, Some(56));
        assert_eq!(r.plan.client_processes, Some(51));
        assert_eq!(r.plan.source_addresses, Some(36));
        assert_eq!(
            r.summary.ok + r.summary.info + r.summary.warn + r.summary.fail,
            23
        );
    }

    #[test]
    fn tuned_host_is_ready_for_a_million_server() {
        let r = Report::new(&fixture("tuned-host"), Role::Server, 1_000_000);
        let not_ok: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.status > Status::Info)
            .map(|f| f.limit)
            .collect();
        assert!(not_ok.is_empty(), "{not_ok:?}");
        assert_eq!(r.exit_code, 0);
        assert!(
            r.findings.iter().all(|f| f.limit != Limit::EphemeralPorts),
            "servers use no ephemeral ports"
        );
    }

    #[test]
    fn stock_distro_fails_where_expected() {
        let r = Report::new(&fixture("stock-distro"), Role::Server, 1_000_000);
        let failing: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .map(|f| f.limit)
            .collect();
        assert_eq!(failing, vec![Limit::TcpMem, Limit::ConntrackMax]);
        assert_eq!(r.exit_code, 2);
        let r = Report::new(&fixture("stock-distro"), Role::Server, 1_000);
        assert_eq!(
            r.exit_code,
            0,
            "{:?}",
            r.findings
                .iter()
                .filter(|f| f.status > Status::Info)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn json_round_trips_with_stable_keys() {
        let r = Report::new(&fixture("this-host"), Role::Both, 1_000_000);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["findings"][0]["limit"], "nofile_soft");
        assert_eq!(json["role"], "both");
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
