use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::Counters;

/// One line a worker writes to its stdout for the supervisor (JSON, tagged by `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// Listening on every address, with the resident memory before any connection (the RSS baseline).
    Ready {
        /// The bound addresses.
        listen: Vec<SocketAddr>,
        /// VmRSS in bytes.
        rss_bytes: u64,
    },
    /// Periodic counters (cumulative since the worker started) and resident memory.
    Stats {
        /// The worker's counters, all threads merged.
        counters: Counters,
        /// VmRSS in bytes.
        rss_bytes: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_json() {
        let m = WorkerMessage::Ready {
            listen: vec!["127.0.0.1:7000".parse().unwrap()],
            rss_bytes: 4096,
        };
        let line = serde_json::to_string(&m).unwrap();
        assert_eq!(
            line,
            r#"{"type":"ready","listen":["127.0.0.1:7000"],"rss_bytes":4096}"#
        );
        assert_eq!(serde_json::from_str::<WorkerMessage>(&line).unwrap(), m);
    }
}
