//! On-disk cache of featurised graphs, keyed by the content of the structures and the
//! graph settings, so a second run skips neighbour search.
//!
//! One safetensors file per compound (the format the project already reads and writes);
//! written to a temporary name and renamed, so a crash never leaves a half-written entry.

use crate::error::{Error, Result};
use crate::graph::{CompoundGraphs, Graph, GraphConfig, Parts, PoseGraphs};
use crate::structure::Structure;
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Bumped whenever the graph rule or the file layout changes.
const FORMAT: &str = "multipose-graphs-v2";

/// Hex key of (structures, the graphs each pose needs, graph settings).
pub fn cache_key(poses: &[Structure], parts: impl Into<Parts>, graph: &GraphConfig) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(parts.into().name().as_bytes());
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

    /// Graphs of a compound from the cache, or built and stored. A cache file that fails
    /// its checks (format, key, checksum, counts, indices, finite lengths) is rebuilt,
    /// and the reason returned so the caller can warn.
    pub fn get_or_build(
        &self,
        name: &str,
        poses: &[Structure],
        parts: impl Into<Parts>,
        graph: &GraphConfig,
    ) -> Result<(CompoundGraphs, Lookup)> {
        let parts = parts.into();
        let key = cache_key(poses, parts, graph);
        let path = self.dir.join(format!("{key}.safetensors"));
        let mut lookup = Lookup::Built;
        if path.is_file() {
            match read(&path, name, &key, poses.len()) {
                Ok(found) => return Ok((found, Lookup::Hit)),
                Err(why) => lookup = Lookup::Rebuilt(format!("{}: {why}", path.display())),
            }
        }
        let built = CompoundGraphs::build(name, poses, parts, graph)?;
        write(&path, &key, &built)?;
        Ok((built, lookup))
    }
}

/// How a compound's graphs were found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Read from a valid cache file.
    Hit,
    /// Not cached yet: built and stored.
    Built,
    /// The cache file was invalid (the reason, naming the file): built and stored again.
    Rebuilt(String),
}

impl Lookup {
    /// Whether the graphs came from the cache.
    pub fn hit(&self) -> bool {
        *self == Lookup::Hit
    }
}

fn put(out: &mut HashMap<String, Tensor>, prefix: &str, g: &Graph) -> Result<()> {
    let d = &Device::Cpu;
    out.insert(format!("{prefix}.z"), Tensor::new(g.z.as_slice(), d)?);
    out.insert(format!("{prefix}.src"), Tensor::new(g.src.as_slice(), d)?);
    out.insert(format!("{prefix}.dst"), Tensor::new(g.dst.as_slice(), d)?);
    out.insert(format!("{prefix}.dist"), Tensor::new(g.dist.as_slice(), d)?);
    let pos: Vec<f64> = g.pos.iter().flatten().copied().collect();
    out.insert(
        format!("{prefix}.pos"),
        Tensor::from_vec(pos, (g.pos.len(), 3), d)?,
    );
    Ok(())
}

fn take(map: &HashMap<String, Tensor>, prefix: &str) -> Option<Graph> {
    let u = |k: &str| map.get(&format!("{prefix}.{k}"))?.to_vec1::<u32>().ok();
    let pos = map.get(&format!("{prefix}.pos"))?.to_vec2::<f64>().ok()?;
    Some(Graph {
        z: u("z")?,
        pos: pos.into_iter().map(|p| [p[0], p[1], p[2]]).collect(),
        src: u("src")?,
        dst: u("dst")?,
        dist: map.get(&format!("{prefix}.dist"))?.to_vec1::<f64>().ok()?,
    })
}

fn write(path: &Path, key: &str, c: &CompoundGraphs) -> Result<()> {
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
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("key".to_string(), key.to_string()),
        ("sha256".to_string(), checksum(&out)?),
    ]);
    let bytes = safetensors::serialize(out, Some(metadata)).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// SHA-256 over every tensor's name, shape and values, in name order.
