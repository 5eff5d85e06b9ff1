//! rxing's hybrid (8 × 8 block) binarizer, computed row-wise instead of pixel by pixel.
//!
//! Same algorithm, bit for bit (a test compares the two on many frames): per 8 × 8 block a
//! black point (the block's mean, or for a flat block half its minimum, raised to the
//! neighbours' level when they are darker), then each pixel is black when at or below the
//! mean of the 5 × 5 black points around its block. rxing sets one bit at a time with
//! bounds checks, which made binarization half of a pass's time; here the block statistics
//! and the thresholds are straight slice loops and bits are packed a word at a time.
//!
//! `invert` binarizes the light-on-dark view (255 − v) without copying the frame.

use std::borrow::Cow;

use rxing::common::{BitArray, BitMatrix, LineOrientation, Result};
use rxing::{Binarizer, Luma8Source, LuminanceSource as _};

/// Block side (rxing: `BLOCK_SIZE`).
const BLOCK: usize = 8;
/// Blocks with a wider range than this hold an edge (rxing: `MIN_DYNAMIC_RANGE`).
const MIN_DYNAMIC_RANGE: u8 = 24;
/// The 5 × 5 neighbourhood needs at least five blocks each way.
pub(super) const MIN_SIDE: usize = BLOCK * 5;
/// Bits per matrix word (rxing stores rows in `usize` words).
const WORD: usize = usize::BITS as usize;

/// A frame binarized up front, handed to rxing's reader as its binarizer.
pub(super) struct BlockBinarizer<'a> {
    source: Luma8Source<'a>,
    matrix: BitMatrix,
}

impl<'a> BlockBinarizer<'a> {
    /// `None` when a side is under [`MIN_SIDE`] (rxing then falls back to a global
    /// histogram; the caller uses rxing's binarizer for such small images).
    pub(super) fn new(luma: &'a [u8], width: usize, height: usize, invert: bool) -> Option<Self> {
        if width < MIN_SIDE || height < MIN_SIDE || luma.len() < width * height {
            return None;
        }
        let (w, h) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
        let matrix = binarize(&luma[..width * height], width, height, invert)?;
        let source = Luma8Source::new_with_slice(luma, w, h).ok()?;
        Some(Self { source, matrix })
    }
}

