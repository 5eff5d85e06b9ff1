//! The QR reading pipeline behind [`crate::scan::read_codes`], chosen by measurement on the
//! seeded hard-frame corpus (`qrbench`, see `qrbench/README.md` for the tables).
//!
//! The decoder is `rxing`'s port of the zxing-cpp QR reader (concentric finder patterns,
//! perspective sampling), which read more hard frames than `rqrr` and in a third of the time.
//! It is fed by `qr/binarizer.rs`: rxing's hybrid block binarizer, recomputed row-wise (the same
//! bits, at a fraction of the cost; binarizing was half of a pass). Around it:
//! 1. frames with a long side over 1920 px are box-downscaled first (a 4K frame costs four
//!    times a 1080p one and its modules are large anyway);
//! 2. passes, stopping at the first code, in the order of `Pass::ALL`: full size, under a
//!    3 × 3 box blur, half size (a box downscale, from 1080p), 2× upscaled, locally
//!    contrast-normalised (full, blurred, half size), normalised then upscaled (a camera
//!    runs the deeper passes in turn, `CameraReader`);
//! 3. each pass reads the binarized frame and then its inverse (dark-mode pages show
//!    light-on-dark codes: the binarized frame flipped, or on the normalised passes the
//!    inverted frame binarized afresh), with "try harder" (every row scanned for finder
//!    patterns).
//!
//! Each step can be switched off ([`Steps`]) so the benchmark can show what it buys.

use rxing::common::cpp_essentials::{
    ConcentricPattern, FindLeftGuardBy, FixedPattern, IsPattern, LocateConcentricPattern,
    PatternRow, PatternType, PatternView,
};
use rxing::common::{BitMatrix, DetectorRXingResult as _, HybridBinarizer};
use rxing::point;
use rxing::qrcode::cpp_port::decoder::Decode;
use rxing::qrcode::cpp_port::detector::{GenerateFinderPatternSets, SampleQR};
use rxing::{Binarizer, BinaryBitmap, Luma8Source};

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
    /// A 3 × 3 box blur: a pass of its own, and under one normalised full-size pass.
    pub blurred: bool,
    /// A pass at twice the size (modules under 2.5 px).
    pub upscaled: bool,
}

impl Steps {
    /// Everything on.
    pub const ALL: Self = Self {
        inverted: true,
        half_size: true,
        try_harder: true,
        normalised: true,
        blurred: true,
        upscaled: true,
    };

    /// One plain full-size pass, no inverse: rxing on its own (the benchmark's baseline).
    pub const PLAIN: Self = Self {
        inverted: false,
        half_size: false,
        try_harder: true,
        normalised: false,
        blurred: false,
        upscaled: false,
    };
}

/// Longest side decoded at full resolution.
const MAX_SIDE: usize = 1920;
/// Half-size passes run from this short side up (1080p and larger). Below it the half-size
/// frame has too few pixels per module, and the blurred pass already averages the noise: at
/// 720p the half-size passes read no extra frame and cost the median frame 1.5 ms.
const MIN_HALF_SHORT_SIDE: usize = 1000;

/// One way of looking at a frame; each reads the binarized frame and, with
/// [`Steps::inverted`], its inverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Full size under a 3 × 3 box blur: noise, JPEG blocks and moiré averaged away, and
    /// fewer false finder candidates, so also the quickest full-size pass.
    Blurred,
    /// Half size (a box downscale), from 1080p up.
    Half,
    /// Full size as it came: small modules, which blurring and halving wipe out.
    Full,
    /// Half size, locally contrast-normalised (from 1080p up).
    NormalisedHalf,
    /// Full size, blurred, locally contrast-normalised: low contrast under glare, in shadow
    /// or behind moiré. The most expensive pass.
    NormalisedBlurred,
    /// Full size, locally contrast-normalised without the blur (faint small modules).
    Normalised,
    /// Twice the size, bilinear (modules under 2.5 px).
    Upscaled,
    /// Locally contrast-normalised, then twice the size: faint codes with modules near 2 px.
    /// The costliest pass (four times the pixels, binarized twice), so a camera runs it only
    /// around finder patterns it has seen, never over a whole frame.
    NormalisedUpscaled,
}

