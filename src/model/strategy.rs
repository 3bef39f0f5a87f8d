//! Strategies: from per-structure representations to one ΔG per pose (mtenn's names).

use super::{LayerNorm, StrategyKind};
use crate::error::Result;
use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

/// Optional LayerNorm then Linear(in → 1); with the norm the two sit at `0` and `1`
/// (torch `Sequential`), without it the linear layer sits at the path itself.
/// A network whose output is already the energy (`[rows, 1]`) has the identity.
#[derive(Debug, Clone)]
enum Head {
    Linear {
        norm: Option<LayerNorm>,
        linear: Linear,
    },
    Identity,
}

impl Head {
    fn new(input: usize, layer_norm: bool, vb: VarBuilder) -> Result<Self> {
        if layer_norm {
            Ok(Self::Linear {
                norm: Some(LayerNorm::new(input, vb.pp(0))?),
                linear: candle_nn::linear(input, 1, vb.pp(1))?,
            })
        } else {
            Ok(Self::Linear {
                norm: None,
                linear: candle_nn::linear(input, 1, vb)?,
            })
        }
    }

    /// `[rows, input]` → `[rows]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (norm, linear) = match self {
            Self::Identity => return Ok(x.squeeze(1)?),
            Self::Linear { norm, linear } => (norm, linear),
        };
        let x = match norm {
            Some(norm) => norm.forward(x)?,
            None => x.clone(),
        };
        Ok(linear.forward(&x)?.squeeze(1)?)
    }
}

/// A strategy with its parameters (`strategy.energy_func` or `strategy.reduce_nn`).
#[derive(Debug, Clone)]
pub struct Strategy {
    kind: StrategyKind,
    head: Option<Head>,
}

impl Strategy {
    /// Loads the strategy's head under `vb` (`strategy`); representations are `rep_dim` wide.
    /// Without `linear_head` (ViSNet, whose energy function is its own readout) delta and
    /// complex combine the representations as they are.
    pub fn new(
        kind: StrategyKind,
        rep_dim: usize,
        layer_norm: bool,
        linear_head: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        if !linear_head && kind != StrategyKind::LigandOnly {
            return Ok(Self {
                kind,
                head: Some(Head::Identity),
            });
        }
        let head = match kind {
            StrategyKind::Delta | StrategyKind::Complex => {
                Some(Head::new(rep_dim, layer_norm, vb.pp("energy_func"))?)
            }
            StrategyKind::Concat => Some(Head::new(3 * rep_dim, layer_norm, vb.pp("reduce_nn"))?),
            StrategyKind::LigandOnly => None,
        };
        Ok(Self { kind, head })
    }

    /// Which strategy this is.
    pub fn kind(&self) -> StrategyKind {
        self.kind
    }

    /// ΔG `[poses]` from representations `[poses, D]` of complex, protein and ligand.
    /// For the ligand-only strategy `ligand` already holds the `[poses, 1]` outputs.
    pub fn forward(&self, complex: &Tensor, protein: &Tensor, ligand: &Tensor) -> Result<Tensor> {
        let Some(head) = &self.head else {
            return Ok(ligand.squeeze(1)?);
        };
        match self.kind {
            StrategyKind::Delta => {
                let e = |x: &Tensor| head.forward(x);
                Ok(((e(complex)? - e(protein)?)? - e(ligand)?)?)
            }
            StrategyKind::Concat => {
                // mtenn sums the concatenation over all orderings of (protein, ligand).
                let parts = (protein + ligand)?;
                head.forward(&Tensor::cat(&[complex, &parts, &parts], 1)?)
            }
            _ => head.forward(complex),
        }
    }
}
