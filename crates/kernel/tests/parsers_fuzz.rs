//! Property tests for every `/proc` parser: real files from tests/fixtures/, truncated, reordered, with lines
//! dropped or repeated and fields replaced by garbage, plus arbitrary text. A parser may accept or refuse
//! such input, but it never panics, and a refusal is one line (it ends up in a `c1m: ` message).
//! Kept to a few seconds: a bounded number of cases per parser.

use std::fmt::Display;
use std::path::Path;

use c1m_kernel::{
    FileNr, KernelVersion, MemInfo, NetCounters, Pid, PortRange, ProcLimits, ProcRoot, ProcStatus,
    ReservedPorts, SlabInfo, Snapshot, SockStat, SockStat6, Triple, parse_u64,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// A parser under test: its name (for failure messages) and a call that reports only the outcome.
type Parser = (&'static str, fn(&str) -> Result<(), String>);

fn outcome<T, E: Display>(result: Result<T, E>) -> Result<(), String> {
    result.map(|_| ()).map_err(|e| e.to_string())
}

const PARSERS: &[Parser] = &[
    ("meminfo", |t| outcome(MemInfo::parse(t))),
    ("netstat", |t| outcome(NetCounters::parse(t))),
    ("sockstat", |t| outcome(SockStat::parse(t))),
    ("sockstat6", |t| outcome(SockStat6::parse(t))),
    ("slabinfo", |t| outcome(SlabInfo::parse(t))),
    ("limits", |t| outcome(ProcLimits::parse(t))),
    ("status", |t| outcome(ProcStatus::parse(t))),
    ("file-nr", |t| outcome(FileNr::parse(t))),
    ("ip_local_port_range", |t| outcome(PortRange::parse(t))),
    ("ip_local_reserved_ports", |t| outcome(ReservedPorts::parse(t))),
    ("tcp_mem", |t| outcome(Triple::parse(t))),
    ("osrelease", |t| outcome(KernelVersion::parse(t))),
    ("u64 sysctl", |t| outcome(parse_u64(t))),
];

/// Real inputs of each shape, the seeds the mutations start from.
const SEEDS: &[&str] = &[
    include_str!("../../../tests/fixtures/this-host/proc/meminfo"),
    include_str!("../../../tests/fixtures/this-host/proc/net/netstat"),
    include_str!("../../../tests/fixtures/this-host/proc/net/snmp"),
    include_str!("../../../tests/fixtures/this-host/proc/net/sockstat"),
    include_str!("../../../tests/fixtures/this-host/proc/net/sockstat6"),
    include_str!("../../../tests/fixtures/this-host/proc/slabinfo"),
    include_str!("../../../tests/fixtures/this-host/proc/self/limits"),
    include_str!("../../../tests/fixtures/this-host/proc/self/status"),
    include_str!("../../../tests/fixtures/this-host/proc/sys/fs/file-nr"),
    include_str!("../../../tests/fixtures/this-host/proc/sys/net/ipv4/ip_local_port_range"),
    include_str!("../../../tests/fixtures/tuned-host/proc/sys/net/ipv4/ip_local_reserved_ports"),
    include_str!("../../../tests/fixtures/this-host/proc/sys/net/ipv4/tcp_mem"),
    include_str!("../../../tests/fixtures/this-host/proc/sys/kernel/osrelease"),
    include_str!("../../../tests/fixtures/this-host/proc/sys/fs/file-max"),
    include_str!("../../../tests/fixtures/stock-distro/proc/slabinfo"),
    include_str!("../../../tests/fixtures/stock-distro/proc/self/limits"),
];

/// Values that have broken number parsers before: overflow, sign, empty, non-ASCII digits, separators.
const GARBAGE: &[&str] = &[
    "",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "0x10",
    "1e9",
    "NaN",
    "unlimited",
    "٣",
    ":",
    "\t",
    "  ",
    "\u{0}",
    "9999999999999999999 9999999999999999999 9999999999999999999",
];

/// One way of damaging a text.
#[derive(Debug, Clone)]
enum Damage {
    /// Keep only the first part (a short read of a file being rewritten).
    Truncate(Index),
    /// Move one line somewhere else.
    MoveLine(Index, Index),
    /// Lose a line.
    DropLine(Index),
    /// Repeat a line.
    RepeatLine(Index),
    /// Replace one whitespace-separated field with garbage.
    Field(Index, Index),
    /// Put every line in reverse order (value lines before their header lines).
    Reverse,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Damage::MoveLine(a, b)),
        any::<Index>().prop_map(Damage::DropLine),
        any::<Index>().prop_map(Damage::RepeatLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Damage::Field(a, b)),
        Just(Damage::Reverse),
    ]
}