impl Pass {
    /// Every pass, in the order [`read_with`] tries them: most frames read per millisecond
    /// first (`qrbench --passes`). The first is also the one [`CameraReader`] runs on every
    /// frame.
    pub const ALL: [Self; 8] = [
        Self::Full,
        Self::Blurred,
        Self::Half,
        Self::Upscaled,
        Self::Normalised,
        Self::NormalisedBlurred,
        Self::NormalisedHalf,
        Self::NormalisedUpscaled,
    ];

    /// Whether `steps` and the frame's size let this pass run.
    fn runs(self, steps: Steps, w: usize, h: usize) -> bool {
        match self {
            Self::Blurred => steps.blurred,
            Self::Half => steps.half_size && w.min(h) >= MIN_HALF_SHORT_SIDE,
            Self::Full => true,
            Self::NormalisedHalf => {
                steps.normalised && steps.half_size && w.min(h) >= MIN_HALF_SHORT_SIDE
            }
            Self::Normalised => steps.normalised,
            Self::NormalisedBlurred => steps.normalised && steps.blurred,
            Self::Upscaled => steps.upscaled,
            Self::NormalisedUpscaled => steps.normalised && steps.upscaled,
        }
    }

    /// Whether a camera runs this pass only around finder patterns it saw.
    #[must_use]
    pub fn crop_only(self) -> bool {
        self == Self::NormalisedUpscaled
    }
}

/// Whether a buffer holds a frame of this size, and the frame survives the downscale to
/// [`MAX_SIDE`] with at least one pixel each way (a 1 × 4000 strip does not). Anything else
/// reads as no code.
fn usable(len: usize, width: usize, height: usize, stride: usize) -> bool {
    let factor = width.max(height).div_ceil(MAX_SIDE).max(1);
    width / factor > 0
        && height / factor > 0
        && stride >= width
        && stride
            .checked_mul(height - 1)
            .and_then(|n| n.checked_add(width))
            .is_some_and(|needed| needed <= len)
}

/// A frame brought to at most [`MAX_SIDE`] and packed, with the derived images the passes
/// share made on first use.
struct Prepared<'a> {
    pixels: std::borrow::Cow<'a, [u8]>,
    w: usize,
    h: usize,
    blurred: Option<Vec<u8>>,
    half: Option<Vec<u8>>,
}

impl<'a> Prepared<'a> {
    fn new(luma: &'a [u8], width: usize, height: usize, stride: usize) -> Self {
        let factor = width.max(height).div_ceil(MAX_SIDE).max(1);
        let (w, h) = (width / factor, height / factor);
        let pixels = if factor > 1 {
            downscale(luma, stride, factor, w, h).into()
        } else if stride == width {
            (&luma[..width * height]).into()
        } else {
            (0..height)
                .flat_map(|y| &luma[y * stride..y * stride + width])
                .copied()
                .collect::<Vec<u8>>()
                .into()
        };
        Self {
            pixels,
            w,
            h,
            blurred: None,
            half: None,
        }
    }

    fn blurred(&mut self) -> &[u8] {
        let (pixels, w, h) = (&self.pixels, self.w, self.h);
        self.blurred.get_or_insert_with(|| blur3(pixels, w, h))
    }

    fn half(&mut self) -> (&[u8], usize, usize) {
        let (pixels, w, h) = (&self.pixels, self.w, self.h);
        let half = self
            .half
            .get_or_insert_with(|| downscale(pixels, w, 2, w / 2, h / 2));
        (half, w / 2, h / 2)
    }

    /// Runs one pass (whether it should run at all is the caller's choice).
    fn read(&mut self, pass: Pass, steps: Steps) -> Vec<String> {
        let (w, h) = (self.w, self.h);
        match pass {
            Pass::Blurred => decode(self.blurred(), w, h, steps, Inverse::Flipped),
            Pass::Half => {
                let (small, hw, hh) = self.half();
                decode(small, hw, hh, steps, Inverse::Flipped)
            }
            Pass::Full => decode(&self.pixels, w, h, steps, Inverse::Flipped),
            Pass::NormalisedHalf => {
                let (small, hw, hh) = self.half();
                decode(&normalise(small, hw, hh), hw, hh, steps, Inverse::Fresh)
            }
            Pass::NormalisedBlurred => {
                let base = if steps.blurred {
                    self.blurred()
                } else {
                    &self.pixels
                };
                decode(&normalise(base, w, h), w, h, steps, Inverse::Fresh)
            }
            Pass::Normalised => decode(&normalise(&self.pixels, w, h), w, h, steps, Inverse::Fresh),
            Pass::Upscaled => {
                let big = upscale2(&self.pixels, w, h);
                decode(&big, 2 * w, 2 * h, steps, Inverse::Flipped)
            }
            Pass::NormalisedUpscaled => {
                let big = upscale2(&normalise(&self.pixels, w, h), w, h);
                decode(&big, 2 * w, 2 * h, steps, Inverse::Fresh)
            }
        }
    }
}

