//! GPU side of the fused ops: kernels from `kernels.cu`, compiled once per process with
//! NVRTC, and their launches on candle's CUDA stream.
//!
//! NVRTC rather than nvcc at build time: the binary already links libnvrtc (candle needs
//! it), the kernels are then compiled for the GPU actually present, and the build needs no
//! extra step beyond `tools/cuda/build.sh`. Compiling takes well under a second, once.

use super::host::dtype_error;
use crate::graph::GpuArrays;
use candle_core::cuda_backend::cudarc::driver::{CudaView, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::cudarc::nvrtc::compile_ptx;
use candle_core::cuda_backend::{CudaDType, CudaDevice, CudaStorageSlice, WrapErr};
use candle_core::{CudaStorage, Layout};
use std::sync::OnceLock;

const SOURCE: &str = include_str!("kernels.cu");
const MODULE: &str = "multipose_schnet";

fn ptx() -> candle_core::Result<&'static str> {
    static PTX: OnceLock<Result<String, String>> = OnceLock::new();
    PTX.get_or_init(|| {
        compile_ptx(SOURCE)
            .map(|p| p.to_src())
            .map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(|e| candle_core::Error::Cuda(format!("compiling multipose's kernels: {e}").into()))
}

fn launch_error(e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Cuda(format!("multipose kernel: {e}").into())
}

/// One block per (group, 32 columns), 8 thread rows splitting the group's items.
fn groups_config(groups: usize, f: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (groups as u32, (f as u32).div_ceil(32), 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches the grouped sums (see [`super::grouped_sum`]) over `gpu`'s index arrays:
/// `groups` output rows of width `f`, `b` multiplied in when the grouping has `ib`.
pub(super) fn grouped_sum(
    gpu: &GpuArrays,
    groups: usize,
    a: (&CudaStorage, &Layout),
    b: Option<(&CudaStorage, &Layout)>,
    f: usize,
) -> candle_core::Result<CudaStorage> {
    let dev = &a.0.device;
    let n = groups * f;
    // All four kernels share one signature; the sums never read `b` and `ib`.
    let (b, ib, product) = match (b, &gpu.ib) {
        (Some(b), Some(ib)) => (b, ib, true),
        _ => (a, &gpu.ia, false),
    };
    let f32_rows = matches!(a.0.slice, CudaStorageSlice::F32(_));
    let wide = f32_rows
        && f.is_multiple_of(4)
        && a.1.start_offset().is_multiple_of(4)
        && b.1.start_offset().is_multiple_of(4);
    let (name, cols) = match (f32_rows, wide, product) {
        (true, true, true) => ("grouped_product_f32x4", f / 4),
        (true, true, false) => ("grouped_sum_f32x4", f / 4),
        (true, false, true) => ("grouped_product_f32", f),
        (true, false, false) => ("grouped_sum_f32", f),
        (false, _, true) => ("grouped_product_f64", f),
        (false, _, false) => ("grouped_sum_f64", f),
    };
    let (groups32, cols32) = (groups as u32, cols as u32);
    macro_rules! run {
        ($ty:ty) => {{
            let (x, y) = (view::<$ty>(a)?, view::<$ty>(b)?);
            let out = dev.alloc_zeros::<$ty>(n.max(1))?;
            if n > 0 {
                let func = dev.get_or_load_custom_func(name, MODULE, ptx()?)?;
                let mut l = func.builder();
                l.arg(&x).arg(&y).arg(&gpu.start).arg(&gpu.ia).arg(ib);
                l.arg(&out).arg(&groups32).arg(&cols32);
                // SAFETY: the arguments match the kernels' common signature; every index
                // is < the rows of its input (they come from the same batch), and the
                // x4 kernels get 16-byte-aligned rows of `cols` float4s.
                unsafe { l.launch(groups_config(groups, cols)) }.w()?;
            }
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    if f32_rows {
        Ok(run!(f32))
    } else {
        Ok(run!(f64))
    }
}

/// An elementwise kernel (`ssp` or `sigmoid`) over a contiguous f32/f64 tensor.
pub(crate) fn unary(kernel: &str, s: &CudaStorage, l: &Layout) -> candle_core::Result<CudaStorage> {
    let dev: &CudaDevice = &s.device;
    let n = l.shape().elem_count();
    if l.contiguous_offsets().is_none() {
        return Err(launch_error(format!("{kernel} needs a contiguous input")));
    }
    let cfg = LaunchConfig {
        grid_dim: ((n as u32).div_ceil(256).clamp(1, 65_535), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    macro_rules! run {
        ($ty:ty, $x:expr, $suffix:literal) => {{
            let x = $x.slice(l.start_offset()..);
            let out = dev.alloc_zeros::<$ty>(n.max(1))?;
            let func =
                dev.get_or_load_custom_func(&format!("{kernel}{}", $suffix), MODULE, ptx()?)?;
            let mut b = func.builder();
            b.arg(&x).arg(&out).arg(&n);
            // SAFETY: (x, y, n) is the signature of every unary kernel; both hold n values.
            unsafe { b.launch(cfg) }.w()?;
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    Ok(match &s.slice {
        CudaStorageSlice::F32(x) => run!(f32, x, "_f32"),
        CudaStorageSlice::F64(x) => run!(f64, x, "_f64"),
        _ => return Err(dtype_error()),
    })
}

/// The storage's values from its layout's offset on.
fn view<'a, T: CudaDType>(s: (&'a CudaStorage, &Layout)) -> candle_core::Result<CudaView<'a, T>> {
    Ok(s.0.as_cuda_slice::<T>()?.slice(s.1.start_offset()..))
}

/// A linear-layer epilogue (`bias_ssp`, `bias_ssp_grad`, `bias_scale`): a `[rows, f]`, the
/// bias b `[f]` and a third input c (`[rows, f]` or `[rows]`, unused by `bias_ssp`).
pub(crate) fn epilogue(
    kernel: &str,
    a: (&CudaStorage, &Layout),
    b: (&CudaStorage, &Layout),
    c: (&CudaStorage, &Layout),
    f: usize,
) -> candle_core::Result<CudaStorage> {
    let dev: &CudaDevice = &a.0.device;
    let n = a.1.shape().elem_count();
    let cfg = LaunchConfig {
        grid_dim: ((n as u32).div_ceil(256).clamp(1, 65_535), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    macro_rules! run {
        ($ty:ty, $suffix:literal) => {{
            let (x, y, z) = (view::<$ty>(a)?, view::<$ty>(b)?, view::<$ty>(c)?);
            let out = dev.alloc_zeros::<$ty>(n.max(1))?;
            let func =
                dev.get_or_load_custom_func(&format!("{kernel}{}", $suffix), MODULE, ptx()?)?;
            let mut l = func.builder();
            let f = f as u32;
            l.arg(&x).arg(&y).arg(&z).arg(&out).arg(&n).arg(&f);
            // SAFETY: (a, b, c, y, n, f) is every epilogue's signature; a and y hold n
            // values, b holds f, c holds n or n / f (checked by the caller).
            unsafe { l.launch(cfg) }.w()?;
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    Ok(match &a.0.slice {
        CudaStorageSlice::F32(_) => run!(f32, "_f32"),
        CudaStorageSlice::F64(_) => run!(f64, "_f64"),
        _ => return Err(dtype_error()),
    })
}
