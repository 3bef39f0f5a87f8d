//! Gradient engines: four ways to get ∂L/∂θ of a multi-pose loss, all equal.
//!
//! - `full`: every pose's graph kept, one backward (reference; memory grows with N).
//! - `stored`: mtenn's scheme: forward+backward per pose, N gradient copies, combined
//!   with the hand-derived ∂ŷ/∂ŷᵢ.
//! - `streaming`: one pass with online-softmax accumulation into O(1) gradient buffers
//!   (mean, max, boltzmann; per-pose loss terms that touch one pose each).
//! - `recompute`: a pass without graphs gives every ŷᵢ, autodiff of the small scalar graph
//!   (combination, readout, loss) gives the seeds cᵢ = ∂L/∂ŷᵢ, then a seeded backward per
//!   chunk; works for any combination and loss, including learned constants and attention
//!   (whose weights read the poses' embeddings zᵢ: vector seeds Cᵢ = ∂L/∂zᵢ as well).
//!
//! Streaming and recompute compute each distinct protein once per compound and
//! backpropagate it once, with the summed seed of all poses.

mod chunk;
mod full;
mod grads;
mod packed;
mod recompute;
mod stored;
mod streaming;

pub use chunk::ChunkPolicy;
pub use grads::Gradients;

use super::{GroupedModel, Objective};
use crate::error::{Error, Result};
use crate::model::{CompoundGraphs, Params};
use candle_core::{DType, Tensor, Var};

crate::choice! {
    /// Which engine computes the gradient.
    #[derive(Default)]
    pub enum EngineKind {
        /// Streaming where it applies, else recompute.
        #[default]
        Auto = "auto",
        /// Keep every pose's graph.
        Full = "full",
        /// mtenn's per-pose gradient copies.
        Stored = "stored",
        /// Online accumulation, one gradient buffer per term.
        Streaming = "streaming",
        /// Two passes with autodiff seeds.
        Recompute = "recompute",
    }
}

/// Engine and chunking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    /// The engine.
    pub kind: EngineKind,
    /// How many poses share one batched forward/backward.
    pub chunk: ChunkPolicy,
    /// Whether compounds that fit one chunk together share it in [`train_batch`]
    /// (never for `stored`, mtenn's per-pose scheme).
    pub pack: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            kind: EngineKind::Auto,
            chunk: ChunkPolicy::default(),
            pack: true,
        }
    }
}

/// What one training step on one compound gives.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Loss L.
    pub loss: f64,
    /// Combined prediction ŷ.
    pub combined: f64,
    /// Read-out value z = r(ŷ).
    pub output: f64,
    /// Per-pose predictions ŷᵢ.
    pub poses: Vec<f64>,
    /// ∂L/∂θ for every parameter.
    pub grads: Gradients,
    /// The engine that ran.
    pub engine: EngineKind,
}

impl StepResult {
    /// The step whose `(combined, output, loss)` come from [`Step::evaluate`] and whose
    /// gradients are summed in `total` (engines that combine by hand: stored, streaming).
    fn from_buffer(
        (combined, output, loss): (f64, f64, f64),
        poses: Vec<f64>,
        total: grads::GradBuffer,
        names: Vec<String>,
        engine: EngineKind,
    ) -> Result<Self> {
        Ok(Self {
            loss,
            combined,
            output,
            poses,
            grads: total.into_gradients(names)?,
            engine,
        })
    }
}

/// What one compound of an optimiser batch gives (its gradient goes into the batch's).
#[derive(Debug, Clone, PartialEq)]
pub struct CompoundStep {
    /// Loss L.
    pub loss: f64,
    /// Combined prediction ŷ.
    pub combined: f64,
    /// Read-out value z = r(ŷ).
    pub output: f64,
    /// Per-pose predictions ŷᵢ.
    pub poses: Vec<f64>,
    /// The engine that ran (`full` for a packed compound).
    pub engine: EngineKind,
    /// Whether the compound shared its chunk with other compounds.
    pub packed: bool,
}

/// What one optimiser batch gives.
#[derive(Debug, Clone)]
pub struct BatchStep {
    /// Per compound, in the order given.
    pub compounds: Vec<CompoundStep>,
    /// The mean of the compounds' ∂L/∂θ.
    pub grads: Gradients,
}

