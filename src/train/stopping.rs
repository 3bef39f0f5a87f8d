//! Early-stopping rules: `best` (patience on the validation loss), `converged` (training
//! loss flat over a window) and `patient_converged` (converged for `patience` epochs).

use serde::{Deserialize, Serialize};

crate::choice! {
    /// Which rule stops training.
    pub enum StoppingKind {
        /// Run every epoch.
        None = "none",
        /// Stop after `patience` epochs without a better validation loss; keep the best.
        Best = "best",
        /// Stop when the training loss is flat over `window` epochs.
        Converged = "converged",
        /// Stop after `patience` converged epochs in a row.
        PatientConverged = "patient_converged",
    }
}

/// Rule and its running state (serialised into checkpoints for exact resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The rule.
    pub kind: StoppingKind,
    /// Epochs without improvement (best) or converged epochs needed (patient_converged).
    pub patience: usize,
    /// Window of the convergence test.
    pub window: usize,
    /// Largest relative epoch-to-epoch change counted as converged.
    pub tolerance: f64,
    /// Epochs before any rule may stop.
    pub burn_in: usize,
    /// Best validation loss so far.
    pub best: f64,
    /// Epoch of the best validation loss.
    pub best_epoch: usize,
    /// Training losses seen.
    pub train_history: Vec<f64>,
    /// Consecutive converged epochs.
    pub converged_for: usize,
}

/// What an epoch's numbers mean for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The validation loss is the best so far.
    pub improved: bool,
    /// Stop after this epoch.
    pub stop: bool,
}

impl EarlyStopping {
    /// A rule with no history.
    pub fn new(
        kind: StoppingKind,
        patience: usize,
        window: usize,
        tolerance: f64,
        burn_in: usize,
    ) -> Self {
        Self {
            kind,
            patience,
            window,
            tolerance,
            burn_in,
            best: f64::INFINITY,
            best_epoch: 0,
            train_history: Vec::new(),
            converged_for: 0,
        }
    }

    fn converged(&self) -> bool {
        let h = &self.train_history;
        if h.len() <= self.window.max(1) {
            return false;
        }
        h[h.len() - self.window.max(1) - 1..]
            .windows(2)
            .all(|w| ((w[1] - w[0]) / w[0].abs().max(1e-12)).abs() <= self.tolerance)
    }

    /// Records epoch `epoch` (0-based) and decides.
    pub fn update(&mut self, epoch: usize, train_loss: f64, val_loss: f64) -> Decision {
        self.train_history.push(train_loss);
        let improved = val_loss < self.best;
        if improved {
            self.best = val_loss;
            self.best_epoch = epoch;
        }
        let converged = self.converged();
        self.converged_for = if converged { self.converged_for + 1 } else { 0 };
        let past_burn_in = epoch + 1 > self.burn_in;
        let stop = past_burn_in
            && match self.kind {
                StoppingKind::Best => epoch - self.best_epoch >= self.patience,
                StoppingKind::Converged => converged,
                StoppingKind::PatientConverged => self.converged_for >= self.patience.max(1),
                StoppingKind::None => false,
            };
        Decision { improved, stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mut s: EarlyStopping, train: &[f64], val: &[f64]) -> Option<usize> {
        (0..train.len()).find(|&e| s.update(e, train[e], val[e]).stop)
    }

    #[test]
    fn best_stops_after_patience_without_improvement() {
        let val = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.3, 2.0];
        let s = EarlyStopping::new(StoppingKind::Best, 3, 3, 1e-3, 0);
        assert_eq!(
            run(s, &val, &val),
            Some(5),
            "best at epoch 2, three worse epochs"
        );
        let s = EarlyStopping::new(StoppingKind::Best, 3, 3, 1e-3, 7);
        assert_eq!(run(s, &val, &val), None, "burn-in holds it off");
    }

    #[test]
    fn converged_and_patient_converged() {
        let train = [10.0, 5.0, 4.0, 3.999, 3.9985, 3.998, 3.9979, 3.9978];
        let val = [1.0; 8];
        assert_eq!(
            run(
                EarlyStopping::new(StoppingKind::Converged, 0, 2, 1e-3, 0),
                &train,
                &val
            ),
            Some(4)
        );
        assert_eq!(
            run(
                EarlyStopping::new(StoppingKind::PatientConverged, 3, 2, 1e-3, 0),
                &train,
                &val
            ),
            Some(6)
        );
        assert_eq!(
            run(
                EarlyStopping::new(StoppingKind::None, 1, 1, 1.0, 0),
                &train,
                &val
            ),
            None
        );
    }
}
