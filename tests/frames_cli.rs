//! The CLI with many outputs: `vframe INPUT 'vsample/…' -o DIR` writes numbered images (or
//! the pattern's names) equal to single calls; `vframe INPUT 'storyboard/…' -o DIR` writes
//! the sheets, storyboard.vtt and storyboard.json; bad folders and names are refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fixture;

fn vframe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vframe")).args(args).output().expect("the CLI runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vframe-frames-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn vsample_writes_numbered_files_equal_to_single_calls() {
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("vsample");
    let out = vframe(&[video.as_os_str(), "vsample/jpg/interval/2/s/160x".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "no progress line off a terminal");
    assert_eq!(names(&dir), ["000001.jpg", "000002.jpg", "000003.jpg"]);
    for (i, name) in names(&dir).iter().enumerate() {
        let single = dir.join(format!("single-{i}.jpg"));
        let spec = format!("vframe/jpg/offset/{}/w/160", i * 2);
        assert!(vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), single.as_os_str()]).status.success());
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), std::fs::read(&single).unwrap(), "{name}");
    }
    // A pattern names the files; a second run replaces them.
    let spec = "vsample/png/frames/2/pattern/dmZyYW1lLSQoY291bnQpLnBuZw==";
    for _ in 0..2 {
        let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(names(&dir).contains(&"vframe-000002.png".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rerun_keeps_the_extended_attributes_of_the_files_it_replaces() {
    use common::{access_acl, set_xattr, xattrs};
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("vsample-xattrs");
    let spec = "vsample/jpg/interval/2/s/80x";
    let run = || vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(run().status.success());
    let first = dir.join("000001.jpg");
    if !set_xattr(&first, "user.origin", b"camera 2") {
        eprintln!("SKIP: the file system of {} keeps no extended attributes", dir.display());
        return;
    }
    assert!(set_xattr(&first, "system.posix_acl_access", &access_acl(4242)));
    let before = xattrs(&first);
    std::fs::write(&first, common::OLD_THUMB).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&first).unwrap().starts_with(b"\xFF\xD8"), "replaced");
    assert_eq!(xattrs(&first), before);
    assert!(xattrs(&dir.join("000002.jpg")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn storyboard_writes_sheets_vtt_and_json() {
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("storyboard");
    let spec = "storyboard/jpg/interval/1/s/80x/columns/2/rows/2";
    let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&dir), ["storyboard-000001.jpg", "storyboard-000002.jpg", "storyboard.json", "storyboard.vtt"]);
    let vtt = std::fs::read_to_string(dir.join("storyboard.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT\n") && vtt.contains("storyboard-000002.jpg#xywh=80,0,80,60"), "{vtt}");
    assert!(std::fs::read_to_string(dir.join("storyboard.json")).unwrap().contains("\"tile_height\":60"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_folders_names_and_specs_fail_with_one_line() {
    let video = fixture("gop25_25fps.mp4");
    let fail = |args: &[&std::ffi::OsStr], needle: &str| {
        let out = vframe(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle) && err.lines().count() == 1, "{err}");
    };
    fail(&[video.as_os_str(), "vsample/jpg".as_ref(), "-o".as_ref(), "-".as_ref()], "needs a folder");
    fail(&[video.as_os_str(), "vsample/jpg".as_ref(), "-o".as_ref(), video.as_os_str()], "not a folder");
    fail(&[video.as_os_str(), "vsample/jpg/frames/0".as_ref(), "-o".as_ref(), "x".as_ref()], "frames '0'");
    // "../$(count)": a name that would leave the folder.
    let dir = scratch("escape");
    fail(
        &[video.as_os_str(), "vsample/jpg/pattern/Li4vJChjb3VudCk=".as_ref(), "-o".as_ref(), dir.as_os_str()],
        "not a file name in the folder",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn links_in_the_folder_are_replaced_never_followed() {
    // 000002.jpg links to 000001.jpg, 000003.jpg to a file outside the folder: following
    // them would replace frame 1 with frame 2, or write outside the folder. Each link is
    // replaced by the frame's own file.
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("links");
    std::fs::create_dir_all(&dir).unwrap();
    let outside = scratch("links-precious.txt");
    std::fs::write(&outside, b"precious").unwrap();
    std::os::unix::fs::symlink("000001.jpg", dir.join("000002.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("000003.jpg")).unwrap();
    let out = vframe(&[video.as_os_str(), "vsample/jpg/interval/2/s/64x".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (name, offset) in [("000001.jpg", 0), ("000002.jpg", 2), ("000003.jpg", 4)] {
        let single = vframe::extract_path(&video, &format!("vframe/jpg/offset/{offset}/w/64")).unwrap().data;
        assert!(!std::fs::symlink_metadata(dir.join(name)).unwrap().file_type().is_symlink(), "{name}");
        assert!(std::fs::read(dir.join(name)).unwrap() == single, "{name} is frame {offset} s");
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious", "the file outside is untouched");

    let board = scratch("links-board");
    std::fs::create_dir_all(&board).unwrap();
    std::os::unix::fs::symlink("storyboard-000001.jpg", board.join("storyboard.vtt")).unwrap();
    std::os::unix::fs::symlink(&outside, board.join("storyboard.json")).unwrap();
    let spec = "storyboard/jpg/interval/1/s/80x/columns/2/rows/2";
    let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), board.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(board.join("storyboard-000001.jpg")).unwrap().starts_with(&[0xff, 0xd8]));
    assert!(std::fs::read_to_string(board.join("storyboard.vtt")).unwrap().starts_with("WEBVTT"));
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious", "the file outside is untouched");
    for path in [dir, board, outside] {
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_fifo_in_the_folder_is_refused_not_waited_on() {
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("000001.jpg");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = vframe(&[video.as_os_str(), "vsample/jpg/frames/2".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("000001.jpg") && err.contains("not a regular file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_run_leaves_the_folder_as_it_was() {
    // A storyboard made again into its folder, where one name the new run writes is a
    // FIFO: the run fails, and the earlier run's sheets, index and frames are all still
    // there (sheets were replaced one by one as they came: the old set was half gone).
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("all-or-nothing");
    let spec = "storyboard/jpg/interval/1/s/80x/columns/2/rows/2";
    let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before: Vec<(String, Vec<u8>)> =
        names(&dir).into_iter().map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap())).collect();
    assert_eq!(before.len(), 4, "{:?}", names(&dir));
    std::fs::remove_file(dir.join("storyboard.json")).unwrap();
    assert!(Command::new("mkfifo").arg(dir.join("storyboard.json")).status().unwrap().success());
    let other = "storyboard/jpg/interval/1/s/64x/columns/3/rows/1";
    let out = vframe(&[video.as_os_str(), other.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("storyboard.json") && err.contains("not a regular file"), "{err}");
    for (name, bytes) in before.iter().filter(|(name, _)| name != "storyboard.json") {
        assert!(std::fs::read(dir.join(name)).unwrap() == *bytes, "{name} is the first run's");
    }
    assert_eq!(names(&dir), ["storyboard-000001.jpg", "storyboard-000002.jpg", "storyboard.json", "storyboard.vtt"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `vframe VIDEO SPEC -o DIR` and stops it (SIGSTOP) once its staging folder is
/// there: the child (stderr piped) and the staging folder's path.
fn stopped_while_staging(video: &Path, spec: &str, dir: &Path) -> (std::process::Child, PathBuf) {
    let child = Command::new(env!("CARGO_BIN_EXE_vframe"))
        .args([video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let staging = loop {
        assert!(start.elapsed().as_secs() < 120, "no staging folder seen");
        if let Some(name) = names(dir).into_iter().find(|n| n.starts_with(".vframe-")) {
            break dir.join(name);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    // SAFETY: the pid is our child's, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
    (child, staging)
}

#[test]
fn a_folder_swapped_for_a_link_during_the_run_is_not_followed() {
    // The folder is checked, then the run is frozen while its frames are being made, the
    // folder moved away and a link to another folder put in its place: the frames still go
    // into the folder that was checked (now under its new name), never through the link.
    let video = common::two_hour_video();
    let dir = scratch("swap");
    let moved = scratch("swap-moved");
    let victim = scratch("swap-victim");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("000001.jpg"), b"precious").unwrap();
    let (child, _) = stopped_while_staging(&video, "vsample/jpg/frames/3/s/32x", &dir);
    let pid = child.id() as libc::pid_t;
    std::fs::rename(&dir, &moved).unwrap();
    std::os::unix::fs::symlink(&victim, &dir).unwrap();
    // SAFETY: pid is our child, not yet waited for.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&victim), ["000001.jpg"]);
    assert_eq!(std::fs::read(victim.join("000001.jpg")).unwrap(), b"precious");
    assert_eq!(names(&moved), ["000001.jpg", "000002.jpg", "000003.jpg"]);
    for path in [&moved, &victim] {
        let _ = std::fs::remove_dir_all(path);
    }
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn a_folder_made_append_only_or_immutable_during_the_run_is_left_as_it_was() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: needs root (chattr)");
        return;
    }
    let video = common::two_hour_video();
    for (flag, said) in [("a", "append-only"), ("i", "immutable")] {
        let dir = scratch(&format!("flag-{flag}-later"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("000001.png"), common::OLD_THUMB).unwrap();
        let (child, staging) = stopped_while_staging(&video, "vsample/png/frames/30/s/160x", &dir);
        let chattr = |sign: &str| Command::new("chattr").arg(format!("{sign}{flag}")).arg(&dir).output();
        let set = chattr("+");
        // SAFETY: the pid is our child's, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGCONT) };
        let out = child.wait_with_output().unwrap();
        let _ = chattr("-");
        if !set.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("SKIP: chattr +{flag} does not work on {} ({set:?})", dir.display());
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        // The staging folder cannot leave such a folder: it is emptied and named.
        let name = staging.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(said) && err.contains(&name), "+{flag}: {err}");
        assert_eq!(names(&dir), [name.clone(), "000001.png".to_string()]);
        assert!(names(&staging).is_empty(), "emptied");
        assert_eq!(std::fs::read(dir.join("000001.png")).unwrap(), common::OLD_THUMB);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_run_that_fails_before_its_first_frame_makes_no_folder() {
    let dir = scratch("no-folder").join("deeper");
    let missing = scratch("no-such-video.mp4");
    let out = vframe(&[missing.as_os_str(), "vsample/jpg/frames/2".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.exists() && !dir.parent().unwrap().exists(), "a failed run made {}", dir.display());
    // A pattern whose names are too long for the file system: no file, so no folder.
    let video = fixture("gop25_25fps.mp4");
    let spec = "vsample/jpg/frames/2/pattern/eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4JChjb3VudCkuanBn";
    let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too long"), "{err}");
    assert!(!dir.parent().unwrap().exists(), "a failed run made {}", dir.display());
}

#[test]
fn a_setgid_folder_takes_a_set() {
    // In a group-shared folder (chmod 2775) the staging folder inherits the setgid bit: it
    // was taken for another's ("its staging folder was replaced") and every run failed.
    use std::os::unix::fs::PermissionsExt;
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("setgid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2775)).unwrap();
    let out = vframe(&[video.as_os_str(), "vsample/jpg/frames/2/s/32x".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&dir), ["000001.jpg", "000002.jpg"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_put_at_the_staging_name_is_not_emptied_by_a_signal() {
    // Another user who may write the output folder moves the run's staging folder away and
    // puts a folder of the user's at its name; the run is then stopped (SIGTERM). The
    // cleanup went by name and emptied that folder; it now empties only the folder it made.
    let video = common::two_hour_video();
    let dir = scratch("staging-swap");
    std::fs::create_dir_all(&dir).unwrap();
    let keep = dir.join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("notes.txt"), b"precious").unwrap();
    let (mut child, staging) = stopped_while_staging(&video, "vsample/jpg/interval/1/s/32x", &dir);
    let pid = child.id() as libc::pid_t;
    std::fs::rename(&staging, dir.join("moved-away")).unwrap();
    std::fs::rename(&keep, &staging).unwrap();
    // SAFETY: pid is our child, not yet waited for.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGCONT);
    }
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGTERM));
    assert_eq!(std::fs::read(staging.join("notes.txt")).unwrap(), b"precious", "the user's folder is untouched");
    assert!(names(&dir.join("moved-away")).is_empty(), "the run's own staging folder was emptied");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_name_that_cannot_be_replaced_at_the_end_puts_every_file_back() {
    // An append-only file (chattr +a) passes every check a name gets before the move, then
    // refuses to be replaced: the files moved before it went back, and the folder keeps the
    // first run's set whole (it held 4 new frames and 6 old ones).
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch("append-only");
    let spec = "vsample/jpg/frames/6/s/32x";
    let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before: Vec<Vec<u8>> = names(&dir).iter().map(|n| std::fs::read(dir.join(n)).unwrap()).collect();
    let locked = dir.join("000005.jpg");
    let chattr = Command::new("chattr").arg("+a").arg(&locked).output();
    if !chattr.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: chattr +a is not available here (needs root and a file system with the attribute)");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let out = vframe(&[video.as_os_str(), "vsample/jpg/frames/6/s/48x".as_ref(), "-o".as_ref(), dir.as_os_str()]);
    let _ = Command::new("chattr").arg("-a").arg(&locked).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("000005.jpg") && err.contains("left as it was"), "{err}");
    let after: Vec<Vec<u8>> = names(&dir).iter().map(|n| std::fs::read(dir.join(n)).unwrap()).collect();
    assert!(after == before, "the folder holds the first run's six frames: {:?}", names(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}
