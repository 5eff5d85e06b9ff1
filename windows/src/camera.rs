//! Webcams: the system's camera as a stream of frames, and each frame as the luma plane the
//! app's scanner reads. Opening a camera, choosing its format and waiting for frames is the
//! platform's (V4L2 on Linux, Media Foundation on Windows: `platform.rs`); turning a frame into
//! luma is here, the same everywhere, and tested with frames in every format. Nothing a camera
//! sees is stored: each frame is read, shown small while scanning, and dropped.

use std::borrow::Cow;

/// How a frame's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// 8-bit grey (V4L2 `GREY`).
    Grey,
    /// Packed 4:2:2, luma first: `Y0 U Y1 V` (V4L2 `YUYV`, Windows `YUY2`).
    Yuyv,
    /// Packed 4:2:2, chroma first: `U Y0 V Y1` (`UYVY`).
    Uyvy,
    /// A full luma plane, then chroma at 4:2:0 in any layout (`NV12`, `NV21`, `YU12`/`I420`,
    /// `YV12`): the luma plane is read in place.
    Planar420,
    /// Each frame a JPEG image (`MJPG`, `JPEG`), also Motion JPEG without Huffman tables.
    Jpeg,
}

/// One frame as the camera gave it (its `Debug` leaves the picture out).
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    /// The layout.
    pub format: PixelFormat,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Bytes from one row (of the first plane) to the next; unused for JPEG.
    pub stride: u32,
    /// The bytes.
    pub data: &'a [u8],
}

/// A frame's luma plane: borrowed where the frame holds one (grey, planar), made otherwise.
/// A made one is wiped when dropped; its `Debug` leaves the picture out.
pub struct Luma<'a> {
    /// The plane, rows `stride` bytes apart.
    pub pixels: Cow<'a, [u8]>,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: u32,
}

impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frame({:?} {}×{}, {} bytes)",
            self.format,
            self.width,
            self.height,
            self.data.len()
        )
    }
}

impl std::fmt::Debug for Luma<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Luma({}×{})", self.width, self.height)
    }
}

impl Drop for Luma<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(pixels) = &mut self.pixels {
            zeroize::Zeroize::zeroize(pixels);
        }
    }
}

/// The largest frame side read (4K webcams send 3840×2160).
const MAX_SIDE: u32 = 4096;

/// The most a JPEG frame may allocate while decoding (a 4096×4096 colour frame is 48 MiB).
const MAX_JPEG_ALLOC: u64 = 64 << 20;

