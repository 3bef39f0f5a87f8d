//! ViSNet as torch_geometric 2.8 implements it, under mtenn's wrapper
//! (`mtenn.conversion_utils.visnet`): the representation block, the output network's
//! per-atom scalars times `std`, summed (or averaged) per structure, plus `mean`.
//!
//! Read top to bottom: the network prepares its own geometry from positions
//! ([`geometry`]), embeds atoms and edges ([`embedding`]), runs its layers ([`layer`])
//! and reads out ([`output`]). Built from candle ops, so gradients come from autograd.

mod config;
mod embedding;
mod geometry;
mod layer;
mod output;
mod rbf;

pub use config::{Reduce, VecNorm, ViSNetConfig};

use crate::error::{Error, Result};
use crate::graph::GraphBatch;
use crate::model::ops::SegmentSum;
use crate::model::{LayerNorm, Params};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, Module, VarBuilder};
use embedding::{EdgeEmbedding, NeighborEmbedding};
use geometry::EdgeGeometry;
use layer::Layer;
use output::EquivariantScalar;

/// Where mtenn's wrapper keeps torch_geometric's model, under `representation.`.
const BLOCK: &str = "representation.visnet.representation_model";
/// The output scale and offset buffers (`x · std`, summed, `+ mean`).
const MEAN: &str = "representation.visnet.mean";
const STD: &str = "representation.visnet.std";

/// A radial basis buffer: `means` or `betas`.
fn basis_name(which: &str) -> String {
    format!("{BLOCK}.distance_expansion.{which}")
}

/// A vector norm's weight: layer `i`'s, or (`None`) the output's.
fn vec_norm_name(layer: Option<usize>) -> String {
    match layer {
        Some(i) => format!("{BLOCK}.vis_mp_layers.{i}.vec_layernorm.weight"),
        None => format!("{BLOCK}.vec_out_norm.weight"),
    }
}

/// A non-trainable tensor of the state dict: full name, shape, default values.
pub struct Buffer {
    /// Full state-dict name.
    pub name: String,
    /// Shape (empty for a scalar).
    pub dims: Vec<usize>,
    /// Values when no weight file gives them.
    pub default: Vec<f64>,
}

impl Buffer {
    /// Its values from `params` (loaded weights) or the default, in `params`' dtype.
    pub fn tensor(&self, params: &Params, device: &Device) -> Result<Tensor> {
        let values = params.buffer(&self.name).unwrap_or(&self.default).to_vec();
        let t = Tensor::from_vec(values, self.dims.as_slice(), device)?;
        Ok(t.to_dtype(params.dtype())?)
    }
}

impl ViSNetConfig {
    /// The buffers of the state dict (those trainable settings make parameters left out).
    pub fn buffers(&self) -> Vec<Buffer> {
        let b = |name: String, dims: Vec<usize>, default: Vec<f64>| Buffer {
            name,
            dims,
            default,
        };
        let (means, betas) = rbf::initial_means_betas(self.cutoff, self.num_rbf);
        let h = self.hidden_channels;
        let mut out = Vec::new();
        if !self.trainable_rbf {
            let k = self.num_rbf;
            out.push(b(basis_name("means"), vec![k], means));
            out.push(b(basis_name("betas"), vec![k], betas));
        }
        if !self.trainable_vecnorm {
            for layer in (0..self.num_layers).map(Some).chain([None]) {
                out.push(b(vec_norm_name(layer), vec![h], vec![1.0; h]));
            }
        }
        let z = self.max_z;
        out.push(b(
            "representation.visnet.prior_model.initial_atomref".into(),
            vec![z, 1],
            vec![0.0; z],
        ));
        out.push(b(MEAN.into(), vec![], vec![0.0]));
        out.push(b(STD.into(), vec![], vec![1.0]));
        out
    }
}

/// A built ViSNet.
#[derive(Debug, Clone)]
pub struct ViSNet {
    config: ViSNetConfig,
    embedding: Embedding,
    neighbor_embedding: NeighborEmbedding,
    edge_embedding: EdgeEmbedding,
    means: Tensor,
    betas: Tensor,
    layers: Vec<Layer>,
    /// Each layer's vector-norm weight, then the output's.
    vec_norms: Vec<Tensor>,
    out_norm: LayerNorm,
    output: EquivariantScalar,
    mean: f64,
    std: f64,
}

