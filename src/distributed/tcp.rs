//! The collective between CPU processes: rank 0 adds every rank's numbers in rank order and
//! sends the sum back, so every rank gets the same bits. A star over the rendezvous
//! connections: what this carries (a model's gradient per optimiser step) is small next to
//! a step's compute on a CPU.

use super::rendezvous::{Links, read_frame, write_frame};
use crate::error::{Error, Result};
use std::sync::Mutex;

/// Sums over TCP (see the module documentation).
pub struct TcpGroup {
    links: Mutex<Links>,
}

impl TcpGroup {
    pub(super) fn new(links: Links) -> Self {
        Self {
            links: Mutex::new(links),
        }
    }

    /// Replaces `data` on every rank by its sum over the ranks.
    pub(super) fn all_reduce(&self, data: &mut [f64]) -> Result<()> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if links.world.rank != 0 {
            let (_, stream) = links
                .peers()
                .next()
                .ok_or_else(|| Error::Distributed("no connection to rank 0".into()))?;
            write_frame(stream, &to_bytes(data)).map_err(|e| peer_lost(0, e))?;
            let sum = read_frame(stream).map_err(|e| peer_lost(0, e))?;
            return fill(data, &sum, 0);
        }
        for (rank, stream) in links.peers() {
            let theirs = read_frame(stream).map_err(|e| peer_lost(rank, e))?;
            let mut values = vec![0.0; data.len()];
            fill(&mut values, &theirs, rank)?;
            for (d, v) in data.iter_mut().zip(values) {
                *d += v;
            }
        }
        let bytes = to_bytes(data);
        for (rank, stream) in links.peers() {
            write_frame(stream, &bytes).map_err(|e| peer_lost(rank, e))?;
        }
        Ok(())
    }
}

fn peer_lost(rank: usize, e: std::io::Error) -> Error {
    Error::Distributed(format!(
        "lost rank {rank} ({e}); it stopped or died, see its own message"
    ))
}

fn to_bytes(data: &[f64]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn fill(data: &mut [f64], bytes: &[u8], rank: usize) -> Result<()> {
    if bytes.len() != data.len() * 8 {
        return Err(Error::Distributed(format!(
            "rank {rank} sent {} numbers where {} were expected (ranks out of step)",
            bytes.len() / 8,
            data.len()
        )));
    }
    for (d, c) in data.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *d = f64::from_le_bytes(b);
    }
    Ok(())
}