/// The luma plane of `frame`.
///
/// # Errors
/// A frame whose size does not match its bytes, or a JPEG that does not decode, in words.
pub fn luma<'a>(frame: &Frame<'a>) -> Result<Luma<'a>, String> {
    let (width, height) = (frame.width, frame.height);
    if frame.format == PixelFormat::Jpeg {
        let jpeg = with_huffman_tables(frame.data);
        // The size a JPEG declares is checked before anything is allocated: no larger than
        // the size agreed with the camera, nor than `MAX_SIDE`.
        let agreed = |side: u32| {
            if side == 0 {
                MAX_SIDE
            } else {
                side.min(MAX_SIDE)
            }
        };
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(agreed(width));
        limits.max_image_height = Some(agreed(height));
        limits.max_alloc = Some(MAX_JPEG_ALLOC);
        let mut reader =
            image::ImageReader::with_format(std::io::Cursor::new(&*jpeg), image::ImageFormat::Jpeg);
        reader.limits(limits);
        let mut decoded = reader
            .decode()
            .map_err(|e| format!("the camera's JPEG frame does not decode: {e}"))?;
        let image = decoded.to_luma8();
        if let Some(colour) = decoded.as_mut_rgb8() {
            zeroize::Zeroize::zeroize(&mut **colour);
        }
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(format!("the camera's frame is {w}×{h} pixels"));
        }
        return Ok(Luma {
            pixels: Cow::Owned(image.into_raw()),
            width: w,
            height: h,
            stride: w,
        });
    }
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("the camera's frame is {width}×{height} pixels"));
    }
    let bytes_per_pixel = match frame.format {
        PixelFormat::Grey | PixelFormat::Planar420 => 1,
        PixelFormat::Yuyv | PixelFormat::Uyvy => 2,
        PixelFormat::Jpeg => unreachable!("decoded above"),
    };
    let row = width as usize * bytes_per_pixel;
    let stride = frame.stride as usize;
    let needed = stride
        .checked_mul(height as usize - 1)
        .and_then(|n| n.checked_add(row))
        .unwrap_or(usize::MAX);
    if stride < row || frame.data.len() < needed {
        return Err(format!(
            "the camera's frame holds {} bytes, not the {needed} of {width}×{height} pixels \
             {stride} bytes apart",
            frame.data.len()
        ));
    }
    let packed = |first: usize| {
        let mut out = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height as usize {
            let line = &frame.data[y * stride..y * stride + row];
            out.extend(line.iter().skip(first).step_by(2));
        }
        out
    };
    Ok(match frame.format {
        PixelFormat::Grey | PixelFormat::Planar420 => Luma {
            pixels: Cow::Borrowed(&frame.data[..needed]),
            width,
            height,
            stride: frame.stride,
        },
        PixelFormat::Yuyv | PixelFormat::Uyvy => Luma {
            pixels: Cow::Owned(packed(usize::from(frame.format == PixelFormat::Uyvy))),
            width,
            height,
            stride: width,
        },
        PixelFormat::Jpeg => unreachable!("decoded above"),
    })
}

/// A Motion JPEG frame as a JPEG decoder reads it. UVC webcams leave out the Huffman tables
/// (DHT) and use the standard ones (JPEG Annex K.3); the decoder (zune-jpeg, through `image`)
/// has those, but uses them only for frames marked as Motion JPEG by an `AVI1` APP0 segment,
/// which many cameras do not send. A frame without tables gets that mark after its SOI.
fn with_huffman_tables(jpeg: &[u8]) -> Cow<'_, [u8]> {
    const AVI1: [u8; 9] = [0xff, 0xe0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00];
    if jpeg.len() < 4 || jpeg[..2] != [0xff, 0xd8] {
        return Cow::Borrowed(jpeg);
    }
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xff {
        match jpeg[at + 1] {
            // Padding before a marker.
            0xff => at += 1,
            0xc4 => return Cow::Borrowed(jpeg),
            // Start of scan: no tables came before it.
            0xda => break,
            _ => at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]])),
        }
    }
    let mut marked = Vec::with_capacity(jpeg.len() + AVI1.len());
    marked.extend_from_slice(&jpeg[..2]);
    marked.extend_from_slice(&AVI1);
    marked.extend_from_slice(&jpeg[2..]);
    Cow::Owned(marked)
}

/// A small copy of the picture to show while scanning: at most `max_width` pixels across,
/// rows packed.
pub fn picture(luma: &Luma<'_>, max_width: u32) -> (usize, usize, Vec<u8>) {
    let step = luma.width.div_ceil(max_width.max(1)).max(1) as usize;
    let (width, height) = (
        (luma.width as usize).div_ceil(step),
        (luma.height as usize).div_ceil(step),
    );
    let mut out = Vec::with_capacity(width * height);
    for y in (0..luma.height as usize).step_by(step) {
        let row = &luma.pixels[y * luma.stride as usize..];
        out.extend(row.iter().take(luma.width as usize).step_by(step));
    }
    (width, height, out)
}

/// Why a camera cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The system refused access (a permission, a privacy setting).
    Denied,
    /// None is connected, or it is busy or failed; the system's words.
    Missing(String),
}