fn apply(text: &str, damage: &Damage) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    match damage {
        Damage::Truncate(at) => {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            return text[..boundaries[at.index(boundaries.len())]].to_string();
        }
        Damage::MoveLine(from, to) => {
            let line = lines.remove(from.index(lines.len()));
            lines.insert(to.index(lines.len() + 1), line);
        }
        Damage::DropLine(at) => {
            lines.remove(at.index(lines.len()));
        }
        Damage::RepeatLine(at) => {
            let i = at.index(lines.len());
            lines.insert(i, lines[i].clone());
        }
        Damage::Field(at, garbage) => {
            let i = at.index(lines.len());
            let mut fields: Vec<&str> = lines[i].split_whitespace().collect();
            let replacement = GARBAGE[garbage.index(GARBAGE.len())];
            if fields.is_empty() {
                fields.push(replacement);
            } else {
                let f = garbage.index(fields.len());
                fields[f] = replacement;
            }
            lines[i] = fields.join(" ");
        }
        Damage::Reverse => lines.reverse(),
    }
    lines.join("\n") + "\n"
}

#[track_caller]
fn check_all(input: &str) {
    for (name, parse) in PARSERS {
        if let Err(message) = parse(input) {
            assert!(!message.is_empty(), "{name}: empty error for {input:?}");
            assert!(
                !message.contains('\n'),
                "{name}: a multi-line error {message:?} for {input:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(Config { cases: 400, failure_persistence: None, ..Config::default() })]

    #[test]
    fn damaged_real_files_never_panic(seed in 0..SEEDS.len(), damages in prop::collection::vec(damage(), 1..4)) {
        let mut text = SEEDS[seed].to_string();
        for d in &damages {
            text = apply(&text, d);
        }
        check_all(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check_all(&text);
    }

    #[test]
    fn proc_like_lines_never_panic(lines in prop::collection::vec("[A-Za-z_:()]{0,12}( {1,3}[-0-9a-z]{0,22}){0,6}", 0..12)) {
        check_all(&lines.join("\n"));
    }
}

/// A whole `/proc` snapshot whose files are damaged: reading it returns a snapshot or an error, never panics.
#[test]
fn damaged_snapshot_reads_without_panicking() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/this-host");
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let files = [
        "proc/meminfo",
        "proc/net/netstat",
        "proc/net/sockstat",
        "proc/slabinfo",
        "proc/self/limits",
    ];
    let strategy = (0..files.len(), prop::collection::vec(damage(), 1..3));
    runner
        .run(&strategy, |(file, damages)| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            copy_tree(&fixture, dir.path());
            let path = dir.path().join(files[file]);
            let mut text = std::fs::read_to_string(&path).expect("the fixture file");
            for d in &damages {
                text = apply(&text, d);
            }
            std::fs::write(&path, text).expect("write the damaged file");
            if let Err(e) = Snapshot::read(&ProcRoot::at(dir.path()), Pid::Own) {
                prop_assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
            }
            Ok(())
        })
        .unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the fixture directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            std::fs::create_dir_all(&target).expect("create a directory");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}
