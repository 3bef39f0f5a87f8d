//! The compute device from a user's `--device` value, and GPU memory accounting.

use crate::error::{Error, Result};
use candle_core::Device;

/// What a device value names, before any device is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// The CPU.
    Cpu,
    /// A GPU by ordinal; `None` for a bare `cuda` (GPU 0 alone, a worker's own GPU in a
    /// data-parallel run).
    Gpu(Option<usize>),
}

/// Reads `cpu`, `cuda` (or `gpu`) or `cuda:N`.
pub fn spec(value: &str) -> Result<Spec> {
    match value.trim() {
        "cpu" => Ok(Spec::Cpu),
        "cuda" | "gpu" => Ok(Spec::Gpu(None)),
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Spec::Gpu(Some(n))),
            _ => Err(Error::Device {
                spec: value.to_string(),
                reason: "expected cpu, cuda or cuda:N".into(),
            }),
        },
    }
}

/// `cpu`, `cuda` or `cuda:N` → a device; CUDA needs a build with the `cuda` feature.
pub fn parse(value: &str) -> Result<Device> {
    let err = |reason: String| Error::Device {
        spec: value.to_string(),
        reason,
    };
    let ordinal = match spec(value)? {
        Spec::Cpu => return Ok(Device::Cpu),
        Spec::Gpu(n) => n.unwrap_or(0),
    };
    if !cfg!(feature = "cuda") {
        return Err(err(
            "this multipose was built without CUDA; build it with tools/cuda/build.sh".into(),
        ));
    }
    Device::new_cuda(ordinal).map_err(|e| err(e.to_string()))
}

/// Peak GPU memory in use since the last [`reset_gpu_peak`], in MiB: the high-water mark of
/// the device's default memory pool, which serves all of candle's allocations (like
/// PyTorch's `max_memory_allocated`, it excludes the CUDA context and cuBLAS workspace).
/// `None` on CPU.
pub fn gpu_peak_mib(device: &Device) -> Option<f64> {
    pool_attribute(device, false).map(|b| b as f64 / (1u64 << 20) as f64)
}

/// Starts a new peak for [`gpu_peak_mib`].
pub fn reset_gpu_peak(device: &Device) {
    pool_attribute(device, true);
}

/// Free and total memory of a GPU in bytes (the driver's view: memory that candle's pool
/// holds but does not use counts as used). `None` on CPU or when the driver cannot say.
pub fn gpu_memory(device: &Device) -> Option<(u64, u64)> {
    mem_info(device)
}

#[cfg(feature = "cuda")]
fn mem_info(device: &Device) -> Option<(u64, u64)> {
    let Device::Cuda(dev) = device else {
        return None;
    };
    let (free, total) = dev.cuda_stream().context().mem_get_info().ok()?;
    Some((free as u64, total as u64))
}

#[cfg(not(feature = "cuda"))]
fn mem_info(_device: &Device) -> Option<(u64, u64)> {
    None
}

#[cfg(feature = "cuda")]
fn pool_attribute(device: &Device, reset: bool) -> Option<u64> {
    use candle_core::cuda_backend::cudarc::driver::sys;
    let Device::Cuda(dev) = device else {
        return None;
    };
    let ordinal = dev.cuda_stream().context().ordinal();
    let mut value: u64 = 0;
    // SAFETY: plain driver queries on an initialised context; `value` outlives the calls.
    unsafe {
        let mut cu_dev: sys::CUdevice = 0;
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        if sys::cuDeviceGet(&mut cu_dev, ordinal as i32) != sys::CUresult::CUDA_SUCCESS
            || sys::cuDeviceGetDefaultMemPool(&mut pool, cu_dev) != sys::CUresult::CUDA_SUCCESS
        {
            return None;
        }
        let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH;
        let ptr = (&mut value as *mut u64).cast();
        let status = if reset {
            sys::cuMemPoolSetAttribute(pool, attr, ptr)
        } else {
            sys::cuMemPoolGetAttribute(pool, attr, ptr)
        };
        (status == sys::CUresult::CUDA_SUCCESS).then_some(value)
    }
}

#[cfg(not(feature = "cuda"))]
fn pool_attribute(_device: &Device, _reset: bool) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_nonsense() {
        assert!(parse("cpu").unwrap().is_cpu());
        let e = parse("tpu").unwrap_err().to_string();
        assert!(e.contains("expected cpu, cuda or cuda:N"), "{e}");
        if !cfg!(feature = "cuda") {
            let e = parse("cuda:0").unwrap_err().to_string();
            assert!(e.contains("tools/cuda/build.sh"), "{e}");
        }
    }
}
