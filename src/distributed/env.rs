//! Where a worker process stands among the others, read from the environment variables
//! torchrun and `multipose`'s own launcher set (Slurm users map theirs onto them).

use crate::error::{Error, Result};

/// This process's rank among `size` processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    /// From 0; rank 0 writes the run folder.
    pub rank: usize,
    /// Number of processes.
    pub size: usize,
}

impl World {
    /// A single process.
    pub const SOLO: World = World { rank: 0, size: 1 };

    /// Whether this process writes the run folder and reports.
    pub fn is_leader(&self) -> bool {
        self.rank == 0
    }
}

/// A worker's place and how to reach rank 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEnv {
    /// Rank and world size (RANK, WORLD_SIZE).
    pub world: World,
    /// Rank among the processes of this host (LOCAL_RANK; RANK when unset): picks the GPU.
    pub local_rank: usize,
    /// Host of rank 0 (MASTER_ADDR).
    pub master_addr: String,
    /// Port rank 0 listens on for the rendezvous: MULTIPOSE_PORT, else MASTER_PORT (+ 1
    /// under torchrun, whose own store holds MASTER_PORT).
    pub master_port: u16,
    /// How long ranks wait for each other at the start (MULTIPOSE_RENDEZVOUS_TIMEOUT,
    /// seconds; 300 by default: a rank may still be loading its data).
    pub timeout: std::time::Duration,
    /// The run's rendezvous secret (MULTIPOSE_RDV_SECRET, which `multipose train` hands
    /// every worker it starts; empty when another launcher sets none): a connection that
    /// does not present it is not one of this run's ranks.
    pub secret: String,
}

impl WorkerEnv {
    /// The worker settings in the process environment; `None` when WORLD_SIZE is unset
    /// (a single process).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`WorkerEnv::from_env`], reading variables through `get` (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(size) = get("WORLD_SIZE") else {
            return Ok(None);
        };
        let number = |key: &str, value: &str| -> Result<usize> {
            value
                .trim()
                .parse()
                .map_err(|_| Error::Distributed(format!("{key}={value:?} is not a whole number")))
        };
        let size = number("WORLD_SIZE", &size)?;
        let rank = match get("RANK") {
            Some(r) => number("RANK", &r)?,
            None => {
                return Err(Error::Distributed(
                    "WORLD_SIZE is set but RANK is not".into(),
                ));
            }
        };
        if size == 0 || rank >= size {
            return Err(Error::Distributed(format!(
                "RANK={rank} must be below WORLD_SIZE={size}"
            )));
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(r) => number("LOCAL_RANK", &r)?,
            None => rank,
        };
        let master_addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = get("MASTER_PORT")
            .ok_or_else(|| Error::Distributed("WORLD_SIZE is set but MASTER_PORT is not".into()))?;
        let master_port: u16 = port.trim().parse().map_err(|_| {
            Error::Distributed(format!("MASTER_PORT={port:?} is not a port number"))
        })?;
        // Under torchrun its own store already listens on MASTER_PORT.
        let master_port = match get("MULTIPOSE_PORT") {
            Some(p) => p.trim().parse().map_err(|_| {
                Error::Distributed(format!("MULTIPOSE_PORT={p:?} is not a port number"))
            })?,
            None if get("TORCHELASTIC_RUN_ID").is_some() => master_port.wrapping_add(1),
            None => master_port,
        };
        let timeout = match get("MULTIPOSE_RENDEZVOUS_TIMEOUT") {
            Some(t) => number("MULTIPOSE_RENDEZVOUS_TIMEOUT", &t)? as u64,
            None => 300,
        };
        Ok(Some(Self {
            secret: get("MULTIPOSE_RDV_SECRET").unwrap_or_default(),
            world: World { rank, size },
            local_rank,
            master_addr,
            master_port,
            timeout: std::time::Duration::from_secs(timeout),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<WorkerEnv>> {
        WorkerEnv::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn torchrun_variables_or_none() {
        assert_eq!(read(&[]).unwrap(), None);
        let env = read(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node7"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(env.world, World { rank: 3, size: 4 });
        assert_eq!((env.local_rank, env.master_addr.as_str()), (1, "node7"));
        assert_eq!(env.master_port, 29500);
        let base = [("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "29500")];
        let torchrun = read(&[&base[..], &[("TORCHELASTIC_RUN_ID", "x")]].concat());
        assert_eq!(torchrun.unwrap().unwrap().master_port, 29501);
        let chosen = read(&[&base[..], &[("MULTIPOSE_PORT", "4000")]].concat());
        assert_eq!(chosen.unwrap().unwrap().master_port, 4000);
        for (vars, says) in [
            (vec![("WORLD_SIZE", "2")], "RANK is not"),
            (vec![("WORLD_SIZE", "2"), ("RANK", "2")], "below"),
            (vec![("WORLD_SIZE", "x"), ("RANK", "0")], "whole number"),
            (vec![("WORLD_SIZE", "2"), ("RANK", "0")], "MASTER_PORT"),
            (
                vec![("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "99999")],
                "port",
            ),
        ] {
            let e = read(&vars).unwrap_err().to_string();
            assert!(e.contains(says), "{vars:?}: {e}");
        }
    }
}
