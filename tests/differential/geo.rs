// Geo commands against Redis: scripted cases (every command, option and
// error path; poles, antimeridian, zero and huge radii) and random
// sequences with random coordinates. Included by keyspace_differential.rs.

const GEO_SCRIPT: &[&str] = &[
    // GEOADD: options, CH, NX / XX, errors in Redis's order.
    "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD Sicily 13.361389 38.115556 Palermo",
    "GEOADD Sicily CH 13.361389 38.115556 Palermo 13.5 38.1 Palermo",
    "GEOADD Sicily ch nx 14 38 Palermo 12.5 37.8 Marsala",
    "GEOADD Sicily XX CH 14 38 Palermo 12 37 Nowhere",
    "GEOADD Sicily XX 13.361389 38.115556 Palermo",
    "GEOADD Sicily NX XX 1 2 a",
    "GEOADD Sicily nx xx ch",
    "GEOADD Sicily ch ch ch",
    "GEOADD Sicily 1 2",
    "GEOADD Sicily 1 2 a 3",
    "GEOADD Sicily GT 1 2 a",
    "GEOADD Sicily x 2 a",
    "GEOADD Sicily 1 y a",
    "GEOADD Sicily 181 2 a",
    "GEOADD Sicily -180.5 2 a",
    "GEOADD Sicily 10 85.06 a",
    "GEOADD Sicily 10 -85.0511288 a",
    "GEOADD Sicily 1 2 ok 200 2 bad",
    "GEOADD Sicily 1e400 2 a",
    "GEOADD Sicily inf 2 a",
    "GEOADD Sicily -inf 2 a",
    "GEOADD Sicily nan 2 a",
    "GEOADD Sicily \\s1 2 a",
    "GEOADD Sicily 1\\0 2 a",
    "GEOADD Sicily \"\" 2 a",
    "GEOADD Sicily 1e-400 2 a",
    "GEOADD Sicily 0x10 2 hex",
    "GEOADD Sicily 1e-310 -1e-310 tiny",
    "ZRANGE Sicily 0 -1 WITHSCORES",
    "TYPE Sicily",
    "OBJECT ENCODING Sicily",
    "SET str x",
    "GEOADD str 1 2 a",
    "GEOADD str 1 200 a",
    "GEOADD str nx xx 1 2 a",
    // Limits: poles, antimeridian, corners.
    "GEOADD w 180 85.05112878 ne 180 -85.05112878 se -180 85.05112878 nw -180 -85.05112878 sw",
    "GEOADD w 0 0 origin -0 -0 negzero 179.9999999 0 east -179.9999999 0 west",
    "GEOADD w 0 85 north 90 84.99 north2 0 -85 south 45 -84.9 south2",
    "GEOADD w 179.5 10 am1 -179.5 10 am2 180 10 am3 -180 10 am4",
    "ZRANGE w 0 -1 WITHSCORES",
    "GEOPOS w ne se nw sw origin negzero east west north south am1 am2 am3 am4 missing",
    "GEOHASH w ne se nw sw origin negzero east west north south am1 am2 am3 am4 missing",
    "GEODIST w am1 am2",
    "GEODIST w am1 am2 km",
    "GEODIST w am3 am4",
    "GEODIST w north south MI",
    "GEODIST w ne sw FT",
    "GEODIST w ne nw",
    "GEODIST w origin origin",
    "GEODIST w origin negzero",
    "GEODIST w east west m",
    // GEOPOS / GEOHASH / GEODIST errors and missing keys.
    "GEOPOS nokey a b",
    "GEOPOS str a",
    "GEOHASH nokey a",
    "GEOHASH str a",
    "GEOHASH Sicily",
    "GEOPOS Sicily",
    "GEOHASH Sicily Palermo Catania Marsala nope",
    "GEOPOS Sicily Palermo Catania Marsala nope hex tiny",
    "GEODIST Sicily Palermo Catania",
    "GEODIST Sicily Palermo Catania km",
    "GEODIST Sicily Palermo Catania KM",
    "GEODIST Sicily Palermo Catania mi",
    "GEODIST Sicily Palermo Catania ft",
    "GEODIST Sicily Palermo Catania M",
    "GEODIST Sicily Palermo Catania yards",
    "GEODIST Sicily Palermo Catania km extra",
    "GEODIST Sicily Palermo nope",
    "GEODIST Sicily nope Palermo",
    "GEODIST nokey a b",
    "GEODIST nokey a b parsecs",
    "GEODIST str a b",
    "GEODIST str a b parsecs",
    "GEODIST Sicily Palermo Palermo",
    // Plain zset members with odd scores.
    "ZADD odd -5 neg 0 zero 1e20 huge 4503599627370496 top 9007199254740992 top2 1.5 frac",
    "GEOPOS odd neg zero huge top top2 frac",
    "GEOHASH odd neg zero huge top top2 frac",
    "GEODIST odd neg huge",
    "GEOSEARCH odd FROMLONLAT 0 0 BYRADIUS 30000 km ASC WITHHASH WITHCOORD WITHDIST",
    // GEORADIUS family.
    "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEORADIUS Sicily 15 37 200 km",
    "GEORADIUS Sicily 15 37 200 km ASC",
    "GEORADIUS Sicily 15 37 200 km DESC",
    "GEORADIUS Sicily 15 37 200 km WITHDIST",
    "GEORADIUS Sicily 15 37 200 km WITHCOORD",
    "GEORADIUS Sicily 15 37 200 km WITHHASH",
    "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
    "GEORADIUS Sicily 15 37 200 km withcoord withhash withdist desc",
    "GEORADIUS Sicily 15 37 200 km COUNT 1",
    "GEORADIUS Sicily 15 37 200 km COUNT 1 DESC",
    "GEORADIUS Sicily 15 37 200 km COUNT 1 ANY",
    "GEORADIUS Sicily 15 37 200 km COUNT 2 ANY DESC",
    "GEORADIUS Sicily 15 37 200 km COUNT 10",
    "GEORADIUS Sicily 15 37 200 km ANY",
    "GEORADIUS Sicily 15 37 200 km COUNT 0",
    "GEORADIUS Sicily 15 37 200 km COUNT -1",
    "GEORADIUS Sicily 15 37 200 km COUNT x",
    "GEORADIUS Sicily 15 37 200 km COUNT",
    "GEORADIUS Sicily 15 37 200 km BOGUS",
    "GEORADIUS Sicily 15 37 200 km STORE",
    "GEORADIUS Sicily 15 37 200 parsecs",
    "GEORADIUS Sicily 15 37 -1 km",
    "GEORADIUS Sicily 15 37 abc km",
    "GEORADIUS Sicily 15 37 abc parsecs",
    "GEORADIUS Sicily 15 95 abc km",
    "GEORADIUS Sicily x 37 200 km",
    "GEORADIUS Sicily 15 37 0 km",
    "GEORADIUS Sicily 15 37 inf km WITHDIST",
    "GEORADIUS Sicily 15 37 1e300 m",
    "GEORADIUS Sicily 15 37 20000 km WITHDIST",
    "GEORADIUS Sicily 15 37 100 mi WITHDIST",
    "GEORADIUS Sicily 15 37 100000 ft WITHDIST",
    "GEORADIUS Sicily 15 37 200 KM WITHDIST",
    "GEORADIUS nokey 15 37 200 km",
    "GEORADIUS nokey 15 37 200 km STORE dst",
    "GEORADIUS nokey 15 37 200 km BOGUS",
    "GEORADIUS nokey 15 95 200 km",
    "GEORADIUS str 15 37 200 km",
    "GEORADIUS str 15 95 200 km",
    "GEORADIUS Sicily 15 37 200 km STORE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "OBJECT ENCODING dst",
    "GEORADIUS Sicily 15 37 200 km STOREDIST dst2",
    "ZRANGE dst2 0 -1 WITHSCORES",
    "GEORADIUS Sicily 15 37 200 km STOREDIST dst2 COUNT 1",
    "ZRANGE dst2 0 -1 WITHSCORES",
    "GEORADIUS Sicily 15 37 200 km STORE dst STOREDIST dst3",
    "EXISTS dst dst3",
    "ZRANGE dst3 0 -1 WITHSCORES",
    "GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST",
    "GEORADIUS Sicily 15 37 200 km WITHCOORD STOREDIST dst",
    "GEORADIUS Sicily 0 0 1 km STORE dst",
    "EXISTS dst",
    "GEORADIUS Sicily 0 0 1 km STORE str",
    "EXISTS str",
    "SET str x",
    "GEORADIUS_RO Sicily 15 37 200 km WITHDIST ASC",
    "GEORADIUS_RO Sicily 15 37 200 km STORE dst",
    "GEORADIUS_RO Sicily 15 37 200 km STOREDIST dst",
    "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST",
    "GEORADIUSBYMEMBER Sicily Palermo 100 km",
    "GEORADIUSBYMEMBER Sicily Palermo 200 km ASC COUNT 1 WITHCOORD",
    "GEORADIUSBYMEMBER Sicily nope 200 km",
    "GEORADIUSBYMEMBER Sicily nope abc km",
    "GEORADIUSBYMEMBER Sicily Palermo abc km",
    "GEORADIUSBYMEMBER Sicily Palermo 1 parsec",
    "GEORADIUSBYMEMBER nokey Palermo abc parsec",
    "GEORADIUSBYMEMBER nokey Palermo abc parsec STORE d",
    "GEORADIUSBYMEMBER nokey Palermo abc parsec BOGUS",
    "GEORADIUSBYMEMBER nokey Palermo abc parsec STORE d WITHDIST",
    "GEORADIUSBYMEMBER nokey Palermo abc parsec ANY",
    "GEORADIUSBYMEMBER str Palermo 200 km",
    "GEORADIUSBYMEMBER Sicily Palermo 200 km STORE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUSBYMEMBER_RO Sicily Palermo 200 km WITHDIST WITHHASH",
    "GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STORE dst",
    "GEORADIUSBYMEMBER_RO nokey Palermo 200 km",
    // GEOSEARCH.
    "GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 300 km DESC WITHDIST WITHHASH",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 500 200 mi ASC WITHDIST",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 m",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 0 m WITHDIST",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 0 0 m WITHDIST",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX inf inf m COUNT 2",
    "GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 FROMLONLAT 13 38 BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYRADIUS 300 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYBOX 600 600 km",
    "GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km BYBOX 1 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km COUNT 1 ANY",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km ANY",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km COUNT 0",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km STORE x",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km STOREDIST",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100",
    "GEOSEARCH Sicily FROMLONLAT 15 BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMMEMBER BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX a 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 a km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 -1 parsec",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 parsec",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS -1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS x km",
    "GEOSEARCH Sicily FROMLONLAT 15 97 BYRADIUS 1 km",
    "GEOSEARCH Sicily FROMLONLAT x 37 BYRADIUS 1 km",
    "GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 1 km",
    "GEOSEARCH Sicily FROMMEMBER nope BYRADIUS x km",
    "GEOSEARCH Sicily BYRADIUS 1 km WITHDIST",
    "GEOSEARCH Sicily FROMLONLAT 15 37 WITHDIST",
    "geosearch Sicily BYRADIUS 1 km WITHDIST",
    "GeoSearch Sicily FROMLONLAT 15 37 ASC",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BOGUS",
    "GEOSEARCH nokey FROMMEMBER nope BYRADIUS 1 km",
    "GEOSEARCH nokey FROMMEMBER nope BYRADIUS x km",
    "GEOSEARCH nokey FROMMEMBER nope",
    "GEOSEARCH nokey FROMLONLAT 1 2 BYRADIUS 1 km ANY",
    "GEOSEARCH str FROMLONLAT 1 200 BYRADIUS 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST WITHHASH WITHCOORD COUNT 3 DESC",
    // GEOSEARCHSTORE.
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST COUNT 2 DESC",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km WITHDIST",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STORE x",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST x",
    "GEOSEARCHSTORE dst Sicily BYBOX 400 400 km WITHHASH",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37",
    "GEOSEARCHSTORE dst nokey FROMLONLAT 15 37 BYRADIUS 1 km",
    "EXISTS dst",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km",
    "EXISTS dst",
    "GEOSEARCHSTORE str Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
    "TYPE str",
    "SET str x",
    "GEOSEARCHSTORE dst str FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOSEARCHSTORE Sicily Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "ZRANGE Sicily 0 -1 WITHSCORES",
    // Searches near the poles, across the antimeridian, huge radii.
    "GEOSEARCH w FROMLONLAT 0 85 BYRADIUS 500 km ASC WITHDIST",
    "GEOSEARCH w FROMLONLAT 0 85 BYRADIUS 5000 km",
    "GEOSEARCH w FROMLONLAT 0 -85 BYRADIUS 5000 km WITHCOORD",
    "GEOSEARCH w FROMLONLAT 180 85.05112878 BYRADIUS 100 km",
    "GEOSEARCH w FROMLONLAT -180 -85.05112878 BYBOX 100 100 km",
    "GEOSEARCH w FROMLONLAT 180 0 BYRADIUS 100 km WITHDIST",
    "GEOSEARCH w FROMLONLAT 180 10 BYRADIUS 200 km WITHDIST",
    "GEOSEARCH w FROMLONLAT -180 10 BYBOX 300 300 km WITHDIST",
    "GEOSEARCH w FROMMEMBER am1 BYRADIUS 200 km",
    "GEOSEARCH w FROMMEMBER am2 BYBOX 200 50 km",
    "GEOSEARCH w FROMMEMBER ne BYRADIUS 10 km",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 20000 km",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 40000 km",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 40000 km ASC WITHDIST",
    "GEOSEARCH w FROMLONLAT 12 -40 BYBOX 40000 40000 km DESC WITHDIST",
    "GEOSEARCH w FROMLONLAT 12 -40 BYBOX 40000 40000 km COUNT 3 ANY",
    "GEOSEARCH w FROMLONLAT 12 60 BYRADIUS 1e300 km",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 0 m WITHDIST",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 0.0001 m WITHDIST",
    "GEOSEARCH w FROMLONLAT 0 0 BYRADIUS 1e-300 m WITHDIST",
    "GEORADIUS w 0 80 3000 km WITHDIST",
    "GEORADIUS w 100 -70 3000 km WITHDIST",
    "GEORADIUS w -170 70 5000 km WITHDIST",
    "GEORADIUS w 0 0 inf m",
    "GEOSEARCH w FROMLONLAT 0 0 BYBOX inf 1 m",
    "GEOSEARCH w FROMLONLAT 0 0 BYBOX 1 inf m",
];

