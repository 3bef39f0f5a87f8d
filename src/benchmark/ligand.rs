//! The ligand-only arms on the benchmark's folds: each fitted in process per target and
//! fold on the training and validation compounds, scored on the fold's test compounds.

use super::Scored;
use crate::baseline::{
    LigandFeatures, LigandModel, LigandModelKind, features, ligand_indices, ligand_name,
};
use crate::dataset::{CompoundData, Qualifier};
use crate::train::Split;
use rayon::prelude::*;
use std::collections::BTreeSet;

/// Every compound's ligand features (computed once for all ligand arms).
pub fn all_features(compounds: &[CompoundData]) -> Vec<LigandFeatures> {
    compounds.par_iter().map(features).collect()
}

/// Out-of-fold predictions of `kind` for every compound with an exact label: one model
/// per fold over every target (the mean and weight baselines are per target inside it).
pub fn ligand_predictions(
    kind: LigandModelKind,
    compounds: &[CompoundData],
    feats: &[LigandFeatures],
    splits: &[Split],
) -> Vec<Scored> {
    let exact = |i: &usize| {
        compounds[*i]
            .label
            .as_ref()
            .filter(|l| l.qualifier == Qualifier::Exact)
            .map(|l| l.value)
    };
    let names: BTreeSet<&str> = compounds.iter().map(|c| c.target.as_str()).collect();
    let task = |i: usize| {
        names
            .iter()
            .position(|n| *n == compounds[i].target)
            .unwrap_or(0)
    };
    let fitted: Vec<Vec<Scored>> = splits
        .par_iter()
        .map(|split| {
            let train: Vec<usize> = split
                .train
                .iter()
                .chain(&split.val)
                .copied()
                .filter(|i| exact(i).is_some())
                .collect();
            let test: Vec<usize> = split
                .test
                .iter()
                .copied()
                .filter(|i| exact(i).is_some())
                .collect();
            let x: Vec<&LigandFeatures> = train.iter().map(|&i| &feats[i]).collect();
            let t: Vec<usize> = train.iter().map(|&i| task(i)).collect();
            let l = ligand_indices(train.iter().map(|&i| ligand_name(&compounds[i])));
            let y: Vec<f64> = train.iter().filter_map(exact).collect();
            let Some(model) = LigandModel::fit(kind, &x, (&t, &l), &y) else {
                return Vec::new();
            };
            let tx: Vec<&LigandFeatures> = test.iter().map(|&i| &feats[i]).collect();
            let tt: Vec<usize> = test.iter().map(|&i| task(i)).collect();
            test.iter()
                .zip(model.predict(&tx, &tt))
                .filter(|(_, p)| p.is_finite())
                .filter_map(|(i, prediction)| {
                    Some(Scored {
                        id: compounds[*i].id.clone(),
                        target: compounds[*i].target.clone(),
                        prediction,
                        label: exact(i)?,
                    })
                })
                .collect()
        })
        .collect();
    fitted.into_iter().flatten().collect()
}