/// A running webcam (it lives on the thread that opened it).
pub trait Webcam {
    /// Waits for the next frame and hands it to `each`.
    ///
    /// # Errors
    /// The camera stopped (unplugged, taken by another program), in the system's words.
    fn next_frame(&mut self, each: &mut dyn FnMut(Frame<'_>)) -> Result<(), String>;
}

/// Webcams on Linux: V4L2 (`/dev/video*`) through `linuxvideo`, pure Rust.
#[cfg(target_os = "linux")]
pub mod v4l2 {
    use std::io;
    use std::path::{Path, PathBuf};

    use linuxvideo::format::{PixFormat, PixelFormat as Fourcc};
    use linuxvideo::stream::ReadStream;
    use linuxvideo::{BufType, CapabilityFlags, Device};

    use super::{Frame, OpenError, PixelFormat, Webcam};

    /// The formats read, cheapest to turn into luma first (JPEG needs decoding).
    const FORMATS: [([u8; 4], PixelFormat); 8] = [
        (*b"GREY", PixelFormat::Grey),
        (*b"NV12", PixelFormat::Planar420),
        (*b"NV21", PixelFormat::Planar420),
        (*b"YU12", PixelFormat::Planar420),
        (*b"YV12", PixelFormat::Planar420),
        (*b"YUYV", PixelFormat::Yuyv),
        (*b"UYVY", PixelFormat::Uyvy),
        (*b"MJPG", PixelFormat::Jpeg),
    ];

    /// Asked for; the driver answers with the nearest size it has (QR codes need detail, not
    /// frame rate).
    const WANTED: (u32, u32) = (1280, 720);

    fn ours(fourcc: Fourcc) -> Option<PixelFormat> {
        let code = fourcc.as_fourcc();
        if code == *b"JPEG" {
            return Some(PixelFormat::Jpeg);
        }
        FORMATS.iter().find(|(c, _)| *c == code).map(|(_, f)| *f)
    }

    /// The first camera that opens, in `/dev/video0`, `/dev/video1`… order.
    ///
    /// # Errors
    /// [`OpenError::Denied`] when a camera exists but this user may not open it (not in the
    /// `video` group, a sandbox); otherwise why none opened.
    pub fn open() -> Result<Box<dyn Webcam>, OpenError> {
        let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev")
            .map_err(|e| OpenError::Missing(format!("/dev: {e}")))?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("video"))
            .map(|entry| entry.path())
            .collect();
        // video2 before video10.
        nodes.sort_by_key(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let number = name
                .as_deref()
                .and_then(|n| n.strip_prefix("video"))
                .and_then(|n| n.parse::<u32>().ok());
            (number.unwrap_or(u32::MAX), p.clone())
        });
        if nodes.is_empty() {
            return Err(OpenError::Missing("no camera is connected".into()));
        }
        let (mut denied, mut last) = (false, None);
        for node in &nodes {
            match open_node(node) {
                Ok(Some(camera)) => return Ok(camera),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied = true,
                Err(e) => last = Some(format!("{}: {e}", node.display())),
            }
        }
        match (denied, last) {
            (true, _) => Err(OpenError::Denied),
            (false, Some(why)) => Err(OpenError::Missing(why)),
            (false, None) => Err(OpenError::Missing(
                "no camera offers a picture format Latchkey reads".into(),
            )),
        }
    }

