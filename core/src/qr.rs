//! The QR reading pipeline behind [`crate::scan::read_codes`], chosen by measurement on the
//! seeded hard-frame corpus (`qrbench`, see `qrbench/README.md` for the tables).
//!
//! The decoder is `rxing` (the Rust port of ZXing: hybrid block binarizer, finder-pattern
//! detector with perspective correction), which read more hard frames than `rqrr` and in a
//! third of the time. In front of and around it:
//! 1. frames with a long side over 1920 px are box-downscaled first (a 4K frame costs four
//!    times a 1080p one and its modules are large anyway);
//! 2. one pass at full size with "try harder" and the inverted image (dark-mode pages show
//!    light-on-dark codes);
//! 3. if nothing was read, one pass at half size (a box downscale averages sensor noise,
//!    moiré and JPEG blocks away, and halves the blur radius in pixels).
//!
//! Each step can be switched off ([`Steps`]) so the benchmark can show what it buys.

use rxing::{BarcodeFormat, DecodeHints};

/// Which steps run (all on in [`scan_frame`](crate::scan_frame)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// Also try the inverted image (light-on-dark codes).
    pub inverted: bool,
    /// A second pass at half size when the first read nothing.
    pub half_size: bool,
    /// rxing's "try harder" (rows scanned more densely, a rotated pass).
    pub try_harder: bool,
    /// A pass on a locally contrast-normalised frame (low contrast, glare, shadows).
    pub normalised: bool,
}

impl Steps {
    /// Everything on.
    pub const ALL: Self = Self {
        inverted: true,
        half_size: true,
        try_harder: true,
        normalised: true,
    };
}

/// Longest side decoded at full resolution.
const MAX_SIDE: usize = 1920;
/// Below this short side a half-size pass has too few pixels per module to help.
const MIN_HALF_SHORT_SIDE: usize = 480;

/// Reads the frame with every step.
pub(crate) fn read(luma: &[u8], width: usize, height: usize, stride: usize) -> Vec<String> {
    read_with(luma, width, height, stride, Steps::ALL)
}

/// Reads the frame with the chosen steps (the benchmark's ablation). The buffer must hold
/// `stride * (height - 1) + width` bytes.
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
    let found = decode(pixels, w, h, steps);
    if !found.is_empty() {
        return found;
    }
    let half = (steps.half_size && w.min(h) >= MIN_HALF_SHORT_SIDE).then(|| {
        let (hw, hh) = (w / 2, h / 2);
        (downscale(pixels, w, 2, hw, hh), hw, hh)
    });
    if steps.normalised {
        let found = match &half {
            // Normalised at half size: four times fewer pixels, and the averaging keeps the
            // stretched noise from breeding finder-pattern candidates.
            Some((small, hw, hh)) => decode(&normalise(small, *hw, *hh), *hw, *hh, steps),
            None => decode(&normalise(pixels, w, h), w, h, steps),
        };
        if !found.is_empty() {
            return found;
        }
    }
    match &half {
        Some((small, hw, hh)) => {
            let found = decode(small, *hw, *hh, steps);
            if !found.is_empty() || !steps.normalised {
                return found;
            }
            // Small modules: normalised at full size, the most expensive pass, last.
            decode(&normalise(pixels, w, h), w, h, steps)
        }
        None => Vec::new(),
    }
}

/// Local contrast normalisation: each pixel relative to the mean and spread of the window
/// around it, stretched to the full range. The window spans several modules, so a faint code
/// under glare or in a shadow gets the contrast the binarizer needs (rxing treats blocks with
/// less than 24 levels of range as flat).
fn normalise(luma: &[u8], w: usize, h: usize) -> Vec<u8> {
    let iw = w + 1;
    let mut sum = vec![0u64; iw * (h + 1)];
    let mut sq = vec![0u64; iw * (h + 1)];
    for y in 0..h {
        let (mut run, mut run_sq) = (0u64, 0u64);
        for x in 0..w {
            let v = u64::from(luma[y * w + x]);
            run += v;
            run_sq += v * v;
            sum[(y + 1) * iw + x + 1] = sum[y * iw + x + 1] + run;
            sq[(y + 1) * iw + x + 1] = sq[y * iw + x + 1] + run_sq;
        }
    }
    let radius = (w.min(h) / 24).clamp(12, 48);
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let area = ((y1 - y0) * (x1 - x0)) as f32;
            let box_sum = |t: &[u64]| {
                (t[y1 * iw + x1] + t[y0 * iw + x0] - t[y0 * iw + x1] - t[y1 * iw + x0]) as f32
            };
            let mean = box_sum(&sum) / area;
            let var = (box_sum(&sq) / area - mean * mean).max(0.0);
            let spread = var.sqrt().max(6.0);
            let v = f32::from(luma[y * w + x]);
            out[y * w + x] = (128.0 + 60.0 * (v - mean) / spread).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn decode(luma: &[u8], width: usize, height: usize, steps: Steps) -> Vec<String> {
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Vec::new();
    };
    let mut hints = DecodeHints {
        TryHarder: Some(steps.try_harder),
        AlsoInverted: Some(steps.inverted),
        ..Default::default()
    };
    // A decoder bug reachable from a crafted code must not take the app down: a panic inside
    // rxing counts as "no code in this frame".
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rxing::helpers::detect_in_luma_slice_with_hints(
            luma,
            w,
            h,
            Some(BarcodeFormat::QR_CODE),
            &mut hints,
        )
        .ok()
        .map(|r| r.getText().to_owned())
        // An empty payload says nothing (and rxing reports one for some misreads).
        .filter(|text| !text.is_empty())
        .into_iter()
        .collect()
    }))
    .unwrap_or_default()
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
