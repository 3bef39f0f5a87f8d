//! The within-target pairwise loss on ΔΔG: for the pairs (i, j) of one target, both labels
//! exact, L = w · mean ((zᵢ − zⱼ) − (yᵢ − yⱼ))². It compares compounds, which the gradient
//! engines (one compound's poses at a time) never see together; its gradient stays exact:
//! a pass without gradients gives every zᵢ, the pair loss gives gᵢ = ∂L/∂zᵢ there, and each
//! compound trains on its own terms plus the linear term gᵢ·z, whose gradient at that
//! point is the pair loss's.

/// One compound as the pair loss sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member<'a> {
    /// Its target: only pairs of one target count.
    pub target: &'a str,
    /// Its exact label (censored or missing labels make no pair).
    pub label: Option<f64>,
    /// Its predicted value (on the label's scale, shifts included).
    pub z: f64,
}

/// The pair loss over `members` and its gradient ∂L/∂zᵢ (zero without any pair).
pub fn pair_loss(members: &[Member], weight: f64) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; members.len()];
    let (mut sum, mut pairs) = (0.0, 0usize);
    for (i, a) in members.iter().enumerate() {
        let Some(ya) = a.label else { continue };
        for (j, b) in members.iter().enumerate().skip(i + 1) {
            let Some(yb) = b.label.filter(|_| b.target == a.target) else {
                continue;
            };
            let r = (a.z - b.z) - (ya - yb);
            sum += r * r;
            pairs += 1;
            grad[i] += 2.0 * r;
            grad[j] -= 2.0 * r;
        }
    }
    if pairs == 0 {
        return (0.0, grad);
    }
    let scale = weight / pairs as f64;
    grad.iter_mut().for_each(|g| *g *= scale);
    (sum * scale, grad)
}

/// Optimiser batches of at most `size` compounds, each of one target: `order` (a shuffled
/// list of compound indices) split by target with its order kept, then the batches
/// interleaved as `order` first reaches each target's next batch.
pub fn batches_by_target(order: &[usize], targets: &[&str], size: usize) -> Vec<Vec<usize>> {
    let mut open: std::collections::HashMap<&str, usize> = Default::default();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &k in order {
        let t = targets[k];
        let slot = match open.get(t) {
            Some(&b) if out[b].len() < size.max(1) => b,
            _ => {
                out.push(Vec::new());
                open.insert(t, out.len() - 1);
                out.len() - 1
            }
        };
        out[slot].push(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(target: &str, label: Option<f64>, z: f64) -> Member<'_> {
        Member { target, label, z }
    }

    #[test]
    fn pairs_of_one_target_only_against_hand_values_and_differences() {
        let members = [
            m("a", Some(5.0), 4.0),
            m("a", Some(7.0), 7.5),
            m("b", Some(1.0), 9.0),
            m("a", None, 3.0),
        ];
        let (loss, grad) = pair_loss(&members, 2.0);
        // One pair: (4 − 7.5) − (5 − 7) = −1.5; 2 · 2.25.
        assert!((loss - 4.5).abs() < 1e-12);
        assert_eq!(grad, vec![-6.0, 6.0, 0.0, 0.0]);
        let h = 1e-6;
        for i in 0..members.len() {
            let mut up = members;
            let mut down = members;
            up[i].z += h;
            down[i].z -= h;
            let fd = (pair_loss(&up, 2.0).0 - pair_loss(&down, 2.0).0) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-6,
                "member {i}: {fd} vs {}",
                grad[i]
            );
        }
        // A constant added to one target's predictions changes nothing.
        let shifted: Vec<Member> = members
            .iter()
            .map(|x| Member { z: x.z + 3.0, ..*x })
            .collect();
        assert!((pair_loss(&shifted, 2.0).0 - loss).abs() < 1e-12);
        assert_eq!(pair_loss(&members[2..], 1.0), (0.0, vec![0.0, 0.0]));
    }

    #[test]
    fn batches_hold_one_target_each_and_keep_every_compound_once() {
        let targets = ["a", "b", "a", "a", "b", "c", "a"];
        let order = [3, 0, 5, 1, 6, 2, 4];
        let b = batches_by_target(&order, &targets, 2);
        assert_eq!(b, vec![vec![3, 0], vec![5], vec![1, 4], vec![6, 2]]);
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert!(
            b.iter()
                .all(|x| x.iter().all(|&k| targets[k] == targets[x[0]]))
        );
    }
}