fn checksum(tensors: &HashMap<String, Tensor>) -> Result<String> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let t = &tensors[name];
        h.update(name.as_bytes());
        for &d in t.dims() {
            h.update((d as u64).to_le_bytes());
        }
        match t.dtype() {
            candle_core::DType::U32 => {
                for v in t.flatten_all()?.to_vec1::<u32>()? {
                    h.update(v.to_le_bytes());
                }
            }
            _ => {
                for v in t
                    .flatten_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_vec1::<f64>()?
                {
                    h.update(v.to_le_bytes());
                }
            }
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A cache file, checked: its format and key, the checksum of its tensors, the pose
/// count, and every graph (indices in range, known elements, finite lengths).
fn read(
    path: &Path,
    name: &str,
    key: &str,
    poses: usize,
) -> std::result::Result<CompoundGraphs, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| format!("not a safetensors file ({e})"))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |k: &str| meta.get(k).map(String::as_str).unwrap_or("");
    if field("format") != FORMAT || field("key") != key {
        return Err(format!(
            "format `{}` and key `{}`, expected `{FORMAT}` and this file's name",
            field("format"),
            field("key")
        ));
    }
    let map =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| e.to_string())?;
    if checksum(&map).map_err(|e| e.to_string())? != field("sha256") {
        return Err("its tensors do not match their checksum (changed or damaged)".into());
    }
    let n = map
        .get("num_poses")
        .and_then(|t| t.to_vec1::<u32>().ok())
        .and_then(|v| v.first().copied())
        .ok_or("no pose count")? as usize;
    if n != poses {
        return Err(format!("{n} poses cached, the compound has {poses}"));
    }
    let compound = CompoundGraphs {
        name: name.to_string(),
        poses: (0..n)
            .map(|i| PoseGraphs {
                complex: take(&map, &format!("pose{i}.complex")),
                ligand: take(&map, &format!("pose{i}.ligand")),
                protein: map
                    .get(&format!("pose{i}.protein"))
                    .and_then(|t| t.to_vec1::<u32>().ok())
                    .and_then(|v| v.first().map(|&k| k as usize)),
            })
            .collect(),
        proteins: std::iter::successors(Some(0usize), |k| Some(k + 1))
            .map_while(|k| take(&map, &format!("protein{k}")))
            .collect(),
        id: crate::graph::CompoundId::default(),
    };
    check(&compound)?;
    Ok(compound)
}

/// Graph invariants a model relies on (an index out of range would panic later).
fn check(c: &CompoundGraphs) -> std::result::Result<(), String> {
    let graphs = c
        .poses
        .iter()
        .flat_map(|p| [p.complex.as_ref(), p.ligand.as_ref()])
        .flatten()
        .chain(&c.proteins);
    for g in graphs {
        let atoms = g.z.len() as u32;
        if g.src.len() != g.dst.len() || g.dist.len() != g.src.len() {
            return Err("edge arrays of different lengths".into());
        }
        if g.pos.len() != g.z.len() || g.pos.iter().flatten().any(|v| !v.is_finite()) {
            return Err("positions that are not one finite point per atom".into());
        }
        if g.src.iter().chain(&g.dst).any(|&i| i >= atoms) {
            return Err("an edge index beyond the atoms".into());
        }
        if g.z
            .iter()
            .any(|&z| z == 0 || z > crate::structure::MAX_ATOMIC_NUMBER)
        {
            return Err("an atomic number outside 1..=118".into());
        }
        if g.dist.iter().any(|d| !(d.is_finite() && *d >= 0.0)) {
            return Err("an edge length that is negative or not finite".into());
        }
    }
    if c.poses
        .iter()
        .any(|p| p.protein.is_some_and(|k| k >= c.proteins.len()))
    {
        return Err("a pose refers to a protein that is not cached".into());
    }
    Ok(())
}
