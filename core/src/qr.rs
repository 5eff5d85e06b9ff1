//! The QR reading pipeline behind [`crate::scan::read_codes`], chosen by measurement on the
//! seeded hard-frame corpus (`qrbench`, see `qrbench/README.md` for the tables).
//!
//! The decoder is `rxing`'s port of the zxing-cpp QR reader (concentric finder patterns,
//! perspective sampling), which read more hard frames than `rqrr` and in a third of the time.
//! It is fed by `qr/binarizer.rs`: rxing's hybrid block binarizer, recomputed row-wise (the same
//! bits, at a fraction of the cost; binarizing was half of a pass). Around it:
//! 1. frames with a long side over 1920 px are box-downscaled first (a 4K frame costs four
//!    times a 1080p one and its modules are large anyway);
//! 2. passes, stopping at the first code: full size under a 3 × 3 box blur, half size (a box
//!    downscale), full size, locally contrast-normalised half size, normalised blurred full
//!    size;
//! 3. each pass reads the binarized frame and then its inverse (dark-mode pages show
//!    light-on-dark codes: the binarized frame flipped, or on the normalised passes the
//!    inverted frame binarized afresh), with "try harder" (every row scanned for finder
//!    patterns).
//!
//! Each step can be switched off ([`Steps`]) so the benchmark can show what it buys.

use std::collections::HashSet;

use rxing::common::HybridBinarizer;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source, Reader as _};

use binarizer::BlockBinarizer;

mod binarizer;

/// Which steps run (all on in [`scan_frame`](crate::scan_frame)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// Also try the inverted image (light-on-dark codes).
    pub inverted: bool,
    /// Half-size passes (the first pass, and the first normalised one).
    pub half_size: bool,
    /// rxing's "try harder" (every row scanned for finder patterns).
    pub try_harder: bool,
    /// Passes on a locally contrast-normalised frame (low contrast, glare, shadows).
    pub normalised: bool,
    /// A 3 × 3 box blur: the first pass, and under the normalised full-size pass.
    pub blurred: bool,
}

impl Steps {
    /// Everything on.
    pub const ALL: Self = Self {
        inverted: true,
        half_size: true,
        try_harder: true,
        normalised: true,
        blurred: true,
    };
}

/// Longest side decoded at full resolution.
const MAX_SIDE: usize = 1920;
/// Half-size passes run from this short side up (1080p and larger). Below it the half-size
/// frame has too few pixels per module, and the blurred pass already averages the noise: at
/// 720p the half-size passes read no extra frame and cost the median frame 1.5 ms.
const MIN_HALF_SHORT_SIDE: usize = 1000;

/// Reads the frame with every step.
pub(crate) fn read(luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
    read_with(luma, width, height, stride, Steps::ALL)
}

/// Reads the frame with the chosen steps (the benchmark's ablation). The buffer must hold
/// `stride * (height - 1) + width` bytes.
///
/// Passes, until one reads a code: blurred full size, half size, full size, normalised half
/// size, normalised blurred full size (the order that gave the lowest median time for the
/// same reads on the corpus; `qrbench/README.md`).
pub fn read_with(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    steps: Steps,
) -> Vec<String> {
    let factor = width.max(height).div_ceil(MAX_SIDE).max(1);
    let (w, h) = (width / factor, height / factor);
    let level;
    let pixels: &[u8] = if factor > 1 {
        level = downscale(luma, stride, factor, w, h);
        &level
    } else if stride == width {
        &luma[..width * height]
    } else {
        level = (0..height)
            .flat_map(|y| &luma[y * stride..y * stride + width])
            .copied()
            .collect::<Vec<u8>>();
        &level
    };
    // Blurred: sensor noise, JPEG blocks and moiré averaged away, and fewer false finder
    // candidates, so this pass is also the quickest at full size.
    let blurred = steps.blurred.then(|| blur3(pixels, w, h));
    if let Some(blurred) = &blurred {
        let found = decode(blurred, w, h, steps, Inverse::Flipped);
        if !found.is_empty() {
            return found;
        }
    }
    let half = (steps.half_size && w.min(h) >= MIN_HALF_SHORT_SIDE).then(|| {
        let (hw, hh) = (w / 2, h / 2);
        (downscale(pixels, w, 2, hw, hh), hw, hh)
    });
    if let Some((small, hw, hh)) = &half {
        let found = decode(small, *hw, *hh, steps, Inverse::Flipped);
        if !found.is_empty() {
            return found;
        }
    }
    // Small modules, which blurring and halving wipe out.
    let found = decode(pixels, w, h, steps, Inverse::Flipped);
    if !found.is_empty() || !steps.normalised {
        return found;
    }
    if let Some((small, hw, hh)) = &half {
        let found = decode(&normalise(small, *hw, *hh), *hw, *hh, steps, Inverse::Fresh);
        if !found.is_empty() {
            return found;
        }
    }
    // Low contrast under glare, in shadow or behind moiré: the most expensive pass, last.
    let base = blurred.as_deref().unwrap_or(pixels);
    decode(&normalise(base, w, h), w, h, steps, Inverse::Fresh)
}