/// Reads the frame with every step.
pub(crate) fn read(luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
    read_with(luma, width, height, stride, Steps::ALL)
}

/// Reads the frame with the chosen steps (the benchmark's ablation). A buffer smaller than
/// `stride * (height - 1) + width` bytes reads as no code.
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
    if !usable(luma.len(), width, height, stride) {
        return Vec::new();
    }
    let mut frame = Prepared::new(luma, width, height, stride);
    for pass in Pass::ALL {
        if pass.runs(steps, frame.w, frame.h) {
            let found = frame.read(pass, steps);
            if !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}

/// Reads the frame with one pass only (if its size lets the pass run; the benchmark's
/// per-pass table).
pub fn read_pass(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    pass: Pass,
) -> Vec<String> {
    if !usable(luma.len(), width, height, stride) {
        return Vec::new();
    }
    let mut frame = Prepared::new(luma, width, height, stride);
    if pass.runs(Steps::ALL, frame.w, frame.h) {
        frame.read(pass, Steps::ALL)
    } else {
        Vec::new()
    }
}

/// Reads a camera's frames one after another, spreading the passes over them. Every frame
/// gets the first pass; a frame also gets the next of the deeper ones in turn, but only if the
/// first pass saw a finder pattern — and then only around the patterns it saw — or, over the
/// whole frame, on every [`CameraReader::BLIND_EVERY`]-th frame (a faint code can hide its
/// finder patterns from the first pass). A frame costs one or two
/// passes instead of up to eight, frames without a code (every frame while the person is
/// still aiming) mostly one, and a code only a deeper pass reads is read within a few frames
/// of being held still.
#[derive(Debug, Default)]
pub struct CameraReader {
    /// Frames read so far.
    frames: usize,
    /// Deeper passes run around finder patterns so far (which one is next).
    deep: usize,
    /// Deeper passes run on the whole frame so far (blind frames; which one is next).
    blind: usize,
}

impl CameraReader {
    /// Without a finder pattern in the first pass, a deeper pass runs on one frame in this many.
    pub const BLIND_EVERY: usize = 3;

    /// A reader at its first frame.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The deeper passes that run on frames of this size, in the order they take turns.
    #[must_use]
    pub fn deep_passes(width: usize, height: usize) -> Vec<Pass> {
        let factor = width.max(height).div_ceil(MAX_SIDE).max(1);
        let (w, h) = (width / factor, height / factor);
        Pass::ALL[1..]
            .iter()
            .copied()
            .filter(|p| p.runs(Steps::ALL, w, h))
            .collect()
    }

    /// Reads the next frame (a buffer smaller than `stride * (height - 1) + width` bytes reads
    /// as no code).
    pub fn read(&mut self, luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
        if !usable(luma.len(), width, height, stride) {
            return Vec::new();
        }
        let mut frame = Prepared::new(luma, width, height, stride);
        let (w, h) = (frame.w, frame.h);
        self.frames = self.frames.wrapping_add(1);
        let (found, seen) = decode_seen(&frame.pixels, w, h, Steps::ALL, Inverse::Flipped);
        let blind = self.frames.is_multiple_of(Self::BLIND_EVERY);
        if !found.is_empty() || !(seen.bounds.is_some() || blind) {
            return found;
        }
        let mut deep = Self::deep_passes(w, h);
        if blind {
            deep.retain(|pass| !pass.crop_only());
        }
        // Where finder patterns showed, only around them (a fraction of the frame); on a
        // blind frame, everywhere, with the passes taking turns of their own.
        let turn = if blind {
            &mut self.blind
        } else {
            &mut self.deep
        };
        let Some(&pass) = deep.get(*turn % deep.len().max(1)) else {
            return found;
        };
        *turn = turn.wrapping_add(1);
        match seen.region(w, h).filter(|_| !blind) {
            Some((x, y, cw, ch)) if cw * ch < w * h => {
                let mut crop = Prepared::new(&frame.pixels[y * w + x..], cw, ch, w);
                crop.read(pass, Steps::ALL)
            }
            _ => frame.read(pass, Steps::ALL),
        }
    }
}

/// Twice the size, bilinear (the last row and column repeat).
fn upscale2(luma: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; 4 * w * h];
    let at = |x: usize, y: usize| u16::from(luma[y.min(h - 1) * w + x.min(w - 1)]);
    for y in 0..h {
        for x in 0..w {
            let (a, b, c, d) = (at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1));
            let o = 2 * y * 2 * w + 2 * x;
            out[o] = a as u8;
            out[o + 1] = ((a + b) / 2) as u8;
            out[o + 2 * w] = ((a + c) / 2) as u8;
            out[o + 2 * w + 1] = ((a + b + c + d) / 4) as u8;
        }
    }
    out
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
    decode_seen(luma, width, height, steps, inverse).0
}

