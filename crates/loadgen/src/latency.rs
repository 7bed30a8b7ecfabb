//! Latency histograms (HDR, microseconds) that travel inside JSON reports as base64 of the V2 format and
//! merge exactly: adding two histograms gives the histogram of both sample sets.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// One hour in microseconds: slower samples are recorded as one hour.
const HIGHEST_US: u64 = 3_600_000_000;
/// Three significant digits: 0.1% resolution at any magnitude.
const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency distribution in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency(Histogram<u64>);

/// Two histograms could not be added (they were recorded with different bounds).
#[derive(Debug, thiserror::Error)]
#[error("histograms with different bounds cannot be merged: {0}")]
pub struct MergeError(String);

impl Default for Latency {
    fn default() -> Self {
        Latency(
            Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).expect("constant bounds are valid"),
        )
    }
}

impl Latency {
    /// Record one sample.
    pub fn record(&mut self, d: Duration) {
        self.0
            .saturating_record((d.as_micros() as u64).clamp(1, HIGHEST_US));
    }

    /// Add every sample of `other`.
    pub fn merge(&mut self, other: &Latency) -> Result<(), MergeError> {
        self.0.add(&other.0).map_err(|e| MergeError(format!("{e:?}")))
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0..=1), in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    /// Largest sample in microseconds (0 when empty).
    pub fn max_us(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.max() }
    }

    /// Mean in microseconds (0 when empty).
    pub fn mean_us(&self) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.mean() }
    }

    fn summary(&self) -> Summary {
        let q = |q| self.quantile_us(q);
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("serializing into a Vec cannot fail");
        Summary {
            count: self.count(),
            mean_us: (self.mean_us() * 10.0).round() / 10.0,
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: self.max_us(),
            hdr: BASE64.encode(bytes),
        }
    }
}

/// The JSON form: percentiles for people and `jq`, plus the exact histogram (`hdr`) that merging reads.
#[derive(Serialize, Deserialize)]
struct Summary {
    count: u64,
    mean_us: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    /// base64 of the HdrHistogram V2 encoding.
    hdr: String,
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.summary().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let summary = Summary::deserialize(d)?;
        let bytes = BASE64
            .decode(summary.hdr.as_bytes())
            .map_err(|e| D::Error::custom(format!("hdr is not base64: {e}")))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| D::Error::custom(format!("hdr is not an HdrHistogram V2 encoding: {e:?}")))?;
        if h.len() != summary.count {
            return Err(D::Error::custom(format!(
                "hdr holds {} samples but count says {}",
                h.len(),
                summary.count
            )));
        }
        let mut latency = Latency::default();
        latency
            .0
            .add(&h)
            .map_err(|e| D::Error::custom(format!("hdr has bounds c1m does not use: {e:?}")))?;
        Ok(latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_sample() {
        let mut l = Latency::default();
        for us in [50u64, 100, 150, 2_000, 1_000_000] {
            l.record(Duration::from_micros(us));
        }
        let json = serde_json::to_string(&l).unwrap();
        let back: Latency = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.count(), 5);
        assert!(json.contains("\"p50_us\":150"), "{json}");
    }

    #[test]
    fn merge_adds_counts_exactly() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        for i in 1..=1000u64 {
            a.record(Duration::from_micros(i));
            b.record(Duration::from_micros(i * 1000));
        }
        a.merge(&b).unwrap();
        assert_eq!(a.count(), 2000);
        assert!(a.max_us() >= 999_000);
        assert_eq!(a.quantile_us(0.25), 500);
    }

    #[test]
    fn rejects_tampered_reports() {
        let mut l = Latency::default();
        l.record(Duration::from_millis(1));
        let mut v = serde_json::to_value(&l).unwrap();
        v["count"] = 7.into();
        assert!(
            serde_json::from_value::<Latency>(v.clone())
                .unwrap_err()
                .to_string()
                .contains("samples")
        );
        v["hdr"] = "%%%".into();
        assert!(serde_json::from_value::<Latency>(v).is_err());
    }

    #[test]
    fn clamps_out_of_range() {
        let mut l = Latency::default();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10_000));
        assert_eq!(l.count(), 2);
    }
}
