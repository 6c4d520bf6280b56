//! LOLWUT: computer art and the version, as Redis 7.0 answers it.
//!
//! `LOLWUT [VERSION v] [args...]`: version 5 draws Georg Nees's
//! "Schotter" in Braille characters (`[columns] [squares-per-row]
//! [squares-per-col]`, defaults 66 8 12), version 6 a city skyline in ANSI
//! colours (`[columns] [rows]`, defaults 80 20); any other version (the
//! default) prints only the version line. The arguments are clamped as
//! Redis clamps them, and a non-integer is Redis's error. Redis draws with
//! `rand()`; here a fixed-seed generator does, so the same arguments give
//! the same picture (Redis's differ from call to call, their shape does
//! not).

use bytes::Bytes;

use crate::command::Reply;

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

/// The reply to `argv` (`LOLWUT ...`); `version` is what INFO reports as
/// `redis_version`.
pub(crate) fn lolwut(argv: &[Bytes], version: &str) -> Reply {
    let mut args = &argv[1..];
    let mut art_version = None;
    if args.len() >= 2 && args[0].eq_ignore_ascii_case(b"version") {
        let Some(v) = parse_long(&args[1]) else {
            return Reply::error(NOT_AN_INTEGER);
        };
        art_version = Some(v);
        args = &args[2..];
    }
    let mut numbers = Vec::with_capacity(args.len());
    let wanted = match art_version {
        Some(5) => 3,
        Some(6) => 2,
        _ => 0,
    };
    for a in args.iter().take(wanted) {
        match parse_long(a) {
            Some(n) => numbers.push(n),
            None => return Reply::error(NOT_AN_INTEGER),
        }
    }
    let arg =
        |i: usize, default: i64, max: i64| numbers.get(i).copied().unwrap_or(default).clamp(1, max);
    let text = match art_version {
        Some(5) => {
            let canvas = schotter(arg(0, 66, 1000), arg(1, 8, 200), arg(2, 12, 200));
            format!(
                "{}\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {version}\n",
                canvas.braille()
            )
        }
        Some(6) => {
            let mut canvas = Canvas::new(arg(0, 80, 1000), arg(1, 20, 1000), 3);
            skyline(&mut canvas, &mut Rand::new());
            format!(
                "{}\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. {version}\n",
                canvas.ansi()
            )
        }
        _ => format!("Redis ver. {version}\n"),
    };
    Reply::Verbatim(Bytes::from(text))
}

/// Redis's `getLongFromObjectOrReply`: a decimal `long`, nothing else.
fn parse_long(a: &[u8]) -> Option<i64> {
    crate::command::args::parse_i64(a)
}

/// A xorshift generator standing in for C's `rand()` (0..=RAND_MAX).
struct Rand(u64);

const RAND_MAX: i64 = i32::MAX as i64;

impl Rand {
    fn new() -> Self {
        Rand(0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 33) as i64 & RAND_MAX
    }
}

/// A grid of small colour numbers (Redis's `lwCanvas`).
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, background: u8) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![background; (width * height) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(y * self.width + x) as usize] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(y * self.width + x) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, (mut x1, mut y1): (i64, i64), (x2, y2): (i64, i64)) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, 1);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), rotated by `angle`.
    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32) {
        let size = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut points = [(0i64, 0i64); 4];
        for p in &mut points {
            *p = (
                (k.sin() * size + x as f32).round() as i64,
                (k.cos() * size + y as f32).round() as i64,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(points[j], points[(j + 1) % 4]);
        }
    }

    /// Version 5's rendering: 2x4 pixels per Braille character.
    fn braille(&self) -> String {
        let mut out = String::new();
        for y in (0..self.height).step_by(4) {
            for x in (0..self.width).step_by(2) {
                let dots = [
                    (x, y),
                    (x, y + 1),
                    (x, y + 2),
                    (x + 1, y),
                    (x + 1, y + 1),
                    (x + 1, y + 2),
                    (x, y + 3),
                    (x + 1, y + 3),
                ];
                let byte = dots
                    .iter()
                    .enumerate()
                    .filter(|(_, &(px, py))| self.get(px, py) != 0)
                    .fold(0u32, |b, (bit, _)| b | (1 << bit));
                out.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            }
            if y != self.height - 1 {
                out.push('\n');
            }
        }
        out
    }

    /// Version 6's rendering: one coloured space per pixel.
    fn ansi(&self) -> String {
        let mut out = String::new();
        for y in 0..self.height {
            for x in 0..self.width {
                let code = match self.get(x, y) {
                    1 => "0;90;100m",
                    2 => "0;37;47m",
                    3 => "0;97;107m",
                    _ => "0;30;40m",
                };
                out.push_str("\x1b[");
                out.push_str(code);
                out.push_str(" \x1b[0m");
            }
            if y != self.height - 1 {
                out.push('\n');
            }
        }
        out
    }
}