/// Where a pass saw finder patterns (read or not): the box around their centres, and the
/// largest pattern's width, in that pass's pixels.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// `(x0, y0, x1, y1)`; `None` until a pattern is seen.
    bounds: Option<(f32, f32, f32, f32)>,
    /// The largest pattern's width (about seven modules).
    size: f32,
}

impl Seen {
    fn add(&mut self, x: f32, y: f32, size: f32) {
        let (x0, y0, x1, y1) = self.bounds.unwrap_or((x, y, x, y));
        self.bounds = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
        self.size = self.size.max(size);
    }

    /// The part of a `w` × `h` frame a code with these finder patterns can lie in: the box
    /// around them, widened by eight pattern widths (a code is at most about eight times its
    /// finder pattern, reading from one pattern), at least 64 pixels each way.
    fn region(&self, w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
        let (x0, y0, x1, y1) = self.bounds?;
        let margin = (8.0 * self.size).max(32.0);
        let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
        let (left, top) = (clamp(x0 - margin, w), clamp(y0 - margin, h));
        let (right, bottom) = (clamp(x1 + margin, w), clamp(y1 + margin, h));
        (right >= left + 64 && bottom >= top + 64).then_some((
            left,
            top,
            right - left,
            bottom - top,
        ))
    }
}

/// [`decode`], also saying where finder patterns were seen (read or not).
fn decode_seen(
    luma: &[u8],
    width: usize,
    height: usize,
    steps: Steps,
    inverse: Inverse,
) -> (Vec<String>, Seen) {
    let mut seen = Seen::default();
    // A decoder bug reachable from a crafted code should not take the app down: where panics
    // unwind (desktop, CLI, tests), one inside rxing counts as "no code in this frame". The
    // mobile library aborts on any panic (ADR 0007), so there this is no shield: the `scan`
    // fuzz target is what keeps rxing's panics out of reach.
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let harder = steps.try_harder;
        if width < binarizer::MIN_SIDE || height < binarizer::MIN_SIDE {
            // Smaller than the block grid: rxing's own binarizer (a global histogram).
            let (w, h) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
            let source = Luma8Source::new_with_slice(luma, w, h).ok()?;
            let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
            return read_or_flipped(&mut bitmap, harder, steps.inverted, &mut seen);
        }
        let mut bitmap = BinaryBitmap::new(BlockBinarizer::new(luma, width, height, false)?);
        match (steps.inverted, inverse) {
            // Light-on-dark (dark-mode pages), binarized afresh.
            (true, Inverse::Fresh) => read_matrix(bitmap.get_black_matrix(), harder, &mut seen)
                .or_else(|| {
                    let fresh = BlockBinarizer::new(luma, width, height, true)?;
                    let bitmap = BinaryBitmap::new(fresh);
                    read_matrix(bitmap.get_black_matrix(), harder, &mut seen)
                }),
            (flipped, _) => read_or_flipped(&mut bitmap, harder, flipped, &mut seen),
        }
    }))
    .ok()
    .flatten();
    (text.into_iter().collect(), seen)
}