/// What the network reads from buffers (the tensors a weight file may replace): the radial
/// bases and vector-norm weights unless they are learned, and the output's mean and std.
struct Held {
    /// `means`, `betas`.
    bases: Option<(Tensor, Tensor)>,
    /// Each layer's vector-norm weight, then the output's.
    vec_norms: Option<Vec<Tensor>>,
    mean: f64,
    std: f64,
}

impl Held {
    fn read(c: &ViSNetConfig, params: &Params) -> Result<Self> {
        let buffers = c.buffers();
        let get = |name: &str| -> Result<Tensor> {
            buffers
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| Error::InvalidConfig(format!("ViSNet has no buffer {name}")))?
                .tensor(params, params.device())
        };
        let bases = match c.trainable_rbf {
            true => None,
            false => Some((get(&basis_name("means"))?, get(&basis_name("betas"))?)),
        };
        let vec_norms = match c.trainable_vecnorm {
            true => None,
            false => Some(
                (0..c.num_layers)
                    .map(Some)
                    .chain([None])
                    .map(|layer| get(&vec_norm_name(layer)))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Self {
            bases,
            vec_norms,
            mean: scalar_of(&get(MEAN)?)?,
            std: scalar_of(&get(STD)?)?,
        })
    }
}

/// A learned vector that starts at `start` (torch_geometric's initial radial bases), as
/// no hint can say: declared for the seeded initialisation.
fn learned_start(params: &Params, vb: &VarBuilder, name: &str, start: Vec<f64>) -> Result<Tensor> {
    params.declare_start(&format!("{}.{name}", vb.prefix()), start.clone());
    Ok(vb.get_with_hints(start.len(), name, candle_nn::Init::Const(0.0))?)
}

/// A linear layer as torch_geometric's ViSNet resets it: Xavier-uniform weight, zero bias.
fn linear(i: usize, o: usize, vb: VarBuilder) -> Result<candle_nn::Linear> {
    let bias = vb.get_with_hints(o, "bias", candle_nn::Init::Const(0.0))?;
    Ok(candle_nn::Linear::new(xavier(i, o, &vb)?, Some(bias)))
}

/// As [`linear`], without a bias.
fn linear_no_bias(i: usize, o: usize, vb: VarBuilder) -> Result<candle_nn::Linear> {
    Ok(candle_nn::Linear::new(xavier(i, o, &vb)?, None))
}

fn xavier(i: usize, o: usize, vb: &VarBuilder) -> Result<Tensor> {
    let bound = (6.0 / (i + o) as f64).sqrt();
    let init = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    Ok(vb.get_with_hints((o, i), "weight", init)?)
}

