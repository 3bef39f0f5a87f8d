//! Where to dock on a receptor: its bound ligand, a ligand file, or an explicit box.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The docking site of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Site {
    /// A HETATM residue of the receptor file: the one named (and in the chain given), or
    /// the first that is not water or an ion and has at least 6 heavy atoms.
    Ligand {
        /// Residue name, e.g. `LIG`.
        resname: Option<String>,
        /// Chain id.
        chain: Option<String>,
    },
    /// The heavy atoms of the first record of an SDF file.
    Sdf {
        /// The file.
        path: PathBuf,
    },
    /// A cube.
    Box {
        /// Centre, Å.
        center: [f64; 3],
        /// Edge, Å.
        edge: f64,
    },
}

impl std::str::FromStr for Site {
    type Err = Error;

    /// `ligand`, `ligand:RES`, `ligand:RES:CHAIN`, `sdf:FILE` or `box:X,Y,Z,EDGE`.
    fn from_str(s: &str) -> Result<Site> {
        let bad = |why: &str| {
            Error::InvalidConfig(format!(
                "site `{s}`: {why} (expected ligand, ligand:RES[:CHAIN], sdf:FILE or box:X,Y,Z,EDGE)"
            ))
        };
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "ligand" => {
                let mut parts = rest.split(':').map(str::trim).filter(|p| !p.is_empty());
                Ok(Site::Ligand {
                    resname: parts.next().map(str::to_string),
                    chain: parts.next().map(str::to_string),
                })
            }
            "sdf" if !rest.is_empty() => Ok(Site::Sdf {
                path: PathBuf::from(rest),
            }),
            "box" => {
                let v: Vec<f64> = rest
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad("the box needs four numbers"))?;
                match v[..] {
                    [x, y, z, edge] if v.iter().all(|a| a.is_finite()) && edge > 0.0 => {
                        Ok(Site::Box {
                            center: [x, y, z],
                            edge,
                        })
                    }
                    _ => Err(bad("the box needs four finite numbers and a positive edge")),
                }
            }
            _ => Err(bad("unknown kind")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_refuses_the_rest() {
        assert_eq!(
            "ligand".parse::<Site>().unwrap(),
            Site::Ligand {
                resname: None,
                chain: None
            }
        );
        assert_eq!(
            "ligand:LIG:A".parse::<Site>().unwrap(),
            Site::Ligand {
                resname: Some("LIG".into()),
                chain: Some("A".into())
            }
        );
        assert_eq!(
            "box:1,2,3.5,22".parse::<Site>().unwrap(),
            Site::Box {
                center: [1.0, 2.0, 3.5],
                edge: 22.0
            }
        );
        assert!(matches!(
            "sdf:x.sdf".parse::<Site>().unwrap(),
            Site::Sdf { .. }
        ));
        for bad in ["box:1,2,3", "box:1,2,3,-1", "sdf:", "pocket"] {
            assert!(bad.parse::<Site>().is_err(), "{bad}");
        }
    }
}
