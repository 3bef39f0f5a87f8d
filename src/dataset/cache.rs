//! On-disk cache of featurised graphs, keyed by the content of the structures and the
//! graph settings, so a second run skips neighbour search.
//!
//! One safetensors file per compound (the format the project already reads and writes);
//! written to a temporary name and renamed, so a crash never leaves a half-written entry.

use crate::error::{Error, Result};
use crate::graph::{Graph, GraphConfig};
use crate::model::{CompoundGraphs, PoseGraphs, StrategyKind};
use crate::structure::Structure;
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Bumped whenever the graph rule or the file layout changes.
const FORMAT: &str = "multipose-graphs-v1";

/// Hex key of (structures, strategy, graph settings).
pub fn cache_key(poses: &[Structure], strategy: StrategyKind, graph: &GraphConfig) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(strategy.name().as_bytes());
    h.update(graph.cutoff.to_le_bytes());
    h.update((graph.max_num_neighbors as u64).to_le_bytes());
    for s in poses {
        h.update((s.len() as u64).to_le_bytes());
        for &z in s.z() {
            h.update(z.to_le_bytes());
        }
        for p in s.pos() {
            for v in p {
                h.update(v.to_le_bytes());
            }
        }
        if let Some(mask) = s.ligand_mask() {
            h.update(mask.iter().map(|&b| u8::from(b)).collect::<Vec<_>>());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A folder of cached compound graphs.
#[derive(Debug, Clone)]
pub struct GraphCache {
    dir: PathBuf,
}

impl GraphCache {
    /// Uses (and creates) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// Graphs of a compound from the cache, or built and stored; `true` on a hit.
    pub fn get_or_build(
        &self,
        name: &str,
        poses: &[Structure],
        strategy: StrategyKind,
        graph: &GraphConfig,
    ) -> Result<(CompoundGraphs, bool)> {
        let path = self
            .dir
            .join(format!("{}.safetensors", cache_key(poses, strategy, graph)));
        if path.is_file()
            && let Ok(found) = read(&path, name)
        {
            return Ok((found, true));
        }
        let built = CompoundGraphs::build(name, poses, strategy, graph)?;
        write(&path, &built)?;
        Ok((built, false))
    }
}

fn put(out: &mut HashMap<String, Tensor>, prefix: &str, g: &Graph) -> Result<()> {
    let d = &Device::Cpu;
    out.insert(format!("{prefix}.z"), Tensor::new(g.z.as_slice(), d)?);
    out.insert(format!("{prefix}.src"), Tensor::new(g.src.as_slice(), d)?);
    out.insert(format!("{prefix}.dst"), Tensor::new(g.dst.as_slice(), d)?);
    out.insert(format!("{prefix}.dist"), Tensor::new(g.dist.as_slice(), d)?);
    Ok(())
}

fn take(map: &HashMap<String, Tensor>, prefix: &str) -> Option<Graph> {
    let u = |k: &str| map.get(&format!("{prefix}.{k}"))?.to_vec1::<u32>().ok();
    Some(Graph {
        z: u("z")?,
        src: u("src")?,
        dst: u("dst")?,
        dist: map.get(&format!("{prefix}.dist"))?.to_vec1::<f64>().ok()?,
    })
}

fn write(path: &Path, c: &CompoundGraphs) -> Result<()> {
    let mut out = HashMap::new();
    for (i, p) in c.poses.iter().enumerate() {
        if let Some(g) = &p.complex {
            put(&mut out, &format!("pose{i}.complex"), g)?;
        }
        if let Some(g) = &p.ligand {
            put(&mut out, &format!("pose{i}.ligand"), g)?;
        }
        if let Some(k) = p.protein {
            out.insert(
                format!("pose{i}.protein"),
                Tensor::new(&[k as u32], &Device::Cpu)?,
            );
        }
    }
    for (k, g) in c.proteins.iter().enumerate() {
        put(&mut out, &format!("protein{k}"), g)?;
    }
    out.insert(
        "num_poses".into(),
        Tensor::new(&[c.poses.len() as u32], &Device::Cpu)?,
    );
    let tmp = path.with_extension("tmp");
    let io = |e: candle_core::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    candle_core::safetensors::save(&out, &tmp).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path, name: &str) -> std::result::Result<CompoundGraphs, ()> {
    let map = candle_core::safetensors::load(path, &Device::Cpu).map_err(|_| ())?;
    let n = map
        .get("num_poses")
        .and_then(|t| t.to_vec1::<u32>().ok())
        .ok_or(())?[0] as usize;
    let poses = (0..n)
        .map(|i| PoseGraphs {
            complex: take(&map, &format!("pose{i}.complex")),
            ligand: take(&map, &format!("pose{i}.ligand")),
            protein: map
                .get(&format!("pose{i}.protein"))
                .and_then(|t| t.to_vec1::<u32>().ok())
                .map(|v| v[0] as usize),
        })
        .collect();
    let mut proteins = Vec::new();
    while let Some(g) = take(&map, &format!("protein{}", proteins.len())) {
        proteins.push(g);
    }
    Ok(CompoundGraphs {
        name: name.to_string(),
        poses,
        proteins,
        id: crate::graph::CompoundId::default(),
    })
}