/// The black matrix (true = dark).
fn binarize(luma: &[u8], width: usize, height: usize, invert: bool) -> Option<BitMatrix> {
    let flip = if invert { u8::MAX } else { 0 };
    let (sub_w, sub_h) = (width.div_ceil(BLOCK), height.div_ceil(BLOCK));
    let (max_x, max_y) = (width - BLOCK, height - BLOCK);

    // Black point per block. The last block of a row or column is shifted back to end at
    // the frame's edge, overlapping its neighbour (as in rxing).
    let mut black = vec![0u32; sub_w * sub_h];
    // Per column over the block row's eight rows (straight slice loops that vectorise),
    // then per block over its eight columns.
    let (mut sum, mut min, mut max) = (vec![0u16; width], vec![0u8; width], vec![0u8; width]);
    for by in 0..sub_h {
        let top = (by * BLOCK).min(max_y);
        sum.fill(0);
        min.fill(u8::MAX);
        max.fill(0);
        for row in luma[top * width..(top + BLOCK) * width].chunks_exact(width) {
            for (((s, lo), hi), &v) in sum.iter_mut().zip(&mut min).zip(&mut max).zip(row) {
                let v = v ^ flip;
                *s += u16::from(v);
                *lo = (*lo).min(v);
                *hi = (*hi).max(v);
            }
        }
        for bx in 0..sub_w {
            let left = (bx * BLOCK).min(max_x);
            let columns = left..left + BLOCK;
            let total: u32 = sum[columns.clone()].iter().map(|&s| u32::from(s)).sum();
            let lo = min[columns.clone()].iter().copied().fold(u8::MAX, u8::min);
            let hi = max[columns].iter().copied().fold(0, u8::max);
            let mut point = total >> 6;
            if hi - lo <= MIN_DYNAMIC_RANGE {
                // A flat block: taken for background, unless its neighbours say it is darker.
                point = u32::from(lo) / 2;
                if by > 0 && bx > 0 {
                    let above = (by - 1) * sub_w + bx;
                    let neighbours =
                        (black[above] + 2 * black[by * sub_w + bx - 1] + black[above - 1]) / 4;
                    if u32::from(lo) < neighbours {
                        point = neighbours;
                    }
                }
            }
            black[by * sub_w + bx] = point;
        }
    }

    // Threshold per block: the mean black point of the 5 × 5 blocks around it (clamped to
    // the grid). At most 255, as every black point is.
    let mut threshold = vec![0u8; sub_w * sub_h];
    for by in 0..sub_h {
        let cy = by.clamp(2, sub_h - 3);
        for bx in 0..sub_w {
            let cx = bx.clamp(2, sub_w - 3);
            let total: u32 = (cy - 2..=cy + 2)
                .map(|y| {
                    black[y * sub_w + cx - 2..=y * sub_w + cx + 2]
                        .iter()
                        .sum::<u32>()
                })
                .sum();
            threshold[by * sub_w + bx] = u8::try_from(total / 25).unwrap_or(u8::MAX);
        }
    }

    // Pixels. rxing only ever sets bits, so a pixel covered by two blocks (in the shifted
    // last row or column) is black when it is under either threshold: under the higher one.
    let mut matrix =
        BitMatrix::new(u32::try_from(width).ok()?, u32::try_from(height).ok()?).ok()?;
    let mut per_block = vec![0u8; sub_w];
    let mut per_pixel = vec![0u8; width];
    let mut dark = vec![0u8; width];
    let mut bits = BitArray::with_size(width);
    let mut rows_for = None;
    for (y, row) in luma.chunks_exact(width).enumerate() {
        let regular = (y / BLOCK < sub_h - 1).then_some(y / BLOCK);
        let last = (y >= max_y).then_some(sub_h - 1);
        if rows_for != Some((regular, last)) {
            rows_for = Some((regular, last));
            per_block.fill(0);
            for by in regular.into_iter().chain(last) {
                for (t, &b) in per_block.iter_mut().zip(&threshold[by * sub_w..]) {
                    *t = (*t).max(b);
                }
            }
            // Each regular block's eight columns; the last block (shifted back to end at
            // the edge) over the columns from `max_x`, where it raises what is there.
            let regular_end = (sub_w - 1) * BLOCK;
            for (eight, &t) in per_pixel[..regular_end]
                .chunks_mut(BLOCK)
                .zip(&per_block[..sub_w - 1])
            {
                eight.fill(t);
            }
            per_pixel[regular_end..].fill(0);
            let edge = per_block[sub_w - 1];
            for t in &mut per_pixel[max_x..] {
                *t = (*t).max(edge);
            }
        }
        for ((d, &v), &t) in dark.iter_mut().zip(row).zip(&per_pixel) {
            *d = u8::from((v ^ flip) <= t);
        }
        for (k, word_of) in dark.chunks(WORD).enumerate() {
            bits.setBulk(k * WORD, pack(word_of));
        }
        matrix.setRow(u32::try_from(y).ok()?, &bits);
    }
    Some(matrix)
}

/// Packs up to one word of 0/1 bytes into bits, the first byte the lowest bit.
fn pack(bytes: &[u8]) -> usize {
    // Each 0/1 byte i (at bit 8i) is shifted by 56 − 7i to bit 56 + i; no two partial
    // products share a bit, so nothing carries into the top byte.
    let eight_bits = |lanes: [u8; 8]| {
        usize::try_from(u64::from_le_bytes(lanes).wrapping_mul(0x0102_0408_1020_4080) >> 56)
            .unwrap_or(0)
    };
    let mut chunks = bytes.chunks_exact(8);
    // Whole groups of eight as fixed-size loads (a copy of unknown length was a third of
    // binarizing), then the rest of a row's last word.
    let mut word = 0;
    for (j, eight) in chunks.by_ref().enumerate() {
        word |= eight_bits(eight.try_into().unwrap_or_default()) << (8 * j);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut lanes = [0u8; 8];
        lanes[..rest.len()].copy_from_slice(rest);
        word |= eight_bits(lanes) << (8 * (bytes.len() / 8));
    }
    word
}

impl<'a> Binarizer for BlockBinarizer<'a> {
    type Source = Luma8Source<'a>;

    fn get_luminance_source(&self) -> &Self::Source {
        &self.source
    }

