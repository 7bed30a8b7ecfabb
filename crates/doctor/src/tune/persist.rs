//! The files `tune --persist` writes so the values survive a reboot.

use std::path::{Path, PathBuf};

use super::Change;

/// `/etc/sysctl.d/60-c1m.conf` under `etc_root`: applied at boot by systemd-sysctl, or now by `sysctl --system`.
pub fn sysctl_conf_path(etc_root: &Path) -> PathBuf {
    etc_root.join("etc/sysctl.d/60-c1m.conf")
}

/// `/etc/modules-load.d/c1m.conf` under `etc_root`: modules whose sysctls exist only once they are loaded.
pub fn modules_conf_path(etc_root: &Path) -> PathBuf {
    etc_root.join("etc/modules-load.d/c1m.conf")
}

/// The sysctl.d text for `changes`.
pub(crate) fn sysctl_conf(changes: &[Change], origin: &str) -> String {
    let mut text = format!(
        "# Written by {origin}.\n# Undo with `c1m tune --rollback`; apply now with `sysctl --system`.\n"
    );
    for c in changes {
        text.push_str(&format!("{} = {}\n", c.key, c.to));
    }
    text
}

/// The modules-load.d text, when some change needs a module loaded before systemd-sysctl runs.
pub(crate) fn modules_conf(changes: &[Change], origin: &str) -> Option<String> {
    let needs_conntrack = changes
        .iter()
        .any(|c| c.key.starts_with("net.netfilter.nf_conntrack"));
    needs_conntrack.then(|| {
        format!("# Written by {origin}: nf_conntrack keys exist only after the module loads.\nnf_conntrack\n")
    })
}

#[cfg(test)]
mod tests {
    use c1m_kernel::Limit;

    use super::*;

    fn change(key: &str, to: &str) -> Change {
        Change {
            limit: Limit::FileMax,
            key: key.into(),
            from: "1".into(),
            to: to.into(),
            namespaced: false,
        }
    }

    #[test]
    fn sysctl_d_lines() {
        let text = sysctl_conf(
            &[
                change("fs.file-max", "3100000"),
                change("net.ipv4.tcp_mem", "1 2 3"),
            ],
            "c1m tune",
        );
        assert!(
            text.ends_with("fs.file-max = 3100000\nnet.ipv4.tcp_mem = 1 2 3\n"),
            "{text}"
        );
        assert!(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .all(|l| l.contains(" = "))
        );
        assert_eq!(modules_conf(&[change("fs.file-max", "1")], "x"), None);
        assert!(
            modules_conf(&[change("net.netfilter.nf_conntrack_max", "1")], "x")
                .unwrap()
                .ends_with("nf_conntrack\n")
        );
    }
}
