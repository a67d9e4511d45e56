//! Small statistics helpers: a log-linear latency histogram (HdrHistogram's bucketing, about
//! 0.8% precision, fixed memory) and a median.

use std::time::Duration;

/// Sub-buckets per power of two: 2^7 = 128, so a recorded value is off by less than 1/128.
const SUB_BITS: u32 = 7;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Enough buckets for any `u64` nanosecond value.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_COUNT;

/// Latencies in nanoseconds. Values below 128 ns are exact; above, each power of two is split
/// into 128 equal buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0, max: 0, sum: 0 }
    }
}

fn index(v: u64) -> usize {
    if v < SUB_COUNT as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // position of the leading one, >= SUB_BITS
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) as usize & (SUB_COUNT - 1);
    ((shift as usize + 1) << SUB_BITS) + mantissa
}

/// The smallest value that falls into bucket `i`, and the bucket's width.
fn bucket(i: usize) -> (u64, u64) {
    if i < SUB_COUNT {
        return (i as u64, 1);
    }
    let shift = (i >> SUB_BITS) - 1;
    let mantissa = (i & (SUB_COUNT - 1)) as u64;
    ((SUB_COUNT as u64 + mantissa) << shift, 1u64 << shift)
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.record_ns(ns);
    }

    pub fn record_ns(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(index(ns)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(ns);
        self.sum += u128::from(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_ns(&self) -> u64 {
        self.max
    }

    pub fn mean_ns(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.sum as f64 / self.total as f64 }
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding the ⌈q·n⌉-th value,
    /// never more than the largest value recorded. 0 when empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket(i);
                return (low + width / 2).min(self.max);
            }
        }
        self.max
    }
}

/// The median of `values` (mean of the two middle ones for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_stay_within_precision() {
        for v in [0u64, 1, 127, 128, 129, 255, 256, 1000, 123_456, 9_999_999, u64::MAX / 3, u64::MAX] {
            let (low, width) = bucket(index(v));
            assert!(low <= v && (v - low) < width, "{v}: bucket [{low}, +{width})");
            if v >= 128 {
                assert!(width as f64 / low as f64 <= 1.0 / 128.0 + f64::EPSILON, "{v}");
            }
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.01;
        assert!(near(h.quantile_ns(0.5), 500_000), "{}", h.quantile_ns(0.5));
        assert!(near(h.quantile_ns(0.99), 990_000), "{}", h.quantile_ns(0.99));
        assert_eq!(h.quantile_ns(1.0), 1_000_000);
        assert_eq!(h.max_ns(), 1_000_000);
        assert!((h.mean_ns() - 500_500.0).abs() < 1.0);
    }

    #[test]
    fn merge_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record_ns(100);
        b.record_ns(5_000);
        b.record_ns(7_000);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max_ns(), 7_000);
        assert_eq!(a.quantile_ns(0.0), 100);
        assert_eq!(Histogram::default().quantile_ns(0.5), 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }
}
