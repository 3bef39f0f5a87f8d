//! Typed errors of the library; the CLI adds context on top.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed line in an input file.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An input that is well-formed but unusable (unknown element, duplicate id, ...).
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// A structure with no atoms.
    #[error("structure `{name}` has no atoms")]
    EmptyStructure { name: String },
    /// Per-atom arrays of different lengths.
    #[error("structure `{name}`: {what} has {found} entries but there are {atoms} atoms")]
    LengthMismatch {
        name: String,
        what: &'static str,
        found: usize,
        atoms: usize,
    },
    /// A coordinate that is NaN or infinite.
    #[error("structure `{name}`: atom {atom} has a non-finite coordinate {value}")]
    NonFiniteCoordinate {
        name: String,
        atom: usize,
        value: f64,
    },
    /// An atomic number no element has.
    #[error("structure `{name}`: atom {atom} has atomic number {z}, outside 1..=118")]
    UnknownElement { name: String, atom: usize, z: u32 },
    /// An element the model's representation cannot embed.
    #[error(
        "compound `{compound}`: pose {pose} has an atom of atomic number {z}; {network} embeds 1..={max}"
    )]
    UnsupportedElement {
        compound: String,
        pose: usize,
        z: u32,
        network: &'static str,
        max: u32,
    },
    /// The strategy needs protein and ligand parts but the structure has no ligand mask.
    #[error(
        "structure `{name}` has no ligand mask, but the `{strategy}` strategy splits protein and ligand"
    )]
    MissingLigandMask {
        name: String,
        strategy: &'static str,
    },
    /// Splitting left one part without atoms.
    #[error("structure `{name}`: the {part} part has no atoms")]
    EmptyPart { name: String, part: &'static str },
    /// A `--device` value that names no usable device.
    #[error("device `{spec}`: {reason}")]
    Device { spec: String, reason: String },
    /// A compound without poses.
    #[error("compound `{name}` has no poses")]
    NoPoses { name: String },
    /// A weights file lacks a tensor the model needs.
    #[error(
        "weights: tensor `{name}` is missing (is this a model of another architecture or size?)"
    )]
    MissingTensor { name: String },
    /// A weights file holds a tensor the model does not have.
    #[error(
        "weights: unexpected tensor `{name}` (is this a model of another architecture or size?)"
    )]
    UnexpectedTensor { name: String },
    /// A tensor with the wrong shape.
    #[error("weights: tensor `{name}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// Two names of one shared tensor disagree.
    #[error("weights: `{a}` and `{b}` name the same parameter but hold different values")]
    AliasMismatch { a: String, b: String },
    /// A configuration value out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The chosen engine cannot run this combination or loss.
    #[error("engine `{engine}` cannot be used here: {reason}")]
    Unsupported {
        engine: &'static str,
        reason: String,
    },
    /// Training stopped on request (Ctrl-C, or a set number of epochs); it can resume.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// Data-parallel workers that cannot start or go on together (rendezvous, a lost peer,
    /// a bad environment).
    #[error("distributed training: {0}")]
    Distributed(String),
    /// A loss that is no longer finite.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// Another process holds the run folder.
    #[error("{}: another multipose process is using this run folder (wait for it, or choose another --out)", path.display())]
    RunInUse { path: PathBuf },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error from the tensor library.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// A `map_err` for I/O on `path`: the error names the file.
    pub fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result with the library's error type.
pub type Result<T> = std::result::Result<T, Error>;
