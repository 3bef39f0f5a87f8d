//! What one candle operation costs the host, apart from its arithmetic: a chain of tiny
//! element-wise ops (64 × 64 values, nothing for a GPU to do) forward and backward.
//! Run: `cargo run --release --example op_overhead [--features cuda] -- [cpu|cuda] [ops]`.
use candle_core::{DType, Device, Tensor, Var};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let device = match args.next().as_deref() {
        Some("cuda") => Device::new_cuda(0)?,
        _ => Device::Cpu,
    };
    let ops: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let x = Var::from_tensor(&Tensor::ones((64, 64), DType::F32, &device)?)?;
    for round in 0..3 {
        let t = Instant::now();
        let mut y = x.as_tensor().clone();
        for i in 0..ops {
            // Alternate a binary and a unary op, as a network's layers do.
            y = if i % 2 == 0 {
                (&y + x.as_tensor())?
            } else {
                (&y * 0.5)?
            };
        }
        let loss = y.sum_all()?;
        device.synchronize()?;
        let forward = t.elapsed().as_secs_f64() * 1e6 / ops as f64;
        let t = Instant::now();
        let grads = loss.backward()?;
        device.synchronize()?;
        let backward = t.elapsed().as_secs_f64() * 1e6 / ops as f64;
        let g = grads.get(x.as_tensor()).map(|g| g.dims().to_vec());
        println!(
            "round {round}: {ops} ops on {:?}: forward {forward:.1} µs/op, backward {backward:.1} µs/op (grad {g:?})",
            device.location()
        );
    }
    Ok(())
}