    /// The camera at `node`; `None` for nodes that capture no pictures (metadata) or only
    /// in formats not read here.
    fn open_node(node: &Path) -> io::Result<Option<Box<dyn Webcam>>> {
        let device = Device::open(node)?;
        let caps = device.capabilities()?.device_capabilities();
        if !caps.contains(CapabilityFlags::VIDEO_CAPTURE)
            || !caps.contains(CapabilityFlags::STREAMING)
        {
            return Ok(None);
        }
        let offered: Vec<Fourcc> = device
            .formats(BufType::VIDEO_CAPTURE)
            .filter_map(Result::ok)
            .map(|f| f.pixel_format())
            .collect();
        let Some(fourcc) = FORMATS
            .iter()
            .map(|(code, _)| Fourcc::from_fourcc(*code))
            .find(|f| offered.contains(f))
            .or_else(|| offered.iter().copied().find(|f| ours(*f).is_some()))
        else {
            return Ok(None);
        };
        let capture = device.video_capture(PixFormat::new(WANTED.0, WANTED.1, fourcc))?;
        let chosen = capture.format();
        // The driver may have chosen another format than the one asked for.
        let Some(format) = ours(chosen.pixel_format()) else {
            return Ok(None);
        };
        let (width, height, stride) = (chosen.width(), chosen.height(), chosen.bytes_per_line());
        let stream = capture.into_stream()?;
        Ok(Some(Box::new(V4l2 {
            stream,
            format,
            width,
            height,
            stride,
        })))
    }

    struct V4l2 {
        stream: ReadStream,
        format: PixelFormat,
        width: u32,
        height: u32,
        stride: u32,
    }

