//! The user's compound table: ids, SMILES / CXSMILES and optional label columns.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// One compound row of the input CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    /// 1-based line in the CSV (the header is line 1).
    pub line: usize,
    /// Compound id.
    pub id: String,
    /// SMILES or CXSMILES, as written.
    pub smiles: String,
    /// Per requested label column: empty (unlabelled), a value (with a `<`/`>` qualifier
    /// kept as written), or why the cell is unusable.
    pub labels: Vec<LabelCell>,
}

/// A label cell.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelCell {
    /// Empty: the compound is unmeasured on this target.
    Empty,
    /// A number, optionally after `<`, `>`, `<=` or `>=` (kept as text for labels.csv).
    Value(String),
    /// Not a number: listed as a failure of this compound on this target.
    Invalid(String),
}

fn label_cell(text: &str) -> LabelCell {
    let t = text.trim();
    if t.is_empty() {
        return LabelCell::Empty;
    }
    let number = t.trim_start_matches(['<', '>', '=']).trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() => LabelCell::Value(t.to_string()),
        _ => LabelCell::Invalid(format!("label `{t}` is not a number")),
    }
}

/// Reads `path`; `id` and `smiles` name columns (`smiles` may be absent: then the first
/// of `cxsmiles`, `smiles`, `SMILES` is used), `labels` the label columns wanted.
/// Duplicate ids, empty ids or SMILES and missing columns are errors with their line.
pub fn read_input(
    path: &Path,
    id: &str,
    smiles: Option<&str>,
    labels: &[&str],
) -> Result<Vec<InputRow>> {
    let parse = |line: usize, message: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| parse(1, e.to_string()))?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    let column = |name: &str| {
        names.iter().position(|h| *h == name).ok_or_else(|| {
            parse(
                1,
                format!("no column `{name}` (columns: {})", names.join(", ")),
            )
        })
    };
    let id_col = column(id)?;
    let smiles_col = match smiles {
        Some(s) => column(s)?,
        None => ["cxsmiles", "smiles", "SMILES"]
            .iter()
            .find_map(|c| names.iter().position(|h| h == c))
            .ok_or_else(|| {
                parse(
                    1,
                    "no SMILES column (`cxsmiles` or `smiles`; or give --smiles-column)".into(),
                )
            })?,
    };
    let label_cols = labels
        .iter()
        .map(|l| column(l))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, record) in reader.records().enumerate() {
        let line = k + 2;
        let r = record.map_err(|e| parse(line, e.to_string()))?;
        let cell = |c: usize| r.get(c).unwrap_or("").trim().to_string();
        let (id, smiles) = (cell(id_col), cell(smiles_col));
        if id.is_empty() {
            return Err(parse(line, "empty compound id".into()));
        }
        if smiles.is_empty() {
            return Err(parse(line, format!("compound `{id}` has no SMILES")));
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(parse(
                line,
                format!("compound `{id}` is also on line {first}"),
            ));
        }
        let labels = label_cols.iter().map(|&c| label_cell(&cell(c))).collect();
        rows.push(InputRow {
            line,
            id,
            smiles,
            labels,
        });
    }
    if rows.is_empty() {
        return Err(parse(1, "no compounds".into()));
    }
    Ok(rows)
}

/// A file name for a compound id: characters other than letters, digits, `.`, `_` and
/// `-` become `_` (ids like `a/b` or `x y` stay usable as file names); collisions are
/// the caller's to refuse.
pub fn file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "multipose-dock-input-{}-{}.csv",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn labels_empty_values_and_invalid_cells() {
        let p = write("compound_id,cxsmiles,a,b\nx,CCO,5.1,\ny,c1ccccc1 |&1:0|,<4,abc\n");
        let rows = read_input(&p, "compound_id", None, &["a", "b"]).unwrap();
        assert_eq!(
            rows[0].labels,
            vec![LabelCell::Value("5.1".into()), LabelCell::Empty]
        );
        assert_eq!(rows[1].smiles, "c1ccccc1 |&1:0|");
        assert_eq!(rows[1].line, 3);
        assert!(matches!(&rows[1].labels[1], LabelCell::Invalid(m) if m.contains("abc")));
    }

    #[test]
    fn duplicate_ids_and_missing_columns_name_the_line() {
        let p = write("id,smiles\nx,CCO\nx,CCN\n");
        let e = read_input(&p, "id", None, &[]).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("line 2"), "{e}");
        let e = read_input(&p, "id", None, &["pIC50"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `pIC50`"), "{e}");
        let p = write("id,smiles\nx,\n");
        let e = read_input(&p, "id", None, &[]).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("no SMILES"), "{e}");
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("asap-0001"), "asap-0001");
        assert_eq!(file_stem("a/b c"), "a_b_c");
        assert_eq!(file_stem(".."), "_..");
    }
}
