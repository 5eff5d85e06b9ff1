//! A seeded corpus of hard camera frames: a QR code on a laptop screen as a phone camera sees
//! it, and frames with no code at all. Nothing is committed; frames are rendered at run time
//! from `(seed, index, size)`, so every run and every machine sees the same pixels.
//!
//! Each frame: a real QR code (the `qrcode` crate, EC level M) of an enrolment link or of
//! another app's payload, shown on a screen in a room, projected through a pinhole camera
//! (in-plane rotation, tilt up to 40°, modules down to 2 px), then degraded: low contrast,
//! uneven light and glare, dark-mode (inverted) codes, moiré, defocus or motion blur, sensor
//! noise and JPEG artefacts. [`Frame::traits`] says which were applied.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One frame of the corpus.
#[derive(Clone)]
pub struct Frame {
    /// `720p-0007`.
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Luma plane, `width` bytes per row.
    pub luma: Vec<u8>,
    /// The payload a decoder must read, or `None` for a frame without a code.
    pub expected: Option<String>,
    /// What was applied (for reading misses).
    pub traits: String,
}

/// The two frame sizes the benchmark reports.
pub const SIZES: [(usize, usize, &str); 2] = [(1280, 720, "720p"), (1920, 1080, "1080p")];

/// Which generator draws the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The corpus the pipeline was first tuned on (2026-11-23..25): modules from 2 px,
    /// contrast from 30 levels, mostly upright codes, tilt to 40°, JPEG from quality 35.
    Seeded,
    /// What phones produce (issue 22): modules from 1.5 px (40 % under 2.5 px), contrast
    /// 20–100 % of full range (30 % under 35 %), gamma 0.5–1.5, any in-plane angle, tilt to
    /// 45°, rolling-shutter skew, defocus to σ 2 or motion to 10 px, sensor noise smoothed by a
    /// denoiser (correlated), JPEG down to quality 10; half the frames without a code show a
    /// decoy (finder patterns around random modules, not a code).
    Wide,
}

/// `count` frames of `width` × `height` from `seed` ([`Profile::Seeded`]).
pub fn corpus(seed: u64, width: usize, height: usize, label: &str, count: usize) -> Vec<Frame> {
    corpus_in(Profile::Seeded, seed, width, height, label, count)
}

/// `count` frames of `width` × `height` from `seed`, drawn by `profile`.
pub fn corpus_in(
    profile: Profile,
    seed: u64,
    width: usize,
    height: usize,
    label: &str,
    count: usize,
) -> Vec<Frame> {
    (0..count)
        .map(|i| frame_in(profile, seed, i, width, height, label))
        .collect()
}

/// Frame `index` of the corpus for `seed` and this size (independent of the others;
/// [`Profile::Seeded`]).
pub fn frame(seed: u64, index: usize, width: usize, height: usize, label: &str) -> Frame {
    frame_in(Profile::Seeded, seed, index, width, height, label)
}

/// What is in front of the camera: the code (or decoy) on a page on a screen in a room.
/// Lengths are in image pixels at the module size [`Scene::module`]; a pose with another
/// module size scales them.
struct Scene {
    /// Modules per side, and which are dark (empty: a page without a code).
    n: usize,
    dark: Vec<bool>,
    /// The payload a decoder must read.
    expected: Option<String>,
    module: f64,
    /// The screen's edges around the code's centre, in code-plane pixels.
    screen: (f64, f64, f64, f64),
    /// Lines of "text": x, y, length.
    bars: Vec<(f64, f64, f64)>,
    inverted: bool,
    room: f64,
}

/// Where the camera is: module size at the code's centre, in-plane rotation, tilt about an
/// axis, where the code's centre lands, rolling-shutter skew.
#[derive(Clone, Copy)]
struct Pose {
    module: f64,
    rotation: f64,
    tilt: f64,
    tilt_axis: f64,
    centre: (f64, f64),
    skew: f64,
}

/// Light on the screen: levels, gain gradient, glare (x, y, radius, amount), moiré.
struct Light {
    lo: f64,
    hi: f64,
    gain0: f64,
    gx: f64,
    gy: f64,
    glare: Option<(f64, f64, f64, f64)>,
    moire: Option<(f64, f64, f64)>,
}

