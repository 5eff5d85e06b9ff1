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

/// `count` frames of `width` × `height` from `seed`.
pub fn corpus(seed: u64, width: usize, height: usize, label: &str, count: usize) -> Vec<Frame> {
    (0..count)
        .map(|i| frame(seed, i, width, height, label))
        .collect()
}

/// Frame `index` of the corpus for `seed` and this size (independent of the others).
pub fn frame(seed: u64, index: usize, width: usize, height: usize, label: &str) -> Frame {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((width as u64) << 40),
    );
    let mut traits = Vec::new();
    let with_code = rng.gen_bool(0.9);
    let payload = with_code.then(|| payload(&mut rng));
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
        None => (33, Vec::new()),
    };
    let quiet = n as f64 + 8.0;

    // Geometry: module size at the code's centre, rotation, tilt, position.
    let max_module = if width > 1280 { 10.0 } else { 7.0 };
    let mut module = rng.gen_range(2.0..max_module);
    let rotation = if rng.gen_bool(0.3) {
        rng.gen_range(-PI..PI)
    } else {
        rng.gen_range(-0.26..0.26)
    };
    let tilt = rng.gen_range(0.0f64..40.0).to_radians();
    let tilt_axis = rng.gen_range(0.0..PI);
    let f = width as f64;
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let rot = rotation_matrix(rotation, tilt, tilt_axis);
    let mut h_inv = [[0.0; 3]; 3];
    let mut centre = (cx, cy);
    for attempt in 0..12 {
        let side = quiet * module;
        centre = (
            cx + rng.gen_range(-0.3..0.3) * width as f64,
            cy + rng.gen_range(-0.3..0.3) * height as f64,
        );
        let h = homography(&rot, f, (cx, cy), centre);
        let fits = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
            .iter()
            .all(|&(sx, sy)| {
                let (x, y) = apply(&h, sx * side / 2.0, sy * side / 2.0);
                x > 4.0 && y > 4.0 && x < width as f64 - 4.0 && y < height as f64 - 4.0
            });
        if fits || attempt == 11 {
            h_inv = invert(&h);
            break;
        }
        module = (module * 0.85).max(2.0);
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
    let text_height = module.max(3.0) * 1.2;
    let code_half = side / 2.0;

    let sample = |px: f64, py: f64| -> f64 {
        let (x, y) = apply(&h_inv, px, py);
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
            return room + 0.1 * ((px * 0.013).sin() * (py * 0.021).cos());
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
        if light != inverted {
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

    // Photometry: contrast, uneven light, glare, moiré.
    let (lo, hi) = if rng.gen_bool(0.25) {
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
            centre.0 + rng.gen_range(-1.0..1.0) * side,
            centre.1 + rng.gen_range(-1.0..1.0) * side,
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

    // Optics: defocus or motion blur.
    match rng.gen_range(0..10) {
        0..=4 => {
            let sigma = rng.gen_range(0.4..1.6);
            traits.push(format!("defocus={sigma:.1}"));
            gaussian_blur(&mut img, width, height, sigma);
        }
        5..=6 => {
            let len = rng.gen_range(2.0..8.0);
            let angle = rng.gen_range(0.0..PI);
            traits.push(format!("motion={len:.0}"));
            img = motion_blur(&img, width, height, len, angle);
        }
        _ => {}
    }

    // Sensor noise, then 8 bits.
    let sigma = rng.gen_range(1.0..12.0);
    traits.push(format!("noise={sigma:.0}"));
    let mut luma: Vec<u8> = img
        .iter()
        .map(|&v| {
            let g = gaussian(&mut rng) * sigma;
            (f64::from(v) + g).round().clamp(0.0, 255.0) as u8
        })
        .collect();

    // JPEG artefacts (the camera pipeline or a screenshot).
    if rng.gen_bool(0.5) {
        let quality = rng.gen_range(35..85u8);
        traits.push(format!("jpeg={quality}"));
        let mut out = Vec::new();
        let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(
                &luma,
                width as u32,
                height as u32,
                image::ExtendedColorType::L8,
            )
            .is_ok();
        if encoded {
            if let Ok(img) = image::load_from_memory(&out) {
                luma = img.to_luma8().into_raw();
            }
        }
    }
    if matrix.is_none() {
        traits.push("no-code".into());
    }

    Frame {
        name: format!("{label}-{index:04}"),
        width,
        height,
        luma,
        expected: matrix.and(payload),
        traits: traits.join(" "),
    }
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