/// Forward and backward of an optimiser batch: the mean gradient over its compounds.
/// Compounds that fit one chunk together are packed into it (see `packed.rs`); the others
/// run alone through [`train_step`]. The result does not depend on the packing.
pub fn train_batch(
    model: &GroupedModel,
    params: &Params,
    items: &[(&CompoundGraphs, &Objective)],
    engine: &EngineConfig,
) -> Result<BatchStep> {
    let weight = 1.0 / items.len().max(1) as f64;
    let (names, keys) = param_keys(params);
    let mut total = grads::GradBuffer::new(keys);
    let mut steps: Vec<Option<CompoundStep>> = vec![None; items.len()];
    for group in batch_groups(model, items, engine)? {
        if let [k] = group[..]
            && !runs_whole(model, items[k].0, engine)
        {
            let (compound, objective) = items[k];
            let r = train_step(model, params, compound, objective, engine)?;
            total.add_gradients(&r.grads, weight)?;
            steps[k] = Some(CompoundStep {
                loss: r.loss,
                combined: r.combined,
                output: r.output,
                poses: r.poses,
                engine: r.engine,
                packed: false,
            });
            continue;
        }
        let members: Vec<_> = group.iter().map(|&k| items[k]).collect();
        let (results, store) = packed::run(model, &members, weight)?;
        total.add(&store, 1.0)?;
        for (&k, mut r) in group.iter().zip(results) {
            r.packed = group.len() > 1;
            steps[k] = Some(r);
        }
    }
    Ok(BatchStep {
        compounds: steps.into_iter().flatten().collect(),
        grads: total.into_gradients(names)?,
    })
}

/// Whether `auto` runs a compound whole (see [`auto_whole`]): in a batch the packed path then
/// adds its gradient store to the batch's directly (the weight folded into the loss)
/// instead of through a per-compound buffer, one scaled copy less per parameter.
fn runs_whole(model: &GroupedModel, compound: &CompoundGraphs, engine: &EngineConfig) -> bool {
    engine.kind == EngineKind::Auto
        && auto_whole(engine.chunk.chunks(&model.config().model, compound).len())
}

/// Groups of batch members that share a chunk (single members run alone).
fn batch_groups(
    model: &GroupedModel,
    items: &[(&CompoundGraphs, &Objective)],
    engine: &EngineConfig,
) -> Result<Vec<Vec<usize>>> {
    if let Some((c, _)) = items.iter().find(|(c, _)| c.num_poses() == 0) {
        return Err(Error::NoPoses {
            name: c.name.clone(),
        });
    }
    // A packed group bypasses the chosen engine: refuse what that engine would refuse, so
    // that a batch fails or runs the same whether or not it packs.
    if engine.kind == EngineKind::Streaming {
        for (_, objective) in items {
            streaming::supports(model, objective)?;
        }
    }
    if !engine.pack || engine.kind == EngineKind::Stored {
        return Ok((0..items.len()).map(|k| vec![k]).collect());
    }
    let compounds: Vec<&CompoundGraphs> = items.iter().map(|(c, _)| *c).collect();
    Ok(engine.chunk.groups(&model.config().model, &compounds))
}

/// Runs forward and backward of one compound with the configured engine.
pub fn train_step(
    model: &GroupedModel,
    params: &Params,
    compound: &CompoundGraphs,
    objective: &Objective,
    engine: &EngineConfig,
) -> Result<StepResult> {
    if compound.num_poses() == 0 {
        return Err(Error::NoPoses {
            name: compound.name.clone(),
        });
    }
    let chunks = engine.chunk.chunks(&model.config().model, compound);
    if engine.kind == EngineKind::Auto && auto_whole(chunks.len()) {
        return whole(model, params, compound, objective);
    }
    let kind = resolve(engine.kind, model, objective);
    let ctx = Step {
        model,
        params,
        compound,
        objective,
        chunks,
    };
    let mut result = match kind {
        EngineKind::Full => full::run(&ctx)?,
        EngineKind::Stored => stored::run(&ctx)?,
        EngineKind::Streaming => {
            streaming::supports(model, objective)?;
            streaming::run(&ctx)?
        }
        _ => recompute::run(&ctx)?,
    };
    result.engine = kind;
    Ok(result)
}

/// The engine `auto` stands for when the compound does not fit one chunk (see
/// [`auto_whole`]): streaming where it applies, else recompute.
fn resolve(kind: EngineKind, model: &GroupedModel, objective: &Objective) -> EngineKind {
    match kind {
        EngineKind::Auto if streaming::supports(model, objective).is_ok() => EngineKind::Streaming,
        EngineKind::Auto => EngineKind::Recompute,
        k => k,
    }
}

