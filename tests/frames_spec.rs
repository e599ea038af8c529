//! SPEC §8: the operation strings beyond one standard frame — vframe's extensions (`webp`,
//! `q`, `mode`), Qiniu's `vsample` as its documentation writes it, and the `storyboard`
//! op. Every accepted form parses to what it means and prints back canonically; every
//! malformed one is an `InvalidSpec` error naming the bad part.

use vframe::{Every, Format, Mode, Operation, Rotate, SampleSpec, Spec, Status, StoryboardSpec};

fn rejects<T: std::str::FromStr<Err = vframe::Error> + std::fmt::Debug>(s: &str, names: &[&str]) {
    let err = match s.parse::<T>() {
        Ok(spec) => panic!("{s:?} should be rejected, parsed as {spec:?}"),
        Err(e) => e,
    };
    assert_eq!(err.status(), Status::InvalidSpec, "{s:?}: {err}");
    for name in names {
        assert!(err.message().contains(name), "{s:?}: message {:?} should name {name:?}", err.message());
    }
}

fn sample(s: &str) -> SampleSpec {
    s.parse().unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn board(s: &str) -> StoryboardSpec {
    s.parse().unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

#[test]
fn vframe_extensions() {
    let spec: Spec = "vframe/webp/offset/7/w/320/q/60/mode/fast".parse().unwrap();
    assert_eq!((spec.format, spec.quality, spec.mode, spec.width), (Format::Webp, Some(60), Mode::Fast, Some(320)));
    assert_eq!(spec.to_string(), "vframe/webp/offset/7/w/320/q/60/mode/fast");
    let spec: Spec = "vframe/jpg/q/1/offset/0/mode/exact".parse().unwrap();
    assert_eq!((spec.quality, spec.mode), (Some(1), Mode::Exact));
    assert_eq!(spec.to_string(), "vframe/jpg/offset/0/q/1");
    // The standard string is unchanged by the extensions' existence.
    assert_eq!("vframe/jpg/offset/7".parse::<Spec>().unwrap(), Spec::new(Format::Jpeg, 7000));
    rejects::<Spec>("vframe/png/offset/7/q/50", &["q applies to jpg and webp only"]);
    for bad in ["0", "101", "50.5", "-1", "x", ""] {
        let s = format!("vframe/jpg/offset/7/q/{bad}");
        if bad.is_empty() {
            rejects::<Spec>(&s, &["'q'", "no value"]);
        } else {
            rejects::<Spec>(&s, &[&format!("q '{bad}'")]);
        }
    }
    rejects::<Spec>("vframe/jpg/offset/7/mode/keyframe", &["mode 'keyframe'", "exact or fast"]);
    rejects::<Spec>("vframe/jpg/offset/7/mode/fast/mode/fast", &["'mode'", "more than once"]);
    rejects::<Spec>("vframe/WEBP/offset/7", &["format 'WEBP'"]);
}

#[test]
fn vsample_as_qiniu_documents_it() {
    // Qiniu's own example: from 7 s for 600 s, every 5 s (the default), 480x360, pattern
    // "vframe-$(count)".
    let spec = sample("vsample/jpg/ss/7/t/600/s/480x360/pattern/dmZyYW1lLSQoY291bnQp");
    assert_eq!(spec.look.format, Format::Jpeg);
    assert_eq!((spec.start_ms, spec.duration_ms, spec.every), (7000, Some(600_000), Every::Interval(5000)));
    assert_eq!((spec.look.width, spec.look.height), (Some(480), Some(360)));
    assert_eq!(spec.pattern.as_deref(), Some("vframe-$(count)"));
    assert_eq!(spec.key(0).as_deref(), Some("vframe-000001"));
    assert_eq!(spec.key(41).as_deref(), Some("vframe-000042"));
    // The newer page's savePattern, with another magic variable left for the service.
    let spec = sample("vsample/jpg/ss/7/t/600/s/480x360/savePattern/JChrZXliYXNlKSQoY291bnQpLmpwZw=");
    assert_eq!(spec.pattern.as_deref(), Some("$(keybase)$(count).jpg"));
    assert_eq!(spec.key(2).as_deref(), Some("$(keybase)000003.jpg"));
    // Padding may be left out; ${count} works as $(count).
    assert_eq!(sample("vsample/png/pattern/JHtjb3VudH0").key(0).as_deref(), Some("000001"));
    // frames instead of interval; one side of s; rotate; defaults.
    let spec = sample("vsample/png/frames/10/s/x360/rotate/auto");
    assert_eq!((spec.every, spec.look.width, spec.look.height), (Every::Frames(10), None, Some(360)));
    assert_eq!(spec.look.rotate, Some(Rotate::Auto));
    let spec = sample("vsample/jpg");
    assert_eq!((spec.start_ms, spec.duration_ms, spec.every, spec.pattern), (0, None, Every::Interval(5000), None));
    assert_eq!(sample("vsample/jpg/s/480x").look.width, Some(480));
    assert_eq!(sample("vsample/jpg/s/x").look.width, None);
    assert_eq!(sample("vsample/jpg/interval/0.1").every, Every::Interval(100));
    assert_eq!(sample("?vsample/webp/q/70/mode/fast").look.quality, Some(70));
}

#[test]
fn vsample_errors_name_the_bad_part() {
    rejects::<SampleSpec>("vsample/jpg/interval/5/frames/3", &["interval and frames"]);
    rejects::<SampleSpec>("vsample/jpg/interval/0", &["interval '0'", "at least 0.001 seconds"]);
    // More than 0, yet 0 ms once rounded: the message says what is needed.
    rejects::<SampleSpec>("vsample/jpg/interval/0.0004", &["interval '0.0004'", "at least 0.001 seconds"]);
    rejects::<SampleSpec>("vsample/jpg/t/0", &["t '0'", "at least 0.001 seconds"]);
    // An empty spec names the grammar of the operation asked for, not vframe's.
    rejects::<SampleSpec>("", &["empty string", "expected vsample/"]);
    rejects::<vframe::StoryboardSpec>("", &["empty string", "expected storyboard/"]);
    rejects::<vframe::Spec>("", &["empty string", "expected vframe/"]);
    rejects::<SampleSpec>("vsample/jpg/ss/-1", &["ss '-1'"]);
    rejects::<SampleSpec>("vsample/jpg/frames/0", &["frames '0'", "out of range"]);
    rejects::<SampleSpec>("vsample/jpg/frames/100001", &["frames '100001'"]);
    rejects::<SampleSpec>("vsample/jpg/s/480", &["s '480'", "<width>x<height>"]);
    rejects::<SampleSpec>("vsample/jpg/s/480x3000", &["s height '3000'", "out of range"]);
    rejects::<SampleSpec>("vsample/jpg/s/0x360", &["s width '0'"]);
    rejects::<SampleSpec>("vsample/jpg/pattern/!!!", &["pattern '!!!'", "base64"]);
    // "vframe" without $(count): every output would get the same name.
    rejects::<SampleSpec>("vsample/jpg/pattern/dmZyYW1l", &["pattern 'vframe'", "$(count)"]);
    rejects::<SampleSpec>(
        "vsample/jpg/pattern/dmZyYW1lLSQoY291bnQp/savePattern/dmZyYW1lLSQoY291bnQp",
        &["pattern and savePattern"],
    );
    rejects::<SampleSpec>("vsample/jpg/offset/7", &["unknown key 'offset'"]);
    rejects::<SampleSpec>("vsample/jpg/w/480", &["unknown key 'w'"]);
    rejects::<SampleSpec>("vsample/gif", &["format 'gif'"]);
    rejects::<SampleSpec>("vsample", &["format", "missing"]);
    rejects::<SampleSpec>("vsample/jpg/", &["trailing '/'"]);
    rejects::<SampleSpec>("vsample/png/q/50", &["q applies to jpg and webp only"]);
    rejects::<SampleSpec>("vsample/jpg/ss/1/ss/2", &["'ss'", "more than once"]);
    rejects::<SampleSpec>("vsample/jpg/columns/3", &["unknown key 'columns'"]);
}

#[test]
fn storyboard_op() {
    let spec = board("storyboard/jpg");
    assert_eq!((spec.columns, spec.rows, spec.margin, spec.padding, spec.color), (10, 10, 0, 0, [0, 0, 0]));
    assert_eq!((spec.look.width, spec.look.height, spec.every), (Some(160), None, Every::Interval(10_000)));
    assert_eq!(spec.sheet_name(0), "storyboard-000001.jpg");
    let spec = board("storyboard/png/interval/2/s/120x68/columns/4/rows/3/margin/5/padding/2/color/FF8000/rotate/90");
    assert_eq!((spec.columns, spec.rows, spec.margin, spec.padding, spec.color), (4, 3, 5, 2, [255, 128, 0]));
    assert_eq!((spec.look.width, spec.look.height, spec.every), (Some(120), Some(68), Every::Interval(2000)));
    let again = board(&spec.to_string());
    assert_eq!(again, spec, "{spec}");
    let spec = board("storyboard/webp/frames/50/pattern/dGh1bWJzLSQoY291bnQpLndlYnA=");
    assert_eq!(spec.sheet_name(1), "thumbs-000002.webp");
    assert_eq!(board("storyboard/jpg/s/x").look.width, None, "s/x asks for the video's own size");
    rejects::<StoryboardSpec>("storyboard/jpg/columns/0", &["columns '0'"]);
    rejects::<StoryboardSpec>("storyboard/jpg/rows/101", &["rows '101'"]);
    rejects::<StoryboardSpec>("storyboard/jpg/margin/1001", &["margin '1001'"]);
    rejects::<StoryboardSpec>("storyboard/jpg/padding/-1", &["padding '-1'"]);
    rejects::<StoryboardSpec>("storyboard/jpg/color/red", &["color 'red'", "RRGGBB"]);
    rejects::<StoryboardSpec>("storyboard/jpg/color/#00000", &["color '#00000'"]);
    rejects::<StoryboardSpec>("storyboard/jpg/lines/3", &["unknown key 'lines'"]);
}

#[test]
fn operations_dispatch_on_their_name_and_print_back() {
    for s in [
        "vframe/jpg/offset/7/w/480",
        "vframe/webp/offset/1.5/q/90/mode/fast",
        "vsample/jpg/ss/7/t/600/s/480x360/pattern/dmZyYW1lLSQoY291bnQp",
        "vsample/png/frames/10/s/x360/rotate/auto",
        "vsample/webp/interval/0.5/q/70/mode/fast",
        "storyboard/jpg",
        "storyboard/png/ss/1/t/20/interval/2/s/120x68/columns/4/rows/3/margin/5/padding/2/color/ff8000",
    ] {
        let op: Operation = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(op.to_string(), s);
        assert_eq!(op.to_string().parse::<Operation>().unwrap(), op);
    }
    assert!(matches!("vsample/jpg".parse::<Operation>().unwrap(), Operation::Sample(_)));
    assert!(matches!("?storyboard/jpg".parse::<Operation>().unwrap(), Operation::Storyboard(_)));
    rejects::<Operation>("avthumb/mp4", &["'avthumb/mp4'", "vframe, vsample or storyboard"]);
    rejects::<Operation>("", &["empty"]);
}
