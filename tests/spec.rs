//! SPEC §1: the operation string, as a user of the Rust API writes it.
//!
//! Every accepted form parses to the spec it means, and every malformed one is an
//! `InvalidSpec` error whose message names the part that is wrong.

use vframe::spec::{MAX_HEIGHT, MAX_OFFSET_MS, MAX_WIDTH};
use vframe::{Format, Rotate, Spec, Status};

fn parse(s: &str) -> Spec {
    s.parse::<Spec>().unwrap_or_else(|e| panic!("{s:?} should parse, got: {e}"))
}

/// Asserts that `s` is rejected as an invalid spec with a message containing every one of
/// `names` (the bad part, quoted as the user wrote it).
fn rejects(s: &str, names: &[&str]) {
    let err = match s.parse::<Spec>() {
        Ok(spec) => panic!("{s:?} should be rejected, parsed as {spec:?}"),
        Err(e) => e,
    };
    assert_eq!(err.status(), Status::InvalidSpec, "{s:?}: {err}");
    let message = err.message();
    assert!(!message.contains('\n'), "{s:?}: the message is one line: {message:?}");
    for name in names {
        assert!(message.contains(name), "{s:?}: message {message:?} should name {name:?}");
    }
}

/// `s` as error messages quote it: control characters escaped, so the message stays one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn spec(format: Format, offset_ms: u64, w: Option<u32>, h: Option<u32>, rotate: Option<Rotate>) -> Spec {
    Spec { format, offset_ms, width: w, height: h, rotate, ..Spec::new(format, offset_ms) }
}

#[test]
fn minimal_spec() {
    assert_eq!(parse("vframe/jpg/offset/7"), Spec::new(Format::Jpeg, 7000));
    assert_eq!(parse("vframe/png/offset/0"), Spec::new(Format::Png, 0));
}

#[test]
fn jpeg_is_an_alias_of_jpg() {
    assert_eq!(parse("vframe/jpeg/offset/7"), parse("vframe/jpg/offset/7"));
    assert_eq!(parse("vframe/jpeg/offset/7").format, Format::Jpeg);
}

#[test]
fn all_keys() {
    assert_eq!(
        parse("vframe/jpg/offset/7/w/480/h/360/rotate/90"),
        spec(Format::Jpeg, 7000, Some(480), Some(360), Some(Rotate::Cw90))
    );
    assert_eq!(parse("vframe/png/offset/1/rotate/180").rotate, Some(Rotate::Cw180));
    assert_eq!(parse("vframe/png/offset/1/rotate/270").rotate, Some(Rotate::Cw270));
    assert_eq!(parse("vframe/png/offset/1/rotate/auto").rotate, Some(Rotate::Auto));
}

#[test]
fn keys_in_any_order() {
    let expected = spec(Format::Png, 3500, Some(480), Some(360), Some(Rotate::Auto));
    let pairs = ["offset/3.5", "w/480", "h/360", "rotate/auto"];
    // All 24 orders of the four pairs.
    let mut orders = 0;
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                for d in 0..4 {
                    let order = [a, b, c, d];
                    if (0..4).all(|i| order.contains(&i)) {
                        let s = format!("vframe/png/{}", order.map(|i| pairs[i]).join("/"));
                        assert_eq!(parse(&s), expected, "{s}");
                        orders += 1;
                    }
                }
            }
        }
    }
    assert_eq!(orders, 24);
    assert_eq!(parse("vframe/jpg/h/360/offset/7"), spec(Format::Jpeg, 7000, None, Some(360), None));
}

#[test]
fn strings_built_by_qiniu_sdks() {
    // Python: qiniu.build_op('vframe', 'jpg', offset=7, w=480, h=360)
    assert_eq!(parse("vframe/jpg/offset/7/w/480/h/360"), spec(Format::Jpeg, 7000, Some(480), Some(360), None));
    // Python with a float offset: str(7.0) and str(0.1 + 0.2).
    assert_eq!(parse("vframe/jpg/offset/7.0").offset_ms, 7000);
    assert_eq!(parse("vframe/jpg/offset/0.30000000000000004").offset_ms, 300);
    // Qiniu's documentation examples.
    assert_eq!(parse("vframe/jpg/offset/1/w/480/h/360/rotate/90").rotate, Some(Rotate::Cw90));
    assert_eq!(parse("vframe/png/offset/20/rotate/auto").rotate, Some(Rotate::Auto));
}