fn scalar_of(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl ViSNet {
    /// Builds the network under `vb` (`representation`), its buffers from `params`.
    pub fn new(config: &ViSNetConfig, params: &Params, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let h = c.hidden_channels;
        let held = Held::read(c, params)?;
        let block = vb.pp("visnet").pp("representation_model");
        let (means, betas) = match held.bases {
            Some(bases) => bases,
            None => {
                let vb = block.pp("distance_expansion");
                let (m0, b0) = rbf::initial_means_betas(c.cutoff, c.num_rbf);
                (
                    learned_start(params, &vb, "means", m0)?,
                    learned_start(params, &vb, "betas", b0)?,
                )
            }
        };
        let learned_norm = |vb: VarBuilder| -> Result<Tensor> {
            Ok(vb.get_with_hints(h, "weight", candle_nn::Init::Const(1.0))?)
        };
        let mut learned_norms = Vec::new();
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let vb = block.pp("vis_mp_layers").pp(i);
            if c.trainable_vecnorm {
                learned_norms.push(learned_norm(vb.pp("vec_layernorm"))?);
            }
            let last = i + 1 == c.num_layers;
            layers.push(Layer::new(h, c.num_heads, c.vertex, last, vb)?);
        }
        if c.trainable_vecnorm {
            learned_norms.push(learned_norm(block.pp("vec_out_norm"))?);
        }
        // Kept so state dicts round-trip; mtenn's forward never reads the prior. It starts
        // as a copy of its buffer of zeros.
        let prior = vb.pp("visnet").pp("prior_model").pp("atomref");
        prior.get_with_hints((c.max_z, 1), "weight", candle_nn::Init::Const(0.0))?;
        Ok(Self {
            embedding: candle_nn::embedding(c.max_z, h, block.pp("embedding"))?,
            neighbor_embedding: NeighborEmbedding::new(
                h,
                c.num_rbf,
                c.max_z,
                block.pp("neighbor_embedding"),
            )?,
            edge_embedding: EdgeEmbedding::new(c.num_rbf, h, block.pp("edge_embedding"))?,
            means,
            betas,
            layers,
            vec_norms: held.vec_norms.unwrap_or(learned_norms),
            out_norm: LayerNorm::new(h, block.pp("out_norm"))?,
            output: EquivariantScalar::new(h, vb.pp("visnet").pp("output_model"))?,
            mean: held.mean,
            std: held.std,
            config: c.clone(),
        })
    }

    /// Per-structure outputs `[graphs, 1]`: Σ (or mean) over atoms of std · out, plus mean.
    pub fn forward(&self, batch: &GraphBatch) -> Result<Tensor> {
        let c = &self.config;
        let g = EdgeGeometry::new(batch, c.lmax, c.cutoff)?;
        let dtype = self.means.dtype();
        let z = self.atomic_numbers(batch)?;
        let rbf = rbf::smearing(&g.r, &g.cutoff, &self.means, &self.betas, c.cutoff)?;
        let x = self.embedding.forward(&z)?;
        let mut x = self.neighbor_embedding.forward(&z, &x, &g, &rbf)?;
        let n = batch.num_atoms;
        let mut vec = Tensor::zeros((n, c.harmonics(), c.hidden_channels), dtype, x.device())?;
        let mut f = self.edge_embedding.forward(&x, &g, &rbf)?;
        for (layer, norm) in self.layers.iter().zip(&self.vec_norms) {
            let u = layer.forward(&x, &vec, &f, &g, norm)?;
            x = (x + u.dx)?;
            vec = (vec + u.dvec)?;
            if let Some(df) = u.df {
                f = (f + df)?;
            }
        }
        let x = self.out_norm.forward(&x)?;
        let vec = vec.broadcast_mul(&self.vec_norms[c.num_layers])?;
        let per_atom = (self.output.forward(&x, &vec)? * self.std)?;
        let pool = SegmentSum::new(batch.host.pool.clone(), &batch.segment)?;
        let pooled = pool.forward(&per_atom)?;
        let pooled = match c.reduce_op {
            Reduce::Add | Reduce::Sum => pooled,
            Reduce::Mean => {
                let counts = pool.forward(&Tensor::ones((n, 1), dtype, x.device())?)?;
                (pooled / counts.clamp(1.0, f64::INFINITY)?)?
            }
        };
        Ok((pooled + self.mean)?)
    }

    /// Atomic numbers `[N]` u32 from the batch's element table.
    fn atomic_numbers(&self, batch: &GraphBatch) -> Result<Tensor> {
        Ok(batch.elements.index_select(&batch.element_index, 0)?)
    }

    /// Takes the buffers `params` holds now (after loading weights); trainable ones are
    /// parameters and already current.
    pub fn refresh_buffers(&mut self, params: &Params) -> Result<()> {
        let held = Held::read(&self.config, params)?;
        if let Some((means, betas)) = held.bases {
            (self.means, self.betas) = (means, betas);
        }
        if let Some(norms) = held.vec_norms {
            self.vec_norms = norms;
        }
        (self.mean, self.std) = (held.mean, held.std);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, PoseModel, RepresentationConfig, StrategyKind, init_params};

    #[test]
    fn learned_radial_bases_start_where_torch_geometric_starts_them() {
        let v = ViSNetConfig {
            hidden_channels: 8,
            num_heads: 2,
            num_layers: 1,
            num_rbf: 6,
            trainable_rbf: true,
            ..Default::default()
        };
        let model = ModelConfig {
            representation: RepresentationConfig::ViSNet(v.clone()),
            strategy: StrategyKind::Complex,
            ..ModelConfig::default()
        };
        let params = Params::new(DType::F64, &Device::Cpu);
        PoseModel::new(&model, &params, true).unwrap();
        init_params(&params, 3).unwrap();
        // Built again over the same parameters (as after loading weights): untouched.
        PoseModel::new(&model, &params, true).unwrap();
        let (means, betas) = rbf::initial_means_betas(v.cutoff, v.num_rbf);
        let got = |n: &str| -> Vec<f64> {
            let (_, var) = params
                .named()
                .into_iter()
                .find(|(k, _)| k.ends_with(n))
                .unwrap();
            var.as_tensor().to_vec1::<f64>().unwrap()
        };
        assert_eq!(got("distance_expansion.means"), means);
        assert_eq!(got("distance_expansion.betas"), betas);
    }
}
