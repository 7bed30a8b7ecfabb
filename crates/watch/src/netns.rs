use std::fs::File;
use std::path::PathBuf;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Entering a named network namespace failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The name could be a path.
    #[error("invalid network namespace name '{0}': expected a name as listed by `ip netns list`")]
    BadName(String),
    /// `/var/run/netns/NAME` could not be opened.
    #[error("no network namespace '{name}' ({path}: {error}); see `ip netns list`")]
    Open {
        /// The name.
        name: String,
        /// The file tried.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// `setns` refused (it needs CAP_SYS_ADMIN).
    #[error("cannot enter network namespace '{name}': {error} (it needs root)")]
    Enter {
        /// The name.
        name: String,
        /// Why.
        error: std::io::Error,
    },
}

/// `setns(open("/var/run/netns/NAME"), CLONE_NEWNET)`—Move the calling thread into the network namespace
/// `ip netns add NAME` created. Call it before creating a [`Sampler`](crate::Sampler) and before starting
/// other threads: sock_diag sockets and `/proc/net` answer for the namespace of their opener.
pub fn enter_netns(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(NetnsError::BadName(name.to_string()));
    }
    let path = PathBuf::from("/var/run/netns").join(name);
    let file = File::open(&path).map_err(|error| NetnsError::Open {
        name: name.to_string(),
        path,
        error,
    })?;
    move_into_link_name_space(std::os::fd::AsFd::as_fd(&file), Some(LinkNameSpaceType::Network)).map_err(
        |e| NetnsError::Enter {
            name: name.to_string(),
            error: e.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_and_missing_names() {
        assert!(matches!(enter_netns("../x"), Err(NetnsError::BadName(_))));
        assert!(matches!(enter_netns(""), Err(NetnsError::BadName(_))));
        let err = enter_netns("c1m-watch-does-not-exist").unwrap_err();
        assert!(
            err.to_string()
                .contains("no network namespace 'c1m-watch-does-not-exist'"),
            "{err}"
        );
    }
}
