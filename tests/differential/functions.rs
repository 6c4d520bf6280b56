// Redis 7.0 Functions against Redis: FUNCTION LOAD / DELETE / FLUSH / LIST
// / STATS / KILL / HELP / RESTORE and FCALL / FCALL_RO, byte for byte.
// Each case is one argv (no space splitting: Lua source has spaces).
// Included by keyspace_differential.rs.
//
// Not compared byte for byte: FUNCTION DUMP (Redis LZF-compresses the
// code, we do not; both read either form): `function_payloads_cross_restore`
// restores each side's payload on the other. FUNCTION LIST replies are
// sorted (Redis lists in its dict's order).

/// A library with a write function, a `no-writes` function with flags and
/// a description, and functions that fail in each way.
const FN_LIB: &str = "#!lua name=mylib
redis.log(redis.LOG_WARNING, 'loading') local v = redis.REDIS_VERSION .. redis.REDIS_VERSION_NUM
redis.register_function{function_name='ro', callback=function(keys, args) return {keys[1], args[1], redis.call('get', keys[1])} end, flags={'no-writes', 'ALLOW-OOM'}, description='reads'}
redis.register_function('rw', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('boom', function(keys, args) return error('x') end)
redis.register_function('unknown', function(keys, args) return redis.call('nosuch') end)
redis.register_function('index', function(keys, args) local t = nil; return t.x end)
redis.register_function('reg', function(keys, args) return redis.register_function('a', function() end) end)
redis.register_function('globals', function(keys, args) return KEYS end)
redis.register_function('pcall', function(keys, args) return redis.pcall('incr', keys[1]) end)
redis.register_function('counts', function(keys, args) return {#keys, #args} end)
redis.register_function('errtable', function(keys, args) return redis.error_reply('MY bad') end)
redis.register_function('status', function(keys, args) return redis.status_reply('fine') end)
redis.register_function('nested', function(keys, args) return {1, 'two', {3.7, false}, true} end)
redis.register_function('cjson', function(keys, args) return cjson.encode({a=1}) end)
";

/// A `no-writes` function that writes anyway.
const FN_SNEAKY: &str = "#!lua name=sneaky
redis.register_function{function_name='sneak', callback=function(keys, args) return redis.call('set', 'k', 'v') end, flags={'no-writes'}}";

const FN_CASES: &[&[&str]] = &[
    // LOAD's metadata and name errors.
    &["FUNCTION", "LOAD", "return 1"],
    &["FUNCTION", "LOAD", "#!lua"],
    &["FUNCTION", "LOAD", "#!lua name=a\n"],
    &["FUNCTION", "LOAD", "#!lua name=a foo=b\nx"],
    &["FUNCTION", "LOAD", "#!lua name=a name=b\nx"],
    &["FUNCTION", "LOAD", "#!lua NAME=a\nredis.register_function('nm', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=a-b\nx"],
    &["FUNCTION", "LOAD", "#!lua name=\nx"],
    &["FUNCTION", "LOAD", "#!luax name=ab\nx"],
    &["FUNCTION", "LOAD", "#!lua\nx"],
    &["FUNCTION", "LOAD", "#!\nx"],
    &["FUNCTION", "LOAD", "#! name=q\nx"],
    &["FUNCTION", "LOAD", "#!LUA name=ab\nredis.register_function('f1', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=ab\nredis.register_function('f1', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=ac\nredis.register_function('F1', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=AB\nredis.register_function('f9', function() return 9 end)"],
    &["FUNCTION", "LOAD", "foo", "#!lua name=ab\nx"],
    &["FUNCTION", "LOAD", "REPLACE"],
    &["FUNCTION", "LOAD"],
    // register_function's errors, and the restricted API while loading.
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function('f-1', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function('f2', function() return 1 end)\nredis.register_function('F2', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function('f2')"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function(1,2,3)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function()"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function('x', 2)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({}, function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=function() end, flags={'bad'}})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=function() end, flags={{}}})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=function() end, foo=1})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=1})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name={}, callback=function() end})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=function() end, description={}})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x', callback=function() end, flags='no-writes'})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({callback=function() end})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({function_name='x'})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.register_function({[1]='x'})"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.call('set','x','y')"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.pcall('x')"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nredis.setresp(3)"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nlocal x = string.format('a')"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nx = 1"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nerror('boom')"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nlocal t = nil; t.x = 1"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nlocal x = 1 +"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nlocal x = 1"],
    &["FUNCTION", "LOAD", "#!lua name=ad\nwhile true do end"],
    // A failed load left nothing behind.
    &["FCALL", "f2", "0"],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "STATS"],
    // FCALL / FCALL_RO.
    &["FUNCTION", "LOAD", FN_LIB],
    &["FUNCTION", "LOAD", FN_LIB],
    &["SET", "k1", "v1"],
    &["FCALL", "ro", "1", "k1", "a1"],
    &["FCALL_RO", "ro", "1", "k1", "a1"],
    &["FCALL", "RO", "1", "k1", "a1"],
    &["FCALL_RO", "rw", "1", "k1", "a1"],
    &["FCALL", "rw", "1", "k1", "a2"],
    &["GET", "k1"],
    &["FCALL", "boom", "0"],
    &["FCALL", "unknown", "0"],
    &["FCALL", "index", "0"],
    &["FCALL", "reg", "0"],
    &["FCALL", "globals", "0"],
    &["FCALL", "pcall", "1", "k1"],
    &["FCALL", "counts", "2", "a", "b", "c"],
    &["FCALL", "errtable", "0"],
    &["FCALL", "status", "0"],
    &["FCALL", "nested", "0"],
    &["FCALL", "cjson", "0"],
    &["FCALL", "nosuch", "0"],
    &["FCALL_RO", "nosuch", "0"],
    &["FCALL", "nosuch", "x"],
    &["FCALL", "ro", "-1"],
    &["FCALL", "ro", "2", "a"],
    &["FCALL", "ro", "x"],
    &["FCALL", "ro"],
    &["FCALL"],
    &["FCALL_RO", "ro"],
    &["FUNCTION", "LOAD", FN_SNEAKY],
    &["FCALL", "sneak", "0"],
    &["FCALL_RO", "sneak", "0"],
    // A function name taken by another library, REPLACE.
    &["FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('Rw', function() return 1 end)"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=sneaky\nredis.register_function('rw', function() return 1 end)"],
    &["FUNCTION", "LOAD", "replace", "replace", "#!lua name=sneaky\nredis.register_function('sneak2', function() return 2 end)"],
    &["FCALL", "sneak", "0"],
    &["FCALL", "sneak2", "0"],
    // LIST.
    &["FUNCTION", "LIST"],
    &["FUNCTION", "LIST", "WITHCODE"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "SNEAK*"],
    &["FUNCTION", "LIST", "withcode", "libraryname", "s*"],
    &["FUNCTION", "LIST", "libraryname", "s*", "withcode"],
    &["FUNCTION", "LIST", "libraryname", "nothing"],
    &["FUNCTION", "LIST", "libraryname"],
    &["FUNCTION", "LIST", "foo"],
    &["FUNCTION", "LIST", "withcode", "withcode"],
    &["FUNCTION", "LIST", "libraryname", "a", "libraryname", "b"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "STATS", "x"],
    // DELETE, FLUSH, KILL, HELP and errors.
    &["FUNCTION", "DELETE", "nosuch"],
    &["FUNCTION", "DELETE", "SNEAKY"],
    &["FUNCTION", "DELETE", "sneaky"],
    &["FCALL", "sneak2", "0"],
    &["FUNCTION", "DELETE"],
    &["FUNCTION", "DELETE", "a", "b"],
    &["FUNCTION", "FLUSH", "x"],
    &["FUNCTION", "FLUSH", "async", "x"],
    &["FUNCTION", "KILL"],
    &["FUNCTION", "KILL", "x"],
    &["FUNCTION", "HELP"],
    &["FUNCTION", "HELP", "x"],
    &["FUNCTION", "FOO"],
    &["FUNCTION"],
    &["FUNCTION", "DUMP", "x"],
    &["FUNCTION", "RESTORE", "x"],
    &["FUNCTION", "RESTORE", "abc", "foo"],
    &["FUNCTION", "RESTORE", "abc", "flush", "x"],
    &["FUNCTION", "RESTORE"],
    // Functions are not data that FLUSHALL / FLUSHDB remove.
    &["FLUSHALL"],
    &["FLUSHDB"],
    &["FCALL", "ro", "1", "k1", "a1"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "FLUSH"],
    &["FCALL", "ro", "1", "k1", "a1"],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "LOAD", "#!lua name=again\nredis.register_function('ro', function() return 'again' end)"],
    &["FUNCTION", "FLUSH", "SYNC"],
    &["FUNCTION", "FLUSH", "async"],
    &["FUNCTION", "STATS"],
    // Scripts cannot reach functions.
    &["EVAL", "return redis.call('fcall', 'x', 0)", "0"],
    &["EVAL", "return redis.call('function', 'list')", "0"],
];

