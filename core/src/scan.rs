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
    let mut foreign = None;
    for text in read_codes(luma, width, height, stride)? {
        match link::parse_with(&text, policy) {
            Ok(link) => return Ok(ScanResult::Link(Box::new(link))),
            Err(reason) => foreign = foreign.or(Some(reason)),
        }
    }
    Ok(foreign.map_or(ScanResult::NoCode, ScanResult::NotLatchkey))
}

/// The payloads of the QR codes readable in one frame (what [`scan_frame`] classifies); empty
/// if none. Stops at the first pass that reads a code.
///
/// # Errors
/// [`Error::InvalidInput`] if the buffer is smaller than the dimensions say.
pub fn read_codes(luma: &[u8], width: usize, height: usize, stride: usize) -> Result<Vec<String>> {
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
    Ok(crate::qr::read(luma, width, height, stride))
}

/// Scans a PNG or JPEG image (for example a screenshot of the "Add a device" page).
///
/// # Errors
/// [`Error::InvalidInput`] if the bytes are not a readable PNG or JPEG.
#[cfg(feature = "image-files")]
pub fn scan_image(bytes: &[u8], policy: &LinkPolicy) -> Result<ScanResult> {
    let image = image::load_from_memory(bytes).map_err(|e| {
        Error::InvalidInput(format!("the image could not be read as PNG or JPEG: {e}"))
    })?;
    let luma = image.to_luma8();
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    scan_frame(luma.as_raw(), w, h, w, policy)
}
