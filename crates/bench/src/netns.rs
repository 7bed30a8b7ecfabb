//! `--netns`: the server and the load generator in two network namespaces joined by a veth pair, a two-host
//! topology on one kernel. Addresses come from private ranges that exist only inside these namespaces:
//! 10.231.0.0/24 on the veth link, and 10.232.0.0/16 as load source addresses, routed locally in the client
//! namespace ("AnyIP": any of them can be bound without configuring each one).
//!
//! Names embed bench's pid (`c1m-bench-PID-s`, `c1m-bench-PID-c`) so that [`remove_stale`] can delete the
//! namespaces of a bench that crashed, and never those of a bench still running.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

/// Prefix of every namespace bench creates.
pub const PREFIX: &str = "c1m-bench-";
/// The server's address on the veth link.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);
const SOURCES: &str = "10.232.0.0/16";

/// Two namespaces and the veth pair between them; deleted on drop.
#[derive(Debug)]
pub struct NetnsPair {
    /// The server's namespace.
    pub server: String,
    /// The load generator's namespace.
    pub client: String,
}

/// The two namespace names bench process `pid` uses.
pub fn names(pid: u32) -> (String, String) {
    (format!("{PREFIX}{pid}-s"), format!("{PREFIX}{pid}-c"))
}

impl NetnsPair {
    /// Create the pair for bench process `pid` (the caller tells the guardian the names first).
    pub fn create(pid: u32) -> io::Result<NetnsPair> {
        let (server, client) = names(pid);
        let pair = NetnsPair { server, client };
        let (s, c) = (pair.server.as_str(), pair.client.as_str());
        let (veth_s, veth_c) = (format!("c1mb{pid}s"), format!("c1mb{pid}c"));
        let server_net = format!("{SERVER_ADDR}/24");
        let client_net = format!("{CLIENT_ADDR}/24");
        let via = CLIENT_ADDR.to_string();
        let steps: &[&[&str]] = &[
            &["netns", "add", s],
            &["netns", "add", c],
            &[
                "link", "add", &veth_s, "netns", s, "type", "veth", "peer", "name", &veth_c, "netns", c,
            ],
            &["-n", s, "addr", "add", &server_net, "dev", &veth_s],
            &["-n", c, "addr", "add", &client_net, "dev", &veth_c],
            &["-n", s, "link", "set", "lo", "up"],
            &["-n", c, "link", "set", "lo", "up"],
            &["-n", s, "link", "set", &veth_s, "up"],
            &["-n", c, "link", "set", &veth_c, "up"],
            &["-n", c, "route", "add", "local", SOURCES, "dev", "lo"],
            &["-n", s, "route", "add", SOURCES, "via", &via],
        ];
        for args in steps {
            ip(args)?;
        }
        Ok(pair)
    }

    /// Load source addresses for step `step` (1-based): a /24 of the locally routed range per step.
    pub fn sources(step: u32) -> String {
        format!("10.232.{}.0/24", step.min(255))
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for name in [&self.server, &self.client] {
            if let Err(e) = delete(name) {
                eprintln!("c1m: cannot delete network namespace {name}: {e}");
            }
        }
    }
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Delete a namespace; `Ok(false)` when it did not exist.
pub fn delete(name: &str) -> io::Result<bool> {
    if !Path::new("/run/netns").join(name).exists() {
        return Ok(false);
    }
    ip(&["netns", "delete", name]).map(|()| true)
}

/// The pid embedded in a bench namespace name, if the name is one of bench's.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, side) = rest.rsplit_once('-')?;
    matches!(side, "s" | "c").then_some(())?;
    pid.parse().ok()
}

/// Delete the namespaces left by benches that are no longer running; returns their names.
pub fn remove_stale() -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir("/run/netns") {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&name) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if delete(&name)? {
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_of_names() {
        assert_eq!(owner("c1m-bench-1234-s"), Some(1234));
        assert_eq!(owner("c1m-bench-1234-c"), Some(1234));
        assert_eq!(owner("c1m-bench-1234-x"), None);
        assert_eq!(owner("c1m-watch-1234-s"), None);
        assert_eq!(owner("c1m-bench-abc-s"), None);
        assert_eq!(
            names(7),
            ("c1m-bench-7-s".to_string(), "c1m-bench-7-c".to_string())
        );
    }

    #[test]
    fn pair_routes_sources_to_the_server_and_is_removed() {
        // A pid that cannot be running (above pid_max's ceiling) plays a crashed bench.
        let dead_pid = 4_194_999;
        let pair = NetnsPair::create(dead_pid).unwrap();
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &pair.client,
                "ip",
                "route",
                "get",
                "10.231.0.1",
                "from",
                "10.232.3.7",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let names = (pair.server.clone(), pair.client.clone());
        std::mem::forget(pair);
        let removed = remove_stale().unwrap();
        assert!(
            removed.contains(&names.0) && removed.contains(&names.1),
            "{removed:?}"
        );
        assert!(!Path::new("/run/netns").join(&names.0).exists());
    }
}
