//! Turns the FFmpeg version that ffmpeg-sys-next detected (its `links = "ffmpeg"` metadata)
//! into cfg flags, so version differences can be written as `#[cfg(ffmpeg_6_1)]` in
//! `src/av/compat.rs` and nowhere else; gives the shared library its SONAME; and orders the
//! CLI's libraries for a faster start (`startup_link_order`).

use std::collections::HashMap;
use std::process::Command;

fn main() {
    // Only this file's own changes (and the FFmpeg detection's, which cargo tracks through
    // the ffmpeg-sys-next dependency) call for a rerun, not every file of the package.
    println!("cargo:rerun-if-changed=build.rs");

    // The FFmpeg releases whose API changes vframe cares about.
    for flag in ["ffmpeg_6_0", "ffmpeg_6_1", "ffmpeg_7_0", "ffmpeg_7_1", "ffmpeg_8_0"] {
        println!("cargo::rustc-check-cfg=cfg({flag})");
        let var = format!("DEP_FFMPEG_{}", flag.to_uppercase());
        if std::env::var(&var).is_ok_and(|v| v == "true") {
            println!("cargo:rustc-cfg={flag}");
        }
    }

    // ELF SONAME libvframe.so.<major>: programs linked with -lvframe record it and load that
    // file at run time; `make install` installs libvframe.so.<version> with the .so.<major>
    // and .so links. The major number changes when the C ABI breaks.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libvframe.so.{major}");
    }

    startup_link_order();
}

/// How many of the libraries that most symbols resolve to the CLI names itself.
const FIRST_DEFINERS: usize = 16;

/// The vframe CLI spends most of its start-up in the dynamic loader: ~25,000 symbol lookups
/// through the ~135 shared objects Debian's FFmpeg pulls in, each lookup walking the load order
/// (the executable, its own libraries, then theirs, breadth first) until it reaches the object
/// that defines the symbol. Libraries such as libcrypto or libstdc++ define thousands of the
/// symbols looked up (most of them their own, as with -z now every reference is resolved at
/// load) but sit ~70-85 objects deep. Naming the libraries that define the most symbols as the
/// CLI's own (DT_NEEDED right after FFmpeg's) puts them early in that order: the same objects
/// load, each symbol resolves to the same definition (`tests/startup.rs` checks every binding),
/// and the lookups walk about half as far.
///
/// The definers are counted from what the loader itself reports (`LD_DEBUG=bindings ldd -r`)
/// for the FFmpeg libraries pkg-config names, so the list fits the FFmpeg this builds against.
/// Linux with glibc, native builds only; anything missing leaves the plain link.
/// `VFRAME_LINK_ORDER=plain` turns it off (a packager who wants only direct dependencies).
fn startup_link_order() {
    println!("cargo:rerun-if-env-changed=VFRAME_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=LD_LIBRARY_PATH");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("VFRAME_LINK_ORDER") == "plain"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return;
    }
    let Some(libdir) = output("pkg-config", &["--variable=libdir", "libavformat"]) else {
        return;
    };
    let libdir = libdir.trim();
    // libavformat's dependencies hold libavcodec's and libavutil's; libswscale is apart.
    let roots: Vec<String> = ["libavformat.so", "libswscale.so"]
        .iter()
        .map(|name| format!("{libdir}/{name}"))
        .filter(|path| std::path::Path::new(path).exists())
        .collect();
    let mut definers: HashMap<String, usize> = HashMap::new();
    for root in &roots {
        println!("cargo:rerun-if-changed={root}");
        let Ok(out) = Command::new("ldd").arg("-r").arg(root).env("LD_DEBUG", "bindings").output() else {
            return;
        };
        // `PID: binding file A [0] to B [0]: normal symbol `name' [VERSION]`, from the loader
        // (on stdout in glibc 2.36) and from the shell running ldd, which is not counted: only
        // the process that bound the root's own symbols is.
        let text = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&text);
        let own = format!("binding file {root} [");
        let pids: Vec<&str> =
            text.lines().filter(|line| line.contains(&own)).filter_map(|line| line.split(':').next()).collect();
        for line in text.lines() {
            if !line.split(':').next().is_some_and(|pid| pids.contains(&pid)) {
                continue;
            }
            let Some((_, rest)) = line.split_once("] to ") else { continue };
            let Some((definer, _)) = rest.split_once(" [") else { continue };
            *definers.entry(definer.to_owned()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = definers
        .into_iter()
        .filter(|(path, _)| {
            let name = path.rsplit('/').next().unwrap_or_default();
            // Already among the executable's first libraries (or not a file at all).
            path.starts_with('/')
                && !["libav", "libsw", "libc.so", "libgcc_s.so", "ld-linux"]
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(FIRST_DEFINERS);
    if ranked.is_empty() {
        return;
    }
    // A shared object given by path is recorded by its SONAME, as -l would record it.
    println!("cargo:rustc-link-arg-bin=vframe=-Wl,--push-state,--no-as-needed");
    for (path, _) in &ranked {
        println!("cargo:rustc-link-arg-bin=vframe={path}");
    }
    println!("cargo:rustc-link-arg-bin=vframe=-Wl,--pop-state");
}

/// A command's standard output, when it runs and succeeds.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
