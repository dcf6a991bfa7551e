//! Text for image labels: the public-domain 8×8 bitmap font of the `font8x8` crate, scaled by
//! pixel replication. No system fonts are needed, so rendering works on any headless machine.

use font8x8::legacy::BASIC_LEGACY;

/// Calls `put(x, y)` for every lit pixel of `s` drawn at `(x, y)` (top-left; for `vertical`
/// text, which reads bottom to top, `(x, y)` is the bottom-left). Non-ASCII becomes '?'.
pub fn draw(s: &str, x: i64, y: i64, scale: usize, vertical: bool, put: &mut dyn FnMut(i64, i64)) {
    let sc = scale as i64;
    for (i, ch) in s.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        };
        let glyph = BASIC_LEGACY[code];
        let ox = i as i64 * 8 * sc;
        for (gy, row) in glyph.iter().enumerate() {
            for gx in 0..8 {
                if row & (1 << gx) == 0 {
                    continue;
                }
                for dy in 0..sc {
                    for dx in 0..sc {
                        let (u, v) = (ox + gx as i64 * sc + dx, gy as i64 * sc + dy);
                        if vertical {
                            put(x + v, y - u);
                        } else {
                            put(x + u, y + v);
                        }
                    }
                }
            }
        }
    }
}
