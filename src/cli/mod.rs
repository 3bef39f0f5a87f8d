//! Command-line interface: argument parsing and dispatch; the work is in the library.

mod bench;
mod data_args;
mod inspect;

use clap::{Parser, Subcommand};

/// Multi-pose binding-affinity models with exact, flat-memory gradients.
#[derive(Debug, Parser)]
#[command(name = "multipose", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Time one training step (forward, MSE on pIC50, backward) per engine on a synthetic
    /// complex, and report ms per pose and peak memory.
    Bench(bench::BenchArgs),
    /// Load a dataset and print, per compound, poses, atoms (protein / pocket / ligand),
    /// edges, label and warnings: the first thing to run on your own data.
    Inspect(inspect::InspectArgs),
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Inspect(args) => inspect::run(args),
    }
}
