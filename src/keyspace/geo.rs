//! The geospatial commands: GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH
//! GEOSEARCHSTORE GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER
//! GEORADIUSBYMEMBER_RO.
//!
//! A geo set is a sorted set (TYPE zset) whose scores are 52-bit geohashes:
//! longitude and latitude (in -180..180 and -85.05112878..85.05112878)
//! each cut into 2^26 steps, their bits interleaved (latitude on the even
//! bits, longitude on the odd ones). GEOADD rewrites itself into a ZADD, as
//! Redis does, so the storage format is the sorted set's.
//!
//! A search follows Redis 7.0's `georadiusGeneric` step by step, so that
//! even unsorted replies come out in the same order: it estimates a
//! geohash precision from the radius (or the box's half diagonal), takes
//! the cell of the centre and its 8 neighbours (dropping those the search
//! area cannot reach), scans each cell's score range of the sorted set in
//! the order centre, N, S, E, W, NE, NW, SE, SW, keeps the points within
//! the exact distance (or box), and sorts by distance when asked (COUNT
//! without ANY sorts ascending). Distances are haversine on a sphere of
//! radius 6372797.560856 m.
//!
//! Known differences (docs/architecture.md): with COUNT smaller
//! than the number of matches, members at exactly the same distance may
//! come out in another order than Redis's partial quicksort gives.

use bytes::Bytes;

use super::{sort, zset, Exec};
use crate::command::args::{self, err};
use crate::command::table::cmd;
use crate::command::{Command, Reply};

