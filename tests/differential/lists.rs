// Long lists against Redis: lists of hundreds to thousands of elements,
// short and long ones (past a chunk's 4 KiB alone), so that every list
// operation meets lists of many chunks (src/keyspace/quicklist.rs) in the
// middle as well as at the ends. Included by keyspace_differential.rs.

/// Random pushes (several elements at a time, at both ends), pops, LSET /
/// LINSERT / LREM / LPOS / LINDEX / LRANGE anywhere in lists of up to a few
/// thousand elements (past 300 in each run, checked), LMOVE between two
/// lists and LTRIM, compared with Redis reply by reply, and the whole
/// lists at the end.
/// For a hunt: `FINCASKV_DIFF_SEEDS=N [FINCASKV_DIFF_FIRST=S]` (`hunt_seeds`).
#[test]
fn random_long_list_sequences_match_redis() {
    for seed in hunt_seeds(40..43) {
        random_long_list_sequence(seed);
    }
}

fn random_long_list_sequence(seed: u64) {
    let mut p = Pair::new();
    let mut g = Gen(seed);
    let keys = ["L1", "L2"];
    // A few values recur (LREM, LPOS and LINSERT find them); the others
    // are unique; some are long.
    let value = |g: &mut Gen, step: u64| -> Vec<u8> {
        match g.below(20) {
            0..=3 => format!("dup{}", g.below(4)).into_bytes(),
            4 => vec![b'x'; 300 + g.below(100)],
            5 if g.below(4) == 0 => vec![b'y'; 5000 + g.below(3000)],
            6 => Vec::new(),
            _ => format!("e{step}-{}", "z".repeat(g.below(30))).into_bytes(),
        }
    };
    let idx = |g: &mut Gen| -> Vec<u8> {
        let i = match g.below(4) {
            0 => g.below(40) as i64,
            1 => -(g.below(40) as i64) - 1,
            _ => g.below(3000) as i64 - 1500,
        };
        i.to_string().into_bytes()
    };
    let mut longest = 0;
    for step in 0..2500u64 {
        let k = g.pick(&keys).as_bytes().to_vec();
        let k2 = g.pick(&keys).as_bytes().to_vec();
        let argv: Vec<Vec<u8>> = match g.below(26) {
            0..=7 => {
                let mut a = vec![
                    if g.below(2) == 0 { b"LPUSH".to_vec() } else { b"RPUSH".to_vec() },
                    k,
                ];
                for _ in 0..1 + g.below(12) {
                    a.push(value(&mut g, step));
                }
                a
            }
            23 => vec![b"LPOP".to_vec(), k, (1 + g.below(20)).to_string().into_bytes()],
            24 => vec![b"RPOP".to_vec(), k],
            8 | 9 => vec![b"LSET".to_vec(), k, idx(&mut g), value(&mut g, step)],
            10 | 11 => vec![
                b"LINSERT".to_vec(),
                k,
                g.pick(&["BEFORE", "AFTER"]).as_bytes().to_vec(),
                format!("dup{}", g.below(4)).into_bytes(),
                value(&mut g, step),
            ],
            12 => vec![
                b"LREM".to_vec(),
                k,
                (g.below(7) as i64 - 3).to_string().into_bytes(),
                format!("dup{}", g.below(4)).into_bytes(),
            ],
            13 => vec![
                b"LPOS".to_vec(),
                k,
                format!("dup{}", g.below(4)).into_bytes(),
                b"RANK".to_vec(),
                g.pick(&["1", "2", "-1", "-3"]).as_bytes().to_vec(),
                b"COUNT".to_vec(),
                g.pick(&["0", "1", "5"]).as_bytes().to_vec(),
                b"MAXLEN".to_vec(),
                g.pick(&["0", "10", "500"]).as_bytes().to_vec(),
            ],
            14 | 15 => vec![b"LINDEX".to_vec(), k, idx(&mut g)],
            16 | 17 => vec![b"LRANGE".to_vec(), k, idx(&mut g), idx(&mut g)],
            18 => vec![
                b"LMOVE".to_vec(),
                k,
                k2,
                g.pick(&["LEFT", "RIGHT"]).as_bytes().to_vec(),
                g.pick(&["LEFT", "RIGHT"]).as_bytes().to_vec(),
            ],
            19 if g.below(20) == 0 => vec![b"LTRIM".to_vec(), k, idx(&mut g), idx(&mut g)],
            20 => vec![b"LLEN".to_vec(), k],
            21 => vec![b"LRANGE".to_vec(), k, b"0".to_vec(), b"-1".to_vec()],
            22 if g.below(30) == 0 => vec![b"DEL".to_vec(), k],
            _ => vec![b"LINDEX".to_vec(), k, b"-1".to_vec()],
        };
        trace(seed, step, &show_argv(&argv));
        p.check(&argv);
        if step % 100 == 0 {
            for k in keys {
                if let (R::Int(n), _) = p.both(&[b"LLEN".to_vec(), k.as_bytes().to_vec()]) {
                    longest = longest.max(n);
                }
            }
        }
    }
    for k in keys {
        p.check(&[b"LRANGE".to_vec(), k.as_bytes().to_vec(), b"0".to_vec(), b"-1".to_vec()]);
    }
    p.assert_clean();
    // The sequence did reach lists of several chunks (128 elements a
    // chunk at most).
    assert!(longest > 300, "seed {seed}: the longest list had {longest} elements");
}