/// What the lens does during one frame.
#[derive(Clone, Copy)]
enum Optics {
    Sharp,
    Defocus(f64),
    Motion {
        len: f64,
        angle: f64,
    },
    /// Both: out of focus and moving (a phone on its way to the screen).
    Shake {
        sigma: f64,
        len: f64,
        angle: f64,
    },
}

/// The sensor and what the phone does after it: noise σ, (grain, gamma) for
/// [`Profile::Wide`].
#[derive(Clone, Copy)]
struct Sensor {
    sigma: f64,
    denoised: Option<(f64, f64)>,
}

/// Frame `index` of `profile`'s corpus for `seed` and this size.
pub fn frame_in(
    profile: Profile,
    seed: u64,
    index: usize,
    width: usize,
    height: usize,
    label: &str,
) -> Frame {
    let wide = profile == Profile::Wide;
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ ((width as u64) << 40)
            ^ if wide { 0x5EED_0000_0000_0022 } else { 0 },
    );
    let mut traits = Vec::new();
    let (scene, pose) = draw_scene(&mut rng, wide, width, height, &mut traits);
    let light = draw_light(&mut rng, wide, &pose, scene.side(pose.module), &mut traits);
    let optics = draw_optics(&mut rng, wide, &mut traits);
    let sensor = draw_sensor(&mut rng, wide, &mut traits);
    let mut luma = render(
        &scene, &pose, &light, optics, sensor, &mut rng, width, height,
    );
    if let Some(quality) = draw_jpeg(&mut rng, wide, &mut traits) {
        luma = jpeg(luma, width, height, quality);
    }
    if scene.expected.is_none() {
        traits.push("no-code".into());
    }
    Frame {
        name: format!("{label}-{index:04}"),
        width,
        height,
        luma,
        expected: scene.expected,
        traits: traits.join(" "),
    }
}

impl Scene {
    /// The code's side with its quiet zone, in pixels at `module`.
    fn side(&self, module: f64) -> f64 {
        (self.n as f64 + 8.0) * module
    }
}

/// The code, its pose (fitted into the frame) and the page around it.
fn draw_scene(
    rng: &mut ChaCha8Rng,
    wide: bool,
    width: usize,
    height: usize,
    traits: &mut Vec<String>,
) -> (Scene, Pose) {
    let with_code = rng.gen_bool(0.9);
    let payload = with_code.then(|| payload(rng));
    // A decoy: finder patterns and timing around random modules, which no decoder may read.
    let decoy = (wide && !with_code && rng.gen_bool(0.5)).then(|| {
        traits.push("decoy".into());
        decoy(rng)
    });
    let matrix = payload.as_deref().and_then(|p| {
        qrcode::QrCode::with_error_correction_level(p.as_bytes(), qrcode::EcLevel::M).ok()
    });
    let (n, dark) = match &matrix {
        Some(code) => (
            code.width(),
            code.to_colors()
                .iter()
                .map(|c| *c == qrcode::Color::Dark)
                .collect::<Vec<_>>(),
        ),
        None => decoy.unwrap_or((33, Vec::new())),
    };
    let quiet = n as f64 + 8.0;

    // Geometry: module size at the code's centre, rotation, tilt, position.
    let max_module = if width > 1280 { 10.0 } else { 7.0 };
    let min_module = if wide { 1.5 } else { 2.0 };
    let mut module = if wide && rng.gen_bool(0.4) {
        rng.gen_range(1.5..2.5)
    } else {
        rng.gen_range(min_module..max_module)
    };
    let rotation = if wide || rng.gen_bool(0.3) {
        rng.gen_range(-PI..PI)
    } else {
        rng.gen_range(-0.26..0.26)
    };
    let tilt = rng
        .gen_range(0.0f64..if wide { 45.0 } else { 40.0 })
        .to_radians();
    let tilt_axis = rng.gen_range(0.0..PI);
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let mut pose = Pose {
        module,
        rotation,
        tilt,
        tilt_axis,
        centre: (cx, cy),
        skew: 0.0,
    };
    for attempt in 0..12 {
        pose.module = module;
        pose.centre = (
            cx + rng.gen_range(-0.3..0.3) * width as f64,
            cy + rng.gen_range(-0.3..0.3) * height as f64,
        );
        if fits(&pose, quiet * module, width, height) || attempt == 11 {
            break;
        }
        module = (module * 0.85).max(min_module);
    }
    if let Some(p) = &payload {
        traits.push(format!("len={}", p.len()));
    }
    traits.push(format!(
        "module={module:.1} rot={:.0} tilt={:.0}",
        rotation.to_degrees(),
        tilt.to_degrees()
    ));

    // The screen: a page around the code, a bezel, a cluttered room.
    let side = quiet * module;
    let screen = (
        -side / 2.0 - rng.gen_range(0.2..1.5) * side,
        -side / 2.0 - rng.gen_range(0.2..1.0) * side,
        side / 2.0 + rng.gen_range(0.2..1.5) * side,
        side / 2.0 + rng.gen_range(0.2..1.0) * side,
    );
    let inverted = rng.gen_bool(0.15);
    if inverted {
        traits.push("inverted".into());
    }
    let room = rng.gen_range(20.0..120.0) / 255.0;
    let bars: Vec<(f64, f64, f64)> = (0..rng.gen_range(3..12))
        .map(|_| {
            (
                rng.gen_range(screen.0..screen.2),
                rng.gen_range(screen.1..screen.3),
                rng.gen_range(0.3..2.0) * side,
            )
        })
        .collect();
    // Rolling shutter: rows exposed one after another while the phone moves sideways.
    if wide && rng.gen_bool(0.3) {
        pose.skew = rng.gen_range(-0.08..0.08);
        traits.push(format!("skew={:.2}", pose.skew));
    }
    let scene = Scene {
        n,
        dark,
        expected: matrix.and(payload),
        module,
        screen,
        bars,
        inverted,
        room,
    };
    (scene, pose)
}

