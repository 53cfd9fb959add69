//! One cycle of nginx's smooth weighted round-robin, computed ahead of time.

/// Returns one full cycle of nginx's *smooth* weighted round-robin over `weights` as member
/// indexes.
///
/// Each step adds every member's weight to its running score, picks the highest score
/// (the first one on ties) and takes the cycle's total off the winner. Over a cycle each
/// member appears exactly `weight / g` times, `g` being the weights' greatest common
/// divisor (dividing by it keeps 200:100 as short as 2:1), and the heaviest member is spread
/// out rather than bunched: 5:1:1 gives `a a b a c a a`, not `a a a a a b c`.
/// Members of weight 0 never appear; all zero gives an empty cycle.
///
/// Cost is O(total x members), paid only when a weight or state changes.
pub fn smooth_cycle(weights: &[u32]) -> Vec<u32> {
    let divisor = weights.iter().fold(0, |acc, &w| gcd(acc, w));
    if divisor == 0 {
        return Vec::new();
    }
    let reduced: Vec<i64> = weights.iter().map(|&w| i64::from(w / divisor)).collect();
    let total: i64 = reduced.iter().sum();
    let mut score = vec![0i64; reduced.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best: Option<usize> = None;
        for (i, &weight) in reduced.iter().enumerate() {
            if weight == 0 {
                continue;
            }
            score[i] += weight;
            if best.is_none_or(|b| score[i] > score[b]) {
                best = Some(i);
            }
        }
        let winner = best.expect("total > 0 implies a member with weight > 0");
        score[winner] -= total;
        cycle.push(winner as u32);
    }
    cycle
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(cycle: &[u32], members: usize) -> Vec<u32> {
        let mut counts = vec![0; members];
        for &i in cycle {
            counts[i as usize] += 1;
        }
        counts
    }

    #[test]
    fn five_three_one_is_exact_and_interleaved() {
        let cycle = smooth_cycle(&[5, 3, 1]);
        assert_eq!(cycle.len(), 9);
        assert_eq!(counts(&cycle, 3), vec![5, 3, 1]);
        // nginx's published sequence for 5:3:1 is a b a c a b a b a ... as computed here:
        assert_eq!(cycle, vec![0, 1, 0, 2, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn nginx_example_five_one_one() {
        assert_eq!(smooth_cycle(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn zero_weights_never_picked_and_all_zero_is_empty() {
        let cycle = smooth_cycle(&[0, 2, 0, 1]);
        assert_eq!(counts(&cycle, 4), vec![0, 2, 0, 1]);
        assert!(smooth_cycle(&[0, 0]).is_empty());
        assert!(smooth_cycle(&[]).is_empty());
    }

    #[test]
    fn common_divisor_shortens_the_cycle() {
        assert_eq!(smooth_cycle(&[200, 100]), vec![0, 1, 0]);
        assert_eq!(smooth_cycle(&[256]), vec![0]);
    }

    proptest! {
        #[test]
        fn exact_over_a_cycle(weights in prop::collection::vec(0u32..=256, 1..12)) {
            let cycle = smooth_cycle(&weights);
            let divisor = weights.iter().fold(0, |acc, &w| gcd(acc, w));
            let expected: Vec<u32> =
                weights.iter().map(|&w| w.checked_div(divisor).unwrap_or(0)).collect();
            prop_assert_eq!(counts(&cycle, weights.len()), expected);
        }

        /// Smoothness: at every point of the cycle each member is within 2 picks of its
        /// exact share k*w/W (nginx's algorithm keeps it near 1), so the heaviest server
        /// never bunches up and the light ones are spread across the cycle.
        #[test]
        fn smooth_prefixes(weights in prop::collection::vec(0u32..=256, 1..10)) {
            let cycle = smooth_cycle(&weights);
            let total = cycle.len() as f64;
            let divisor = weights.iter().fold(0, |acc, &w| gcd(acc, w)).max(1);
            for (member, &w) in weights.iter().enumerate() {
                let share = f64::from(w / divisor) / total;
                let mut picked = 0.0;
                for (k, &m) in cycle.iter().enumerate() {
                    if m as usize == member {
                        picked += 1.0;
                    }
                    let deviation = (picked - (k + 1) as f64 * share).abs();
                    prop_assert!(deviation < 2.0, "member {} at pick {}: {} off", member, k, deviation);
                }
            }
        }
    }
}
