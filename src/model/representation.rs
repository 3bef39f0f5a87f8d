//! The representation seam: the network that turns one structure's graph into a vector.
//!
//! Everything outside `model/<network>/` asks these two enums, never a network's own
//! type: the graph it needs, its output width, its activation size for the chunk policy,
//! and the buffers (non-trainable tensors) its weight files carry. A new network is a
//! folder under `src/model/` plus one arm in each enum (see `docs/architecture.md`).

use super::schnet::{EMBEDDING_ROWS, GaussianSmearing, SchNet};
use super::visnet::{ViSNet, ViSNetConfig};
use super::{Params, SchNetConfig};
use crate::error::{Error, Result};
use crate::graph::{GraphBatch, GraphConfig};
use crate::structure::Structure;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

/// Which network, with its hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RepresentationConfig {
    /// SchNet as torch_geometric implements it (mtenn's default).
    SchNet(SchNetConfig),
    /// ViSNet as torch_geometric implements it, under mtenn's wrapper.
    ViSNet(ViSNetConfig),
}

impl Default for RepresentationConfig {
    fn default() -> Self {
        Self::SchNet(SchNetConfig::default())
    }
}

/// Bytes of activations a network keeps for backward, per edge and per atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationBytes {
    /// Per directed edge.
    pub per_edge: u64,
    /// Per atom.
    pub per_atom: u64,
    /// Whether a chunk computes the protein–protein part of every pose's complex graph
    /// once (SchNet: its edge lengths are deduplicated), or every pose's whole complex
    /// graph (ViSNet: every edge carries its own vectors).
    pub shares_protein_edges: bool,
}

impl RepresentationConfig {
    /// The radius graph the network reads.
    pub fn graph(&self) -> GraphConfig {
        match self {
            Self::SchNet(s) => s.graph(),
            Self::ViSNet(v) => v.graph(),
        }
    }

    /// Whether the network reads positions and edges ([`crate::graph::Geometry`]).
    pub fn reads_geometry(&self) -> bool {
        matches!(self, Self::ViSNet(_))
    }

    /// Width of one structure's vector.
    pub fn output_width(&self) -> usize {
        match self {
            Self::SchNet(s) => s.rep_dim(),
            // mtenn's wrapper ends in one scalar per structure.
            Self::ViSNet(_) => 1,
        }
    }

    /// Whether mtenn's strategies put a learned linear layer on this network's output
    /// (SchNet's `lin2`); ViSNet's energy function is its own sum plus mean.
    pub fn has_linear_head(&self) -> bool {
        matches!(self, Self::SchNet(_))
    }

    /// Rejects hyper-parameters the network cannot be built with.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::SchNet(s) => s.validate(),
            Self::ViSNet(v) => v.validate(),
        }
    }

    /// The network's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SchNet(_) => "SchNet",
            Self::ViSNet(_) => "ViSNet",
        }
    }

    /// Largest atomic number the network embeds.
    pub fn max_atomic_number(&self) -> u32 {
        match self {
            Self::SchNet(_) => EMBEDDING_ROWS as u32 - 1,
            Self::ViSNet(v) => v.max_z as u32 - 1,
        }
    }

    /// An error naming the first atom of `poses` whose element the network cannot embed.
    pub fn check_elements(&self, compound: &str, poses: &[Structure]) -> Result<()> {
        let max = self.max_atomic_number();
        for (pose, s) in poses.iter().enumerate() {
            if let Some(&z) = s.z().iter().find(|&&z| z > max) {
                return Err(Error::UnsupportedElement {
                    compound: compound.to_string(),
                    pose,
                    z,
                    network: self.name(),
                    max,
                });
            }
        }
        Ok(())
    }

    /// Rough activation size in f32, for the chunk policy.
    ///
    /// SchNet: per interaction about six `[lengths, F]` filter tensors for half the edges
    /// (i→j and j→i share a length) and ten `[atoms, H]` tensors.
    pub fn activation_bytes(&self) -> ActivationBytes {
        match self {
            Self::SchNet(s) => ActivationBytes {
                per_edge: 4 * (s.num_gaussians + 6 * s.num_filters * s.num_interactions) as u64 / 2,
                per_atom: 4 * (10 * s.hidden_channels * s.num_interactions) as u64,
                shares_protein_edges: true,
            },
            // ViSNet: per layer some thirty-two `[edges, H]`-sized tensors per harmonic
            // component plus one (every edge, loops included; candle's autograd keeps each
            // op's output), and a dozen `[atoms, C, H]` ones. 32 from an H100 run of
            // mtenn's size (H = 128, six layers, lmax 1): 61 GB peak for 10 poses of a
            // 600-atom complex (14.1k edges each); a TYK2 run on the CPU gave 24.
            Self::ViSNet(v) => {
                let c = 1 + v.harmonics();
                ActivationBytes {
                    per_edge: 4 * (v.num_rbf + 32 * c * v.hidden_channels * v.num_layers) as u64,
                    per_atom: 4 * (12 * c * v.hidden_channels * v.num_layers) as u64,
                    shares_protein_edges: false,
                }
            }
        }
    }

    /// The network's buffers as a weight file stores them (in `params`' dtype).
    pub fn buffers(&self, params: &Params) -> Result<Vec<(String, Tensor)>> {
        match self {
            Self::SchNet(s) => {
                let offsets = match params.buffer(SCHNET_OFFSETS) {
                    Some(o) => o.to_vec(),
                    None => GaussianSmearing::new(s.cutoff, s.num_gaussians)
                        .offsets()
                        .to_vec(),
                };
                let n = offsets.len();
                let t = Tensor::from_vec(offsets, n, &candle_core::Device::Cpu)?;
                Ok(vec![(
                    SCHNET_OFFSETS.to_string(),
                    t.to_dtype(params.dtype())?,
                )])
            }
            Self::ViSNet(v) => v
                .buffers()
                .into_iter()
                .map(|b| Ok((b.name.clone(), b.tensor(params, &candle_core::Device::Cpu)?)))
                .collect(),
        }
    }

    /// Takes the buffer `name` from a weight file into `params`; `false` when the network
    /// has no buffer of that name (the caller reports it as unexpected).
    pub fn read_buffer(&self, name: &str, tensor: &Tensor, params: &mut Params) -> Result<bool> {
        match self {
            Self::SchNet(s) if name == SCHNET_OFFSETS => {
                let g = s.num_gaussians;
                if tensor.dims() != [g] {
                    return Err(Error::ShapeMismatch {
                        name: name.into(),
                        expected: vec![g],
                        found: tensor.dims().to_vec(),
                    });
                }
                let values = tensor.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                check_offsets(name, &values, s.cutoff)?;
                params.set_buffer(name, values);
                Ok(true)
            }
            Self::SchNet(_) => Ok(false),
            Self::ViSNet(v) => {
                let Some(b) = v.buffers().into_iter().find(|b| b.name == name) else {
                    return Ok(false);
                };
                if tensor.dims() != b.dims.as_slice() {
                    return Err(Error::ShapeMismatch {
                        name: name.into(),
                        expected: b.dims,
                        found: tensor.dims().to_vec(),
                    });
                }
                let values = tensor
                    .to_dtype(DType::F64)?
                    .flatten_all()?
                    .to_vec1::<f64>()?;
                params.set_buffer(name, values);
                Ok(true)
            }
        }
    }
}