/// 3 × 3 box blur (the outermost rows and columns are copied).
fn blur3(luma: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = luma[..w * h].to_vec();
    if w < 3 || h < 3 {
        return out;
    }
    // Per row: vertical sums of three (one buffer), then three of those across; both loops
    // are straight slices the compiler vectorises.
    let mut down = vec![0u16; w];
    for y in 1..h - 1 {
        let (above, here, below) = (
            &luma[(y - 1) * w..y * w],
            &luma[y * w..(y + 1) * w],
            &luma[(y + 1) * w..(y + 2) * w],
        );
        for (((sum, &a), &b), &c) in down.iter_mut().zip(above).zip(here).zip(below) {
            *sum = u16::from(a) + u16::from(b) + u16::from(c);
        }
        let out_row = &mut out[y * w + 1..(y + 1) * w - 1];
        for (o, window) in out_row.iter_mut().zip(down.windows(3)) {
            // At most 9 × 255, so the quotient fits a byte.
            *o = ((window[0] + window[1] + window[2]) / 9) as u8;
        }
    }
    out
}

/// Pixels per side of the blocks that share one mean and spread in [`normalise`].
const NORMALISE_BLOCK: usize = 4;

/// Local contrast normalisation: each pixel relative to the mean and spread of the window
/// around it, stretched to the full range. The window spans several modules, so a faint code
/// under glare or in a shadow gets the contrast the binarizer needs (it treats blocks with
/// less than 24 levels of range as flat). Mean and spread are taken once per 4 × 4 block:
/// the window is 25 to 97 pixels wide, so they barely move within a block, and the pass costs
/// a fifth of the per-pixel version (which read no more frames).
fn normalise(luma: &[u8], w: usize, h: usize) -> Vec<u8> {
    const B: usize = NORMALISE_BLOCK;
    let iw = w + 1;
    let mut sum = vec![0u32; iw * (h + 1)];
    let mut sq = vec![0u64; iw * (h + 1)];
    for y in 0..h {
        let (mut run, mut run_sq) = (0u32, 0u64);
        for x in 0..w {
            let v = u32::from(luma[y * w + x]);
            run += v;
            run_sq += u64::from(v * v);
            sum[(y + 1) * iw + x + 1] = sum[y * iw + x + 1] + run;
            sq[(y + 1) * iw + x + 1] = sq[y * iw + x + 1] + run_sq;
        }
    }
    let radius = (w.min(h) / 24).clamp(12, 48);
    let (bw, bh) = (w.div_ceil(B), h.div_ceil(B));
    // Per block: out = v * scale + offset.
    let mut params = vec![(0f32, 0f32); bw * bh];
    for by in 0..bh {
        let cy = (by * B + B / 2).min(h - 1);
        let (y0, y1) = (cy.saturating_sub(radius), (cy + radius + 1).min(h));
        for bx in 0..bw {
            let cx = (bx * B + B / 2).min(w - 1);
            let (x0, x1) = (cx.saturating_sub(radius), (cx + radius + 1).min(w));
            let area = ((y1 - y0) * (x1 - x0)) as f32;
            let s = (sum[y1 * iw + x1] + sum[y0 * iw + x0] - sum[y0 * iw + x1] - sum[y1 * iw + x0])
                as f32;
            let q =
                (sq[y1 * iw + x1] + sq[y0 * iw + x0] - sq[y0 * iw + x1] - sq[y1 * iw + x0]) as f32;
            let mean = s / area;
            let spread = (q / area - mean * mean).max(0.0).sqrt().max(6.0);
            let scale = 60.0 / spread;
            params[by * bw + bx] = (scale, 128.0 - mean * scale);
        }
    }
    let mut out = vec![0u8; w * h];
    for (y, (row, out_row)) in luma
        .chunks_exact(w)
        .zip(out.chunks_exact_mut(w))
        .enumerate()
    {
        let block_row = &params[(y / B) * bw..(y / B + 1) * bw];
        for (x, (o, &v)) in out_row.iter_mut().zip(row).enumerate() {
            let (scale, offset) = block_row[x / B];
            *o = (f32::from(v) * scale + offset).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// How a pass reads a light-on-dark code.
#[derive(Clone, Copy)]
enum Inverse {
    /// Invert the binarized frame: no second binarization, so cheap.
    Flipped,
    /// Binarize the inverted luma afresh. The hybrid binarizer takes a flat block for
    /// background, which it assumes is light; on a dark page that guess breaks, and on a
    /// normalised frame (where every block is stretched) it reads more codes. Costs a
    /// second binarization, so only the normalised passes use it.
    Fresh,
}

/// One pass of rxing's port of the zxing-cpp QR reader (concentric finder patterns,
/// perspective sampling) on the block-binarized frame, then, if asked, its inverse.
/// ZXing's older Java-style QR reader, which rxing also runs by default, is skipped: on the
/// corpus it read no frame this one missed and cost a third more time.
fn decode(luma: &[u8], width: usize, height: usize, steps: Steps, inverse: Inverse) -> Vec<String> {
    let hints = DecodeHints {
        TryHarder: Some(steps.try_harder),
        // Only QR: Micro QR and rMQR sampling would cost time and could "read" noise.
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        ..Default::default()
    };
    // A decoder bug reachable from a crafted code must not take the app down: a panic inside
    // rxing counts as "no code in this frame".
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if width < binarizer::MIN_SIDE || height < binarizer::MIN_SIDE {
            // Smaller than the block grid: rxing's own binarizer (a global histogram).
            let (w, h) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
            let source = Luma8Source::new_with_slice(luma, w, h).ok()?;
            let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
            return read_or_flipped(&mut bitmap, &hints, steps.inverted);
        }
        let mut bitmap = BinaryBitmap::new(BlockBinarizer::new(luma, width, height, false)?);
        match (steps.inverted, inverse) {
            // Light-on-dark (dark-mode pages), binarized afresh.
            (true, Inverse::Fresh) => read_bitmap(&mut bitmap, &hints).or_else(|| {
                let fresh = BlockBinarizer::new(luma, width, height, true)?;
                read_bitmap(&mut BinaryBitmap::new(fresh), &hints)
            }),
            (flipped, _) => read_or_flipped(&mut bitmap, &hints, flipped),
        }
    }))
    .ok()
    .flatten()
    .into_iter()
    .collect()
}

/// Reads the binarized frame and, if `flipped` and nothing was read, the same bits inverted
/// (light-on-dark codes).
fn read_or_flipped<B: Binarizer>(
    bitmap: &mut BinaryBitmap<B>,
    hints: &DecodeHints,
    flipped: bool,
) -> Option<String> {
    read_bitmap(bitmap, hints).or_else(|| {
        flipped.then(|| {
            bitmap.invert();
            read_bitmap(bitmap, hints)
        })?
    })
}

/// rxing's zxing-cpp-port QR reader on one binarized frame.
fn read_bitmap<B: Binarizer>(bitmap: &mut BinaryBitmap<B>, hints: &DecodeHints) -> Option<String> {
    QrReader
        .decode_with_hints(bitmap, hints)
        .ok()
        .map(|r| r.getText().to_owned())
        // An empty payload says nothing (and rxing reports one for some misreads).
        .filter(|text| !text.is_empty())
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