/// Whether the code with its quiet zone (`side` pixels) lies inside the frame at `pose`.
fn fits(pose: &Pose, side: f64, width: usize, height: usize) -> bool {
    let h = homography_of(pose, width, height);
    [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
        .iter()
        .all(|&(sx, sy)| {
            let (x, y) = apply(&h, sx * side / 2.0, sy * side / 2.0);
            x > 4.0 && y > 4.0 && x < width as f64 - 4.0 && y < height as f64 - 4.0
        })
}

/// Code plane → image for `pose` (focal length = frame width).
fn homography_of(pose: &Pose, width: usize, height: usize) -> M3 {
    let rot = rotation_matrix(pose.rotation, pose.tilt, pose.tilt_axis);
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    homography(&rot, width as f64, (cx, cy), pose.centre)
}

/// Photometry: contrast, uneven light, glare, moiré.
fn draw_light(
    rng: &mut ChaCha8Rng,
    wide: bool,
    pose: &Pose,
    side: f64,
    traits: &mut Vec<String>,
) -> Light {
    let (lo, hi) = if wide {
        let range = if rng.gen_bool(0.3) {
            traits.push("low-contrast".into());
            rng.gen_range(0.2..0.35)
        } else {
            rng.gen_range(0.35..1.0)
        } * 255.0f64;
        let lo: f64 = rng.gen_range(0.0..=(255.0f64 - range).max(1.0));
        traits.push(format!("contrast={:.2}", range / 255.0));
        (lo, lo + range)
    } else if rng.gen_bool(0.25) {
        let lo = rng.gen_range(60.0..110.0);
        traits.push("low-contrast".into());
        (lo, lo + rng.gen_range(30.0..55.0))
    } else {
        (rng.gen_range(5.0..70.0), rng.gen_range(150.0..250.0))
    };
    let gain0 = rng.gen_range(0.75..1.1);
    let (gx, gy) = (rng.gen_range(-0.5..0.5), rng.gen_range(-0.5..0.5));
    let glare = rng.gen_bool(0.35).then(|| {
        traits.push("glare".into());
        (
            pose.centre.0 + rng.gen_range(-1.0..1.0) * side,
            pose.centre.1 + rng.gen_range(-1.0..1.0) * side,
            rng.gen_range(0.2..1.0) * side,
            rng.gen_range(40.0..150.0),
        )
    });
    let moire = rng.gen_bool(0.3).then(|| {
        traits.push("moire".into());
        let angle: f64 = rng.gen_range(0.0..PI);
        let freq = rng.gen_range(0.2..0.45);
        (
            freq * angle.cos(),
            freq * angle.sin(),
            rng.gen_range(4.0..16.0),
        )
    });
    Light {
        lo,
        hi,
        gain0,
        gx,
        gy,
        glare,
        moire,
    }
}

/// Defocus or motion blur (or neither).
fn draw_optics(rng: &mut ChaCha8Rng, wide: bool, traits: &mut Vec<String>) -> Optics {
    match rng.gen_range(0..10) {
        0..=4 => {
            let sigma = rng.gen_range(0.4..if wide { 2.0 } else { 1.6 });
            traits.push(format!("defocus={sigma:.1}"));
            Optics::Defocus(sigma)
        }
        5..=6 => {
            let len = rng.gen_range(2.0..if wide { 10.0 } else { 8.0 });
            let angle = rng.gen_range(0.0..PI);
            traits.push(format!("motion={len:.0}"));
            Optics::Motion { len, angle }
        }
        _ => Optics::Sharp,
    }
}

/// Sensor noise, and for [`Profile::Wide`] the denoiser's grain and the tone curve.
fn draw_sensor(rng: &mut ChaCha8Rng, wide: bool, traits: &mut Vec<String>) -> Sensor {
    let sigma = rng.gen_range(1.0..12.0);
    traits.push(format!("noise={sigma:.0}"));
    let denoised = wide.then(|| {
        let grain = rng.gen_range(0.7..1.8);
        let gamma = rng.gen_range(0.5f64..1.5);
        traits.push(format!("grain={grain:.1} gamma={gamma:.2}"));
        (grain, gamma)
    });
    Sensor { sigma, denoised }
}

/// JPEG artefacts (the camera pipeline or a screenshot), if any: the quality.
fn draw_jpeg(rng: &mut ChaCha8Rng, wide: bool, traits: &mut Vec<String>) -> Option<u8> {
    rng.gen_bool(if wide { 0.6 } else { 0.5 }).then(|| {
        let quality = if wide && rng.gen_bool(0.35) {
            rng.gen_range(10..30u8)
        } else {
            rng.gen_range(if wide { 30 } else { 35 }..85u8)
        };
        traits.push(format!("jpeg={quality}"));
        quality
    })
}

/// The frame through a pinhole camera at `pose`, lit, blurred and sensed (noise from `rng`).
#[allow(clippy::too_many_arguments)]
fn render(
    scene: &Scene,
    pose: &Pose,
    light: &Light,
    optics: Optics,
    sensor: Sensor,
    rng: &mut ChaCha8Rng,
    width: usize,
    height: usize,
) -> Vec<u8> {
    let h_inv = invert(&homography_of(pose, width, height));
    let cy = height as f64 / 2.0;
    // The scene's lengths at this pose's module size (exactly 1 for a single frame).
    let scale = pose.module / scene.module;
    let module = pose.module;
    let side = scene.side(module);
    let code_half = side / 2.0;
    let screen = (
        scene.screen.0 * scale,
        scene.screen.1 * scale,
        scene.screen.2 * scale,
        scene.screen.3 * scale,
    );
    let bars: Vec<(f64, f64, f64)> = scene
        .bars
        .iter()
        .map(|&(x, y, len)| (x * scale, y * scale, len * scale))
        .collect();
    let text_height = module.max(3.0) * 1.2;
    let (n, dark, skew) = (scene.n, &scene.dark, pose.skew);

    let sample = |px: f64, py: f64| -> f64 {
        let (x, y) = apply(&h_inv, px - skew * (py - cy), py);
        if x < screen.0 || x > screen.2 || y < screen.1 || y > screen.3 {
            // Bezel just outside the screen, then the room.
            let bezel = side * 0.05;
            if x > screen.0 - bezel
                && x < screen.2 + bezel
                && y > screen.1 - bezel
                && y < screen.3 + bezel
            {
                return 0.08;
            }
            return scene.room + 0.1 * ((px * 0.013).sin() * (py * 0.021).cos());
        }
        let light = if x.abs() < code_half && y.abs() < code_half {
            let u = ((x + code_half) / module) as i64 - 4;
            let v = ((y + code_half) / module) as i64 - 4;
            let inside = u >= 0 && v >= 0 && (u as usize) < n && (v as usize) < n;
            !(inside && !dark.is_empty() && dark[v as usize * n + u as usize])
        } else {
            // Page content: lines of "text" away from the quiet zone.
            !bars.iter().any(|&(bx, by, len)| {
                x > bx && x < bx + len && y > by && y < by + text_height * 0.6
            })
        };
        if light != scene.inverted {
            1.0
        } else {
            0.0
        }
    };

    // Render with 2×2 supersampling.
    let mut img = vec![0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64, y as f64);
            let v = sample(fx + 0.25, fy + 0.25)
                + sample(fx + 0.75, fy + 0.25)
                + sample(fx + 0.25, fy + 0.75)
                + sample(fx + 0.75, fy + 0.75);
            img[y * width + x] = (v / 4.0) as f32;
        }
    }

    // Photometry.
    let Light {
        lo,
        hi,
        gain0,
        gx,
        gy,
        glare,
        moire,
    } = *light;
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64, y as f64);
            let gain = gain0 + gx * (fx / width as f64 - 0.5) + gy * (fy / height as f64 - 0.5);
            let mut v = (lo + (hi - lo) * f64::from(img[y * width + x])) * gain;
            if let Some((gxc, gyc, r, a)) = glare {
                let d2 = (fx - gxc).powi(2) + (fy - gyc).powi(2);
                v += a * (-d2 / (2.0 * r * r)).exp();
            }
            if let Some((mx, my, a)) = moire {
                v += a * (2.0 * PI * (mx * fx + my * fy)).sin();
            }
            img[y * width + x] = v as f32;
        }
    }

    // Optics.
    match optics {
        Optics::Defocus(sigma) => gaussian_blur(&mut img, width, height, sigma),
        Optics::Motion { len, angle } => img = motion_blur(&img, width, height, len, angle),
        Optics::Shake { sigma, len, angle } => {
            gaussian_blur(&mut img, width, height, sigma);
            img = motion_blur(&img, width, height, len, angle);
        }
        Optics::Sharp => {}
    }

    // Sensor noise, then 8 bits.
    let sigma = sensor.sigma;
    match sensor.denoised {
        Some((grain, gamma)) => {
            // A phone's denoiser leaves grain a few pixels wide: white noise, smoothed,
            // rescaled to σ; then the tone curve (gamma).
            let mut noise: Vec<f32> = (0..img.len()).map(|_| gaussian(rng) as f32).collect();
            gaussian_blur(&mut noise, width, height, grain);
            // A Gaussian of σ g leaves white noise with σ 1 / (2 g √π).
            let rescale = (sigma * 2.0 * grain * PI.sqrt()) as f32;
            img.iter()
                .zip(&noise)
                .map(|(&v, &n)| {
                    let linear = (f64::from(v + n * rescale) / 255.0).clamp(0.0, 1.0);
                    (linear.powf(gamma) * 255.0).round() as u8
                })
                .collect()
        }
        None => img
            .iter()
            .map(|&v| {
                let g = gaussian(rng) * sigma;
                (f64::from(v) + g).round().clamp(0.0, 255.0) as u8
            })
            .collect(),
    }
}

