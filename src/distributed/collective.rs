//! Sums across the workers: of gradients (tensors on the workers' devices) and of small
//! host vectors (losses, predictions, flags). Every rank receives the same bits, so
//! identical optimisers stay identical.

use super::env::{WorkerEnv, World};
use super::rendezvous::Links;
use super::tcp::TcpGroup;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use sha2::Digest;

/// How this process sums with the others.
pub enum Collective {
    /// One process: sums are the values themselves.
    Solo,
    /// CPU workers, over the rendezvous connections.
    Tcp(World, TcpGroup),
    /// GPU workers, over NCCL.
    #[cfg(feature = "cuda")]
    Nccl(World, super::nccl::NcclGroup),
}

impl std::fmt::Debug for Collective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let World { rank, size } = self.world();
        write!(f, "Collective(rank {rank} of {size})")
    }
}

/// Eight bytes that differ between different configurations: ranks must agree on it.
pub fn fingerprint(config_text: &str) -> [u8; 8] {
    let digest = sha2::Sha256::digest(config_text.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl Collective {
    /// Joins the workers of `env` (none: a single process): NCCL when `device` is a GPU,
    /// TCP on CPU. `config_text` must be the same on every rank.
    pub fn join(env: Option<&WorkerEnv>, device: &Device, config_text: &str) -> Result<Self> {
        let Some(env) = env.filter(|e| e.world.size > 1) else {
            return Ok(Self::Solo);
        };
        let mut links = Links::join(env, fingerprint(config_text), env.timeout)?;
        match device {
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => {
                let group = super::nccl::NcclGroup::join(&mut links, device)?;
                Ok(Self::Nccl(env.world, group))
            }
            _ => {
                // The unused broadcast keeps the protocol the same whatever the device.
                links.broadcast(&[])?;
                Ok(Self::Tcp(env.world, TcpGroup::new(links)))
            }
        }
    }

    /// This process's rank and the number of processes.
    pub fn world(&self) -> World {
        match self {
            Self::Solo => World::SOLO,
            Self::Tcp(w, _) => *w,
            #[cfg(feature = "cuda")]
            Self::Nccl(w, _) => *w,
        }
    }

    /// Replaces `data` on every rank by its sum over the ranks.
    pub fn all_reduce(&self, data: &mut [f64]) -> Result<()> {
        match self {
            Self::Solo => Ok(()),
            Self::Tcp(_, g) => g.all_reduce(data),
            #[cfg(feature = "cuda")]
            Self::Nccl(_, g) => g.all_reduce_host(data),
        }
    }

    /// The sums over the ranks of `tensors` (same shapes on every rank), as one flat
    /// message: one collective call per optimiser step.
    pub fn all_reduce_tensors(&self, tensors: &[Tensor]) -> Result<Vec<Tensor>> {
        if matches!(self, Self::Solo) || tensors.is_empty() {
            return Ok(tensors.to_vec());
        }
        let flat: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.flatten_all())
            .collect::<candle_core::Result<_>>()?;
        let flat = Tensor::cat(&flat, 0)?;
        let summed = match self {
            #[cfg(feature = "cuda")]
            Self::Nccl(_, g) => g.all_reduce_tensor(&flat)?,
            _ => {
                let mut host = flat.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                self.all_reduce(&mut host)?;
                Tensor::from_vec(host, flat.elem_count(), flat.device())?.to_dtype(flat.dtype())?
            }
        };
        let mut offset = 0;
        let mut out = Vec::with_capacity(tensors.len());
        for t in tensors {
            let n = t.elem_count();
            out.push(summed.narrow(0, offset, n)?.reshape(t.shape())?);
            offset += n;
        }
        Ok(out)
    }
}
