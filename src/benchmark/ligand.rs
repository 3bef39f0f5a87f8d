//! The ligand-only arms on the benchmark's folds: each fitted in process per target and
//! fold on the training and validation compounds, scored on the fold's test compounds.

use super::Scored;
use crate::baseline::{LigandFeatures, LigandModel, LigandModelKind, features};
use crate::dataset::{CompoundData, Qualifier};
use crate::train::Split;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Every compound's ligand features (computed once for all ligand arms).
pub fn all_features(compounds: &[CompoundData]) -> Vec<LigandFeatures> {
    compounds.par_iter().map(features).collect()
}

/// Out-of-fold predictions of `kind` for every compound with an exact label.
pub fn ligand_predictions(
    kind: LigandModelKind,
    compounds: &[CompoundData],
    feats: &[LigandFeatures],
    splits: &[Split],
) -> Vec<Scored> {
    let exact = |i: usize| {
        compounds[i]
            .label
            .as_ref()
            .filter(|l| l.qualifier == Qualifier::Exact)
            .map(|l| l.value)
    };
    let mut out = Vec::new();
    for split in splits {
        let mut by: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for &i in split.train.iter().chain(&split.val) {
            by.entry(compounds[i].target.as_str())
                .or_default()
                .0
                .push(i);
        }
        for &i in &split.test {
            by.entry(compounds[i].target.as_str())
                .or_default()
                .1
                .push(i);
        }
        let fitted: Vec<Vec<Scored>> = by
            .into_par_iter()
            .map(|(_, (train, test))| {
                let train: Vec<usize> = train.into_iter().filter(|&i| exact(i).is_some()).collect();
                let test: Vec<usize> = test.into_iter().filter(|&i| exact(i).is_some()).collect();
                let x: Vec<&LigandFeatures> = train.iter().map(|&i| &feats[i]).collect();
                let y: Vec<f64> = train.iter().filter_map(|&i| exact(i)).collect();
                let Some(model) = LigandModel::fit(kind, &x, &y) else {
                    return Vec::new();
                };
                let tx: Vec<&LigandFeatures> = test.iter().map(|&i| &feats[i]).collect();
                test.iter()
                    .zip(model.predict(&tx))
                    .filter_map(|(&i, prediction)| {
                        Some(Scored {
                            id: compounds[i].id.clone(),
                            target: compounds[i].target.clone(),
                            prediction,
                            label: exact(i)?,
                        })
                    })
                    .collect()
            })
            .collect();
        out.extend(fitted.into_iter().flatten());
    }
    out
}
