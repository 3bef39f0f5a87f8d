//! Assay labels: CSV tables and asapdiscovery's JSON, converted to the p scale.
//!
//! Concentrations (IC50, Ki, Kd in M, mM, µM, nM, pM) become −log10(molar); ΔG becomes
//! pK = −ΔG / (RT ln 10) at 298.15 K. Censored values (`<10`, `>100`) keep their
//! qualifier, flipped where the scale flips (IC50 < 10 µM means pIC50 > 5).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// RT at 298.15 K in kcal/mol.
const RT_KCAL: f64 = 0.592_487;

/// kcal/mol per unit of p (RT ln 10 at 298.15 K): a ΔG or docking score in kcal/mol is
/// pK = −value / KCAL_PER_P.
pub const KCAL_PER_P: f64 = RT_KCAL * std::f64::consts::LN_10;

/// Which read-out the label is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Assay {
    /// pIC50 (functional assay).
    Pic50,
    /// pKi / pKd / −ΔG/(RT ln 10) (binding).
    Pki,
}

/// Where the true value lies relative to `value`, on the p scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Qualifier {
    /// Measured.
    Exact,
    /// True value below `value` (e.g. IC50 > 100 µM: pIC50 < 4).
    Below,
    /// True value above `value` (e.g. IC50 < 10 nM: pIC50 > 8).
    Above,
}

/// One compound's measurement on the p scale.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    /// Compound id as in the file.
    pub compound_id: String,
    /// Value on the p scale.
    pub value: f64,
    /// Censoring.
    pub qualifier: Qualifier,
    /// Standard error on the p scale.
    pub stderr: Option<f64>,
    /// Read-out scale.
    pub assay: Assay,
    /// Date (ISO text) for temporal splits.
    pub date: Option<String>,
}

/// Reads labels from `.csv` or asapdiscovery `.json` (by extension); ids must be unique.
pub fn read_labels(path: &Path) -> Result<Vec<Label>> {
    let labels = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => read_asap_json(path)?,
        _ => read_csv(path)?,
    };
    let mut seen = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        if let Some(first) = seen.insert(l.compound_id.clone(), i) {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: format!(
                    "compound `{}` has two labels (entries {} and {})",
                    l.compound_id,
                    first + 1,
                    i + 1
                ),
            });
        }
    }
    Ok(labels)
}

/// Splits `<10`, `>100`, `10` into a qualifier (on the raw scale) and a number.
fn parse_value(text: &str) -> Option<(Qualifier, f64)> {
    let t = text.trim();
    let (q, rest) = if let Some(r) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        (Qualifier::Below, r)
    } else if let Some(r) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        (Qualifier::Above, r)
    } else {
        (Qualifier::Exact, t)
    };
    let v: f64 = rest.trim().parse().ok()?;
    v.is_finite().then_some((q, v))
}

fn flip(q: Qualifier) -> Qualifier {
    match q {
        Qualifier::Below => Qualifier::Above,
        Qualifier::Above => Qualifier::Below,
        Qualifier::Exact => Qualifier::Exact,
    }
}

/// Molar factor of a concentration unit.
fn molar(unit: &str) -> Option<f64> {
    Some(
        match unit
            .trim()
            .to_ascii_lowercase()
            .replace(['μ', 'µ'], "u")
            .as_str()
        {
            "m" | "mol/l" => 1.0,
            "mm" => 1e-3,
            "um" | "umol/l" => 1e-6,
            "nm" | "nmol/l" => 1e-9,
            "pm" => 1e-12,
            _ => return None,
        },
    )
}

/// The p-scale values a binding assay can give: −3 is 1,000 M, 20 is 10 zM. A value
/// outside (a pKi of 306 from "1e-300 uM") is a unit or typing error, and one such label
/// dominates an MSE loss without a word.
const P_RANGE: (f64, f64) = (-3.0, 20.0);

/// `v` if it is a finite p-scale value in [`P_RANGE`]; `Err` is a message.
fn plausible(v: f64) -> std::result::Result<f64, String> {
    let (lo, hi) = P_RANGE;
    if v.is_finite() && (lo..=hi).contains(&v) {
        return Ok(v);
    }
    Err(format!(
        "the value is {v} on the p scale (−log10 M), outside the plausible {lo} to {hi}; check its unit and type"
    ))
}

