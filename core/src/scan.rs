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

/// Scans one frame with every pass at once (a single image): the luma (Y) plane, `width` ×
/// `height`, rows `stride` bytes apart. A camera's stream goes through [`FrameScanner`],
/// which spreads the passes over successive frames.
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
    classify(read_codes(luma, width, height, stride)?, policy)
}

/// Scans a camera's frames one after another: each frame gets the cheapest pass, and the
/// deeper passes take turns on successive frames ([`crate::qr::CameraReader`]), so a frame
/// costs one or two passes and a code only a deeper pass reads is read a few frames later.
/// One per camera session.
#[derive(Debug, Default)]
pub struct FrameScanner {
    reader: crate::qr::CameraReader,
}

impl FrameScanner {
    /// A scanner at its first frame.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans the next frame (as [`scan_frame`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the buffer is smaller than the dimensions say.
    pub fn scan(
        &mut self,
        luma: &[u8],
        width: usize,
        height: usize,
        stride: usize,
        policy: &LinkPolicy,
    ) -> Result<ScanResult> {
        check_frame(luma.len(), width, height, stride)?;
        classify(self.reader.read(luma, width, height, stride), policy)
    }
}

/// The first Latchkey link among the payloads, else why the first one is not one.
fn classify(payloads: Vec<String>, policy: &LinkPolicy) -> Result<ScanResult> {
    let mut foreign = None;
    for text in payloads {
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
    check_frame(luma.len(), width, height, stride)?;
    Ok(crate::qr::read(luma, width, height, stride))
}

/// Refuses a buffer smaller than its dimensions say.
fn check_frame(len: usize, width: usize, height: usize, stride: usize) -> Result<()> {
    if width == 0 || height == 0 || stride < width {
        return Err(Error::InvalidInput(format!(
            "invalid frame size {width}x{height} (stride {stride})"
        )));
    }
    let needed = stride
        .checked_mul(height - 1)
        .and_then(|n| n.checked_add(width))
        .ok_or_else(|| Error::InvalidInput(format!("invalid frame size {width}x{height}")))?;
    if len < needed {
        return Err(Error::InvalidInput(format!(
            "the frame buffer has {len} bytes; {width}x{height} with stride {stride} needs {needed}"
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Strips so thin that downscaling a long side to 1920 leaves no pixel across, and other
    /// odd sizes: no code, no panic (the still reader and every turn of the camera's).
    #[test]
    fn strips_and_odd_sizes_read_as_no_code() {
        let policy = LinkPolicy::default();
        for (w, h) in [
            (1, 1921),
            (1921, 1),
            (1, 1),
            (3840, 1),
            (2, 3841),
            (4000, 7),
        ] {
            let luma: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
            assert_eq!(
                scan_frame(&luma, w, h, w, &policy).expect("a valid buffer"),
                ScanResult::NoCode,
                "{w}x{h}"
            );
            let mut camera = FrameScanner::new();
            for _ in 0..20 {
                assert_eq!(
                    camera
                        .scan(&luma, w, h, w, &policy)
                        .expect("a valid buffer"),
                    ScanResult::NoCode,
                    "{w}x{h}"
                );
            }
        }
        // A buffer shorter than its size says: a typed error, and the public readers that
        // take no error read nothing.
        assert!(scan_frame(&[0; 10], 4, 4, 4, &policy).is_err());
        assert!(FrameScanner::new()
            .scan(&[0; 10], 4, 4, 4, &policy)
            .is_err());
        assert!(crate::qr::read_with(&[0; 10], 4, 4, 4, crate::qr::Steps::ALL).is_empty());
        assert!(crate::qr::CameraReader::new()
            .read(&[0; 10], 4, 4, 4)
            .is_empty());
    }
}