/// Name of SchNet's Gaussian-centre buffer (PyG's `distance_expansion.offset`).
pub const SCHNET_OFFSETS: &str = "representation.distance_expansion.offset";

/// A built network.
#[derive(Debug, Clone)]
pub enum Representation {
    /// SchNet.
    SchNet(SchNet),
    /// ViSNet.
    ViSNet(Box<ViSNet>),
}

impl Representation {
    /// Builds the network under `vb` (`representation.*`), its buffers from `params`;
    /// `with_head` keeps the network's own last layer (a scalar per structure).
    pub fn new(
        config: &RepresentationConfig,
        params: &Params,
        with_head: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        config.validate()?;
        match config {
            RepresentationConfig::SchNet(s) => {
                let expansion = schnet_expansion(s, params);
                Ok(Self::SchNet(SchNet::new(s, expansion, with_head, vb)?))
            }
            RepresentationConfig::ViSNet(v) => {
                Ok(Self::ViSNet(Box::new(ViSNet::new(v, params, vb)?)))
            }
        }
    }

    /// Takes the buffers `params` holds now (after weights were loaded into it), so a
    /// built model computes with the loaded values without being built again.
    pub fn refresh_buffers(
        &mut self,
        config: &RepresentationConfig,
        params: &Params,
    ) -> Result<()> {
        match (self, config) {
            (Self::SchNet(net), RepresentationConfig::SchNet(s)) => {
                net.set_expansion(schnet_expansion(s, params));
                Ok(())
            }
            (Self::ViSNet(net), RepresentationConfig::ViSNet(_)) => net.refresh_buffers(params),
            _ => Err(Error::InvalidConfig(
                "buffers of one network given to another".into(),
            )),
        }
    }

    /// Per-graph vectors `[graphs, output_width]` (or `[graphs, 1]` with the head).
    pub fn forward(&self, batch: &GraphBatch) -> Result<Tensor> {
        match self {
            Self::SchNet(net) => net.forward(batch),
            Self::ViSNet(net) => net.forward(batch),
        }
    }

    /// Turns activation checkpointing on or off (same values and gradients, less memory).
    pub fn set_checkpointing(&mut self, on: bool) {
        match self {
            Self::SchNet(net) => net.set_checkpointing(on),
            // ViSNet keeps its activations (no checkpointed path yet).
            Self::ViSNet(_) => {}
        }
    }
}

/// SchNet's Gaussian centres: the loaded buffer, or PyG's linspace rounded to the
/// parameter dtype as the saved buffer will be (so a model reloaded from its own weights
/// computes what it computed before).
fn schnet_expansion(s: &SchNetConfig, params: &Params) -> GaussianSmearing {
    match params.buffer(SCHNET_OFFSETS) {
        Some(o) => GaussianSmearing::from_offsets(o.to_vec()),
        None => {
            let fresh = GaussianSmearing::new(s.cutoff, s.num_gaussians);
            let rounded = match params.dtype() {
                DType::F32 => fresh.offsets().iter().map(|&o| o as f32 as f64).collect(),
                _ => fresh.offsets().to_vec(),
            };
            GaussianSmearing::from_offsets(rounded)
        }
    }
}

/// PyG's centres run from 0 to the cutoff the network was trained with: a file whose last
/// centre is not the configured cutoff belongs to another configuration (its filters
/// were learned for other distances, and the cosine envelope would cut elsewhere).
fn check_offsets(name: &str, offsets: &[f64], cutoff: f64) -> Result<()> {
    let last = offsets.last().copied().unwrap_or(0.0);
    // f32 files round the centres; 1e-4 relative is far above that and far below any
    // real difference of cutoff.
    if (last - cutoff).abs() > 1e-4 * cutoff.abs().max(1.0) {
        return Err(Error::InvalidConfig(format!(
            "weights: `{name}` ends at {last} Å, the cutoff the model was trained with, but \
             the configured cutoff is {cutoff} Å (set model.cutoff = {last})"
        )));
    }
    Ok(())
}
