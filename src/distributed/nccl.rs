//! The collective between GPUs: NCCL (through cudarc), on candle's own CUDA stream so a
//! sum is ordered after the kernels that produced its input.

use super::rendezvous::Links;
use crate::error::{Error, Result};
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::CudaDType;
use candle_core::cuda_backend::cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use candle_core::cuda_backend::cudarc::nccl::{Comm, Id, NcclType, ReduceOp};
use candle_core::{CpuStorage, CudaStorage, CustomOp1, Device, Layout, Shape, Tensor};

/// A NCCL communicator over this process's GPU.
pub struct NcclGroup {
    comm: Comm,
    device: Device,
}

fn nccl_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Distributed(format!("NCCL {what}: {e:?}"))
}

impl NcclGroup {
    /// Creates the communicator: rank 0 makes NCCL's unique id and the rendezvous hands
    /// it to the others.
    pub(super) fn join(links: &mut Links, device: &Device) -> Result<Self> {
        let cuda = device.as_cuda_device()?;
        let stream = cuda.cuda_stream();
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| nccl_error("binding the device", e))?;
        let id = if links.world.rank == 0 {
            Id::new().map_err(|e| nccl_error("unique id", e))?
        } else {
            Id::uninit([0; 128])
        };
        let bytes: Vec<u8> = id.internal().iter().map(|&c| c as u8).collect();
        let shared = links.broadcast(&bytes)?;
        let internal: [std::ffi::c_char; 128] = shared
            .iter()
            .map(|&b| b as std::ffi::c_char)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| Error::Distributed("rank 0 sent a malformed NCCL id".into()))?;
        let comm = Comm::from_rank(
            stream,
            links.world.rank,
            links.world.size,
            Id::uninit(internal),
        )
        .map_err(|e| nccl_error("initialising the communicator", e))?;
        Ok(Self {
            comm,
            device: device.clone(),
        })
    }

    /// The sum over the ranks of a GPU tensor (f32 or f64).
    pub(super) fn all_reduce_tensor(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.contiguous()?.apply_op1_no_bwd(&AllReduce(&self.comm))?)
    }

    /// The sum over the ranks of host numbers, through the GPU.
    pub(super) fn all_reduce_host(&self, data: &mut [f64]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let t = Tensor::from_slice(data, data.len(), &self.device)?;
        let sum = self.all_reduce_tensor(&t)?.to_vec1::<f64>()?;
        data.copy_from_slice(&sum);
        Ok(())
    }
}

/// NCCL's all-reduce as a candle op: a new tensor holding the sum.
struct AllReduce<'a>(&'a Comm);

impl AllReduce<'_> {
    fn run<T: CudaDType + NcclType + DeviceRepr + ValidAsZeroBits>(
        &self,
        s: &CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let (start, end) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("all-reduce of a strided tensor".into()))?;
        let src = s.as_cuda_slice::<T>()?.slice(start..end);
        let mut dst = s.device.alloc_zeros::<T>(end - start)?;
        self.0
            .all_reduce(&src, &mut dst, &ReduceOp::Sum)
            .map_err(|e| candle_core::Error::Cuda(format!("NCCL all-reduce: {e:?}").into()))?;
        Ok((
            CudaStorage::wrap_cuda_slice(dst, s.device().clone()),
            l.shape().clone(),
        ))
    }
}

impl CustomOp1 for AllReduce<'_> {
    fn name(&self) -> &'static str {
        "nccl-all-reduce"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(candle_core::Error::Msg("NCCL sums GPU tensors only".into()))
    }

    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        match s.dtype() {
            candle_core::DType::F32 => self.run::<f32>(s, l),
            candle_core::DType::F64 => self.run::<f64>(s, l),
            d => Err(candle_core::Error::Msg(format!("NCCL all-reduce of {d:?}"))),
        }
    }
}
