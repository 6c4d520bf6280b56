// DUMP / RESTORE against Redis: every error path in Redis's order, and
// round trips both ways (Redis's payload restored here, ours restored in
// Redis) for every type, small and large, with contents, deadlines and
// OBJECT ENCODING compared. Payload bytes are not compared: ours use the
// plain RDB forms (see src/keyspace/dump.rs). Included by
// keyspace_differential.rs.

/// Redis's CRC64 (Jones polynomial, reflected), bit by bit: the test's own
/// copy, so that a wrong table in the crate cannot hide here.
fn test_crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` with an RDB `version` and a correct CRC64 appended.
fn sealed(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = test_crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

impl Pair {
    /// Our reply alone.
    fn ours(&mut self, argv: &[Vec<u8>]) -> R {
        let ctx = Ctx::new(now_ms(), 1, self.db);
        let a: Vec<Bytes> = argv.iter().map(|x| Bytes::from(x.clone())).collect();
        from_reply(&self.ks.execute(&ctx, &a))
    }

    /// Redis's reply alone.
    fn theirs(&mut self, argv: &[Vec<u8>]) -> R {
        self.client.call(argv)
    }
}

/// The contents of `key` on one side, in a canonical form: type, value
/// (unordered replies sorted), TTL in seconds, OBJECT ENCODING.
fn contents(call: &mut dyn FnMut(&[Vec<u8>]) -> R, key: &[u8]) -> Vec<R> {
    let ty = call(&args(&[b"TYPE", key]));
    let value = match &ty {
        R::Simple(t) if t == b"string" => call(&args(&[b"GET", key])),
        R::Simple(t) if t == b"list" => call(&args(&[b"LRANGE", key, b"0", b"-1"])),
        R::Simple(t) if t == b"zset" => call(&args(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])),
        R::Simple(t) if t == b"set" => {
            let mut r = call(&args(&[b"SMEMBERS", key]));
            if let R::Array(Some(a)) = &mut r {
                a.sort();
            }
            r
        }
        R::Simple(t) if t == b"hash" => {
            let mut r = call(&args(&[b"HGETALL", key]));
            if let R::Array(Some(a)) = &mut r {
                let mut pairs: Vec<Vec<R>> = a.chunks(2).map(<[R]>::to_vec).collect();
                pairs.sort();
                *a = pairs.concat();
            }
            r
        }
        _ => R::Bulk(None),
    };
    vec![
        ty,
        value,
        call(&args(&[b"TTL", key])),
        call(&args(&[b"OBJECT", b"ENCODING", key])),
    ]
}

/// Writes the same values on both sides (replies compared too).
fn fill_both(p: &mut Pair) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut put = |p: &mut Pair, key: &str, cmd: &[&[u8]], tail: Vec<Vec<u8>>| {
        let mut argv = args(cmd);
        argv.insert(1, key.as_bytes().to_vec());
        argv.extend(tail);
        p.check(&argv);
        keys.push(key.as_bytes().to_vec());
    };
    let binary: Vec<u8> = (0..=255u8).chain(*b"\r\n\0\r\n").collect();
    let big: Vec<u8> = (0..100_000u32).map(|i| b"abcdefghij\r\n\0"[(i % 13) as usize] ^ (i / 997) as u8).collect();
    for (key, value) in [
        ("str:small", b"hello".to_vec()),
        ("str:empty", Vec::new()),
        ("str:int8", b"-5".to_vec()),
        ("str:int16", b"12345".to_vec()),
        ("str:int32", b"-2000000000".to_vec()),
        ("str:int64", b"9223372036854775807".to_vec()),
        ("str:notint", b"007".to_vec()),
        ("str:binary", binary.clone()),
        ("str:lzf", vec![b'a'; 1000]),
        ("str:100k", big.clone()),
    ] {
        put(p, key, &[b"SET"], vec![value]);
    }
    let ints = |n: i64| -> Vec<Vec<u8>> { (0..n).map(|i| ((i * 7919) % 100_003 - 50_000).to_string().into_bytes()).collect() };
    let words = |n: usize, pre: &str| -> Vec<Vec<u8>> { (0..n).map(|i| format!("{pre}{i}").into_bytes()).collect() };
    let mut mixed: Vec<Vec<u8>> = vec![
        b"a".to_vec(), b"12".to_vec(), b"-300".to_vec(), b"70000".to_vec(),
        b"4294967296".to_vec(), b"-9223372036854775808".to_vec(), Vec::new(),
    ];
    mixed.push(binary.clone());
    mixed.push(vec![b'x'; 70]);
    put(p, "list:small", &[b"RPUSH"], mixed.clone());
    put(p, "list:1000", &[b"RPUSH"], words(1000, "element-"));
    put(p, "list:ints", &[b"RPUSH"], ints(1000));
    put(p, "list:bigitems", &[b"RPUSH"], vec![big.clone(), b"z".to_vec(), vec![b'w'; 9000]]);
    put(p, "set:intset", &[b"SADD"], vec![b"5".to_vec(), b"-70000".to_vec(), b"1099511627776".to_vec()]);
    put(p, "set:small", &[b"SADD"], mixed.clone());
    put(p, "set:1000ints", &[b"SADD"], ints(1000));
    put(p, "set:1000", &[b"SADD"], words(1000, "member-"));
    let pairs = |n: usize, long: bool| -> Vec<Vec<u8>> {
        (0..n)
            .flat_map(|i| {
                let v = if long { vec![b'v'; i % 200] } else { i.to_string().into_bytes() };
                [format!("field-{i}").into_bytes(), v]
            })
            .collect()
    };
    put(p, "hash:small", &[b"HSET"], vec![b"f".to_vec(), b"v".to_vec(), b"n".to_vec(), b"-7".to_vec(), binary.clone(), b"\r\n".to_vec()]);
    put(p, "hash:1000", &[b"HSET"], pairs(1000, false));
    put(p, "hash:longvalues", &[b"HSET"], pairs(100, true));
    let scored = |n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .flat_map(|i| [format!("{}", (i as f64) / 3.0 - 100.0).into_bytes(), format!("m{i}").into_bytes()])
            .collect()
    };
    put(p, "zset:small", &[b"ZADD"], args(&[b"1.5", b"a", b"-2", b"b", b"1e300", b"c", b"inf", b"d", b"-inf", b"e", b"0", b"f", b"12", b"g"]));
    put(p, "zset:1000", &[b"ZADD"], scored(1000));
    put(p, "zset:longmember", &[b"ZADD"], vec![b"3".to_vec(), vec![b'm'; 100], b"-1".to_vec(), binary]);
    keys
}

#[test]
fn dump_restore_round_trips_both_ways() {
    let mut p = Pair::new();
    let keys = fill_both(&mut p);
    // A deadline on one key of each type, the same on both sides.
    for key in ["str:small", "list:1000", "hash:small", "set:1000", "zset:1000"] {
        p.check(&args(&[b"EXPIRE", key.as_bytes(), b"100000"]));
    }
    for key in &keys {
        let R::Bulk(Some(theirs)) = p.theirs(&args(&[b"DUMP", key])) else {
            panic!("redis DUMP {}", String::from_utf8_lossy(key));
        };
        let R::Bulk(Some(ours)) = p.ours(&args(&[b"DUMP", key])) else {
            panic!("our DUMP {}", String::from_utf8_lossy(key));
        };
        // Each side restores the other's payload under a new name, with a
        // ttl; then restores it again over itself with REPLACE.
        let copy = [b"copy:".as_slice(), key].concat();
        let ttl = b"200000".to_vec();
        let restore = |payload: &[u8]| vec![b"RESTORE".to_vec(), copy.clone(), ttl.clone(), payload.to_vec()];
        assert_eq!(p.ours(&restore(&theirs)), R::Simple(b"OK".to_vec()), "{}", String::from_utf8_lossy(key));
        assert_eq!(p.theirs(&restore(&ours)), R::Simple(b"OK".to_vec()), "{}", String::from_utf8_lossy(key));
        // Same contents on both sides, for the original and the copy; the
        // copy equals the original apart from its TTL.
        let ours_of = |p: &mut Pair, k: &[u8]| contents(&mut |a| p.ours(a), k);
        let (mine, mine_copy) = (ours_of(&mut p, key), ours_of(&mut p, &copy));
        let (redis, redis_copy) = (contents(&mut |a| p.theirs(a), key), contents(&mut |a| p.theirs(a), &copy));
        assert_eq!(mine, redis, "original {}", String::from_utf8_lossy(key));
        assert_eq!(mine_copy, redis_copy, "restored {}", String::from_utf8_lossy(key));
        assert_eq!(mine_copy[..2], mine[..2], "copy of {}", String::from_utf8_lossy(key));
        assert_eq!(mine_copy[2], R::Int(200), "ttl of {}", String::from_utf8_lossy(key));
        assert_eq!(mine_copy[3], mine[3], "encoding of {}", String::from_utf8_lossy(key));
        // A DUMP of the restored copy restores again (our payload in us).
        let R::Bulk(Some(again)) = p.ours(&args(&[b"DUMP", &copy])) else {
            panic!("DUMP of the copy");
        };
        let replace = [b"RESTORE".as_slice(), &copy, b"0", &again, b"REPLACE"].map(<[u8]>::to_vec);
        p.check(&replace);
        assert_eq!(contents(&mut |a| p.ours(a), &copy)[..2], mine[..2]);
    }
    p.assert_clean();
}

#[test]
fn restore_errors_match_redis() {
    let mut p = Pair::new();
    let s = |v: &[u8]| [&[v.len() as u8], v].concat();
    let good = sealed(&[b"\x00".as_slice(), &s(b"hi")].concat(), 10);
    let k = |key: &str| key.as_bytes().to_vec();
    let restore = |key: &str, ttl: &str, payload: &[u8], opts: &[&str]| -> Vec<Vec<u8>> {
        let mut a = vec![b"RESTORE".to_vec(), k(key), ttl.as_bytes().to_vec(), payload.to_vec()];
        a.extend(opts.iter().map(|o| o.as_bytes().to_vec()));
        a
    };
    // Short strings dump byte for byte as Redis's (integer form included).
    p.script(&[
        "SET existing 1",
        "DUMP missing",
        "DUMP",
        "RESTORE a 0",
        "DUMP existing",
        "SET s1 -129",
        "DUMP s1",
        "SET s2 40000",
        "DUMP s2",
        "SET s3 -2147483648",
        "DUMP s3",
        "SET s4 2147483648",
        "DUMP s4",
        "SET s5 0123",
        "DUMP s5",
        "SET s6 hello\\r\\n\\0",
        "DUMP s6",
        "SET s7 \"\"",
        "DUMP s7",
    ]);
    let cases: Vec<Vec<Vec<u8>>> = vec![
        // Options first, then BUSYKEY, then the ttl, then the payload.
        restore("existing", "x", &good, &[]),
        restore("existing", "-1", &good, &[]),
        restore("existing", "0", b"junk", &[]),
        restore("existing", "0", &good, &["bogus"]),
        restore("n", "x", &good, &[]),
        restore("n", "-1", &good, &[]),
        restore("n", "0", &good, &["IDLETIME"]),
        restore("n", "0", &good, &["IDLETIME", "-1"]),
        restore("n", "0", &good, &["IDLETIME", "x"]),
        restore("n", "0", &good, &["FREQ", "256"]),
        restore("n", "0", &good, &["FREQ", "-1"]),
        restore("n", "0", &good, &["freq", "2", "idletime", "3"]),
        restore("n", "0", &good, &["idletime", "2", "freq", "3"]),
        restore("idle2", "0", &good, &["idletime", "1", "idletime", "2"]),
        restore("n", "0", b"", &[]),
        restore("n", "0", b"123456789", &[]),
        restore("n", "0", &good[..good.len() - 1], &[]),
        restore("n", "0", &[&good[..good.len() - 1], b"\x00".as_slice()].concat(), &[]),
        restore("n", "0", &sealed(&[b"\x00".as_slice(), &s(b"hi")].concat(), 11), &[]),
        restore("n", "0", &sealed(b"\x63\x01a", 10), &[]),
        restore("n", "0", &sealed(b"\x02\x00", 10), &[]),
        restore("n", "0", &sealed(b"\x02\x02\x01a\x01a", 10), &[]),
        restore("n", "0", &sealed(b"\x05\x00", 10), &[]),
        restore("n", "0", &sealed(b"\x12\x00", 10), &[]),
        restore("n", "0", &sealed(b"\x07\x00", 10), &[]),
        restore("n", "0", &sealed(b"\x05\x01\x01a\x00\x00\x00\x00\x00\x00\xf8\x7f", 10), &[]),
        // Accepted: an older version, bytes left before the footer.
        restore("v9", "0", &sealed(&[b"\x00".as_slice(), &s(b"old")].concat(), 9), &[]),
        restore("trail", "0", &sealed(&[b"\x00".as_slice(), &s(b"t"), b"zz"].concat(), 10), &[]),
        // Deadlines: relative, absolute, absolute in the past (no key;
        // with REPLACE the old key is gone), a sum past i64.
        restore("ttl", "100000", &good, &["IDLETIME", "5"]),
        restore("abs", "99999999999999", &good, &["ABSTTL", "FREQ", "7"]),
        restore("past", "1", &good, &["ABSTTL"]),
        restore("existing", "1", &good, &["ABSTTL", "REPLACE"]),
        restore("wrap", "9223372036854775807", &good, &[]),
        restore("replaced", "0", &good, &[]),
        restore("replaced", "0", &sealed(b"\x01\x02\x01a\x01b", 10), &["replace"]),
    ];
    for argv in &cases {
        p.check(argv);
    }
    // No case above created `n`: every one of its errors was reached.
    let errors = cases
        .iter()
        .filter(|a| a[1] == b"n")
        .map(|a| p.ours(a))
        .collect::<Vec<_>>();
    let count = |text: &str| errors.iter().filter(|e| **e == R::Err(text.as_bytes().to_vec())).count();
    assert_eq!(count("ERR DUMP payload version or checksum are wrong"), 5);
    assert_eq!(count("ERR Bad data format"), 7);
    assert_eq!(count("BUSYKEY Target key name already exists."), 0);
    p.script(&[
        "EXISTS n past existing wrap",
        "GET idle2",
        "GET v9",
        "GET trail",
        "TTL ttl",
        "EXPIRETIME abs",
        "TYPE replaced",
        "LRANGE replaced 0 -1",
    ]);
    p.assert_clean();
}
