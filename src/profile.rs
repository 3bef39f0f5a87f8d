//! Opt-in split of a training step's wall time into phases (`multipose bench --profile`).
//!
//! When enabled, every span synchronises the device at its end so that GPU work is
//! charged to the phase that queued it; that costs a little time, so timings taken with
//! profiling on are for the split, not for the headline figure.

use candle_core::Device;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A part of the training step.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// Concatenating graphs and copying them to the device (host).
    Batch,
    /// Grouping edges for the fused message passing and copying the groups (host).
    Groupings,
    /// Forward passes, including the two phases above.
    Forward,
    /// Backward passes.
    Backward,
    /// Sums across the ranks of a data-parallel run, with waiting for slower ranks.
    Exchange,
    /// The optimiser's update.
    Optimizer,
}

const PHASES: [(Phase, &str); 6] = [
    (Phase::Batch, "batch (host)"),
    (Phase::Groupings, "groupings (host)"),
    (Phase::Forward, "forward (incl. host)"),
    (Phase::Backward, "backward"),
    (Phase::Exchange, "exchange"),
    (Phase::Optimizer, "optimizer"),
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Turns phase timing on or off for this process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether phase timing is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Zeroes the accumulated times.
pub fn reset() {
    for n in &NANOS {
        n.store(0, Ordering::Relaxed);
    }
}

/// Accumulated milliseconds per phase, in a fixed order.
pub fn totals() -> Vec<(&'static str, f64)> {
    PHASES
        .iter()
        .map(|&(p, name)| (name, NANOS[p as usize].load(Ordering::Relaxed) as f64 / 1e6))
        .collect()
}

/// Times `phase` until the returned guard drops (a no-op unless enabled).
pub fn span(phase: Phase, device: &Device) -> Span {
    Span {
        phase,
        start: ENABLED.load(Ordering::Relaxed).then(Instant::now),
        device: device.clone(),
    }
}

/// A running phase; see [`span`].
pub struct Span {
    phase: Phase,
    start: Option<Instant>,
    device: Device,
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            // A failed sync only blurs the split; the step itself reports real errors.
            let _ = self.device.synchronize();
            NANOS[self.phase as usize]
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }
}
