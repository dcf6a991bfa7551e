//! A minimal `.npy` reader/writer for 2-D float matrices (magnitude spectrograms).
//!
//! Reads format versions 1.0–3.0 with dtype `f4`/`f8` in either byte order, C or Fortran order,
//! and returns the matrix row-major (C order) as f32. Anything else (object arrays, integers,
//! complex, 1-D or 3-D shapes, truncated data) is a clear error, never a panic. Writes version 1.0,
//! little-endian `<f4`, C order.

use std::io::{Read, Write};

/// A row-major matrix: `data[r * cols + c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }
}

/// Why a `.npy` file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not a .npy file (missing the \\x93NUMPY magic)")]
    Magic,
    #[error("unsupported .npy format version {0}.{1} (expected 1.0, 2.0 or 3.0)")]
    Version(u8, u8),
    #[error("malformed .npy header: {0}")]
    Header(String),
    #[error("unsupported dtype '{0}': expected float32 or float64 ('<f4', '<f8', '>f4', '>f8')")]
    Dtype(String),
    #[error("expected a 2-D array (frequency × time), got shape {0:?}")]
    Shape(Vec<usize>),
    #[error("shape ({rows}, {cols}) has more than {max} elements")]
    TooLarge {
        rows: usize,
        cols: usize,
        max: usize,
    },
    #[error(
        "the spectrogram has {got} rows; --n-fft needs {expected} (n_fft/2 + 1): try --n-fft {}",
        2 * got.saturating_sub(1)
    )]
    Rows { expected: usize, got: usize },
    #[error("file is truncated: the header promises {expected} bytes of data, found {got}")]
    Truncated { expected: usize, got: usize },
}

/// Most elements a matrix may have (1 GiB as f32): the shape is checked against it, and
/// against the caller's expected row count, before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// Reads a 2-D float `.npy` matrix from a reader.
pub fn read_matrix<R: Read>(r: R) -> Result<Matrix, NpyError> {
    read_matrix_checked(r, None)
}

/// Reads a 2-D float `.npy` file whose row count must be `rows` (checked from the header,
/// before the data is read).
pub fn read_matrix_file_rows(path: &std::path::Path, rows: usize) -> Result<Matrix, NpyError> {
    read_matrix_checked(
        std::io::BufReader::new(std::fs::File::open(path)?),
        Some(rows),
    )
}

fn read_matrix_checked<R: Read>(mut r: R, want_rows: Option<usize>) -> Result<Matrix, NpyError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| NpyError::Magic)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(NpyError::Magic);
    }
    let (major, minor) = (magic[6], magic[7]);
    let header_len = match major {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            u32::from_le_bytes(b) as usize
        }
        _ => return Err(NpyError::Version(major, minor)),
    };
    if header_len > 1 << 20 {
        return Err(NpyError::Header(format!(
            "header length {header_len} is implausible"
        )));
    }
    let mut hb = vec![0u8; header_len];
    r.read_exact(&mut hb)
        .map_err(|_| NpyError::Header("header is truncated".into()))?;
    let header = String::from_utf8(hb).map_err(|_| NpyError::Header("not UTF-8".into()))?;
    let descr = dict_value(&header, "descr")?;
    let descr = unquote(descr)?;
    let fortran = match dict_value(&header, "fortran_order")? {
        "True" => true,
        "False" => false,
        v => return Err(NpyError::Header(format!("fortran_order is '{v}'"))),
    };
    let shape = parse_shape(dict_value(&header, "shape")?)?;
    let (size, big_endian) = match descr.as_str() {
        "<f4" | "=f4" => (4, false),
        ">f4" => (4, true),
        "<f8" | "=f8" => (8, false),
        ">f8" => (8, true),
        _ => return Err(NpyError::Dtype(descr)),
    };
    if shape.len() != 2 {
        return Err(NpyError::Shape(shape));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let n = rows
        .checked_mul(cols)
        .filter(|n| n.checked_mul(size).is_some())
        .ok_or_else(|| NpyError::Shape(shape.clone()))?;
    if n > MAX_ELEMENTS {
        return Err(NpyError::TooLarge {
            rows,
            cols,
            max: MAX_ELEMENTS,
        });
    }
    if let Some(w) = want_rows.filter(|&w| w != rows) {
        return Err(NpyError::Rows {
            expected: w,
            got: rows,
        });
    }
    let expected = n * size;
    // Grown as data arrives: a forged shape on a short file costs nothing.
    let mut raw = Vec::with_capacity(expected.min(1 << 20));
    r.take(expected as u64).read_to_end(&mut raw)?;
    if raw.len() != expected {
        return Err(NpyError::Truncated {
            expected,
            got: raw.len(),
        });
    }
    let vals: Vec<f32> = raw
        .chunks_exact(size)
        .map(|c| match (size, big_endian) {
            (4, false) => f32::from_le_bytes(c.try_into().unwrap()),
            (4, true) => f32::from_be_bytes(c.try_into().unwrap()),
            (_, false) => f64::from_le_bytes(c.try_into().unwrap()) as f32,
            (_, true) => f64::from_be_bytes(c.try_into().unwrap()) as f32,
        })
        .collect();
    let data = if fortran && rows > 1 && cols > 1 {
        // Column-major on disk: element (r, c) is at c * rows + r.
        let mut d = vec![0.0f32; n];
        for c in 0..cols {
            for r in 0..rows {
                d[r * cols + c] = vals[c * rows + r];
            }
        }
        d
    } else {
        vals
    };
    Ok(Matrix { rows, cols, data })
}

