//! Splitting an optimiser batch across data-parallel workers (one per GPU): every
//! compound goes to exactly one worker, and the workers' work is balanced.
//!
//! Each worker computes the mean gradient of its share; the batch's mean gradient is
//! then Σ (nᵣ / N) · meanᵣ ([`crate::combine::Gradients::weighted_sum`], what an
//! all-reduce computes), equal to the single-process gradient of the same batch.

use crate::model::CompoundGraphs;

/// Work of one compound: atoms plus edges of every graph it runs (complex, ligand and
/// its proteins), which is what forward and backward time follow.
pub fn compound_cost(c: &CompoundGraphs) -> u64 {
    let poses = c
        .poses
        .iter()
        .flat_map(|p| [p.complex.as_ref(), p.ligand.as_ref()]);
    poses
        .flatten()
        .chain(&c.proteins)
        .map(|g| (g.num_atoms() + g.num_edges()) as u64)
        .sum()
}

/// Indices of `costs` for each of `ranks` workers: largest first to the least-loaded
/// worker (ties to the lower rank), so the heaviest worker carries at most the lightest
/// one's load plus one compound. Deterministic; each index appears once; within a worker
/// indices keep their batch order.
pub fn shard(costs: &[u64], ranks: usize) -> Vec<Vec<usize>> {
    let ranks = ranks.max(1);
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0u64; ranks];
    let mut out = vec![Vec::new(); ranks];
    for i in order {
        let r = (0..ranks).min_by_key(|&r| (load[r], r)).unwrap_or(0);
        load[r] += costs[i];
        out[r].push(i);
    }
    for part in &mut out {
        part.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix;

    #[test]
    fn every_compound_once_and_loads_within_one_compound() {
        let mut rng = SplitMix(9);
        for (n, ranks) in [(1, 2), (7, 2), (30, 4), (64, 3), (5, 8)] {
            let costs: Vec<u64> = (0..n)
                .map(|_| 1 + (rng.next_f64() * 5000.0) as u64)
                .collect();
            let parts = shard(&costs, ranks);
            assert_eq!(parts.len(), ranks);
            let mut all: Vec<usize> = parts.concat();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "n {n} ranks {ranks}");
            let loads: Vec<u64> = parts
                .iter()
                .map(|p| p.iter().map(|&i| costs[i]).sum())
                .collect();
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            let biggest = costs.iter().max().unwrap();
            assert!(hi - lo <= *biggest, "n {n} ranks {ranks}: {loads:?}");
            assert_eq!(parts, shard(&costs, ranks), "deterministic");
        }
    }
}