#[test]
fn leading_question_mark_of_a_url_query() {
    assert_eq!(parse("?vframe/jpg/offset/7/w/480"), parse("vframe/jpg/offset/7/w/480"));
}

#[test]
fn offsets_are_seconds_with_millisecond_precision() {
    for (text, ms) in [
        ("7", 7000),
        ("7.5", 7500),
        ("7.50", 7500),
        ("0.04", 40),
        ("0.001", 1),
        ("3600.125", 3_600_125),
        ("007", 7000),
        ("0", 0),
        ("0.000", 0),
    ] {
        assert_eq!(parse(&format!("vframe/jpg/offset/{text}")).offset_ms, ms, "offset/{text}");
    }
}

#[test]
fn offsets_finer_than_a_millisecond_round_to_the_nearest() {
    for (text, ms) in [
        ("7.0004", 7000),
        ("7.0005", 7001),
        ("7.00049999", 7000),
        ("0.0415", 42),
        ("1.9996", 2000),
        ("9.9999999", 10_000),
    ] {
        assert_eq!(parse(&format!("vframe/jpg/offset/{text}")).offset_ms, ms, "offset/{text}");
    }
}

#[test]
fn largest_offset() {
    let max_s = MAX_OFFSET_MS / 1000;
    assert_eq!(parse(&format!("vframe/jpg/offset/{max_s}")).offset_ms, MAX_OFFSET_MS);
    rejects(&format!("vframe/jpg/offset/{max_s}.001"), &["offset", "out of range"]);
    rejects(&format!("vframe/jpg/offset/{}", max_s + 1), &["offset", "out of range"]);
    rejects("vframe/jpg/offset/99999999999999999999999999", &["offset", "out of range"]);
}

#[test]
fn width_and_height_limits() {
    assert_eq!(parse("vframe/jpg/offset/1/w/1").width, Some(1));
    assert_eq!(parse(&format!("vframe/jpg/offset/1/w/{MAX_WIDTH}")).width, Some(3840));
    assert_eq!(parse("vframe/jpg/offset/1/h/1").height, Some(1));
    assert_eq!(parse(&format!("vframe/jpg/offset/1/h/{MAX_HEIGHT}")).height, Some(2160));
    rejects("vframe/jpg/offset/1/w/0", &["w '0'", "1 to 3840"]);
    rejects("vframe/jpg/offset/1/w/3841", &["w '3841'", "1 to 3840"]);
    rejects("vframe/jpg/offset/1/h/0", &["h '0'", "1 to 2160"]);
    rejects("vframe/jpg/offset/1/h/2161", &["h '2161'", "1 to 2160"]);
    rejects("vframe/jpg/offset/1/h/3840", &["h '3840'"]);
    rejects("vframe/jpg/offset/1/w/99999999999999999999", &["w '99999999999999999999'"]);
}

#[test]
fn rotate_zero_means_no_rotation() {
    assert_eq!(parse("vframe/jpg/offset/1/rotate/0").rotate, None);
}

#[test]
fn printing_gives_the_canonical_string_back() {
    for s in [
        "vframe/jpg/offset/7",
        "vframe/png/offset/0.04/w/480",
        "vframe/jpg/offset/3600.125/h/360/rotate/auto",
        "vframe/png/offset/7.5/w/1/h/2160/rotate/270",
    ] {
        assert_eq!(parse(s).to_string(), s);
        assert_eq!(parse(&parse(s).to_string()), parse(s));
    }
    assert_eq!(parse("?vframe/jpeg/w/480/offset/7.500").to_string(), "vframe/jpg/offset/7.5/w/480");
}

#[test]
fn empty_and_wrong_prefix() {
    rejects("", &["empty"]);
    rejects("?", &["empty"]);
    rejects("imageView2/1/w/480", &["'imageView2/1/w/480'", "does not start with 'vframe/'"]);
    rejects("vframes/jpg/offset/7", &["'vframes/jpg/offset/7'", "'vframe/'"]);
    rejects("VFRAME/jpg/offset/7", &["'VFRAME/jpg/offset/7'"]);
    rejects(" vframe/jpg/offset/7", &["' vframe/jpg/offset/7'"]);
    rejects("/vframe/jpg/offset/7", &["'/vframe/jpg/offset/7'"]);
    rejects("??vframe/jpg/offset/7", &["'??vframe/jpg/offset/7'"]);
    rejects("vframe", &["format", "missing"]);
    rejects("vframe/jpg/offset/7\nvframe/png/offset/8", &["offset '7\\nvframe'"]);
    // A long bad part is named by its start, not copied whole into the message.
    let long = format!("x{}", "y".repeat(100_000));
    let err = long.parse::<Spec>().unwrap_err();
    assert!(err.message().len() < 200 && err.message().contains("'xyyy"), "{}", err.message());
}