/// Converts (type, unit, value, stderr) to the p scale; `Err` is a message.
fn to_p_scale(
    kind: &str,
    unit: &str,
    q: Qualifier,
    v: f64,
    stderr: Option<f64>,
) -> std::result::Result<(Assay, Qualifier, f64, Option<f64>), String> {
    let k = kind.trim().to_ascii_lowercase();
    let assay = if k.contains("ic50") {
        Assay::Pic50
    } else {
        Assay::Pki
    };
    match k.as_str() {
        "pic50" | "pki" | "pkd" | "p" | "pk" | "pvalue" => Ok((assay, q, v, stderr)),
        "ic50" | "ki" | "kd" => {
            let f = molar(unit).ok_or_else(|| {
                format!("unknown concentration unit `{unit}` (expected M, mM, uM, µM, nM or pM)")
            })?;
            if v <= 0.0 {
                return Err(format!("{kind} must be positive, got {v}"));
            }
            let se = stderr.map(|s| s / (v * std::f64::consts::LN_10));
            Ok((assay, flip(q), -(v * f).log10(), se))
        }
        "dg" | "deltag" | "δg" => {
            let per_kcal = match unit.trim().to_ascii_lowercase().as_str() {
                "kcal/mol" | "" => 1.0,
                "kj/mol" => 1.0 / 4.184,
                "kt" => RT_KCAL,
                u => {
                    return Err(format!(
                        "unknown energy unit `{u}` (expected kcal/mol, kJ/mol or kT)"
                    ));
                }
            };
            let scale = per_kcal / (RT_KCAL * std::f64::consts::LN_10);
            Ok((Assay::Pki, flip(q), -v * scale, stderr.map(|s| s * scale)))
        }
        _ => Err(format!(
            "unknown measurement type `{kind}` (expected pIC50, IC50, Ki, Kd, pKi, pKd or dG)"
        )),
    }
}

fn read_csv(path: &Path) -> Result<Vec<Label>> {
    let mut reader = open_csv(path)?;
    let columns = read_header(&mut reader, path, LabelColumns::find)?;
    let mut out = Vec::new();
    for record in reader.records() {
        let (record, line) = csv_record(record, path)?;
        let err = line_error(path, line);
        if columns.id_of(&record).is_empty() {
            return Err(err("empty compound id".into()));
        }
        out.push(columns.label(&record).map_err(err)?);
    }
    Ok(out)
}

/// A CSV reader that trims fields, with the file named in its errors.
pub(super) fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// The columns `find` locates in the lower-cased header row; its message becomes a
/// parse error on line 1.
pub(super) fn read_header<C>(
    reader: &mut csv::Reader<std::fs::File>,
    path: &Path,
    find: impl Fn(&[String]) -> std::result::Result<C, String>,
) -> Result<C> {
    let at_header = |message: String| Error::Parse {
        path: path.to_path_buf(),
        line: 1,
        message,
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| at_header(e.to_string()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    find(&headers).map_err(at_header)
}

/// A record and its 1-based line, or a parse error naming the line.
pub(super) fn csv_record(
    record: std::result::Result<csv::StringRecord, csv::Error>,
    path: &Path,
) -> Result<(csv::StringRecord, usize)> {
    let record = record.map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line() as usize),
        message: e.to_string(),
    })?;
    let line = record.position().map_or(0, |p| p.line() as usize);
    Ok((record, line))
}

/// Turns a message into a parse error at `line` of `path`.
pub(super) fn line_error(path: &Path, line: usize) -> impl Fn(String) -> Error + Copy + '_ {
    move |message| Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Where the label fields sit in a CSV header (label tables and manifests share them).
pub(super) struct LabelColumns {
    id: usize,
    value: usize,
    unit: Option<usize>,
    kind: Option<usize>,
    stderr: Option<usize>,
    date: Option<usize>,
}

impl LabelColumns {
    /// Finds the columns in lower-cased `headers`; the message names what is missing.
    pub(super) fn find(headers: &[String]) -> std::result::Result<Self, String> {
        let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
        Ok(Self {
            id: col(&["compound_id", "id", "name", "compound", "ligand"]).ok_or(
                "no compound id column (compound_id, id, name, compound or ligand)".to_string(),
            )?,
            value: col(&["value"]).ok_or("no `value` column".to_string())?,
            unit: col(&["unit", "units"]),
            kind: col(&["type", "measurement", "kind"]),
            stderr: col(&["stderr", "error", "sem", "std_error"]),
            date: col(&["date", "date_created"]),
        })
    }

