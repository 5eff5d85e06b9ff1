//! The QR reading pipeline behind [`crate::scan::read_codes`]: preprocessing in front of
//! `rqrr`, chosen by measurement on the hard-frame corpus (`qrbench`).
//!
//! Passes run from cheap to expensive and stop at the first code read:
//! 1. a pyramid level with the long side near 640 px (a box downscale: fast, and it averages
//!    sensor noise, moiré and JPEG blocks away), binarised with a local (integral-image)
//!    mean threshold that follows uneven light and glare;
//! 2. the same level inverted (dark-mode pages show light-on-dark codes);
//! 3. the next level up (≈ 1280 px, then full size) for codes with small modules, normal and
//!    inverted.
//!
//! Every step can be switched off ([`Steps`]) so the benchmark can show what each one buys.

/// Which preprocessing steps run (all on in [`scan_frame`](crate::scan_frame)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// Start at a downscaled level and go up (off: full resolution only).
    pub pyramid: bool,
    /// Local-mean binarisation (off: rqrr's own row-wise threshold).
    pub adaptive: bool,
    /// Retry each level inverted.
    pub invert: bool,
    /// Levels above the first (off: the first level only).
    pub upper_levels: bool,
}

impl Steps {
    /// Everything on.
    pub const ALL: Self = Self {
        pyramid: true,
        adaptive: true,
        invert: true,
        upper_levels: true,
    };
}

/// Long side of the first pyramid level.
const FIRST_LEVEL: usize = 640;

/// Reads the frame with every step.
pub(crate) fn read(luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
    read_with(luma, width, height, stride, Steps::ALL)
}

/// Reads the frame with the chosen steps (the benchmark's ablation; the buffer must already be
/// checked against the dimensions).
pub fn read_with(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    steps: Steps,
) -> Vec<String> {
    let long = width.max(height);
    let mut factors: Vec<usize> = if steps.pyramid {
        let first = (long / FIRST_LEVEL).max(1);
        let mut f = vec![first];
        let mut next = first;
        while next > 1 {
            next = (next / 2).max(1);
            f.push(next);
        }
        f
    } else {
        vec![1]
    };
    if !steps.upper_levels {
        factors.truncate(1);
    }
    for factor in factors {
        let (w, h) = (width / factor, height / factor);
        let level;
        let (pixels, row) = if factor == 1 {
            (luma, stride)
        } else {
            level = downscale(luma, stride, factor, w, h);
            (&level[..], w)
        };
        let found = if steps.adaptive {
            let dark = binarise(pixels, w, h, row);
            let mut found = decode_bitmap(&dark, w, h, false);
            if found.is_empty() && steps.invert {
                found = decode_bitmap(&dark, w, h, true);
            }
            found
        } else {
            let mut found = decode_grey(pixels, w, h, row, false);
            if found.is_empty() && steps.invert {
                found = decode_grey(pixels, w, h, row, true);
            }
            found
        };
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// rqrr with its own threshold, on the raw frame (the benchmark's "plain rqrr").
pub fn read_plain(luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
    decode_grey(luma, width, height, stride, false)
}

/// Every grid rqrr finds in a prepared image, decoded (rqrr does not export its buffer type).
macro_rules! grids {
    ($prepared:expr) => {{
        let mut prepared = $prepared;
        prepared
            .detect_grids()
            .iter()
            .filter_map(|g| g.decode().ok().map(|(_, text)| text))
            .collect()
    }};
}

fn decode_grey(luma: &[u8], w: usize, h: usize, stride: usize, invert: bool) -> Vec<String> {
    if invert {
        grids!(rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            255 - luma[y * stride + x]
        }))
    } else {
        grids!(rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            luma[y * stride + x]
        }))
    }
}

fn decode_bitmap(dark: &[bool], w: usize, h: usize, invert: bool) -> Vec<String> {
    grids!(rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| {
        dark[y * w + x] != invert
    }))
}

/// Box-filter downscale by an integer factor.
fn downscale(luma: &[u8], stride: usize, factor: usize, w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    let area = factor * factor;
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0usize;
            for dy in 0..factor {
                let row = (y * factor + dy) * stride + x * factor;
                sum += luma[row..row + factor]
                    .iter()
                    .map(|&v| usize::from(v))
                    .sum::<usize>();
            }
            out[y * w + x] = u8::try_from(sum / area).unwrap_or(u8::MAX);
        }
    }
    out
}

/// Local-mean threshold: a pixel is dark when it is below the mean of the window around it
/// by a margin. The window (about an eighth of the short side) spans several modules of any
/// code that fills a useful part of the frame, and is small enough to follow a light gradient
/// or a glare spot. Flat windows (no contrast) are light, so noise in walls stays out.
fn binarise(luma: &[u8], w: usize, h: usize, stride: usize) -> Vec<bool> {
    let iw = w + 1;
    let mut integral = vec![0u32; iw * (h + 1)];
    for y in 0..h {
        let mut run = 0u32;
        for x in 0..w {
            run += u32::from(luma[y * stride + x]);
            integral[(y + 1) * iw + x + 1] = integral[y * iw + x + 1] + run;
        }
    }
    let radius = (w.min(h) / 16).clamp(6, 40);
    let mut dark = vec![false; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let sum = integral[y1 * iw + x1] + integral[y0 * iw + x0]
                - integral[y0 * iw + x1]
                - integral[y1 * iw + x0];
            let area = ((y1 - y0) * (x1 - x0)) as u32;
            let v = u32::from(luma[y * stride + x]);
            // dark if v < mean * 0.9, i.e. 10·v·area < 9·sum
            dark[y * w + x] = 10 * v * area < 9 * sum;
        }
    }
    dark
}
