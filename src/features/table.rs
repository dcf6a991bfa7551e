//! The one table writer of `specgate features`: CSV (a header, then one line per row) or JSON
//! Lines (one object per row), streamed row by row.

use std::io::{self, Write};

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Int(u64),
    Text(String),
}

/// A column's cell type: what a typed reader (numpy, Arrow, a database) stores it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Float,
    Int,
    Text,
}

impl Value {
    pub fn type_of(&self) -> Type {
        match self {
            Value::Float(_) => Type::Float,
            Value::Int(_) => Type::Int,
            Value::Text(_) => Type::Text,
        }
    }
}

/// The table's text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            _ => Err(format!(
                "unknown table format '{s}' (expected csv or jsonl)"
            )),
        }
    }
}

impl Format {
    /// From an output name's extension (`.jsonl`/`.ndjson` → JSON Lines, else CSV).
    pub fn from_path(p: &std::path::Path) -> Format {
        match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "jsonl" || e == "ndjson" => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Formats a float: six decimals, trailing zeros trimmed; non-finite values are empty (CSV) or
/// `null` (JSON).
fn float(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Some(if s == "-0" { "0".into() } else { s.to_string() })
}

/// Writes rows of `columns` as they come.
pub struct TableWriter<W: Write> {
    w: W,
    format: Format,
    columns: Vec<String>,
    rows: u64,
}

impl<W: Write> TableWriter<W> {
    /// A CSV table writes its header at once.
    pub fn new(mut w: W, format: Format, columns: &[&str]) -> io::Result<Self> {
        if format == Format::Csv {
            writeln!(w, "{}", columns.join(","))?;
        }
        Ok(TableWriter {
            w,
            format,
            columns: columns.iter().map(|s| s.to_string()).collect(),
            rows: 0,
        })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// One row, in column order.
    pub fn row(&mut self, values: &[Value]) -> io::Result<()> {
        if values.len() != self.columns.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a row has {} values for {} columns",
                    values.len(),
                    self.columns.len()
                ),
            ));
        }
        match self.format {
            Format::Csv => {
                let cells: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Value::Float(f) => float(*f).unwrap_or_default(),
                        Value::Int(i) => i.to_string(),
                        Value::Text(t) if t.contains([',', '"', '\n']) => {
                            format!("\"{}\"", t.replace('"', "\"\""))
                        }
                        Value::Text(t) => t.clone(),
                    })
                    .collect();
                writeln!(self.w, "{}", cells.join(","))?;
            }
            Format::Jsonl => {
                let mut obj = serde_json::Map::new();
                for (c, v) in self.columns.iter().zip(values) {
                    let j = match v {
                        Value::Float(f) => float(*f)
                            .and_then(|s| s.parse::<serde_json::Number>().ok())
                            .map(serde_json::Value::Number)
                            .unwrap_or(serde_json::Value::Null),
                        Value::Int(i) => serde_json::Value::from(*i),
                        Value::Text(t) => serde_json::Value::from(t.as_str()),
                    };
                    obj.insert(c.clone(), j);
                }
                serde_json::to_writer(&mut self.w, &serde_json::Value::Object(obj))?;
                self.w.write_all(b"\n")?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The writer back, flushed.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}