/// Through a JPEG encoder and back at `quality`.
fn jpeg(luma: Vec<u8>, width: usize, height: usize, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(
            &luma,
            width as u32,
            height as u32,
            image::ExtendedColorType::L8,
        )
        .is_ok();
    match encoded
        .then(|| image::load_from_memory(&out).ok())
        .flatten()
    {
        Some(img) => img.to_luma8().into_raw(),
        None => luma,
    }
}

/// Finder patterns, timing patterns and random modules on a version-2..6 grid: looks like a
/// code to a detector, but its format bits and data are noise.
fn decoy(rng: &mut ChaCha8Rng) -> (usize, Vec<bool>) {
    let n = 17 + 4 * rng.gen_range(2..=6usize);
    let mut dark: Vec<bool> = (0..n * n).map(|_| rng.gen_bool(0.5)).collect();
    // Each finder pattern with its light separator (8 × 8 from the corner).
    for (ox, oy) in [(0, 0), (n - 8, 0), (0, n - 8)] {
        for y in 0..8usize {
            for x in 0..8usize {
                let outside = (ox > 0 && x == 0)
                    || (ox == 0 && x == 7)
                    || (oy > 0 && y == 0)
                    || (oy == 0 && y == 7);
                // Position inside the 7 × 7 pattern, which sits away from the code's centre.
                let (px, py) = (
                    x.wrapping_sub(usize::from(ox > 0)),
                    y.wrapping_sub(usize::from(oy > 0)),
                );
                dark[(oy + y) * n + ox + x] = !outside && px.min(py).min(6 - px).min(6 - py) != 1;
            }
        }
    }
    for i in 8..n - 8 {
        dark[6 * n + i] = i % 2 == 0;
        dark[i * n + 6] = i % 2 == 0;
    }
    (n, dark)
}

