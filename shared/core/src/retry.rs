//! When to try again.

/// Seconds to wait before delivery `attempt` (1-based) is retried: a ceiling doubling
/// from `base` up to `cap`, and a delay between half the ceiling and the ceiling
/// ("equal jitter"). The random half keeps many failures from retrying in step; the
/// fixed half guarantees the wait grows, so an event waiting for another one (a refund
/// for its payment) is not spent in a burst of quick retries. `unit` is a random number
/// in `[0, 1)`, supplied by the caller.
pub fn backoff_seconds(attempt: u32, base: u32, cap: u32, unit: f64) -> u32 {
    let ceiling = base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX)).min(cap);
    let half = ceiling.div_euclid(2);
    let spread = ceiling.saturating_sub(half);
    half.saturating_add((f64::from(spread) * unit.clamp(0.0, 1.0)).round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_then_caps() {
        let ceilings: Vec<u32> = (1..=8).map(|attempt| backoff_seconds(attempt, 2, 60, 1.0)).collect();
        assert_eq!(ceilings, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff_seconds(200, 2, 60, 1.0), 60);
    }

    #[test]
    fn the_floor_is_half_the_ceiling() {
        let floors: Vec<u32> = (1..=6).map(|attempt| backoff_seconds(attempt, 2, 60, 0.0)).collect();
        assert_eq!(floors, [1, 2, 4, 8, 16, 30]);
    }

    proptest! {
        #[test]
        fn a_delay_stays_between_half_the_ceiling_and_the_ceiling(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let ceiling = backoff_seconds(attempt, 2, 300, 1.0);
            let delay = backoff_seconds(attempt, 2, 300, unit);
            prop_assert!(ceiling / 2 <= delay && delay <= ceiling);
        }
    }
}
