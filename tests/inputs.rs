//! What counts as video (SPEC §5): cover art, audio and still images are not, whatever the
//! container; GIF is (an animation format). One behaviour across containers.

use vframe::{Input, Options, Spec, Status};

mod common;

use common::fixture;

fn extract(name: &str) -> Result<vframe::Image, vframe::Error> {
    let spec: Spec = "vframe/png/offset/1".parse().unwrap();
    vframe::extract(Input::Path(&fixture(name)), &spec, &Options::default())
}

#[test]
fn cover_art_is_not_video_in_any_container() {
    for name in ["cover_art.m4a", "cover_art.mp3", "cover_art.flac", "cover_art.mka", "audio_only.m4a"] {
        let error = extract(name).err().unwrap_or_else(|| panic!("{name}: gave an image (the cover?)"));
        assert_eq!(error.status(), Status::NoVideoStream, "{name}: {error}");
        assert!(error.message().contains("no video"), "{name}: {error}");
    }
    // Where the container exposes the picture, the message says what was found.
    for name in ["cover_art.m4a", "cover_art.mka"] {
        let error = extract(name).unwrap_err();
        assert!(error.message().contains("cover art"), "{name}: {error}");
    }
    // From memory too.
    let bytes = std::fs::read(fixture("cover_art.m4a")).unwrap();
    let spec: Spec = "vframe/jpg/offset/0".parse().unwrap();
    let error = vframe::extract(Input::Memory(&bytes), &spec, &Options::default()).unwrap_err();
    assert_eq!(error.status(), Status::NoVideoStream, "{error}");
}

#[test]
fn a_video_with_cover_art_gives_the_video() {
    let image = extract("video_and_cover.mp4").unwrap();
    assert_eq!((image.width, image.height), (320, 240), "the video stream, not the 200x200 cover");
}

#[test]
fn still_images_are_refused_and_gif_is_video() {
    for name in ["cover.jpg", "cover.png"] {
        let error = extract(name).err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(error.status(), Status::UnsupportedInput, "{name}: {error}");
        assert!(error.message().contains("still image"), "{name}: {error}");
    }
    let image = extract("still.gif").unwrap();
    assert_eq!((image.width, image.height), (64, 48));
}

#[test]
fn a_video_stream_of_no_known_codec_says_so() {
    // The sample description's codec blanked, as a truncated or damaged MP4 can leave it:
    // FFmpeg sees a video stream of codec "none".
    let mut bytes = std::fs::read(fixture("gop25_25fps.mp4")).unwrap();
    let stsd = bytes.windows(4).position(|w| w == b"stsd").expect("a sample description");
    let at = stsd + bytes[stsd..].windows(4).position(|w| w == b"avc1").expect("an avc1 sample entry");
    bytes[at..at + 4].copy_from_slice(&[0; 4]);
    let spec: Spec = "vframe/jpg/offset/1".parse().unwrap();
    let Err(error) = vframe::extract(Input::Memory(&bytes), &spec, &Options::default()) else {
        panic!("an image from a stream of no codec");
    };
    assert_eq!(error.status(), Status::NoVideoStream, "{error}");
    assert!(error.message().contains("names no codec"), "{error}");
}

#[test]
fn a_block_device_is_read_as_the_file_on_it() {
    // A block device's metadata says 0 bytes: the input's size must come from its end, or
    // an MP4 whose index follows its data is "not a recognised file". Needs a loop device
    // (root); where none can be made, says so and checks nothing.
    let image = common::TempPath::new("block.mp4");
    let mut bytes = std::fs::read(fixture("gop25_25fps.mp4")).unwrap();
    bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    std::fs::write(&image.0, &bytes).unwrap();
    let made = std::process::Command::new("losetup").args(["--find", "--show", "--read-only"]).arg(&image.0).output();
    let device = match made {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap().trim().to_string(),
        other => {
            eprintln!("SKIPPED: no loop device could be made here ({other:?}); a block device is not checked");
            return;
        }
    };
    let spec: Spec = "vframe/png/offset/2".parse().unwrap();
    let got = vframe::extract(Input::Path(std::path::Path::new(&device)), &spec, &Options::default());
    std::process::Command::new("losetup").args(["-d", &device]).status().unwrap();
    let want = vframe::extract(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &Options::default()).unwrap();
    assert!(got.unwrap_or_else(|e| panic!("{device}: {e}")) == want, "{device}: another image than the file's");
}