#[test]
fn formats() {
    rejects("vframe/gif/offset/7", &["format 'gif'"]);
    rejects("vframe/JPG/offset/7", &["format 'JPG'"]);
    // webp is an extension format (SPEC §8): it parses, and tests/frames_spec.rs covers it.
    assert_eq!(parse("vframe/webp/offset/7").format, Format::Webp);
    rejects("vframe/", &["format", "missing"]);
    rejects("vframe//offset/7", &["format", "missing"]);
    rejects("vframe/offset/7", &["format 'offset'"]);
}

#[test]
fn offset_is_required() {
    rejects("vframe/jpg", &["offset", "missing"]);
    rejects("vframe/jpg/w/480/h/360", &["offset", "missing"]);
}

#[test]
fn unknown_keys() {
    rejects("vframe/jpg/offset/7/x/1", &["unknown key 'x'"]);
    rejects("vframe/jpg/offset/7/width/480", &["unknown key 'width'"]);
    rejects("vframe/jpg/offset/7/W/480", &["unknown key 'W'"]);
    rejects("vframe/jpg/offset/7/format/png", &["unknown key 'format'"]);
    rejects("vframe/jpg/t/7", &["unknown key 't'"]);
}

#[test]
fn missing_values() {
    rejects("vframe/jpg/offset", &["'offset'", "no value"]);
    rejects("vframe/jpg/offset/", &["'offset'", "no value"]);
    rejects("vframe/jpg/offset/7/w", &["'w'", "no value"]);
    rejects("vframe/jpg/offset/7/w/480/h", &["'h'", "no value"]);
    rejects("vframe/jpg/offset/7/rotate", &["'rotate'", "no value"]);
    rejects("vframe/jpg/offset/7/w//h/360", &["'w'", "no value"]);
    // A value where a key should be: "w" is read as offset's value.
    rejects("vframe/jpg/offset/w/480", &["offset 'w'"]);
}

#[test]
fn each_key_at_most_once() {
    rejects("vframe/jpg/offset/7/offset/8", &["'offset'", "more than once"]);
    rejects("vframe/jpg/offset/7/w/480/w/480", &["'w'", "more than once"]);
    rejects("vframe/jpg/offset/7/h/1/w/2/h/1", &["'h'", "more than once"]);
    rejects("vframe/jpg/offset/7/rotate/90/rotate/90", &["'rotate'", "more than once"]);
}

/// Qiniu's Python SDK writes a float offset with `str()`: below 0.0001 that is an exponent
/// (`qiniu.build_op("vframe", "jpg", offset=0.00001)` is `vframe/jpg/offset/1e-05`), and
/// SPEC §1 takes the SDKs' strings as they are.
#[test]
fn offsets_with_an_exponent_as_sdks_print_floats() {
    for (text, ms) in [
        ("1e-05", 0),
        ("5e-05", 0),
        ("4.9e-04", 0),
        ("5e-04", 1),
        ("7e-3", 7),
        ("1.5E-3", 2),
        ("1E3", 1_000_000),
        ("1e3", 1_000_000),
        ("1.25e+2", 125_000),
        ("7e0", 7000),
        ("0.0e400", 0),
        ("1e-400", 0),
        ("1.0E-5", 0),
    ] {
        assert_eq!(parse(&format!("vframe/jpg/offset/{text}")).offset_ms, ms, "offset/{text}");
    }
    rejects("vframe/jpg/offset/1e+16", &["offset '1e+16'", "out of range"]);
    rejects("vframe/jpg/offset/1e400", &["offset '1e400'", "out of range"]);
    // Exponents too large for any integer type are still that large, never read as 0.
    rejects("vframe/jpg/offset/1e99999999999999999999999", &["out of range"]);
    assert_eq!(parse("vframe/jpg/offset/1e+000000000000000000000000003").offset_ms, 1_000_000);
    assert_eq!(parse("vframe/jpg/offset/1e-99999999999999999999999").offset_ms, 0);
    assert_eq!(parse("vframe/jpg/offset/1e+0000000000000000000000002").offset_ms, 100_000);
    // Long mantissas whose exponent brings them back: exactly 2 s.
    let zeros = "0".repeat(500);
    assert_eq!(parse(&format!("vframe/jpg/offset/0.{zeros}2e501")).offset_ms, 2000);
    assert_eq!(parse(&format!("vframe/jpg/offset/2{zeros}e-500")).offset_ms, 2000);
    assert_eq!(parse(&format!("vframe/jpg/offset/{zeros}5e-4")).offset_ms, 1);
    assert_eq!(parse(&format!("vframe/jpg/offset/0.{zeros}5e497")).offset_ms, 1);
    assert_eq!(parse(&format!("vframe/jpg/offset/0.{zeros}5e496")).offset_ms, 0);
}