fn payload(rng: &mut ChaCha8Rng) -> String {
    let b64 = |rng: &mut ChaCha8Rng, len: usize| -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len).map(|_| A[rng.gen_range(0..64)] as char).collect()
    };
    match rng.gen_range(0..10) {
        0..=6 => {
            let hosts = [
                "login.example.org",
                "auth.uni-example.de",
                "sso.example.com:8443",
                "id.example.net/tenant-7",
                "localhost:8443",
            ];
            let names = [
                "alice%40example.org",
                "b.m%C3%BCller%40uni-example.de",
                "carol.longname-for-testing%40example.com",
            ];
            format!(
                "https://{}/e#v=1&c={}&k=A{}&p={}&n={}&l=Latchkey%20demo%20%E2%80%94%20{}",
                hosts[rng.gen_range(0..hosts.len())],
                b64(rng, 22),
                b64(rng, 43),
                if rng.gen_bool(0.8) { "web" } else { "app" },
                if rng.gen_bool(0.8) { 4 } else { 6 },
                names[rng.gen_range(0..names.len())],
            )
        }
        7 => {
            const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            let secret: String = (0..32).map(|_| B32[rng.gen_range(0..32)] as char).collect();
            format!("otpauth://totp/Example:alice@example.org?secret={secret}&issuer=Example")
        }
        8 => format!(
            "WIFI:S:Home-{};T:WPA;P:{};;",
            rng.gen_range(1..999),
            b64(rng, 16)
        ),
        _ => format!(
            "https://www.example.org/products/{}?ref=poster",
            rng.gen_range(1000..99999)
        ),
    }
}

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