    impl Webcam for V4l2 {
        fn next_frame(&mut self, each: &mut dyn FnMut(Frame<'_>)) -> Result<(), String> {
            // No frame yet: return after a short wait, so that a camera that stops sending
            // never holds this thread (and the device) past a stop.
            if self.stream.will_block().map_err(|e| e.to_string())? {
                std::thread::sleep(std::time::Duration::from_millis(15));
                return Ok(());
            }
            let (format, width, height, stride) =
                (self.format, self.width, self.height, self.stride);
            self.stream
                .dequeue(|buffer| {
                    // A frame the driver marked damaged is skipped, not read.
                    if !buffer.is_error() {
                        each(Frame {
                            format,
                            width,
                            height,
                            stride,
                            data: &buffer,
                        });
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())
        }
    }
}

/// Webcams on Windows: Media Foundation's source reader, asked for NV12 (its video processor
/// converts what the camera sends). Type-checked here, never run (windows/README.md).
#[cfg(windows)]
#[allow(unsafe_code)] // Media Foundation's COM calls
pub mod media_foundation {
    use windows::core::Error;
    use windows::Win32::Foundation::{E_ACCESSDENIED, E_POINTER};
    use windows::Win32::Media::MediaFoundation::{
        IMFActivate, IMFAttributes, IMFMediaSource, IMFSample, IMFSourceReader, MFCreateAttributes,
        MFCreateMediaType, MFCreateSourceReaderFromMediaSource, MFEnumDeviceSources,
        MFMediaType_Video, MFShutdown, MFStartup, MFVideoFormat_NV12, MFSTARTUP_FULL,
        MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE, MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE_VIDCAP_GUID,
        MF_MT_DEFAULT_STRIDE, MF_MT_FRAME_SIZE, MF_MT_MAJOR_TYPE, MF_MT_SUBTYPE,
        MF_SOURCE_READERF_ENDOFSTREAM, MF_SOURCE_READERF_ERROR,
        MF_SOURCE_READER_ENABLE_VIDEO_PROCESSING, MF_SOURCE_READER_FIRST_VIDEO_STREAM, MF_VERSION,
    };
    use windows::Win32::System::Com::{CoInitializeEx, CoTaskMemFree, COINIT_MULTITHREADED};

    use super::{Frame, OpenError, PixelFormat, Webcam};

    /// The first camera Windows lists.
    ///
    /// # Errors
    /// [`OpenError::Denied`] when the privacy settings refuse the camera; otherwise why none
    /// opened.
    pub fn open() -> Result<Box<dyn Webcam>, OpenError> {
        let missing = |e: Error| OpenError::Missing(e.message());
        // SAFETY: COM is initialised on this thread (the camera's, which keeps it) before
        // Media Foundation starts; MFShutdown balances MFStartup when no camera opened.
        unsafe {
            // S_FALSE (already initialised on this thread) is not an error here.
            let _ = CoInitializeEx(None, COINIT_MULTITHREADED);
            MFStartup(MF_VERSION, MFSTARTUP_FULL).map_err(missing)?;
            let camera = first_camera();
            if !matches!(camera, Ok(Some(_))) {
                let _ = MFShutdown();
            }
            match camera {
                Ok(Some(camera)) => Ok(Box::new(camera)),
                Ok(None) => Err(OpenError::Missing("no camera is connected".into())),
                Err(e) if e.code() == E_ACCESSDENIED => Err(OpenError::Denied),
                Err(e) => Err(missing(e)),
            }
        }
    }

    fn attributes(count: u32) -> windows::core::Result<IMFAttributes> {
        let mut attributes = None;
        // SAFETY: `attributes` is a live out-parameter.
        unsafe { MFCreateAttributes(&mut attributes, count)? };
        attributes.ok_or_else(|| Error::from_hresult(E_POINTER))
    }

    /// # Safety
    /// Media Foundation is started on this thread.
    unsafe fn first_camera() -> windows::core::Result<Option<MediaFoundation>> {
        let wanted = attributes(1)?;
        let mut list: *mut Option<IMFActivate> = std::ptr::null_mut();
        let mut count = 0u32;
        // SAFETY: the out-parameters are live; the array Windows allocates is read once
        // (each entry moved out, so released when dropped) and then freed.
        let devices: Vec<IMFActivate> = unsafe {
            wanted.SetGUID(
                &MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE,
                &MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE_VIDCAP_GUID,
            )?;
            MFEnumDeviceSources(&wanted, &mut list, &mut count)?;
            let devices = (0..count as usize)
                .filter_map(|i| std::ptr::read(list.add(i)))
                .collect();
            CoTaskMemFree(Some(list.cast_const().cast()));
            devices
        };
        let Some(device) = devices.into_iter().next() else {
            return Ok(None);
        };
        let options = attributes(1)?;
        let stream = MF_SOURCE_READER_FIRST_VIDEO_STREAM.0 as u32;
        // SAFETY: a COM call on a live interface.
        let source: IMFMediaSource = unsafe { device.ActivateObject()? };
        // SAFETY: as `reader` says; a source that cannot be set up is shut down (it holds
        // the device).
        match unsafe { reader(&source, &options, stream) } {
            Ok(mut camera) => {
                camera.source = Some(source);
                Ok(Some(camera))
            }
            Err(e) => {
                // SAFETY: a live source, shut down once.
                let _ = unsafe { source.Shutdown() };
                Err(e)
            }
        }
    }

    /// The source's reader, asked for NV12.
    ///
    /// # Safety
    /// Media Foundation is started on this thread.
    unsafe fn reader(
        source: &IMFMediaSource,
        options: &IMFAttributes,
        stream: u32,
    ) -> windows::core::Result<MediaFoundation> {
        // SAFETY: plain COM calls on live interfaces; the GUIDs are constants.
        unsafe {
            options.SetUINT32(&MF_SOURCE_READER_ENABLE_VIDEO_PROCESSING, 1)?;
            let reader = MFCreateSourceReaderFromMediaSource(source, options)?;
            let nv12 = MFCreateMediaType()?;
            nv12.SetGUID(&MF_MT_MAJOR_TYPE, &MFMediaType_Video)?;
            nv12.SetGUID(&MF_MT_SUBTYPE, &MFVideoFormat_NV12)?;
            reader.SetCurrentMediaType(stream, None, &nv12)?;
            let current = reader.GetCurrentMediaType(stream)?;
            let size = current.GetUINT64(&MF_MT_FRAME_SIZE)?;
            let (width, height) = ((size >> 32) as u32, size as u32);
            // A negative stride means bottom-up rows; NV12 from the processor is top-down.
            let stride = current
                .GetUINT32(&MF_MT_DEFAULT_STRIDE)
                .map_or(width, |s| (s as i32).unsigned_abs());
            Ok(MediaFoundation {
                reader: Some(reader),
                source: None,
                stream,
                width,
                height,
                stride,
            })
        }
    }

    struct MediaFoundation {
        /// Released before Media Foundation shuts down (`Drop`).
        reader: Option<IMFSourceReader>,
        /// Shut down and released before Media Foundation shuts down.
        source: Option<IMFMediaSource>,
        stream: u32,
        width: u32,
        height: u32,
        stride: u32,
    }

    impl Webcam for MediaFoundation {
        fn next_frame(&mut self, each: &mut dyn FnMut(Frame<'_>)) -> Result<(), String> {
            let mut flags = 0u32;
            let mut sample: Option<IMFSample> = None;
            // SAFETY: synchronous ReadSample into live out-parameters; the buffer is read
            // only between Lock and Unlock.
            let reader = self.reader.as_ref().ok_or("the camera is closed")?;
            unsafe {
                reader
                    .ReadSample(
                        self.stream,
                        0,
                        None,
                        Some(&mut flags),
                        None,
                        Some(&mut sample),
                    )
                    .map_err(|e| e.message())?;
                let stopped =
                    MF_SOURCE_READERF_ERROR.0 as u32 | MF_SOURCE_READERF_ENDOFSTREAM.0 as u32;
                if flags & stopped != 0 {
                    return Err("the camera stopped".into());
                }
                // No sample: a gap in the stream (a format change); the next call reads on.
                let Some(sample) = sample else {
                    return Ok(());
                };
                let buffer = sample
                    .ConvertToContiguousBuffer()
                    .map_err(|e| e.message())?;
                let mut data = std::ptr::null_mut();
                let mut length = 0u32;
                buffer
                    .Lock(&mut data, None, Some(&mut length))
                    .map_err(|e| e.message())?;
                if !data.is_null() {
                    each(Frame {
                        format: PixelFormat::Planar420,
                        width: self.width,
                        height: self.height,
                        stride: self.stride,
                        data: std::slice::from_raw_parts(data, length as usize),
                    });
                }
                let _ = buffer.Unlock();
            }
            Ok(())
        }
    }

    impl Drop for MediaFoundation {
        fn drop(&mut self) {
            self.reader = None;
            // SAFETY: the source is shut down and released before Media Foundation shuts
            // down on this thread.
            unsafe {
                if let Some(source) = self.source.take() {
                    let _ = source.Shutdown();
                }
                let _ = MFShutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_with_too_few_bytes_are_refused() {
        let data = [0u8; 100];
        let frame = Frame {
            format: PixelFormat::Yuyv,
            width: 10,
            height: 10,
            stride: 20,
            data: &data,
        };
        assert!(luma(&frame)
            .unwrap_err()
            .contains("holds 100 bytes, not the 200"));
        let narrow = Frame {
            stride: 10,
            data: &[0u8; 400],
            ..frame
        };
        assert!(luma(&narrow).is_err(), "rows shorter than the width");
        let empty = Frame { width: 0, ..frame };
        assert!(luma(&empty).is_err());
    }

    /// A real QR code as a camera would send it in each format (chroma neutral, rows padded
    /// as drivers pad them), read back through `luma` by the core's reader.
    #[test]
    fn every_format_reads_the_code() {
        const TEXT: &str = "https://localhost:8443/enrol#camera-frame";
        let (w, h, grey) = latchkey_e2e::qr_luma(TEXT);
        let padded = |bytes_per_pixel: usize, pixel: &dyn Fn(u8) -> Vec<u8>| {
            let stride = w * bytes_per_pixel + 64;
            let mut data = vec![0u8; stride * h];
            for (y, row) in grey.chunks(w).enumerate() {
                let bytes: Vec<u8> = row.iter().flat_map(|&v| pixel(v)).collect();
                data[y * stride..y * stride + bytes.len()].copy_from_slice(&bytes);
            }
            (stride, data)
        };
        let mut frames: Vec<(PixelFormat, usize, Vec<u8>)> = Vec::new();
        let (stride, data) = padded(1, &|y| vec![y]);
        frames.push((PixelFormat::Grey, stride, data));
        // YUYV: Y0 U Y1 V, the chroma bytes alternating U and V.
        let yuyv: Vec<u8> = grey
            .chunks(w)
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .flat_map(|(i, &y)| [y, 100 + 50 * (i % 2) as u8])
            })
            .collect();
        frames.push((PixelFormat::Yuyv, w * 2, yuyv));
        let (stride, data) = padded(2, &|y| vec![128, y]);
        frames.push((PixelFormat::Uyvy, stride, data));
        // NV12: the luma plane, then interleaved chroma at half resolution.
        let (stride, mut data) = padded(1, &|y| vec![y]);
        data.extend(std::iter::repeat_n(128u8, stride * h.div_ceil(2)));
        frames.push((PixelFormat::Planar420, stride, data));
        let rgb = image::GrayImage::from_raw(w as u32, h as u32, grey.clone()).unwrap();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&rgb)
            .unwrap();
        frames.push((PixelFormat::Jpeg, 0, jpeg.clone()));
        // Motion JPEG as UVC cameras send it: no Huffman tables (the decoder has the standard
        // ones).
        let mjpeg = without_huffman_tables(&jpeg);
        assert!(mjpeg.len() < jpeg.len(), "the tables were there to strip");
        frames.push((PixelFormat::Jpeg, 0, mjpeg));

        for (format, stride, data) in frames {
            let frame = Frame {
                format,
                width: w as u32,
                height: h as u32,
                stride: stride as u32,
                data: &data,
            };
            let luma = luma(&frame).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(
                (luma.width, luma.height),
                (w as u32, h as u32),
                "{format:?}"
            );
            let codes = latchkey_core::read_codes(
                &luma.pixels,
                luma.width as usize,
                luma.height as usize,
                luma.stride as usize,
            )
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(codes, vec![TEXT.to_owned()], "{format:?}");
        }
        // A JPEG larger than the size agreed with the camera is refused before decoding.
        let mut big = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut big, 50)
            .encode_image(&image::GrayImage::new(640, 480))
            .unwrap();
        let smaller = Frame {
            format: PixelFormat::Jpeg,
            width: 320,
            height: 240,
            stride: 0,
            data: &big,
        };
        assert!(luma(&smaller).unwrap_err().contains("does not decode"));
        let broken = Frame {
            format: PixelFormat::Jpeg,
            width: 0,
            height: 0,
            stride: 0,
            data: b"\xff\xd8 not a jpeg",
        };
        assert!(luma(&broken).unwrap_err().contains("does not decode"));
    }

    /// The JPEG without its DHT segments (marker FF C4).
    fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut at = 2;
        while at + 4 <= jpeg.len() && jpeg[at] == 0xff {
            let marker = jpeg[at + 1];
            if marker == 0xda {
                break; // start of scan: the entropy-coded data follows to the end
            }
            let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            if marker != 0xc4 {
                out.extend_from_slice(&jpeg[at..at + 2 + length]);
            }
            at += 2 + length;
        }
        out.extend_from_slice(&jpeg[at..]);
        out
    }

    #[test]
    fn the_picture_is_small_and_keeps_the_aspect() {
        let pixels: Vec<u8> = (0..=255u8).cycle().take(1280 * 720).collect();
        let luma = Luma {
            pixels: Cow::Owned(pixels),
            width: 1280,
            height: 720,
            stride: 1280,
        };
        let (w, h, out) = picture(&luma, 320);
        assert_eq!((w, h, out.len()), (320, 180, 320 * 180));
        assert_eq!(out[1], 4, "every fourth pixel");
    }
}
