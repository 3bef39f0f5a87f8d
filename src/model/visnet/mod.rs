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

/// A non-trainable tensor of the state dict: full name, shape, default values.
pub struct Buffer {
    /// Full state-dict name.
    pub name: String,
    /// Shape (empty for a scalar).
    pub dims: Vec<usize>,
    /// Values when no weight file gives them.
    pub default: Vec<f64>,
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
            out.push(b(
                format!("{BLOCK}.distance_expansion.means"),
                vec![k],
                means,
            ));
            out.push(b(
                format!("{BLOCK}.distance_expansion.betas"),
                vec![k],
                betas,
            ));
        }
        if !self.trainable_vecnorm {
            for i in 0..self.num_layers {
                let name = format!("{BLOCK}.vis_mp_layers.{i}.vec_layernorm.weight");
                out.push(b(name, vec![h], vec![1.0; h]));
            }
            out.push(b(
                format!("{BLOCK}.vec_out_norm.weight"),
                vec![h],
                vec![1.0; h],
            ));
        }
        let z = self.max_z;
        out.push(b(
            "representation.visnet.prior_model.initial_atomref".into(),
            vec![z, 1],
            vec![0.0; z],
        ));
        out.push(b("representation.visnet.mean".into(), vec![], vec![0.0]));
        out.push(b("representation.visnet.std".into(), vec![], vec![1.0]));
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

/// A buffer's values from `params` (loaded weights) or its default, as a tensor.
fn buffer_tensor(params: &Params, buffer: &Buffer, device: &Device) -> Result<Tensor> {
    let values = params
        .buffer(&buffer.name)
        .unwrap_or(&buffer.default)
        .to_vec();
    let t = Tensor::from_vec(values, buffer.dims.as_slice(), device)?;
    Ok(t.to_dtype(params.dtype())?)
}

/// A learned vector that starts at `start` (torch_geometric's initial radial bases), as
/// no hint can say: declared for the seeded initialisation, and set when the parameter
/// is created (left alone when it exists: loaded or trained).
fn learned_start(params: &Params, vb: &VarBuilder, name: &str, start: Vec<f64>) -> Result<Tensor> {
    let full = format!("{}.{name}", vb.prefix());
    let fresh = !params.named().iter().any(|(n, _)| *n == full);
    let n = start.len();
    let t = vb.get_with_hints(n, name, candle_nn::Init::Const(0.0))?;
    if fresh {
        params.set(&full, &Tensor::from_vec(start.clone(), n, &Device::Cpu)?)?;
        params.declare_start(&full, start);
    }
    Ok(t)
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
        let device = params.device().clone();
        let buffers = c.buffers();
        let find = |suffix: &str| -> Result<Tensor> {
            let b = buffers
                .iter()
                .find(|b| b.name.ends_with(suffix))
                .ok_or_else(|| Error::InvalidConfig(format!("ViSNet buffer {suffix} missing")))?;
            buffer_tensor(params, b, &device)
        };
        let block = vb.pp("visnet").pp("representation_model");
        let (means, betas) = if c.trainable_rbf {
            let vb = block.pp("distance_expansion");
            let (m0, b0) = rbf::initial_means_betas(c.cutoff, c.num_rbf);
            (
                learned_start(params, &vb, "means", m0)?,
                learned_start(params, &vb, "betas", b0)?,
            )
        } else {
            (
                find("distance_expansion.means")?,
                find("distance_expansion.betas")?,
            )
        };
        let vec_norm = |vb: VarBuilder, suffix: &str| -> Result<Tensor> {
            match c.trainable_vecnorm {
                true => Ok(vb.get_with_hints(h, "weight", candle_nn::Init::Const(1.0))?),
                false => find(suffix),
            }
        };
        let mut vec_norms = Vec::with_capacity(c.num_layers + 1);
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let vb = block.pp("vis_mp_layers").pp(i);
            let suffix = format!("vis_mp_layers.{i}.vec_layernorm.weight");
            vec_norms.push(vec_norm(vb.pp("vec_layernorm"), &suffix)?);
            layers.push(Layer::new(
                h,
                c.num_heads,
                c.vertex,
                i + 1 == c.num_layers,
                vb,
            )?);
        }
        vec_norms.push(vec_norm(block.pp("vec_out_norm"), "vec_out_norm.weight")?);
        // Kept so state dicts round-trip; mtenn's forward never reads the prior. It starts
        // as a copy of its buffer of zeros.
        let prior = vb.pp("visnet").pp("prior_model").pp("atomref");
        prior.get_with_hints((c.max_z, 1), "weight", candle_nn::Init::Const(0.0))?;
        let scalar = |suffix: &str| scalar_of(&find(suffix)?);
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
            vec_norms,
            out_norm: LayerNorm::new(h, block.pp("out_norm"))?,
            output: EquivariantScalar::new(h, vb.pp("visnet").pp("output_model"))?,
            mean: scalar("visnet.mean")?,
            std: scalar("visnet.std")?,
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
        let device = self.means.device().clone();
        for b in self.config.buffers() {
            let t = buffer_tensor(params, &b, &device)?;
            let suffix = b.name.rsplit_once("representation_model.").map(|(_, s)| s);
            match suffix {
                Some("distance_expansion.means") => self.means = t,
                Some("distance_expansion.betas") => self.betas = t,
                Some("vec_out_norm.weight") => self.vec_norms[self.config.num_layers] = t,
                Some(s) => {
                    let layer = s
                        .strip_prefix("vis_mp_layers.")
                        .and_then(|r| r.split('.').next())
                        .and_then(|i| i.parse::<usize>().ok());
                    if let Some(i) = layer {
                        self.vec_norms[i] = t;
                    }
                }
                None if b.name.ends_with("visnet.mean") => self.mean = scalar_of(&t)?,
                None if b.name.ends_with("visnet.std") => self.std = scalar_of(&t)?,
                None => {}
            }
        }
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
        init_params(&params, &model, 3).unwrap();
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