type M3 = [[f64; 3]; 3];

/// In-plane rotation, then a tilt of `tilt` about an in-plane axis at `axis`.
fn rotation_matrix(rotation: f64, tilt: f64, axis: f64) -> M3 {
    let rz = [
        [rotation.cos(), -rotation.sin(), 0.0],
        [rotation.sin(), rotation.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    // Rodrigues about (cos axis, sin axis, 0).
    let (ux, uy) = (axis.cos(), axis.sin());
    let (c, s) = (tilt.cos(), tilt.sin());
    let t = 1.0 - c;
    let ra = [
        [c + ux * ux * t, ux * uy * t, uy * s],
        [uy * ux * t, c + uy * uy * t, -ux * s],
        [-uy * s, ux * s, c],
    ];
    mul(&ra, &rz)
}

fn mul(a: &M3, b: &M3) -> M3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// Plane (X, Y, 0) → image: K · [r1 r2 t] with the plane's centre at `centre`, depth `f`.
fn homography(r: &M3, f: f64, (cx, cy): (f64, f64), centre: (f64, f64)) -> M3 {
    let t = [centre.0 - cx, centre.1 - cy, f];
    let k = [[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]];
    let rt = [
        [r[0][0], r[0][1], t[0]],
        [r[1][0], r[1][1], t[1]],
        [r[2][0], r[2][1], t[2]],
    ];
    mul(&k, &rt)
}

fn apply(h: &M3, x: f64, y: f64) -> (f64, f64) {
    let w = h[2][0] * x + h[2][1] * y + h[2][2];
    (
        (h[0][0] * x + h[0][1] * y + h[0][2]) / w,
        (h[1][0] * x + h[1][1] * y + h[1][2]) / w,
    )
}

fn invert(m: &M3) -> M3 {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let d = if det.abs() < 1e-12 { 1e-12 } else { det };
    [
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / d,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / d,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / d,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / d,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / d,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / d,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / d,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / d,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / d,
        ],
    ]
}

fn gaussian_blur(img: &mut [f32], w: usize, h: usize, sigma: f64) {
    let r = (sigma * 3.0).ceil() as isize;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let sum: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
    let mut tmp = vec![0f32; img.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, weight) in kernel.iter().enumerate() {
                let xx = (x as isize + k as isize - r).clamp(0, w as isize - 1) as usize;
                acc += img[y * w + xx] * weight;
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, weight) in kernel.iter().enumerate() {
                let yy = (y as isize + k as isize - r).clamp(0, h as isize - 1) as usize;
                acc += tmp[yy * w + x] * weight;
            }
            img[y * w + x] = acc;
        }
    }
}