/// Whether `auto` runs a compound of this many chunks whole: as a packed group of one,
/// one forward with each distinct protein once and one backward, the same memory as any
/// engine's chunk and no per-chunk gradient buffers.
fn auto_whole(chunks: usize) -> bool {
    chunks <= 1
}

/// A compound that fits one chunk, through the packed path as a group of one.
fn whole(
    model: &GroupedModel,
    params: &Params,
    compound: &CompoundGraphs,
    objective: &Objective,
) -> Result<StepResult> {
    let (mut steps, store) = packed::run(model, &[(compound, objective)], 1.0)?;
    let (names, keys) = param_keys(params);
    let mut buffer = grads::GradBuffer::new(keys);
    buffer.add(&store, 1.0)?;
    let step = steps.pop().ok_or(Error::NoPoses {
        name: compound.name.clone(),
    })?;
    Ok(StepResult {
        loss: step.loss,
        combined: step.combined,
        output: step.output,
        poses: step.poses,
        grads: buffer.into_gradients(names)?,
        engine: EngineKind::Full,
    })
}

/// Inputs shared by the engines.
struct Step<'a> {
    model: &'a GroupedModel,
    params: &'a Params,
    compound: &'a CompoundGraphs,
    objective: &'a Objective,
    chunks: Vec<Vec<usize>>,
}

impl Step<'_> {
    /// Parameter names and their tensors, the keys of every gradient buffer.
    fn keys(&self) -> (Vec<String>, Vec<Tensor>) {
        param_keys(self.params)
    }

    /// ∂/∂ŷᵢ of the per-pose loss terms alone (for terms that touch one pose each).
    fn pose_seeds(&self, preds: &[f64]) -> Result<Vec<f64>> {
        let y = Var::from_tensor(&self.preds_tensor(preds)?)?;
        let grads = self.objective.poses(y.as_tensor())?.backward()?;
        match grads.get(y.as_tensor()) {
            Some(g) => to_f64(g),
            None => Ok(vec![0.0; preds.len()]),
        }
    }

    /// Backpropagates the protein representations once with their accumulated seed
    /// (the buffer slot after the `params` parameter slots) and adds the result.
    fn backprop_protein(
        &self,
        total: &mut grads::GradBuffer,
        protein: Option<&Tensor>,
        params: usize,
    ) -> Result<()> {
        let (Some(rep), Some(seed)) = (protein, total.get(params).cloned()) else {
            return Ok(());
        };
        let store = (rep * seed)?.sum_all()?.backward()?;
        total.add(&store, 1.0)
    }

    fn dtype(&self) -> DType {
        self.params.dtype()
    }

    /// Per-pose predictions as a tensor in the model dtype.
    fn preds_tensor(&self, preds: &[f64]) -> Result<Tensor> {
        Ok(Tensor::new(preds, self.params.device())?.to_dtype(self.dtype())?)
    }

    /// Evaluates (ŷ, z, L) on plain numbers, without a graph.
    fn evaluate(&self, preds: &[f64]) -> Result<(f64, f64, f64)> {
        let p = self.preds_tensor(preds)?;
        let combined = self.model.combination.forward(&p, None)?.detach();
        let z = self.model.readout().forward(&combined)?;
        let loss = self.objective.total(&z, &p)?;
        Ok((scalar(&combined)?, scalar(&z)?, scalar(&loss)?))
    }

    /// ∂L/∂ŷ through readout and main loss, and the direct ∂L/∂ŷᵢ of the pose terms.
    fn outer_seeds(&self, preds: &[f64], combined: f64) -> Result<(f64, Vec<f64>)> {
        let y = Var::from_tensor(&self.preds_tensor(preds)?)?;
        let c = Var::from_tensor(&self.preds_tensor(&[combined])?)?;
        let z = self.model.readout().forward(c.as_tensor())?;
        let loss = self.objective.total(&z, y.as_tensor())?;
        let grads = loss.backward()?;
        let dc = grads
            .get(c.as_tensor())
            .map(scalar)
            .transpose()?
            .unwrap_or(0.0);
        let dy = match grads.get(y.as_tensor()) {
            Some(t) => to_f64(t)?,
            None => vec![0.0; preds.len()],
        };
        Ok((dc, dy))
    }
}

/// Parameter names and their tensors, the keys of every gradient buffer.
fn param_keys(params: &Params) -> (Vec<String>, Vec<Tensor>) {
    params
        .named()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .unzip()
}

/// First element of a tensor as f64.
fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0])
}

/// A vector tensor as f64s.
fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?)
}
