//! Items grouped by a key, as the fused sums walk them (compressed-row form), on the host
//! and, once copied there, on a GPU.

#[cfg(feature = "cuda")]
use super::GpuArrays;

/// One grouping of items: group g covers positions `start[g]..start[g + 1]`, and position
/// p gathers row `ia[p]` of a first input (and row `ib[p]` of a second).
#[derive(Debug, Clone)]
pub struct Grouping {
    /// Group boundaries, `[groups + 1]`.
    pub start: Vec<u32>,
    /// First-input row of every position (empty in a [`Self::hollow`] copy).
    pub ia: Vec<u32>,
    /// Second-input row of every position, when there is a second input.
    pub ib: Option<Vec<u32>>,
    /// The arrays on a GPU, once copied there (shared by clones and hollow copies).
    #[cfg(feature = "cuda")]
    pub(super) gpu: std::sync::OnceLock<std::sync::Arc<GpuArrays>>,
}

impl PartialEq for Grouping {
    fn eq(&self, other: &Self) -> bool {
        (&self.start, &self.ia, &self.ib) == (&other.start, &other.ia, &other.ib)
    }
}

impl Grouping {
    /// Groups items by `keys` (< `groups`), keeping their order within a group; item i
    /// gathers row `ia[i]` (and `ib[i]`).
    pub fn by_key(keys: &[u32], groups: usize, ia: &[u32], ib: Option<&[u32]>) -> Self {
        // A counting sort: linear, and stable so sums keep the edge order of the graph.
        let mut start = vec![0u32; groups + 1];
        for &k in keys {
            start[k as usize + 1] += 1;
        }
        for g in 0..groups {
            start[g + 1] += start[g];
        }
        let (ia, ib) = if keys.is_sorted() {
            // Radius graphs list edges by target atom: grouping by target moves nothing.
            (ia.to_vec(), ib.map(<[u32]>::to_vec))
        } else {
            // Items scattered straight to their places: one pass, reads in order (a
            // permutation gathered afterwards read both inputs at random, and cost more
            // than the rest of a batch's host work).
            let mut fill = start.clone();
            let mut out_a = vec![0u32; keys.len()];
            let mut out_b = ib.map(|_| vec![0u32; keys.len()]);
            for (i, &k) in keys.iter().enumerate() {
                let at = fill[k as usize] as usize;
                fill[k as usize] += 1;
                out_a[at] = ia[i];
                if let (Some(out), Some(b)) = (out_b.as_mut(), ib) {
                    out[at] = b[i];
                }
            }
            (out_a, out_b)
        };
        Self {
            ia,
            ib,
            start,
            #[cfg(feature = "cuda")]
            gpu: std::sync::OnceLock::new(),
        }
    }

    /// The group boundaries and the GPU copy without the per-item host arrays: what a
    /// batch kept on a GPU needs (the sums there read the GPU copy only).
    pub fn hollow(&self) -> Self {
        Self {
            start: self.start.clone(),
            ia: Vec::new(),
            ib: None,
            #[cfg(feature = "cuda")]
            gpu: self.gpu.clone(),
        }
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.start.len() - 1
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        4 * (self.start.len() + self.ia.len() + self.ib.as_ref().map_or(0, Vec::len))
    }
}

/// A batch's edges grouped the three ways the CFConv sums walk them.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeGroupings {
    /// By target atom, gathering (source atom, filter row): the forward.
    pub by_dst: std::sync::Arc<Grouping>,
    /// By source atom, gathering (target atom, filter row): ∂ atom features.
    pub by_src: std::sync::Arc<Grouping>,
    /// By filter row, gathering (target atom, source atom): ∂ filter.
    pub by_row: std::sync::Arc<Grouping>,
}

impl EdgeGroupings {
    /// Groups edges `src[e] → dst[e]` (atoms < `atoms`) with filter rows `row[e]` (< `rows`).
    pub fn new(src: &[u32], dst: &[u32], row: &[u32], atoms: usize, rows: usize) -> Self {
        use std::sync::Arc;
        // The three sorts are independent; in parallel they take a third of the time.
        let (by_dst, (by_src, by_row)) = rayon::join(
            || Grouping::by_key(dst, atoms, src, Some(row)),
            || {
                rayon::join(
                    || Grouping::by_key(src, atoms, dst, Some(row)),
                    || Grouping::by_key(row, rows, dst, Some(src)),
                )
            },
        );
        Self {
            by_dst: Arc::new(by_dst),
            by_src: Arc::new(by_src),
            by_row: Arc::new(by_row),
        }
    }

    /// The three groupings in a fixed order.
    pub fn all(&self) -> [&std::sync::Arc<Grouping>; 3] {
        [&self.by_dst, &self.by_src, &self.by_row]
    }

    /// [`Grouping::hollow`] of each.
    pub fn hollow(&self) -> Self {
        use std::sync::Arc;
        Self {
            by_dst: Arc::new(self.by_dst.hollow()),
            by_src: Arc::new(self.by_src.hollow()),
            by_row: Arc::new(self.by_row.hollow()),
        }
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.by_dst.bytes() + self.by_src.bytes() + self.by_row.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stably_by_key() {
        let g = Grouping::by_key(&[2, 0, 2, 1, 0], 4, &[10, 11, 12, 13, 14], None);
        assert_eq!(g.start, vec![0, 2, 3, 5, 5]);
        assert_eq!(g.ia, vec![11, 14, 13, 10, 12]);
        assert_eq!(g.groups(), 4);
    }

    #[test]
    fn sorted_and_scattered_keys_group_as_a_stable_sort_does() {
        let mut rng = crate::rng::SplitMix(5);
        for sorted in [false, true] {
            let mut keys: Vec<u32> = (0..500).map(|_| (rng.next_f64() * 37.0) as u32).collect();
            if sorted {
                keys.sort_unstable();
            }
            let ia: Vec<u32> = (0..500).map(|i| 1000 + i).collect();
            let ib: Vec<u32> = (0..500).map(|i| 7 * i).collect();
            let g = Grouping::by_key(&keys, 40, &ia, Some(&ib));
            let mut order: Vec<usize> = (0..500).collect();
            order.sort_by_key(|&i| keys[i]);
            assert_eq!(g.ia, order.iter().map(|&i| ia[i]).collect::<Vec<_>>());
            assert_eq!(g.ib, Some(order.iter().map(|&i| ib[i]).collect()));
            for k in 0..40 {
                let n = keys.iter().filter(|&&x| x == k as u32).count() as u32;
                assert_eq!(g.start[k + 1] - g.start[k], n, "sorted {sorted}");
            }
        }
    }

    #[test]
    fn a_hollow_grouping_keeps_its_groups_only() {
        let g = Grouping::by_key(&[1, 0, 1], 2, &[5, 6, 7], Some(&[8, 9, 10]));
        let h = g.hollow();
        assert_eq!((h.groups(), &h.start), (2, &g.start));
        assert!(h.ia.is_empty() && h.ib.is_none());
        assert!(h.bytes() < g.bytes());
    }
}