fn motion_blur(img: &[f32], w: usize, h: usize, len: f64, angle: f64) -> Vec<f32> {
    let steps = len.ceil() as usize + 1;
    let (dx, dy) = (angle.cos(), angle.sin());
    let offsets: Vec<(isize, isize)> = (0..steps)
        .map(|i| {
            let t = i as f64 / (steps - 1) as f64 * len - len / 2.0;
            ((t * dx).round() as isize, (t * dy).round() as isize)
        })
        .collect();
    let mut out = vec![0f32; img.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for &(ox, oy) in &offsets {
                let xx = (x as isize + ox).clamp(0, w as isize - 1) as usize;
                let yy = (y as isize + oy).clamp(0, h as isize - 1) as usize;
                acc += img[yy * w + xx];
            }
            out[y * w + x] = acc / steps as f32;
        }
    }
    out
}

/// Frames a second of [`sequence`]s.
pub const SEQUENCE_FPS: f64 = 30.0;
/// Length of a [`sequence`] in seconds.
pub const SEQUENCE_SECONDS: f64 = 2.5;

/// A person bringing the phone to the screen, frame by frame.
pub struct Sequence {
    /// `seq-720p-007`.
    pub name: String,
    /// [`SEQUENCE_FPS`] frames a second, each expecting the same payload.
    pub frames: Vec<Frame>,
    /// The pose it settles at stays hard (small modules, defocus, shake): it never gets easy.
    pub hard: bool,
    /// What the sequence got.
    pub traits: String,
}