    /// The compound id of a record ("" when empty).
    pub(super) fn id_of<'r>(&self, record: &'r csv::StringRecord) -> &'r str {
        record.get(self.id).unwrap_or("")
    }

    /// Whether the record's value is empty (an unlabelled compound in a manifest).
    pub(super) fn has_value(&self, record: &csv::StringRecord) -> bool {
        !record.get(self.value).unwrap_or("").is_empty()
    }

    /// The record's label on the p scale; the message says what is wrong.
    pub(super) fn label(&self, record: &csv::StringRecord) -> std::result::Result<Label, String> {
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
        let (q, v) = parse_value(get(Some(self.value))).ok_or_else(|| {
            format!(
                "expected a number, optionally with < or >, in `value`, found `{}`",
                get(Some(self.value))
            )
        })?;
        let se = match get(self.stderr) {
            "" => None,
            s => Some(
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        format!("expected a non-negative standard error, found `{s}`")
                    })?,
            ),
        };
        let kind_text = match get(self.kind) {
            "" => "pIC50",
            k => k,
        };
        let (assay, q, v, se) = to_p_scale(kind_text, get(self.unit), q, v, se)?;
        let v = plausible(v)?;
        Ok(Label {
            compound_id: self.id_of(record).to_string(),
            value: v,
            qualifier: q,
            stderr: se,
            assay,
            date: Some(get(self.date).to_string()).filter(|d| !d.is_empty()),
        })
    }
}

/// asapdiscovery's list of compounds: `compound_id`, `experimental_data` with `pIC50`,
/// `pIC50_stderr`, `pIC50_range` (−1: below the range, +1: above), `date_created`.
fn read_asap_json(path: &Path) -> Result<Vec<Label>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let entries = json.as_array().ok_or_else(|| Error::Input {
        path: path.to_path_buf(),
        message: "expected a JSON list of compounds".into(),
    })?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let err = |message: String| Error::Input {
            path: path.to_path_buf(),
            message: format!("compound {}: {message}", i + 1),
        };
        let id = e["compound_id"]
            .as_str()
            .ok_or_else(|| err("no `compound_id`".into()))?;
        let data = &e["experimental_data"];
        let (key, assay) = if data.get("pIC50").is_some() {
            ("pIC50", Assay::Pic50)
        } else if data.get("pKi").is_some() {
            ("pKi", Assay::Pki)
        } else {
            return Err(err(format!(
                "`{id}` has no pIC50 or pKi in `experimental_data`"
            )));
        };
        let value = data[key]
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err(format!("`{id}`: {key} is not a number")))?;
        let value = plausible(value).map_err(|m| err(format!("`{id}`: {m}")))?;
        let qualifier = match data[format!("{key}_range")].as_f64() {
            Some(r) if r < 0.0 => Qualifier::Below,
            Some(r) if r > 0.0 => Qualifier::Above,
            _ => Qualifier::Exact,
        };
        out.push(Label {
            compound_id: id.to_string(),
            value,
            qualifier,
            stderr: data[format!("{key}_stderr")]
                .as_f64()
                .filter(|s| s.is_finite()),
            assay,
            date: e["date_created"].as_str().map(str::to_string),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_p_values_are_refused() {
        assert_eq!(plausible(7.5), Ok(7.5));
        for v in [306.0, -4.0, f64::INFINITY, f64::NAN] {
            let e = plausible(v).unwrap_err();
            assert!(e.contains("outside the plausible"), "{e}");
        }
        let (_, _, p, _) = to_p_scale("Ki", "uM", Qualifier::Exact, 1e-300, None).unwrap();
        assert!(plausible(p).is_err(), "{p}");
    }

    #[test]
    fn units_and_qualifiers() {
        let (a, q, v, se) = to_p_scale("IC50", "uM", Qualifier::Below, 10.0, Some(1.0)).unwrap();
        assert_eq!((a, q), (Assay::Pic50, Qualifier::Above));
        assert!((v - 5.0).abs() < 1e-12);
        assert!((se.unwrap() - 1.0 / (10.0 * std::f64::consts::LN_10)).abs() < 1e-12);
        let (_, _, v, _) = to_p_scale("Ki", "nM", Qualifier::Exact, 1.0, None).unwrap();
        assert!((v - 9.0).abs() < 1e-12);
        let (_, _, v, _) = to_p_scale("Ki", "µM", Qualifier::Exact, 0.096, None).unwrap();
        assert!((v - 7.017_728_766).abs() < 1e-6);
        // ΔG = −RT ln(10) · 7 kcal/mol is pK 7.
        let dg = -RT_KCAL * std::f64::consts::LN_10 * 7.0;
        let (_, _, v, _) = to_p_scale("dG", "kcal/mol", Qualifier::Exact, dg, None).unwrap();
        assert!((v - 7.0).abs() < 1e-9);
        assert!(to_p_scale("IC50", "furlongs", Qualifier::Exact, 1.0, None).is_err());
        assert!(to_p_scale("potency", "", Qualifier::Exact, 1.0, None).is_err());
        assert_eq!(parse_value(">100"), Some((Qualifier::Above, 100.0)));
        assert_eq!(parse_value("nan"), None);
    }
}