    fn get_black_row(&self, y: usize) -> Result<Cow<'_, BitArray>> {
        self.get_black_line(y, LineOrientation::Row)
    }

    fn get_black_row_from_matrix(&self, y: usize) -> Result<Cow<'_, BitArray>> {
        self.get_black_row(y)
    }

    fn get_black_matrix(&self) -> Result<&BitMatrix> {
        Ok(&self.matrix)
    }

    fn get_black_line(&self, l: usize, lt: LineOrientation) -> Result<Cow<'_, BitArray>> {
        let (bound, index) = match lt {
            LineOrientation::Row => (self.matrix.height(), u32::try_from(l)),
            LineOrientation::Column => (self.matrix.width(), u32::try_from(l)),
        };
        match index {
            Ok(i) if i < bound => Ok(Cow::Owned(match lt {
                LineOrientation::Row => self.matrix.getRow(i),
                LineOrientation::Column => self.matrix.getCol(i),
            })),
            _ => Err(rxing::Exceptions::INDEX_OUT_OF_BOUNDS),
        }
    }

    fn create_binarizer(&self, source: Self::Source) -> Self {
        // rxing calls this only for cropped or rotated views, which the QR reader never
        // asks for; binarize the new source the same way all the same.
        let (width, height) = (source.get_width(), source.get_height());
        let luma = source.get_matrix().into_owned();
        let matrix = binarize(&luma, width, height, false)
            .or_else(|| BitMatrix::new(width.max(1) as u32, height.max(1) as u32).ok())
            .unwrap_or_else(|| self.matrix.clone());
        Self { source, matrix }
    }

    fn get_width(&self) -> usize {
        self.matrix.getWidth() as usize
    }

    fn get_height(&self) -> usize {
        self.matrix.getHeight() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rxing::common::HybridBinarizer;

    /// A deterministic test frame: gradients, flat areas, hard edges and noise.
    fn frame(width: usize, height: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..width * height)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = (state % 21) as i32 - 10;
                let base = match (x / 13 + y / 11) % 4 {
                    0 => 30,                          // dark module
                    1 => 220,                         // light module
                    2 => (x * 255 / width) as i32,    // gradient
                    _ => 128 + ((y * 7) % 40) as i32, // flat-ish
                };
                (base + noise).clamp(0, 255) as u8
            })
            .collect()
    }

    fn rxing_matrix(luma: &[u8], width: usize, height: usize) -> BitMatrix {
        let source = Luma8Source::new_with_slice(luma, width as u32, height as u32).unwrap();
        HybridBinarizer::new(source)
            .get_black_matrix()
            .unwrap()
            .clone()
    }

    #[test]
    fn same_bits_as_rxing_hybrid_binarizer() {
        // Multiples of 8 and not (shifted last blocks), tiny and camera sizes.
        for (i, &(w, h)) in [
            (40, 40),
            (41, 47),
            (64, 57),
            (333, 200),
            (640, 360),
            (1280, 720),
            (963, 541),
        ]
        .iter()
        .enumerate()
        {
            let luma = frame(w, h, i as u32);
            let ours = BlockBinarizer::new(&luma, w, h, false).unwrap();
            assert!(ours.matrix == rxing_matrix(&luma, w, h), "{w}×{h} differs");
            let inverted: Vec<u8> = luma.iter().map(|&v| 255 - v).collect();
            let ours = BlockBinarizer::new(&luma, w, h, true).unwrap();
            assert!(
                ours.matrix == rxing_matrix(&inverted, w, h),
                "{w}×{h} inverted differs"
            );
        }
    }

    #[test]
    fn pack_puts_the_first_byte_in_the_lowest_bit() {
        assert_eq!(pack(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0b10_0000_0001);
        assert_eq!(pack(&[1; 8]), 0xff);
        assert_eq!(pack(&[0, 1, 1]), 0b110);
        let all = vec![1u8; WORD];
        assert_eq!(pack(&all), usize::MAX);
    }

    #[test]
    fn too_small_frames_are_left_to_rxing() {
        let luma = frame(39, 100, 1);
        assert!(BlockBinarizer::new(&luma, 39, 100, false).is_none());
        assert!(BlockBinarizer::new(&luma[..10], 40, 40, false).is_none());
    }
}