/// Sequence `index` for `seed` at this size: a [`Profile::Wide`] scene (always with a code),
/// seen first from further away, turned and tilted, out of focus and moving, then settling
/// over 0.6–2 s into a held pose with hand tremor, while autofocus closes in over 0.2–0.5 s.
/// In three sequences of four the settled pose is comfortable (modules of 2.5–5 px, tilt under
/// 20°, σ 0.3–0.8); in the others it is the scene's own pose (modules from 2 px, tilt to 45°),
/// somewhat out of focus (σ 0.6–1.3) and shaking more: it never gets easy.
/// No JPEG: camera frames reach the app uncompressed.
pub fn sequence(seed: u64, index: usize, width: usize, height: usize, label: &str) -> Sequence {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ ((width as u64) << 40)
            ^ 0x5E9E_0000_0000_0004,
    );
    let mut traits = Vec::new();
    let (scene, drawn) = loop {
        traits.clear();
        let (scene, pose) = draw_scene(&mut rng, true, width, height, &mut traits);
        if scene.expected.is_some() {
            break (scene, pose);
        }
    };
    let hard = rng.gen_bool(0.25);
    let mut settled = drawn;
    if hard {
        // Hard but not hopeless: the scene's own pose, modules of at least 2 px.
        settled.module = settled.module.max(2.0);
    } else {
        settled.tilt = settled.tilt.min(20f64.to_radians());
        settled.module = rng.gen_range(2.5..5.0);
    }
    while settled.module > 2.0 && !fits(&settled, scene.side(settled.module), width, height) {
        settled.module *= 0.9;
    }
    let light = draw_light(
        &mut rng,
        true,
        &settled,
        scene.side(settled.module),
        &mut traits,
    );
    let sensor = draw_sensor(&mut rng, true, &mut traits);
    let start = Pose {
        module: settled.module * rng.gen_range(0.3..0.5),
        rotation: settled.rotation + rng.gen_range(-0.7..0.7),
        tilt: (settled.tilt + rng.gen_range(0.1..0.4)).min(1.05),
        centre: (
            settled.centre.0 + rng.gen_range(-0.25..0.25) * width as f64,
            settled.centre.1 + rng.gen_range(-0.25..0.25) * height as f64,
        ),
        ..settled
    };
    let settle: f64 = rng.gen_range(0.6..2.0);
    // Autofocus closes in over a few hundred milliseconds, around when the phone settles.
    let focus_at = (settle + rng.gen_range(-0.3..0.4)).max(0.3);
    let focus_over = rng.gen_range(0.2..0.5);
    let blur_far = rng.gen_range(2.0..3.5);
    let blur_held = if hard {
        rng.gen_range(0.6..1.3)
    } else {
        rng.gen_range(0.3..0.8)
    };
    // Hand tremor: a few pixels at a few hertz, on both axes and the angle.
    let tremor = if hard { 3.0 } else { 1.5 } * rng.gen_range(0.5..1.0);
    let (fx, fy, phase) = (
        rng.gen_range(2.0..6.0),
        rng.gen_range(2.0..6.0),
        rng.gen_range(0.0..2.0 * PI),
    );
    traits.push(format!(
        "{} settle={settle:.1}s focus={focus_at:.1}s held-module={:.1} held-tilt={:.0} held-blur={blur_held:.1} tremor={tremor:.1}",
        if hard { "hard" } else { "easy" },
        settled.module,
        settled.tilt.to_degrees()
    ));
    let blur_at = |t: f64| -> f64 {
        let k = ((t - (focus_at - focus_over)) / focus_over).clamp(0.0, 1.0);
        blur_far + (blur_held - blur_far) * k
    };
    let pose_at = |t: f64| -> Pose {
        let e = if t < settle {
            1.0 - (1.0 - t / settle).powi(3)
        } else {
            1.0
        };
        let mix = |a: f64, b: f64| a + (b - a) * e;
        let shake = |f: f64, p: f64| tremor * (2.0 * PI * f * t + p).sin();
        Pose {
            module: mix(start.module, settled.module),
            rotation: mix(start.rotation, settled.rotation) + 0.003 * shake(fx, phase),
            tilt: mix(start.tilt, settled.tilt),
            centre: (
                mix(start.centre.0, settled.centre.0) + shake(fx, phase),
                mix(start.centre.1, settled.centre.1) + shake(fy, 2.0 * phase),
            ),
            ..settled
        }
    };
    let count = (SEQUENCE_SECONDS * SEQUENCE_FPS) as usize;
    let frames = (0..count)
        .map(|i| {
            let t = i as f64 / SEQUENCE_FPS;
            let pose = pose_at(t);
            // Motion during a half-frame exposure: how far the code's centre moves.
            let next = pose_at(t + 0.5 / SEQUENCE_FPS);
            let (dx, dy) = (next.centre.0 - pose.centre.0, next.centre.1 - pose.centre.1);
            let len = dx.hypot(dy) + (next.module / pose.module - 1.0).abs() * 20.0;
            let sigma = blur_at(t);
            let optics = if len >= 1.0 {
                Optics::Shake {
                    sigma,
                    len,
                    angle: dy.atan2(dx),
                }
            } else {
                Optics::Defocus(sigma)
            };
            Frame {
                name: format!("{label}-{index:03}-{i:03}"),
                width,
                height,
                luma: render(
                    &scene, &pose, &light, optics, sensor, &mut rng, width, height,
                ),
                expected: scene.expected.clone(),
                traits: format!(
                    "t={t:.2} module={:.1} blur={sigma:.1} motion={len:.1}",
                    pose.module
                ),
            }
        })
        .collect();
    Sequence {
        name: format!("{label}-{index:03}"),
        frames,
        hard,
        traits: traits.join(" "),
    }
}