#[test]
fn geo_matches_redis() {
    let mut p = Pair::new();
    p.script(GEO_SCRIPT);
    // A big set (skiplist encoding), unsorted replies spanning several
    // cells, stored results on both sides of the listpack limits.
    for i in 0..300 {
        let lon = 10.0 + (i % 20) as f64 * 0.013;
        let lat = 45.0 + (i / 20) as f64 * 0.011;
        p.check(&split(&format!("GEOADD big {lon:.6} {lat:.6} p{i}")));
    }
    p.check(&split(&format!("GEOADD big 10.1 45.1 {}", "L".repeat(70))));
    p.script(&[
        "OBJECT ENCODING big",
        "GEOSEARCH big FROMLONLAT 10.1 45.05 BYRADIUS 3 km",
        "GEOSEARCH big FROMLONLAT 10.1 45.05 BYRADIUS 3 km WITHDIST COUNT 7",
        "GEOSEARCH big FROMLONLAT 10.1 45.05 BYRADIUS 3 km COUNT 9 DESC",
        "GEOSEARCH big FROMLONLAT 10.1 45.05 BYRADIUS 3 km COUNT 9 ANY",
        "GEOSEARCH big FROMLONLAT 10.1 45.05 BYBOX 5 2 km WITHHASH",
        "GEOSEARCH big FROMMEMBER p150 BYBOX 50 50 km",
        "GEORADIUS big 10.2 45.1 10 km",
        "GEORADIUSBYMEMBER big p7 800 m WITHDIST ASC",
        "GEOSEARCHSTORE out big FROMLONLAT 10.1 45.05 BYRADIUS 1 km",
        "OBJECT ENCODING out",
        "ZRANGE out 0 -1 WITHSCORES",
        "GEOSEARCHSTORE out big FROMLONLAT 10.1 45.05 BYRADIUS 100 km STOREDIST",
        "OBJECT ENCODING out",
        "ZCARD out",
        "ZRANGE out 0 20 WITHSCORES",
        "GEOSEARCHSTORE out big FROMLONLAT 10.1 45.1 BYRADIUS 10 m",
        "OBJECT ENCODING out",
        "ZRANGE out 0 -1",
        "GEORADIUS big 10.1 45.05 100 km COUNT 128 STORE out",
        "OBJECT ENCODING out",
        "GEORADIUS big 10.1 45.05 100 km COUNT 129 STORE out",
        "OBJECT ENCODING out",
    ]);
    p.assert_clean();
}