/// Reads the binarized frame and, if `flipped` and nothing was read, the same bits inverted
/// (light-on-dark codes).
fn read_or_flipped<B: Binarizer>(
    bitmap: &mut BinaryBitmap<B>,
    try_harder: bool,
    flipped: bool,
    seen: &mut Seen,
) -> Option<String> {
    read_matrix(bitmap.get_black_matrix(), try_harder, seen).or_else(|| {
        flipped.then(|| {
            bitmap.invert();
            read_matrix(bitmap.get_black_matrix(), try_harder, seen)
        })?
    })
}

/// rxing's port of the zxing-cpp QR reader on one binarized frame (its `QrReader` for QR
/// only, written out so the caller learns whether any finder pattern was seen): finder
/// patterns, the sets of three that could be a code, then sampling and decoding each set
/// until one decodes. ZXing's older Java-style QR reader, which rxing also runs by default,
/// is skipped: on the corpus it read no frame this one missed and cost a third more time.
/// Micro QR and rMQR are not tried (time, and noise "read" as a tiny code).
fn read_matrix(matrix: &BitMatrix, try_harder: bool, seen: &mut Seen) -> Option<String> {
    let mut patterns = find_finder_patterns(matrix, try_harder);
    for pattern in &patterns {
        seen.add(pattern.p.x, pattern.p.y, pattern.size as f32);
    }
    GenerateFinderPatternSets(&mut patterns)
        .iter()
        .filter_map(|set| SampleQR(matrix, set).ok())
        .filter_map(|sampled| Decode(sampled.getBits()).ok())
        // One part of a structured-append series is not the payload.
        .filter(|decoded| decoded.isValid() && decoded.structuredAppend().count <= 1)
        .map(|decoded| decoded.text())
        // An empty payload says nothing (and rxing reports one for some misreads).
        .find(|text| !text.is_empty())
}

/// rxing's `FindFinderPatterns` (the zxing-cpp port's finder-pattern search, minimum module
/// size 0) with one change: each scanned row's run lengths come from the packed row a word at
/// a time ([`row_runs`]) instead of one bit at a time, which was a fifth of a pass. The same
/// patterns in the same order (tested against rxing's).
fn find_finder_patterns(matrix: &BitMatrix, try_harder: bool) -> Vec<ConcentricPattern> {
    /// 1:1:3:1:1, measured edge to edge.
    const PATTERN: FixedPattern<5, 7, false> = FixedPattern::new([1, 1, 3, 1, 1]);
    // rxing's row step: every third row when trying harder, else a quarter of the frame
    // over a version-20 code's centre (97 modules), at least three.
    let height = matrix.height();
    let skip = if try_harder {
        3
    } else {
        ((3 * height) / (4 * (20 * 4 + 17))).max(3)
    };
    let mut found: Vec<ConcentricPattern> = Vec::new();
    let mut y = skip - 1;
    while y < height {
        let row = PatternRow::new(row_runs(matrix, y));
        let mut next = PatternView::new(&row);
        loop {
            let candidate =
                FindLeftGuardBy::<5, _>(next, 5, |view: &PatternView, space: Option<f32>| {
                    // rxing's quick plausibility test for 1:1:3:1:1 before the exact one.
                    let bar = |i: usize| -> PatternType { view[i] };
                    bar(2) >= 3
                        && bar(2) >= 2 * bar(0).max(bar(4))
                        && bar(2) >= bar(1).max(bar(3))
                        && IsPattern::<true, 5, 7, false>(view, &PATTERN, space, 0.1, 0.0, 0.0)
                            != 0.0
                });
            match candidate {
                Ok(view) if view.isValid() => next = view,
                _ => break,
            }
            let p = point(
                f32::from(next.pixelsInFront())
                    + f32::from(next[0])
                    + f32::from(next[1])
                    + f32::from(next[2]) / 2.0,
                y as f32 + 0.5,
            );
            // Not inside a pattern already found.
            if !found
                .iter()
                .any(|old| rxing::Point::distance(p, old.p) < old.size as f32 / 2.0)
            {
                let range = i32::from(next.iter().sum::<PatternType>()) * 3; // 3: very skewed
                if let Some(pattern) =
                    LocateConcentricPattern::<true, 5, 7>(matrix, &[1, 1, 3, 1, 1], p, range)
                {
                    found.push(pattern);
                }
            }
            next.skipPair();
            next.skipPair();
            next.extend();
        }
        y += skip;
    }
    found
}

