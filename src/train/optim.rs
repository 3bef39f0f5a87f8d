//! Optimisers with their state as named tensors, so a checkpoint can resume exactly.
//!
//! Written here rather than taken from candle-nn: its AdamW keeps the moment estimates
//! private, so they could not be saved and an interrupted run could not resume bit for bit.

use crate::error::Result;
use candle_core::{Tensor, Var};
use std::collections::HashMap;

crate::choice! {
    /// Which update rule.
    pub enum OptimizerKind {
        /// Adam, weight decay as L2 on the gradient.
        Adam = "adam",
        /// Adam with decoupled weight decay.
        AdamW = "adamw",
        /// SGD with momentum, weight decay as L2.
        Sgd = "sgd",
    }
}

/// An optimiser over named parameters.
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    weight_decay: f64,
    /// SGD's momentum (unused by Adam).
    momentum: f64,
    step: u64,
    /// First moment (Adam) or velocity (SGD) per parameter.
    m: HashMap<String, Tensor>,
    /// Second moment (Adam) per parameter.
    v: HashMap<String, Tensor>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl Optimizer {
    /// A fresh optimiser (`momentum` is SGD's).
    pub fn new(kind: OptimizerKind, lr: f64, weight_decay: f64, momentum: f64) -> Self {
        Self {
            kind,
            lr,
            weight_decay,
            momentum,
            step: 0,
            m: HashMap::new(),
            v: HashMap::new(),
        }
    }

    /// One update of every parameter that has a gradient.
    pub fn step(
        &mut self,
        params: &[(String, Var)],
        grads: &HashMap<String, Tensor>,
    ) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        for (name, var) in params {
            let Some(g) = grads.get(name) else { continue };
            let theta = var.as_tensor();
            let mut g = g.clone();
            if self.weight_decay != 0.0 && !matches!(self.kind, OptimizerKind::AdamW) {
                g = (g + (theta * self.weight_decay)?)?;
            }
            let updated = match self.kind {
                OptimizerKind::Sgd => {
                    let vel = match self.m.get(name) {
                        Some(v) => ((v * self.momentum)? + &g)?,
                        None => g.clone(),
                    };
                    let next = (theta - (&vel * self.lr)?)?;
                    self.m.insert(name.clone(), vel);
                    next
                }
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    let m = match self.m.get(name) {
                        Some(m) => ((m * BETA1)? + (&g * (1.0 - BETA1))?)?,
                        None => (&g * (1.0 - BETA1))?,
                    };
                    let v = match self.v.get(name) {
                        Some(v) => ((v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?,
                        None => (g.sqr()? * (1.0 - BETA2))?,
                    };
                    let m_hat = (&m / (1.0 - BETA1.powi(t)))?;
                    let v_hat = (&v / (1.0 - BETA2.powi(t)))?;
                    let update = (m_hat / (v_hat.sqrt()? + EPS)?)?;
                    let mut next = (theta - (update * self.lr)?)?;
                    if matches!(self.kind, OptimizerKind::AdamW) && self.weight_decay != 0.0 {
                        next = (next - (theta * (self.lr * self.weight_decay))?)?;
                    }
                    self.m.insert(name.clone(), m);
                    self.v.insert(name.clone(), v);
                    next
                }
            };
            var.set(&updated)?;
        }
        Ok(())
    }

    /// State as named tensors (`m.<param>`, `v.<param>`, `step`).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (k, t) in &self.m {
            out.insert(format!("m.{k}"), t.clone());
        }
        for (k, t) in &self.v {
            out.insert(format!("v.{k}"), t.clone());
        }
        out.insert(
            "step".into(),
            Tensor::new(&[self.step as i64], &candle_core::Device::Cpu)?,
        );
        Ok(out)
    }

    /// Restores state written by [`Optimizer::state`].
    pub fn load_state(
        &mut self,
        state: HashMap<String, Tensor>,
        device: &candle_core::Device,
    ) -> Result<()> {
        self.m.clear();
        self.v.clear();
        for (k, t) in state {
            if k == "step" {
                self.step = t.to_vec1::<i64>()?[0] as u64;
            } else if let Some(name) = k.strip_prefix("m.") {
                self.m.insert(name.to_string(), t.to_device(device)?);
            } else if let Some(name) = k.strip_prefix("v.") {
                self.v.insert(name.to_string(), t.to_device(device)?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn adam_first_step_moves_by_lr_and_sgd_by_lr_times_grad() {
        let x = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
        let params = vec![("x".to_string(), x.clone())];
        let grads: HashMap<String, Tensor> = [(
            "x".to_string(),
            Tensor::new(&[0.5f64, -3.0], &Device::Cpu).unwrap(),
        )]
        .into();
        let mut adam = Optimizer::new(OptimizerKind::Adam, 0.1, 0.0, 0.0);
        adam.step(&params, &grads).unwrap();
        let v = x.to_vec1::<f64>().unwrap();
        assert!(
            (v[0] - 0.9).abs() < 1e-6 && (v[1] + 1.9).abs() < 1e-6,
            "{v:?}"
        );
        let y = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
        let mut sgd = Optimizer::new(OptimizerKind::Sgd, 0.1, 0.0, 0.9);
        sgd.step(&[("x".to_string(), y.clone())], &grads).unwrap();
        let v = y.to_vec1::<f64>().unwrap();
        assert!((v[0] - 0.95).abs() < 1e-12 && (v[1] + 1.7).abs() < 1e-12);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let grads: HashMap<String, Tensor> = [(
            "x".to_string(),
            Tensor::new(&[0.5f64, -3.0], &Device::Cpu).unwrap(),
        )]
        .into();
        let run = |split: bool| {
            let x = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
            let params = vec![("x".to_string(), x.clone())];
            let mut o = Optimizer::new(OptimizerKind::AdamW, 0.1, 0.01, 0.0);
            o.step(&params, &grads).unwrap();
            if split {
                let state = o.state().unwrap();
                o = Optimizer::new(OptimizerKind::AdamW, 0.1, 0.01, 0.0);
                o.load_state(state, &Device::Cpu).unwrap();
            }
            o.step(&params, &grads).unwrap();
            x.to_vec1::<f64>().unwrap()
        };
        assert_eq!(run(false), run(true));
    }
}