/// Reads a 2-D float `.npy` file.
pub fn read_matrix_file(path: &std::path::Path) -> Result<Matrix, NpyError> {
    read_matrix(std::io::BufReader::new(std::fs::File::open(path)?))
}

/// Writes `m` as a version-1.0 `<f4` C-order `.npy`.
pub fn write_matrix<W: Write>(mut w: W, m: &Matrix) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.rows, m.cols
    );
    // Pad so that magic + len + header is a multiple of 64, ending in '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for v in &m.data {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

/// The text after `'key':` up to the next top-level `,` or `}`.
fn dict_value<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let pat_s = format!("'{key}'");
    let pat_d = format!("\"{key}\"");
    let start = header
        .find(&pat_s)
        .map(|i| i + pat_s.len())
        .or_else(|| header.find(&pat_d).map(|i| i + pat_d.len()))
        .ok_or_else(|| NpyError::Header(format!("no '{key}' entry in {:?}", header.trim())))?;
    let rest = header[start..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| NpyError::Header(format!("no ':' after '{key}'")))?
        .trim_start();
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(rest[..i].trim()),
            _ => {}
        }
    }
    Err(NpyError::Header(format!("unterminated '{key}' entry")))
}

fn unquote(s: &str) -> Result<String, NpyError> {
    let t = s.trim();
    if t.len() >= 2
        && ((t.starts_with('\'') && t.ends_with('\'')) || (t.starts_with('"') && t.ends_with('"')))
    {
        Ok(t[1..t.len() - 1].to_string())
    } else {
        // A structured dtype is a list, not a string.
        Err(NpyError::Dtype(t.to_string()))
    }
}

fn parse_shape(s: &str) -> Result<Vec<usize>, NpyError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| NpyError::Header(format!("shape '{s}' is not a tuple")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| NpyError::Header(format!("bad dimension '{t}' in shape '{s}'")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a .npy byte stream by hand (the layout numpy documents), independent of the writer.
    fn npy(descr: &str, fortran: bool, shape: &str, payload: &[u8], version: u8) -> Vec<u8> {
        let mut h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        h.push('\n');
        let mut v = b"\x93NUMPY".to_vec();
        v.push(version);
        v.push(0);
        if version == 1 {
            v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            v.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn fortran_order_float64_is_transposed_to_row_major() {
        // numpy.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores 1 4 2 5 3 6.
        let payload: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = read_matrix(&npy("<f8", true, "(2, 3)", &payload, 1)[..]).unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn big_endian_float32_version_2_reads() {
        let payload: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let m = read_matrix(&npy(">f4", false, "(1, 2)", &payload, 2)[..]).unwrap();
        assert_eq!(m.data, vec![1.5, -2.0]);
    }

    #[test]
    fn writer_output_reads_back() {
        let m = Matrix {
            rows: 3,
            cols: 2,
            data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.5],
        };
        let mut buf = Vec::new();
        write_matrix(&mut buf, &m).unwrap();
        assert_eq!(
            (buf.len() - 6 * 4) % 64,
            0,
            "header must be 64-byte aligned"
        );
        assert_eq!(read_matrix(&buf[..]).unwrap(), m);
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let e = read_matrix(&b"hello world"[..]).unwrap_err();
        assert!(matches!(e, NpyError::Magic), "{e}");
        let e = read_matrix(&npy("<i4", false, "(1, 1)", &[0; 4], 1)[..]).unwrap_err();
        assert!(e.to_string().contains("<i4"), "{e}");
        let e = read_matrix(&npy("<c8", false, "(1, 1)", &[0; 8], 1)[..]).unwrap_err();
        assert!(matches!(e, NpyError::Dtype(_)), "{e}");
        let e = read_matrix(&npy("<f4", false, "(4,)", &[0; 16], 1)[..]).unwrap_err();
        assert!(matches!(e, NpyError::Shape(_)), "{e}");
        let e = read_matrix(&npy("<f4", false, "(2, 2)", &[0; 12], 1)[..]).unwrap_err();
        assert!(
            matches!(
                e,
                NpyError::Truncated {
                    expected: 16,
                    got: 12
                }
            ),
            "{e}"
        );
        let mut v = npy("<f4", false, "(1, 1)", &[0; 4], 1);
        v[6] = 9;
        assert!(matches!(
            read_matrix(&v[..]).unwrap_err(),
            NpyError::Version(9, 0)
        ));
    }
}
