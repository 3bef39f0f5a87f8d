//! Gradient buffers keyed by tensor, and the final per-parameter gradients.

use crate::error::Result;
use candle_core::Tensor;
use candle_core::backprop::GradStore;

/// ∂L/∂θ by parameter name (zeros for parameters the loss does not reach).
#[derive(Debug, Clone)]
pub struct Gradients {
    entries: Vec<(String, Tensor)>,
}

impl Gradients {
    /// Pairs of (name, gradient), sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Gradient of one parameter.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub(crate) fn new(entries: Vec<(String, Tensor)>) -> Self {
        Self { entries }
    }

    /// Σ wᵢ · gᵢ over gradients of the same parameters: what an all-reduce over workers
    /// computes (with wᵢ = each worker's share of the batch, for mean gradients).
    pub fn weighted_sum(parts: &[(f64, &Gradients)]) -> Result<Gradients> {
        let Some((_, first)) = parts.first() else {
            return Err(crate::Error::InvalidConfig("no gradients to reduce".into()));
        };
        let mut entries = Vec::with_capacity(first.entries.len());
        for (k, (name, _)) in first.entries.iter().enumerate() {
            let mut sum: Option<Tensor> = None;
            for (w, g) in parts {
                let (other, t) = g.entries.get(k).ok_or_else(|| mismatch(name))?;
                if other != name {
                    return Err(mismatch(name));
                }
                let term = (t * *w)?;
                sum = Some(match sum {
                    Some(s) => (s + term)?,
                    None => term,
                });
            }
            entries.extend(sum.map(|s| (name.clone(), s)));
        }
        Ok(Gradients { entries })
    }
}

fn mismatch(name: &str) -> crate::Error {
    crate::Error::InvalidConfig(format!(
        "gradients to reduce differ in their parameters (at `{name}`)"
    ))
}

/// Running Σ cₖ · (∂sₖ/∂key) over backward passes, one slot per key tensor.
pub(crate) struct GradBuffer {
    keys: Vec<Tensor>,
    acc: Vec<Option<Tensor>>,
}

impl GradBuffer {
    pub(crate) fn new(keys: Vec<Tensor>) -> Self {
        let acc = vec![None; keys.len()];
        Self { keys, acc }
    }

    /// acc += scale · store[key].
    pub(crate) fn add(&mut self, store: &GradStore, scale: f64) -> Result<()> {
        for (key, slot) in self.keys.iter().zip(self.acc.iter_mut()) {
            if let Some(g) = store.get(key) {
                accumulate(slot, g, scale)?;
            }
        }
        Ok(())
    }

    /// acc += scale · gradients, slot by slot (`gradients` has the keys' order, as every
    /// engine's result over the same parameters does).
    pub(crate) fn add_gradients(&mut self, gradients: &Gradients, scale: f64) -> Result<()> {
        for (slot, (_, g)) in self.acc.iter_mut().zip(gradients.iter()) {
            accumulate(slot, g, scale)?;
        }
        Ok(())
    }

    /// acc *= factor.
    pub(crate) fn scale(&mut self, factor: f64) -> Result<()> {
        if factor == 1.0 {
            return Ok(());
        }
        for slot in self.acc.iter_mut() {
            if let Some(a) = slot.take() {
                *slot = Some((a * factor)?);
            }
        }
        Ok(())
    }

    /// self += scale · other (same keys).
    pub(crate) fn add_buffer(&mut self, other: &GradBuffer, scale: f64) -> Result<()> {
        for (slot, o) in self.acc.iter_mut().zip(&other.acc) {
            if let Some(o) = o {
                accumulate(slot, o, scale)?;
            }
        }
        Ok(())
    }

    /// Accumulated gradient of key `i`, if any pass reached it.
    pub(crate) fn get(&self, i: usize) -> Option<&Tensor> {
        self.acc.get(i).and_then(Option::as_ref)
    }

    /// Gradients for the first `names.len()` keys (zeros where none arrived).
    pub(crate) fn into_gradients(self, names: Vec<String>) -> Result<Gradients> {
        let mut entries = Vec::with_capacity(names.len());
        for ((name, key), slot) in names.into_iter().zip(self.keys).zip(self.acc) {
            let g = match slot {
                Some(g) => g,
                None => key.zeros_like()?,
            };
            entries.push((name, g));
        }
        Ok(Gradients::new(entries))
    }
}

/// slot += scale · g (no scaled copy for scale 1; the first gradient fills the slot).
fn accumulate(slot: &mut Option<Tensor>, g: &Tensor, scale: f64) -> Result<()> {
    let g = if scale == 1.0 {
        g.clone()
    } else {
        (g * scale)?
    };
    *slot = Some(match slot.take() {
        Some(a) => (a + g)?,
        None => g,
    });
    Ok(())
}