/// Georg Nees's Schotter: rows of squares, more disordered further down.
fn schotter(columns: i64, per_row: i64, per_col: i64) -> Canvas {
    let width = columns * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i64 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let mut rand = Rand::new();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0;
            if y > 1 {
                let mut r = [0f32; 3];
                for v in &mut r {
                    *v = rand.next() as f32 / RAND_MAX as f32 / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if rand.next() % 2 == 1 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx += (r[1] * side / 3.0) as i64;
                sy += (r[2] * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    canvas
}

/// One building of the skyline.
struct Skyscraper {
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
}

fn skyscraper(canvas: &mut Canvas, s: &Skyscraper, rand: &mut Rand) {
    let start_y = canvas.height - 1;
    let end_y = start_y - s.height + 1;
    for y in (end_y..=start_y).rev() {
        for x in s.xoff..s.xoff + s.width {
            // The roof is four pixels narrower.
            if y == end_y && (x <= s.xoff + 1 || x >= s.xoff + s.width - 2) {
                continue;
            }
            let mut color = s.color;
            if s.windows
                && x > s.xoff + 1
                && x < s.xoff + s.width - 2
                && y > end_y + 1
                && y < start_y - 1
            {
                let (relx, rely) = (x - (s.xoff + 1), y - (end_y + 1));
                if (relx / 2) % 2 == 1 && rely % 2 == 1 {
                    loop {
                        color = 1 + (rand.next() % 2) as u8;
                        if color != s.color {
                            break;
                        }
                    }
                    // Both pixels of a window share its colour.
                    if relx % 2 == 1 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
    }
}

/// Background buildings in two greys, then the black ones with windows.
fn skyline(canvas: &mut Canvas, rand: &mut Rand) {
    let (width, height) = (canvas.width, canvas.height);
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < width {
            offset += rand.next() % 8;
            let w = 10 + rand.next() % 9;
            let h = if color == 2 {
                height / 2 + (rand.next() % height) / 2
            } else {
                height / 2 + (rand.next() % height) / 3
            };
            let s = Skyscraper {
                xoff: offset,
                width: w,
                height: h,
                windows: false,
                color,
            };
            skyscraper(canvas, &s, rand);
            offset += if color == 2 { w / 2 } else { w + 1 };
        }
    }
    let mut offset = -10;
    while offset < width {
        offset += rand.next() % 8;
        let mut w = 5 + rand.next() % 14;
        if w % 4 != 0 {
            w += w % 3;
        }
        let h = height / 3 + (rand.next() % height) / 2;
        let s = Skyscraper {
            xoff: offset,
            width: w,
            height: h,
            windows: true,
            color: 0,
        };
        skyscraper(canvas, &s, rand);
        offset += w + 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: &[&str]) -> Reply {
        let argv: Vec<Bytes> = std::iter::once("LOLWUT")
            .chain(args.iter().copied())
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        lolwut(&argv, "7.0.0")
    }

    #[test]
    fn version_line_and_errors() {
        assert_eq!(
            text(&[]),
            Reply::Verbatim(Bytes::from_static(b"Redis ver. 7.0.0\n"))
        );
        assert_eq!(text(&["foo"]), text(&[]));
        assert_eq!(text(&["VERSION"]), text(&[]));
        assert_eq!(text(&["VERSION", "7", "x"]), text(&[]));
        assert!(text(&["VERSION", "x"]).is_error());
        assert!(text(&["VERSION", "5", "x"]).is_error());
        assert!(text(&["VERSION", "6", "3", "x"]).is_error());
    }

    #[test]
    fn smallest_schotter_as_redis() {
        // Redis 7.0.15: LOLWUT VERSION 5 1 1 1 draws one Braille cell.
        let Reply::Verbatim(t) = text(&["version", "5", "1", "1", "1"]) else {
            panic!("verbatim")
        };
        assert_eq!(
            &t[..],
            "\u{280b}\n\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.0\n"
                .as_bytes()
        );
        let Reply::Verbatim(t) = text(&["VERSION", "5", "2", "1", "1"]) else {
            panic!("verbatim")
        };
        assert!(t.starts_with("\u{284f}\u{2809}\n\n".as_bytes()));
    }

    #[test]
    fn skyline_has_the_asked_size() {
        let Reply::Verbatim(t) = text(&["VERSION", "6", "3", "2"]) else {
            panic!("verbatim")
        };
        let s = String::from_utf8(t.to_vec()).expect("utf8");
        let art: Vec<&str> = s.lines().take(2).collect();
        assert!(art.iter().all(|l| l.matches(" \x1b[0m").count() == 3));
        assert!(s.ends_with("Plaguemon by hikikomori. Redis ver. 7.0.0\n"));
    }
}
