//! Butina clustering: near-duplicates of a series end up in one group (for grouped folds).

use super::Fingerprint;

/// Similarity at or above which two compounds are neighbours.
pub const BUTINA_THRESHOLD: f64 = 0.65;

/// Cluster index of every fingerprint (Butina 1999): the compound with the most
/// unassigned neighbours (MinMax ≥ `threshold`) opens a cluster with them, repeatedly;
/// ties go to the lower index, so the result depends on the input order only.
pub fn butina(fps: &[Fingerprint], threshold: f64) -> Vec<usize> {
    let n = fps.len();
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| j != i && fps[i].minmax(&fps[j]) >= threshold)
                .collect()
        })
        .collect();
    let mut cluster = vec![usize::MAX; n];
    let mut next = 0;
    loop {
        let free = |i: usize| cluster[i] == usize::MAX;
        let centre = (0..n).filter(|&i| free(i)).max_by_key(|&i| {
            let open = neighbours[i].iter().filter(|&&j| free(j)).count();
            (open, std::cmp::Reverse(i))
        });
        let Some(c) = centre else { break };
        let members: Vec<usize> = neighbours[c].iter().copied().filter(|&j| free(j)).collect();
        cluster[c] = next;
        for m in members {
            cluster[m] = next;
        }
        next += 1;
    }
    cluster
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicates_share_a_cluster() {
        let fp = |c: &[(u64, u32)]| Fingerprint { counts: c.to_vec() };
        let fps = vec![
            fp(&[(1, 2), (2, 1), (3, 1)]),
            fp(&[(1, 2), (2, 1), (3, 1), (4, 1)]),
            fp(&[(9, 3)]),
            fp(&[(1, 2), (2, 1), (3, 2)]),
        ];
        let c = butina(&fps, 0.65);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[0], c[3]);
        assert_ne!(c[0], c[2]);
    }
}