#[test]
fn offsets_that_are_not_plain_decimal_seconds() {
    for bad in [
        "-1", "-0", "+7", "7.", ".5", "7..5", "7.5.1", "e3", "1e", "1e+", "1e+-3", "1.e3", ".5e3", "1e3.5", "1e3e3",
        "-1e-3", "NaN", "nan", "inf", "-inf", "Infinity", "0x10", "7s", "7,5", "7 ", " 7", "1_000", "٣", "7\n",
    ] {
        rejects(&format!("vframe/jpg/offset/{bad}"), &[&format!("offset '{}'", one_line(bad))]);
    }
}

#[test]
fn sizes_that_are_not_whole_numbers() {
    for bad in ["-480", "+480", "480.0", "480.5", "4.8e2", "abc", "480px", "NaN", "inf", " 480"] {
        rejects(&format!("vframe/jpg/offset/1/w/{bad}"), &[&format!("w '{bad}'")]);
        rejects(&format!("vframe/jpg/offset/1/h/{bad}"), &[&format!("h '{bad}'")]);
    }
}

#[test]
fn rotations_other_than_quarter_turns() {
    for bad in ["45", "360", "-90", "+90", "90.0", "Auto", "AUTO", "cw", "1"] {
        rejects(&format!("vframe/jpg/offset/1/rotate/{bad}"), &[&format!("rotate '{bad}'")]);
    }
}

#[test]
fn trailing_garbage_and_slashes() {
    rejects("vframe/jpg/offset/7/", &["trailing '/'"]);
    rejects("vframe/jpg/", &["trailing '/'"]);
    rejects("vframe/jpg/offset/7//", &["doubled '/'"]);
    rejects("vframe/jpg/offset/7/w/480/", &["trailing '/'"]);
    rejects("vframe/jpg//offset/7", &["doubled '/'"]);
    rejects("vframe/jpg/offset/7/garbage", &["'garbage'"]);
    rejects("vframe/jpg/offset/7?x=1", &["offset '7?x=1'"]);
    rejects("vframe/jpg/offset/7|imageView2/1/w/100", &["offset '7|imageView2'"]);
    rejects("vframe/jpg/offset/7/w/480x", &["w '480x'"]);
    rejects("vframe/jpg/offset/7\0", &["offset '7\\u{0}'"]);
}

#[test]
fn errors_read_as_sentences() {
    let err = "vframe/jpg/offset/abc".parse::<Spec>().unwrap_err();
    assert_eq!(err.to_string(), err.message());
    assert!(err.message().starts_with("invalid spec: "), "{}", err.message());
}

/// A spec given as bytes that are not UTF-8 (the C ABI, a command line): the error names
/// the first bad byte, its position, and what comes before it.
#[test]
fn bytes_that_are_not_utf8_are_named_where_they_are() {
    let err = vframe::spec::parse_bytes::<Spec>(b"vframe/jpg/offset/1/w/48\xff0").expect_err("not UTF-8");
    assert_eq!(err.status(), Status::InvalidSpec);
    for name in ["0xff", "position 25", "'vframe/jpg/offset/1/w/48'"] {
        assert!(err.message().contains(name), "{err} should name {name}");
    }
    let spec: Spec = vframe::spec::parse_bytes(b"vframe/jpg/offset/1/w/48").expect("UTF-8 parses");
    assert_eq!(spec.width, Some(48));
}

/// Characters that show nothing but reorder or hide what is around them are quoted
/// escaped: a right-to-left override must not make a message read otherwise in a log.
#[test]
fn invisible_characters_are_quoted_escaped() {
    for (bad, escaped) in [("7\u{202E}gpj.exe", "\\u{202e}"), ("7\u{200B}", "\\u{200b}"), ("\u{FEFF}7", "\\u{feff}")] {
        let text = format!("vframe/jpg/offset/{bad}");
        let err = text.parse::<Spec>().expect_err("not a number");
        assert!(err.message().contains(escaped), "{err}");
        assert!(!err.message().contains(bad), "{err}");
    }
}