/// Sorts what Redis lists in its dict's order: the libraries of FUNCTION
/// LIST and the functions of each.
fn normalize_function_list(r: &mut R) {
    if let R::Array(Some(libs)) = r {
        for lib in libs.iter_mut() {
            if let R::Array(Some(fields)) = lib {
                if let Some(R::Array(Some(functions))) = fields.get_mut(5) {
                    functions.sort();
                }
            }
        }
        libs.sort();
    }
}

#[test]
fn functions_match_redis() {
    let mut p = Pair::new();
    for case in FN_CASES {
        let argv: Vec<Vec<u8>> = case.iter().map(|a| a.as_bytes().to_vec()).collect();
        if case.len() >= 2 && case[0] == "FUNCTION" && case[1].eq_ignore_ascii_case("list") {
            let (mut ours, mut theirs) = p.both(&argv);
            normalize_function_list(&mut ours);
            normalize_function_list(&mut theirs);
            if ours != theirs {
                p.mismatches.push(format!(
                    "{}\n   ours:   {}\n   redis:  {}",
                    show_argv(&argv),
                    show(&ours),
                    show(&theirs)
                ));
            }
            continue;
        }
        p.check(&argv);
    }
    p.assert_clean();
}

#[test]
fn function_payloads_cross_restore() {
    let mut p = Pair::new();
    let argv = |a: &[&[u8]]| -> Vec<Vec<u8>> { a.iter().map(|x| x.to_vec()).collect() };
    let load = argv(&[b"FUNCTION", b"LOAD", FN_LIB.as_bytes()]);
    p.check(&load);
    p.check(&argv(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=second\nredis.register_function('s', function() return 's' end)",
    ]));
    let (ours, theirs) = p.both(&argv(&[b"FUNCTION", b"DUMP"]));
    let (R::Bulk(Some(ours)), R::Bulk(Some(theirs))) = (ours, theirs) else {
        panic!("FUNCTION DUMP did not answer a payload on both sides");
    };
    // Each side restores the other's payload, with each policy.
    let policies: &[&[u8]] = &[b"APPEND", b"REPLACE", b"FLUSH"];
    for policy in policies {
        for (payload, name) in [(&theirs, "redis's"), (&ours, "our")] {
            let restore = argv(&[b"FUNCTION", b"RESTORE", payload, policy]);
            let (o, t) = p.both(&restore);
            if *policy == b"APPEND" {
                // Both payloads' libraries exist: which one is named
                // depends on the order Redis walks its dict in.
                for r in [&o, &t] {
                    assert!(
                        matches!(r, R::Err(e) if e.starts_with(b"ERR Library ") && e.ends_with(b" already exists")),
                        "RESTORE of {name} payload with APPEND: {}",
                        show(r)
                    );
                }
                continue;
            }
            assert_eq!(o, t, "RESTORE of {name} payload with {}", String::from_utf8_lossy(policy));
        }
    }
    // After FLUSH: every library of the payload is there, on both sides.
    for payload in [&theirs, &ours] {
        p.check(&argv(&[b"FUNCTION", b"FLUSH"]));
        let (o, t) = p.both(&argv(&[b"FUNCTION", b"RESTORE", payload]));
        assert_eq!((o, t), (R::Simple(b"OK".to_vec()), R::Simple(b"OK".to_vec())));
        p.check(&argv(&[b"FCALL", b"s", b"0"]));
        p.check(&argv(&[b"FCALL", b"rw", b"1", b"k", b"v"]));
        let (mut o, mut t) = p.both(&argv(&[b"FUNCTION", b"LIST", b"WITHCODE"]));
        normalize_function_list(&mut o);
        normalize_function_list(&mut t);
        assert_eq!(o, t);
    }
    // A payload with a library whose function another library has.
    p.check(&argv(&[b"FUNCTION", b"DELETE", b"second"]));
    p.check(&argv(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=third\nredis.register_function('S', function() return 's' end)",
    ]));
    for payload in [&theirs, &ours] {
        p.check(&argv(&[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]));
        p.check(&argv(&[b"FUNCTION", b"RESTORE", payload]));
    }
    // A bad checksum, a payload of another type.
    let mut bad = ours.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    p.check(&argv(&[b"FUNCTION", b"RESTORE", &bad]));
    let (dumped, _) = {
        p.check(&argv(&[b"SET", b"str", b"value"]));
        p.both(&argv(&[b"DUMP", b"str"]))
    };
    if let R::Bulk(Some(value)) = dumped {
        p.check(&argv(&[b"FUNCTION", b"RESTORE", &value]));
    }
    p.assert_clean();
}
