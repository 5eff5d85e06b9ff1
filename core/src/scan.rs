//! Reading the enrolment QR code: camera frames (what the shells pass in) and image files.
//!
//! Both return "no code yet", a parsed [`EnrolmentLink`], or a typed reason why the code is
//! not a Latchkey code. Large frames are downscaled here; the caller never resizes.

use latchkey_protocol::link::{self, EnrolmentLink, LinkError, LinkPolicy};

use crate::error::{Error, Result};

/// What a frame or image held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanResult {
    /// No readable QR code (keep the camera running).
    NoCode,
    /// A Latchkey enrolment link.
    Link(Box<EnrolmentLink>),
    /// A QR code that is not a Latchkey code, and why (say so to the person).
    NotLatchkey(LinkError),
}

/// Frames larger than this on their long side are downscaled before decoding.
const MAX_SIDE: usize = 1280;

/// Scans one camera frame: the luma (Y) plane, `width` × `height`, rows `stride` bytes apart.
///
/// # Errors
/// [`Error::InvalidInput`] if the buffer is smaller than the dimensions say.
pub fn scan_frame(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    policy: &LinkPolicy,
) -> Result<ScanResult> {
    if width == 0 || height == 0 || stride < width {
        return Err(Error::InvalidInput(format!(
            "invalid frame size {width}x{height} (stride {stride})"
        )));
    }
    let needed = stride * (height - 1) + width;
    if luma.len() < needed {
        return Err(Error::InvalidInput(format!(
            "the frame buffer has {} bytes; {width}x{height} with stride {stride} needs {needed}",
            luma.len()
        )));
    }
    let factor = width.max(height).div_ceil(MAX_SIDE).max(1);
    let first = if factor > 1 {
        let (w, h) = (width / factor, height / factor);
        let small = downscale(luma, stride, factor, w, h);
        decode(&small, w, h, w, policy)
    } else {
        decode(luma, width, height, stride, policy)
    };
    match first {
        ScanResult::NoCode if factor > 1 => Ok(decode(luma, width, height, stride, policy)),
        other => Ok(other),
    }
}

/// Scans a PNG or JPEG image (for example a screenshot of the "Add a device" page).
///
/// # Errors
/// [`Error::InvalidInput`] if the bytes are not a readable PNG or JPEG.
pub fn scan_image(bytes: &[u8], policy: &LinkPolicy) -> Result<ScanResult> {
    let image = image::load_from_memory(bytes).map_err(|e| {
        Error::InvalidInput(format!("the image could not be read as PNG or JPEG: {e}"))
    })?;
    let luma = image.to_luma8();
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    scan_frame(luma.as_raw(), w, h, w, policy)
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

fn decode(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    policy: &LinkPolicy,
) -> ScanResult {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| luma[y * stride + x]);
    let mut foreign = None;
    for grid in prepared.detect_grids() {
        let Ok((_, text)) = grid.decode() else {
            continue;
        };
        match link::parse_with(&text, policy) {
            Ok(link) => return ScanResult::Link(Box::new(link)),
            Err(reason) => foreign = foreign.or(Some(reason)),
        }
    }
    foreign.map_or(ScanResult::NoCode, ScanResult::NotLatchkey)
}