/// Row `y`'s run lengths, white first, as rxing's `GetPatternRowTP` gives them: a leading 0
/// when the row starts black, a trailing 0 when it ends black.
fn row_runs(matrix: &BitMatrix, y: u32) -> Vec<PatternType> {
    const WORD: usize = rxing::common::BIT_FIELD_BASE_BITS;
    let width = matrix.width() as usize;
    let row = matrix.getRow(y);
    let words = row.getBitArray();
    let mut runs = Vec::with_capacity(64);
    let (mut x, mut black) = (0usize, false);
    while x < width {
        // The first pixel from x on whose colour is not `black`.
        let flip = if black { usize::MAX } else { 0 };
        let mut i = x / WORD;
        let mut word = (words[i] ^ flip) & (usize::MAX << (x % WORD));
        let end = loop {
            if word != 0 {
                break (i * WORD + word.trailing_zeros() as usize).min(width);
            }
            i += 1;
            match words.get(i) {
                Some(&next) => word = next ^ flip,
                None => break width,
            }
        };
        // At most the width, which fits (frames are at most 2 × 1920 wide).
        runs.push(PatternType::try_from(end - x).unwrap_or(PatternType::MAX));
        x = end;
        black = !black;
    }
    if !black {
        runs.push(0);
    }
    runs
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

#[cfg(test)]
mod tests {
    use super::*;
    use rxing::common::cpp_essentials::GetPatternRowTP;
    use rxing::qrcode::cpp_port::detector::FindFinderPatterns;

    /// A `w` × `h` matrix with finder patterns (7 × 7 modules: ring, gap, 3 × 3 core) of
    /// several module sizes, turned by `angle`, over sparse noise, and rows that start or end
    /// black.
    fn matrix(w: u32, h: u32, angle: f32, seed: u32) -> BitMatrix {
        let mut m = BitMatrix::new(w, h).unwrap();
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        let (sin, cos) = angle.sin_cos();
        let centres = [
            (0.2, 0.25, 2.0),
            (0.6, 0.3, 3.5),
            (0.35, 0.7, 5.0),
            (0.8, 0.75, 1.6),
        ];
        for y in 0..h {
            for x in 0..w {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let mut black =
                    state.is_multiple_of(23) || (x < 3 && y.is_multiple_of(5)) || x + 2 >= w;
                for &(cx, cy, module) in &centres {
                    let (dx, dy) = (x as f32 - cx * w as f32, y as f32 - cy * h as f32);
                    let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                    let ring = (u / module).abs().max((v / module).abs());
                    if ring < 3.5 {
                        black = !(1.5..2.5).contains(&ring);
                    }
                }
                if black {
                    m.set(x, y);
                }
            }
        }
        m
    }

    #[test]
    fn row_runs_match_rxing() {
        for (w, h, seed) in [
            (40, 40, 1),
            (64, 50, 2),
            (97, 60, 3),
            (333, 100, 4),
            (1280, 90, 5),
        ] {
            let m = matrix(w, h, 0.3, seed);
            for y in 0..h {
                let mut theirs = PatternRow::default();
                GetPatternRowTP(&m, y, &mut theirs, false);
                let theirs: Vec<PatternType> = (0..theirs.len()).map(|i| theirs[i]).collect();
                assert_eq!(row_runs(&m, y), theirs, "{w}×{h} row {y}");
            }
        }
        // All white, all black.
        let mut m = BitMatrix::new(70, 2).unwrap();
        assert_eq!(row_runs(&m, 0), vec![70]);
        m.setRegion(0, 1, 70, 1).unwrap();
        assert_eq!(row_runs(&m, 1), vec![0, 70, 0]);
    }

    #[test]
    fn finder_patterns_match_rxing() {
        let mut total = 0;
        for (i, angle) in [0.0f32, 0.2, 0.7, 1.3, 2.9].into_iter().enumerate() {
            for (w, h) in [(200, 150), (640, 360), (1001, 603)] {
                let m = matrix(w, h, angle, i as u32 + w);
                for harder in [true, false] {
                    let ours = find_finder_patterns(&m, harder);
                    assert_eq!(
                        ours,
                        FindFinderPatterns(&m, harder, 0),
                        "{w}×{h} at {angle}"
                    );
                    total += ours.len();
                }
            }
        }
        // Not vacuous: most of the drawn patterns are found.
        assert!(total > 60, "only {total} patterns found");
    }
}