/// A random coordinate as text: uniform, or near a pole, the antimeridian
/// or the origin, sometimes out of range.
fn geo_coord(g: &mut Gen, lon: bool) -> String {
    let (lim, edge) = if lon {
        (180.0, 180.0)
    } else {
        (85.05112878, 85.05112878)
    };
    let unit = (g.next() >> 11) as f64 / (1u64 << 53) as f64;
    let v = match g.below(10) {
        0 => edge - unit * 0.5,
        1 => -edge + unit * 0.5,
        2 => (unit - 0.5) * 0.01,
        3 => lim + 1.0,
        _ => (unit * 2.0 - 1.0) * lim,
    };
    format!("{v:.6}")
}

fn geo_random(seed: u64) {
    let mut p = Pair::new();
    let mut g = Gen(seed);
    let keys = ["g1", "g2", "s"];
    let units = ["m", "km", "ft", "mi", "KM"];
    p.check(&split("SET s x"));
    for step in 0..400u64 {
        let k = g.pick(&keys[..2]);
        let k2 = g.pick(&keys);
        let m = format!("m{}", g.below(60));
        let m2 = format!("m{}", g.below(60));
        let lon = geo_coord(&mut g, true);
        let lat = geo_coord(&mut g, false);
        let unit = g.pick(&units);
        let radius = g.pick(&["0", "1", "500", "5000", "50000", "300000", "1000000", "6000000", "20000000"]);
        let radius2 = g.pick(&["0", "10", "700", "12000", "900000", "3000000", "30000000"]);
        let with = [
            g.pick(&["", "WITHDIST"]),
            g.pick(&["", "WITHHASH"]),
            g.pick(&["", "WITHCOORD"]),
        ]
        .join(" ");
        let order = g.pick(&["", "", "ASC", "DESC"]);
        let count = g.pick(&["", "", "COUNT 3", "COUNT 1 ANY", "COUNT 5 ANY", "COUNT 200"]);
        let line = match g.below(14) {
            0..=3 => {
                let lon2 = geo_coord(&mut g, true);
                let lat2 = geo_coord(&mut g, false);
                format!("GEOADD {k} {} {lon} {lat} {m} {lon2} {lat2} {m2}", g.pick(&["", "", "CH", "NX", "XX CH"]))
            }
            4 => format!("GEOPOS {k} {m} {m2}"),
            5 => format!("GEODIST {k} {m} {m2} {unit}"),
            6 => format!("GEOHASH {k} {m} {m2}"),
            7 => format!("GEOSEARCH {k} FROMLONLAT {lon} {lat} BYRADIUS {radius} {unit} {with} {order} {count}"),
            8 => format!("GEOSEARCH {k} FROMMEMBER {m} BYBOX {radius} {radius2} {unit} {with} {order} {count}"),
            9 => format!("GEORADIUS{} {k} {lon} {lat} {radius} {unit} {with} {order} {count}", g.pick(&["", "_RO"])),
            10 => format!("GEORADIUSBYMEMBER{} {k} {m} {radius2} {unit} {with} {order} {count}", g.pick(&["", "_RO"])),
            11 => format!(
                "GEOSEARCHSTORE {k2} {k} FROMLONLAT {lon} {lat} BYBOX {radius2} {radius} {unit} {order} {count} {}",
                g.pick(&["", "STOREDIST"])
            ),
            12 => format!(
                "GEORADIUS {k} {lon} {lat} {radius} {unit} {order} {count} {} {k2}",
                g.pick(&["STORE", "STOREDIST"])
            ),
            _ => format!("ZRANGE {k2} 0 -1 WITHSCORES"),
        };
        trace(seed, step, &line);
        p.check(&split(&line));
    }
    p.assert_clean();
}

#[test]
fn geo_random_matches_redis() {
    for seed in hunt_seeds([7u64, 8, 9, 0x6E0].into_iter()) {
        geo_random(seed);
    }
}
