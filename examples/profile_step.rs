//! Splits one pose's training step into forward and backward time (for profiling).
use candle_core::{DType, Device};
use multipose::bench::SyntheticComplex;
use multipose::combine::{GroupedConfig, GroupedModel};
use multipose::model::{CompoundGraphs, Params, ProteinInput};
use std::time::Instant;

fn main() -> multipose::Result<()> {
    let atoms: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(600);
    let config = GroupedConfig::default();
    let poses = SyntheticComplex::new(atoms, 30, 17).poses(1, 23)?;
    let c = CompoundGraphs::build(
        "p",
        &poses,
        config.model.strategy,
        &config.model.representation.graph(),
    )?;
    let params = Params::new(DType::F32, &Device::Cpu);
    let model = GroupedModel::new(&config, &params)?;
    for _ in 0..2 {
        let t = Instant::now();
        let y = model.pose.predict(&c, &[0], ProteinInput::Inline)?;
        let f = t.elapsed();
        let t = Instant::now();
        let _g = y.sum_all()?.backward()?;
        println!("forward {:?} backward {:?}", f, t.elapsed());
        let t = Instant::now();
        let _y = model.frozen.predict(&c, &[0], ProteinInput::Inline)?;
        println!("no-grad forward {:?}", t.elapsed());
    }
    Ok(())
}
