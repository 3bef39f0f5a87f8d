//! Which of a compound's poses a model sees: all of them, the reference pose alone, the
//! docked ones, or the best-scored one (the single-pose baselines of a benchmark).

use crate::structure::Molecule;

/// SDF data fields that hold a docking score (lower is better), in the order tried:
/// AutoDock Vina (our `tools/dock`), smina/gnina, Glide, and a generic name.
pub const SCORE_FIELDS: [&str; 5] = [
    "vina_score",
    "minimizedAffinity",
    "r_i_docking_score",
    "docking_score",
    "score",
];

/// The docking score of a pose, from the first score field it carries.
pub fn docking_score(m: &Molecule) -> Option<f64> {
    SCORE_FIELDS
        .iter()
        .find_map(|k| m.property(k))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// `pose_source` values that mark a record as docking output (`multipose dock` writes
/// `vina` on every record; `tools/dock` writes it on all but the reference pose).
const DOCKED_SOURCES: [&str; 2] = ["vina", "docked"];

/// Whether pose 0 is a reference pose (modelled or crystal) rather than docking output:
/// yes unless its `pose_source` field names a docking program.
pub fn has_reference(poses: &[Molecule]) -> bool {
    !poses
        .first()
        .and_then(|m| m.property("pose_source"))
        .is_some_and(|s| DOCKED_SOURCES.contains(&s.trim()))
}

/// How many leading poses are reference poses: none when pose 0 is docking output, else
/// pose 0 and the poses after it whose `pose_source` names no docking program (the
/// alternative modelled poses of `data/fepplus`, folded into one compound); a pose without
/// the field after pose 0 counts as docked, as `tools/dock` has always written them.
pub fn reference_poses(poses: &[Molecule]) -> usize {
    if poses.is_empty() || !has_reference(poses) {
        return 0;
    }
    let modelled = |m: &Molecule| {
        m.property("pose_source")
            .is_some_and(|s| !DOCKED_SOURCES.contains(&s.trim()))
    };
    1 + poses[1..].iter().take_while(|m| modelled(m)).count()
}

crate::choice! {
    /// Which poses of every compound are kept. Pose 0 is the reference pose in datasets
    /// made by `tools/dock` (the modelled or crystal pose); the others are docking output.
    /// In datasets of `multipose dock` every pose is docked, and `docked` / `top_docked`
    /// consider pose 0 too.
    #[derive(Default)]
    pub enum PoseSelection {
        /// Every pose.
        #[default]
        All = "all",
        /// Pose 0 alone.
        Reference = "reference",
        /// Every pose but pose 0.
        Docked = "docked",
        /// The best-scored pose among poses 1.. (what a user without a reference pose
        /// has); poses without a score are never picked unless none has one (then pose 1).
        TopDocked = "top_docked",
    }
}

impl PoseSelection {
    /// Indices of the kept poses among `poses` (empty when nothing qualifies, e.g. a
    /// compound with only its reference pose asked for its docked ones).
    pub fn pick(self, poses: &[Molecule]) -> Vec<usize> {
        let docked = reference_poses(poses)..poses.len();
        match self {
            Self::All => (0..poses.len()).collect(),
            Self::Reference => (0..poses.len().min(1)).collect(),
            Self::Docked => docked.collect(),
            Self::TopDocked => {
                let best = docked
                    .clone()
                    .filter_map(|i| docking_score(&poses[i]).map(|s| (i, s)))
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                match best {
                    Some((i, _)) => vec![i],
                    None => docked.take(1).collect(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose(score: Option<&str>) -> Molecule {
        Molecule {
            title: String::new(),
            z: vec![6],
            pos: vec![[0.0; 3]],
            bonds: Vec::new(),
            properties: score
                .map(|s| vec![("vina_score".to_string(), s.to_string())])
                .unwrap_or_default(),
            line: 1,
        }
    }

    #[test]
    fn top_docked_skips_the_reference_and_unscored_poses() {
        let poses = vec![
            pose(Some("-12.0")),
            pose(None),
            pose(Some("-7.5")),
            pose(Some("-8.25")),
        ];
        assert_eq!(PoseSelection::TopDocked.pick(&poses), vec![3]);
        assert_eq!(PoseSelection::Reference.pick(&poses), vec![0]);
        assert_eq!(PoseSelection::Docked.pick(&poses), vec![1, 2, 3]);
        assert_eq!(PoseSelection::All.pick(&poses), vec![0, 1, 2, 3]);
        assert_eq!(
            PoseSelection::TopDocked.pick(&poses[..1]),
            Vec::<usize>::new()
        );
        let unscored = vec![pose(None), pose(None), pose(None)];
        assert_eq!(PoseSelection::TopDocked.pick(&unscored), vec![1]);
        // Every pose docked (`multipose dock`): pose 0 competes too.
        let mut docked = poses.clone();
        for m in &mut docked {
            m.properties.push(("pose_source".into(), "vina".into()));
        }
        assert!(!has_reference(&docked) && has_reference(&poses));
        assert_eq!(PoseSelection::TopDocked.pick(&docked), vec![0]);
        assert_eq!(PoseSelection::Docked.pick(&docked), vec![0, 1, 2, 3]);
    }

    #[test]
    fn leading_modelled_poses_are_not_docked() {
        let mut poses = vec![pose(Some("-9.0")), pose(Some("-9.5")), pose(Some("-8.0"))];
        for (m, source) in poses.iter_mut().zip(["reference", "reference", "vina"]) {
            m.properties.push(("pose_source".into(), source.into()));
        }
        assert_eq!(PoseSelection::Docked.pick(&poses), vec![2]);
        assert_eq!(PoseSelection::TopDocked.pick(&poses), vec![2]);
        assert_eq!(PoseSelection::Reference.pick(&poses), vec![0]);
    }
}