/// The geo commands.
pub(crate) static COMMANDS: &[Command] = &[
    cmd!("geoadd", -5, [write, denyoom], (1, 1, 1), "geo", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", "3.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", geoadd),
    cmd!("geodist", -4, [readonly], (1, 1, 1), "geo", "Returns the distance between two members of a geospatial index.", "3.2.0", "O(log(N))", geodist),
    cmd!("geohash", -2, [readonly], (1, 1, 1), "geo", "Returns members from a geospatial index as geohash strings.", "3.2.0", "O(log(N)) for each member requested, where N is the number of elements in the sorted set.", geohash),
    cmd!("geopos", -2, [readonly], (1, 1, 1), "geo", "Returns the longitude and latitude of members from a geospatial index.", "3.2.0", "O(N) where N is the number of members requested.", geopos),
    cmd!("georadius", -6, [write, denyoom], (1, 1, 1), "geo", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "3.2.0", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", georadius),
    cmd!("georadius_ro", -6, [readonly], (1, 1, 1), "geo", "Returns members from a geospatial index that are within a distance from a coordinate.", "3.2.10", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", georadius_ro),
    cmd!("georadiusbymember", -5, [write, denyoom], (1, 1, 1), "geo", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "3.2.0", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", georadiusbymember),
    cmd!("georadiusbymember_ro", -5, [readonly], (1, 1, 1), "geo", "Returns members from a geospatial index that are within a distance from a member.", "3.2.10", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", georadiusbymember_ro),
    cmd!("geosearch", -7, [readonly], (1, 1, 1), "geo", "Queries a geospatial index for members inside an area of a box or a circle.", "6.2.0", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", geosearch),
    cmd!("geosearchstore", -8, [write, denyoom], (1, 2, 1), "geo", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "6.2.0", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", geosearchstore),
];

// ------------------------------------------------------------- geohash

/// The lowest latitude a geohash covers (the Web Mercator limit).
const LAT_MIN: f64 = -85.05112878;
/// The highest latitude a geohash covers.
const LAT_MAX: f64 = 85.05112878;
/// The lowest longitude.
const LON_MIN: f64 = -180.0;
/// The highest longitude.
const LON_MAX: f64 = 180.0;
/// Bits per coordinate of a stored geohash (2 x 26 = 52 bits).
const STEP_MAX: u8 = 26;
/// The Earth's radius of the distance formula, in meters.
const EARTH_RADIUS: f64 = 6372797.560856;
/// Half the Earth's circumference in Web Mercator meters (step estimate).
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A coordinate interval.
#[derive(Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

/// Redis's longitude range.
const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
/// Redis's latitude range.
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A geohash: `step` bits per coordinate, interleaved in `bits`. A step of
/// 0 (with no bits) marks a neighbour dropped from a search.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Hash {
    bits: u64,
    step: u8,
}

impl Hash {
    const ZERO: Hash = Hash { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix (left-aligned to 52 bits).
    fn align52(self) -> u64 {
        self.bits.wrapping_shl(52 - u32::from(self.step) * 2)
    }
}

/// The cell a hash stands for.
#[derive(Clone, Copy)]
struct Area {
    lon: Range,
    lat: Range,
}

/// Spreads the 32 bits of `v` onto the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into a u32 (inverse of [`spread`]).
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Latitude cells on the even bits, longitude cells on the odd bits.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude cell, longitude cell) of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    (squash(bits), squash(bits >> 1))
}

/// The hash of a point at `step` bits per coordinate over the given ranges;
/// `None` outside Redis's limits or the ranges.
fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    let outside = |v: f64, r: Range| v < r.min || v > r.max;
    if outside(lon, LON_RANGE)
        || outside(lat, LAT_RANGE)
        || outside(lon, lon_r)
        || outside(lat, lat_r)
    {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * cells;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * cells;
    // At the upper limit an offset is 2^step: one bit above the hash, as in
    // Redis.
    Some(Hash {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

/// The hash of a point in Redis's ranges.
fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The cell of a hash in Redis's ranges.
fn decode(h: Hash) -> Area {
    let (ilat, ilon) = deinterleave(h.bits);
    let cells = (1u64 << h.step) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LON_MAX - LON_MIN;
    Area {
        lat: Range {
            min: LAT_MIN + (f64::from(ilat) / cells) * lat_scale,
            max: LAT_MIN + (f64::from(ilat.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: Range {
            min: LON_MIN + (f64::from(ilon) / cells) * lon_scale,
            max: LON_MIN + (f64::from(ilon.wrapping_add(1)) / cells) * lon_scale,
        },
    }
}

/// C's `(long long)` of a double on x86-64 (`cvttsd2si`): truncation, and
/// `i64::MIN` for NaN and values out of range.
fn cvtt(x: f64) -> i64 {
    if x.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// C's `(uint64_t)` of a double as GCC compiles it on x86-64.
fn score_bits(score: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if score < TWO63 {
        cvtt(score) as u64
    } else {
        (cvtt(score - TWO63) as u64) ^ (1 << 63)
    }
}

/// (longitude, latitude) of a score: the centre of its 52-bit cell, within
/// Redis's limits.
fn score_lonlat(score: f64) -> (f64, f64) {
    let a = decode(Hash {
        bits: score_bits(score),
        step: STEP_MAX,
    });
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Moves a hash one cell east (`d > 0`) or west, wrapping around.
fn move_x(h: &mut Hash, d: i8) {
    let x = h.bits & 0xAAAA_AAAA_AAAA_AAAA;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    let x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    h.bits = (x & (0xAAAA_AAAA_AAAA_AAAAu64 >> shift)) | y;
}

/// Moves a hash one cell north (`d > 0`) or south, wrapping around.
fn move_y(h: &mut Hash, d: i8) {
    let x = h.bits & 0xAAAA_AAAA_AAAA_AAAA;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0xAAAA_AAAA_AAAA_AAAAu64 >> shift;
    let y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    h.bits = x | (y & (0x5555_5555_5555_5555u64 >> shift));
}

/// A cell moved by (`dx`, `dy`).
fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    if dx != 0 {
        move_x(&mut n, dx);
    }
    if dy != 0 {
        move_y(&mut n, dy);
    }
    n
}

/// The neighbours of a cell, in Redis's search order after the cell
/// itself: N, S, E, W, NE, NW, SE, SW.
#[derive(Clone, Copy)]
struct Neighbors {
    north: Hash,
    south: Hash,
    east: Hash,
    west: Hash,
    north_east: Hash,
    north_west: Hash,
    south_east: Hash,
    south_west: Hash,
}

fn neighbors(h: Hash) -> Neighbors {
    Neighbors {
        north: moved(h, 0, 1),
        south: moved(h, 0, -1),
        east: moved(h, 1, 0),
        west: moved(h, -1, 0),
        north_east: moved(h, 1, 1),
        north_west: moved(h, -1, 1),
        south_east: moved(h, 1, -1),
        south_west: moved(h, -1, -1),
    }
}

/// Latitude distance in meters (same longitude).
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// The bits per coordinate of the 9 search cells for a radius.
fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    let mut r = range_m;
    while r < MERCATOR_MAX {
        r *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// What a search covers.
#[derive(Clone, Copy)]
enum Kind {
    /// A circle of this radius (in the query unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the query unit).
    Box(f64, f64),
}

/// A search area: centre, kind and the unit's size in meters.
#[derive(Clone, Copy)]
struct Shape {
    lon: f64,
    lat: f64,
    kind: Kind,
    conversion: f64,
}

impl Shape {
    /// (min lon, min lat, max lon, max lat) around the centre.
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.kind {
            Kind::Radius(r) => (self.conversion * r, self.conversion * r),
            Kind::Box(w, h) => (self.conversion * (h / 2.0), self.conversion * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let top = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The cells to scan: the centre's, then its neighbours in Redis's
    /// order (dropped ones are [`Hash::ZERO`]).
    fn cells(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius_m = match self.kind {
            Kind::Radius(r) => r,
            Kind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius_m, self.lat);
        let at = |steps: u8| {
            let h = encode_wgs84(self.lon, self.lat, steps).unwrap_or(Hash {
                bits: 0,
                step: steps,
            });
            (h, neighbors(h), decode(h))
        };
        let (mut hash, mut n, mut area) = at(steps);
        let decrease = decode(n.north).lat.max < max_lat
            || decode(n.south).lat.min > min_lat
            || decode(n.east).lon.max < max_lon
            || decode(n.west).lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = at(steps);
        }
        if steps >= 2 {
            if area.lat.min < min_lat {
                n.south = Hash::ZERO;
                n.south_west = Hash::ZERO;
                n.south_east = Hash::ZERO;
            }
            if area.lat.max > max_lat {
                n.north = Hash::ZERO;
                n.north_east = Hash::ZERO;
                n.north_west = Hash::ZERO;
            }
            if area.lon.min < min_lon {
                n.west = Hash::ZERO;
                n.south_west = Hash::ZERO;
                n.north_west = Hash::ZERO;
            }
            if area.lon.max > max_lon {
                n.east = Hash::ZERO;
                n.south_east = Hash::ZERO;
                n.north_east = Hash::ZERO;
            }
        }
        [
            hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }

    /// The distance (meters) from the centre of a point inside the area.
    fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            Kind::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Kind::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

/// One match of a search.
struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters.
    dist: f64,
}

/// The points of `z` inside `shape`, in Redis's scan order; stops at
/// `limit` matches when non-zero (COUNT ... ANY).
fn points_in(z: &zset::ZSetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = shape.cells();
    let mut out = Vec::new();
    let mut last: usize = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Redis skips a cell equal to the last scanned one, except when
        // that was the centre (index 0).
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if limit != 0 && out.len() >= limit {
            break;
        }
        let min = cell.align52() as f64;
        let max = Hash {
            bits: cell.bits.wrapping_add(1),
            step: cell.step,
        }
        .align52() as f64;
        z.visit_half_open(min, max, |score, member| {
            let (lon, lat) = score_lonlat(score);
            if let Some(dist) = shape.contains(lon, lat) {
                out.push(Point {
                    member: Bytes::copy_from_slice(member),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            !(limit != 0 && out.len() >= limit)
        });
        last = i;
    }
    out
}

// --------------------------------------------------------------- sorting

/// Redis's distance comparator: 1, 0 or -1 (NaN compares as smaller both
/// ways, as the C comparisons do).
fn dist_cmp(a: f64, b: f64) -> i32 {
    if a > b {
        1
    } else if a == b {
        0
    } else {
        -1
    }
}

/// glibc's `qsort` for these sizes: a top-down merge sort (left half of
/// `n / 2` elements; ties and incomparable pairs take the left element).
fn merge_sort<T>(v: &mut Vec<T>, cmp: &impl Fn(&T, &T) -> i32) {
    if v.len() <= 1 {
        return;
    }
    let mut right = v.split_off(v.len() / 2);
    merge_sort(v, cmp);
    merge_sort(&mut right, cmp);
    let left = std::mem::take(v);
    v.reserve(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        let take_left = cmp(a, b) <= 0;
        let next = if take_left { l.next() } else { r.next() };
        v.extend(next);
    }
    v.extend(l);
    v.extend(r);
}

/// Of `a`, `b`, `c` (indices), the median under `cmp`, picked as Bentley
/// and McIlroy's quicksort picks it.
fn median3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Swaps `n` elements at `a..` with those at `b..`, pairwise.
fn swap_run<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Redis's `pqsort`: Bentley and McIlroy's three-way quicksort that only
/// recurses into parts overlapping ranks `lrange..=rrange`, over
/// `v[start..]` (the elements move exactly as in Redis, so ties come out in
/// Redis's order).
fn partial_sort<T>(
    v: &mut [T],
    start: usize,
    cmp: &impl Fn(&T, &T) -> i32,
    lrange: usize,
    rrange: usize,
) {
    let mut a = start;
    let mut n = v.len() - start;
    let overlaps = |s: usize, len: usize| lrange < s + len && rrange >= s;
    loop {
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) > 0 {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = median3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = median3(v, pm - d, pm, pm + d, cmp);
                pn = median3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = median3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        // Signed: `pc` may step just below `pb`.
        let (mut pc, mut pd) = ((a + n - 1) as isize, (a + n - 1) as isize);
        loop {
            while pb as isize <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let c = cmp(&v[pc as usize], &v[a]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        swap_run(v, a, pb - r, r);
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        swap_run(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            partial_sort(&mut v[..a + r], a, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r <= 1 {
            return;
        }
        a = pn - r;
        n = r;
        if !overlaps(a, n) {
            return;
        }
    }
}

// ------------------------------------------------------------ arguments

/// The bytes of a C string argument (up to its first NUL), as `strcasecmp`
/// sees them.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// Whether an argument names `word` as C's `strcasecmp` compares them.
fn c_is(arg: &[u8], word: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// A float as Redis's `getDoubleFromObject` reads it (`strtod` over the
/// whole argument, no leading space, no NaN, no overflow, no underflow to
/// zero).
fn double(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b[0].is_ascii_whitespace() || b.contains(&0) {
        return None;
    }
    if let Some(v) = sort::c_strtod(b) {
        return Some(v);
    }
    // strtod's ERANGE for a subnormal result is accepted by Redis.
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    v.is_subnormal().then_some(v)
}

/// A float argument or `msg` (Redis's default: `value is not a valid float`).
fn double_arg(b: &[u8], msg: &str) -> Result<f64, Reply> {
    double(b).ok_or_else(|| err(msg))
}

/// A longitude, latitude pair in Redis's limits.
fn lonlat_arg(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let x = double_arg(lon, args::NOT_FLOAT)?;
    let y = double_arg(lat, args::NOT_FLOAT)?;
    if !(LON_MIN..=LON_MAX).contains(&x) || !(LAT_MIN..=LAT_MAX).contains(&y) {
        return Err(err(&format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// The size of a unit in meters.
fn unit_arg(b: &[u8]) -> Result<f64, Reply> {
    if c_is(b, "m") {
        Ok(1.0)
    } else if c_is(b, "km") {
        Ok(1000.0)
    } else if c_is(b, "ft") {
        Ok(0.3048)
    } else if c_is(b, "mi") {
        Ok(1609.34)
    } else {
        Err(err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit`: (radius, unit size).
fn radius_arg(r: &[u8], unit: &[u8]) -> Result<(f64, f64), Reply> {
    let radius = double_arg(r, "ERR need numeric radius")?;
    if radius < 0.0 {
        return Err(err("ERR radius cannot be negative"));
    }
    Ok((radius, unit_arg(unit)?))
}

/// `width height unit`: (width, height, unit size).
fn box_arg(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let width = double_arg(w, "ERR need numeric width")?;
    let height = double_arg(h, "ERR need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(err("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit_arg(unit)?))
}

// ---------------------------------------------------------------- replies

/// A distance with 4 decimals (Redis's `fixedpoint_d2string`, rounding
/// half to even as `llrint` does).
fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_owned();
    }
    let scaled = (d * 10000.0).round_ties_even();
    let v = if scaled.is_nan()
        || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled)
    {
        i64::MIN
    } else {
        scaled as i64
    };
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>5}");
    let (int, frac) = digits.split_at(digits.len() - 4);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// A coordinate as Redis's "human" long double format prints it (`%.17Lf`
/// without trailing zeros; `-0` is `0`).
fn format_coord(d: f64) -> String {
    let s = format!("{d:.17}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s.as_str()
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn bulk(s: String) -> Reply {
    Reply::Bulk(Bytes::from(s))
}

/// `[lon, lat]` of a score (RESP3 doubles, as Redis's
/// `addReplyHumanLongDouble`).
fn coord_reply(lon: f64, lat: f64) -> Reply {
    let human = |d: f64| Reply::HumanDouble(Bytes::from(format_coord(d)));
    Reply::Array(vec![human(lon), human(lat)])
}

// --------------------------------------------------------------- commands

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: validated here,
/// then run as the equivalent ZADD (as Redis does).
fn geoadd(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < argv.len() {
        let a = &argv[at];
        if c_is(a, "nx") {
            nx = true;
        } else if c_is(a, "xx") {
            xx = true;
        } else if !c_is(a, "ch") {
            break;
        }
        at += 1;
    }
    let rest = &argv[at..];
    if rest.len() % 3 != 0 || (nx && xx) {
        return err(args::SYNTAX);
    }
    let mut zargv: Vec<Bytes> = Vec::with_capacity(at + rest.len() / 3 * 2);
    zargv.push(Bytes::from_static(b"zadd"));
    zargv.extend(argv[1..at].iter().cloned());
    for t in rest.chunks_exact(3) {
        let (lon, lat) = match lonlat_arg(&t[0], &t[1]) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let bits = encode_wgs84(lon, lat, STEP_MAX).map_or(0, Hash::align52);
        zargv.push(Bytes::from(bits.to_string()));
        zargv.push(t[2].clone());
    }
    // ZADD's own checks (options but no pairs) and its type check follow.
    zset::zadd(ex, &zargv)
}

/// GEOPOS key member [...].
fn geopos(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let z = match zset::get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(z) => z.map(|z| &*z),
    };
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::NilArray,
                Some(s) => {
                    let (lon, lat) = score_lonlat(s);
                    coord_reply(lon, lat)
                }
            })
            .collect(),
    )
}

/// GEODIST key member1 member2 [M|KM|FT|MI].
fn geodist(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => match unit_arg(&argv[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        _ => return err(args::SYNTAX),
    };
    let z = match zset::get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Nil,
        Ok(Some(z)) => z,
    };
    match (z.score(&argv[2]), z.score(&argv[3])) {
        (Some(a), Some(b)) => {
            let (lon1, lat1) = score_lonlat(a);
            let (lon2, lat2) = score_lonlat(b);
            bulk(format_distance(
                distance(lon1, lat1, lon2, lat2) / to_meters,
            ))
        }
        _ => Reply::Nil,
    }
}

/// The geohash alphabet (base 32 without a, i, l, o).
const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// GEOHASH key member [...]: standard 11-character geohashes (re-encoded
/// over latitudes -90..90; the 11th character is always `0`).
fn geohash(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let z = match zset::get(ex, &argv[1]) {
        Err(e) => return e,
        Ok(z) => z.map(|z| &*z),
    };
    let standard_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::Nil,
                Some(s) => {
                    let (lon, lat) = score_lonlat(s);
                    let bits =
                        encode(LON_RANGE, standard_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
                    let mut out = [b'0'; 11];
                    for (i, c) in out.iter_mut().take(10).enumerate() {
                        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
                        *c = ALPHABET[idx as usize];
                    }
                    Reply::Bulk(Bytes::copy_from_slice(&out))
                }
            })
            .collect(),
    )
}

/// Which command runs the search.
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    /// GEORADIUS / GEORADIUS_RO: centre and radius are positional.
    RadiusCoords,
    /// GEORADIUSBYMEMBER / GEORADIUSBYMEMBER_RO.
    RadiusMember,
    /// GEOSEARCH / GEOSEARCHSTORE: FROM... and BY... options.
    Search,
}

/// Result ordering.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// Redis's `georadiusGeneric`: `src` is the source key's index, `nostore`
/// refuses STORE / STOREDIST (the _RO variants), `searchstore` is
/// GEOSEARCHSTORE (destination at argv\[1\], STOREDIST a flag).
fn search_generic(
    ex: &mut Exec<'_>,
    argv: &[Bytes],
    src: usize,
    flavor: Flavor,
    nostore: bool,
    searchstore: bool,
) -> Reply {
    let key = &argv[src];
    ex.count_read(key);
    let exists = match zset::get(ex, key) {
        Err(e) => return e,
        Ok(z) => z.is_some(),
    };
    // One read of the source counts (it is looked up again below).
    ex.reading = false;
    let member_lonlat = |ex: &mut Exec<'_>, m: &[u8]| -> Result<(f64, f64), Reply> {
        match zset::get(ex, key) {
            Ok(Some(z)) => z
                .score(m)
                .map(score_lonlat)
                .ok_or_else(|| err("ERR could not decode requested zset member")),
            _ => Err(err("ERR could not decode requested zset member")),
        }
    };
    let mut center = (0.0, 0.0);
    let mut kind = Kind::Radius(0.0);
    let mut conversion = 0.0;
    let mut storekey: Option<Bytes> = None;
    let base = match flavor {
        Flavor::RadiusCoords => {
            match lonlat_arg(&argv[2], &argv[3]) {
                Ok(p) => center = p,
                Err(e) => return e,
            }
            match radius_arg(&argv[4], &argv[5]) {
                Ok((r, c)) => {
                    kind = Kind::Radius(r);
                    conversion = c;
                }
                Err(e) => return e,
            }
            6
        }
        Flavor::RadiusMember if !exists => 5,
        Flavor::RadiusMember => {
            match member_lonlat(ex, &argv[2]) {
                Ok(p) => center = p,
                Err(e) => return e,
            }
            match radius_arg(&argv[3], &argv[4]) {
                Ok((r, c)) => {
                    kind = Kind::Radius(r);
                    conversion = c;
                }
                Err(e) => return e,
            }
            5
        }
        Flavor::Search => {
            if searchstore {
                storekey = Some(argv[1].clone());
                3
            } else {
                2
            }
        }
    };
    let search = flavor == Flavor::Search;
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut order = Order::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut storedist = false;
    let opts = argv.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let a = &opts[i];
        if c_is(a, "withdist") {
            withdist = true;
        } else if c_is(a, "withhash") {
            withhash = true;
        } else if c_is(a, "withcoord") {
            withcoord = true;
        } else if c_is(a, "any") {
            any = true;
        } else if c_is(a, "asc") {
            order = Order::Asc;
        } else if c_is(a, "desc") {
            order = Order::Desc;
        } else if c_is(a, "count") && i + 1 < remaining {
            match args::int_arg(&opts[i + 1]) {
                Ok(c) if c <= 0 => return err("ERR COUNT must be > 0"),
                Ok(c) => count = c,
                Err(e) => return e,
            }
            i += 1;
        } else if (c_is(a, "store") || c_is(a, "storedist"))
            && i + 1 < remaining
            && !nostore
            && !search
        {
            storekey = Some(opts[i + 1].clone());
            storedist = c_is(a, "storedist");
            i += 1;
        } else if c_is(a, "storedist") && search && searchstore {
            storedist = true;
        } else if c_is(a, "frommember") && i + 1 < remaining && search && !fromloc {
            if exists {
                match member_lonlat(ex, &opts[i + 1]) {
                    Ok(p) => center = p,
                    Err(e) => return e,
                }
            }
            frommember = true;
            i += 1;
        } else if c_is(a, "fromlonlat") && i + 2 < remaining && search && !frommember {
            match lonlat_arg(&opts[i + 1], &opts[i + 2]) {
                Ok(p) => center = p,
                Err(e) => return e,
            }
            fromloc = true;
            i += 2;
        } else if c_is(a, "byradius") && i + 2 < remaining && search && !bybox {
            match radius_arg(&opts[i + 1], &opts[i + 2]) {
                Ok((r, c)) => {
                    kind = Kind::Radius(r);
                    conversion = c;
                }
                Err(e) => return e,
            }
            byradius = true;
            i += 2;
        } else if c_is(a, "bybox") && i + 3 < remaining && search && !byradius {
            match box_arg(&opts[i + 1], &opts[i + 2], &opts[i + 3]) {
                Ok((w, h, c)) => {
                    kind = Kind::Box(w, h);
                    conversion = c;
                }
                Err(e) => return e,
            }
            bybox = true;
            i += 3;
        } else {
            return err(args::SYNTAX);
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoord) {
        return err(&format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if searchstore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        ));
    }
    let name = String::from_utf8_lossy(c_str(&argv[0]));
    if search && !(frommember || fromloc) {
        return err(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if search && !(byradius || bybox) {
        return err(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if any && count == 0 {
        return err("ERR the ANY argument requires COUNT argument");
    }
    let z = match zset::get(ex, key) {
        Ok(Some(z)) => z,
        _ => {
            return match storekey {
                Some(dst) => {
                    ex.delete_reported(&dst);
                    Reply::Integer(0)
                }
                None => Reply::Array(Vec::new()),
            };
        }
    };
    if count != 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    let shape = Shape {
        lon: center.0,
        lat: center.1,
        kind,
        conversion,
    };
    let limit = if any {
        usize::try_from(count).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut points = points_in(z, &shape, limit);
    if points.is_empty() && storekey.is_none() {
        return Reply::Array(Vec::new());
    }
    let returned = if count == 0 {
        points.len()
    } else {
        points
            .len()
            .min(usize::try_from(count).unwrap_or(usize::MAX))
    };
    if order != Order::None {
        let desc = order == Order::Desc;
        let cmp = |a: &Point, b: &Point| {
            let c = dist_cmp(a.dist, b.dist);
            if desc {
                -c
            } else {
                c
            }
        };
        if returned == points.len() {
            merge_sort(&mut points, &cmp);
        } else if returned > 0 {
            partial_sort(&mut points, 0, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    match storekey {
        None => {
            let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
            Reply::Array(
                points
                    .into_iter()
                    .map(|p| {
                        if options == 0 {
                            return Reply::Bulk(p.member);
                        }
                        let mut item = Vec::with_capacity(options + 1);
                        item.push(Reply::Bulk(p.member));
                        if withdist {
                            item.push(bulk(format_distance(p.dist / conversion)));
                        }
                        if withhash {
                            item.push(Reply::Integer(cvtt(p.score)));
                        }
                        if withcoord {
                            item.push(coord_reply(p.lon, p.lat));
                        }
                        Reply::Array(item)
                    })
                    .collect(),
            )
        }
        Some(dst) => {
            let pairs: Vec<(Bytes, f64)> = points
                .into_iter()
                .map(|p| {
                    let score = if storedist {
                        p.dist / conversion
                    } else {
                        p.score
                    };
                    (p.member, score)
                })
                .collect();
            let in_listpack = zset::combined_in_listpack(&pairs);
            let event = if searchstore {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            Reply::Integer(zset::store_result(ex, &dst, pairs, in_listpack, event) as i64)
        }
    }
}

fn georadius(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 1, Flavor::RadiusCoords, false, false)
}

fn georadius_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 1, Flavor::RadiusCoords, true, false)
}

fn georadiusbymember(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 1, Flavor::RadiusMember, false, false)
}

fn georadiusbymember_ro(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 1, Flavor::RadiusMember, true, false)
}

fn geosearch(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 1, Flavor::Search, false, false)
}

fn geosearchstore(ex: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ex, argv, 2, Flavor::Search, false, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (u32::MAX, 7),
            (0x3ff_ffff, 0x155_5555),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn geo_encodes_like_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" (Redis's docs).
        let h = encode_wgs84(13.361389, 38.115556, STEP_MAX).map(Hash::align52);
        assert_eq!(h, Some(3479099956230698));
        let (lon, lat) = score_lonlat(3479099956230698.0);
        assert_eq!(format_coord(lon), "13.36138933897018433");
        assert_eq!(format_coord(lat), "38.11555639549629859");
        assert!(encode_wgs84(180.1, 0.0, STEP_MAX).is_none());
    }

    #[test]
    fn geo_distances_format_like_redis() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(166274.15156960033), "166274.1516");
        assert_eq!(format_distance(0.00004), "0.0000");
        assert_eq!(format_distance(0.5), "0.5000");
        assert_eq!(format_coord(-0.0), "0");
        assert_eq!(format_coord(1.5), "1.5");
    }

    #[test]
    fn geo_partial_sort_sorts_the_wanted_ranks() {
        let mut g = 12345u64;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 100, 333] {
            for want in [1usize, 3, 10, 50] {
                let mut v: Vec<(u64, usize)> = (0..n)
                    .map(|i| {
                        g = g
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((g >> 33) % 20, i)
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort_by_key(|p| p.0);
                let cmp = |a: &(u64, usize), b: &(u64, usize)| dist_cmp(a.0 as f64, b.0 as f64);
                let want = want.min(n);
                if want == 0 {
                    continue;
                }
                partial_sort(&mut v, 0, &cmp, 0, want - 1);
                let got: Vec<u64> = v[..want].iter().map(|p| p.0).collect();
                let exp: Vec<u64> = sorted[..want].iter().map(|p| p.0).collect();
                assert_eq!(got, exp, "n={n} want={want}");
                let mut all = v.clone();
                all.sort();
                let mut orig = sorted.clone();
                orig.sort();
                assert_eq!(all, orig);
                let mut m = sorted.clone();
                m.reverse();
                merge_sort(&mut m, &cmp);
                assert!(m.windows(2).all(|w| w[0].0 <= w[1].0));
            }
        }
    }

    #[test]
    fn geo_score_bits_follow_x86() {
        assert_eq!(score_bits(5.0), 5);
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(score_bits(1e300), 0);
        assert_eq!(cvtt(f64::NAN), i64::MIN);
    }
}
