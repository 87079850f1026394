//! When to try again.

/// Seconds to wait before delivery `attempt` (1-based) is retried: doubling from
/// `base`, capped at `cap`, with "full jitter" so that many failures do not retry in
/// step. `unit` is a random number in `[0, 1)`, supplied by the caller.
pub fn backoff_seconds(attempt: u32, base: u32, cap: u32, unit: f64) -> u32 {
    let ceiling = base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX)).min(cap);
    let jittered = (f64::from(ceiling) * unit.clamp(0.0, 1.0)).round() as u32;
    jittered.clamp(1.min(ceiling), ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_then_caps() {
        let ceilings: Vec<u32> = (1..=8).map(|attempt| backoff_seconds(attempt, 1, 60, 1.0)).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff_seconds(200, 1, 60, 1.0), 60);
    }

    proptest! {
        #[test]
        fn a_delay_stays_between_one_second_and_the_ceiling(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let delay = backoff_seconds(attempt, 2, 300, unit);
            prop_assert!((1..=300).contains(&delay));
        }
    }
}
