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

/// FFmpeg's libraries, by the start of their file names.
const FFMPEG_LIBRARIES: [&str; 8] = [
    "libavcodec",
    "libavformat",
    "libavutil",
    "libavfilter",
    "libavdevice",
    "libswscale",
    "libswresample",
    "libpostproc",
];

/// The compiler's C++ runtime: named although FFmpeg's libraries name it, as it is not what a
/// distribution swaps when it rebuilds FFmpeg (libstdc++.so.6 has kept its name since 2004).
/// (libm, which they name too, stays where it is: named here it would come before libc.)
const TOOLCHAIN_RUNTIMES: [&str; 1] = ["libstdc++.so."];

/// The vframe CLI spends most of its start-up in the dynamic loader: ~25,000 symbol lookups
/// through the ~135 shared objects Debian's FFmpeg pulls in, each lookup walking the load order
/// (the executable, its own libraries, then theirs, breadth first) until it reaches the object
/// that defines the symbol. Libraries such as libcrypto or libstdc++ define thousands of the
/// symbols looked up (most of them their own, as with -z now every reference is resolved at
/// load) but sit ~70-85 objects deep. Naming the libraries that define the most symbols as the
/// CLI's own (DT_NEEDED right after FFmpeg's) puts them early in that order: the same objects
/// load, each symbol resolves to the same definition (`startup_link_order_keeps_every_binding`
/// in tests/cli.rs checks every binding), and the lookups walk about half as far.
///
/// The definers are counted from what the loader itself reports (`LD_DEBUG=bindings ldd -r`)
/// for the FFmpeg this builds against, in a clean environment (a preloaded library of the
/// build's, fakeroot's say, is never named). FFmpeg's own direct dependencies (codec, protocol
/// and hardware libraries, whose versions a distribution may change when it rebuilds FFmpeg;
/// libavfilter's included) are never named either, but for the C++ runtime: only the general
/// libraries below them (TLS, GLib, ...). Linux with glibc, native builds only; where the
/// tools are missing it warns and links plainly. `VFRAME_LINK_ORDER=plain` links FFmpeg's
/// libraries alone (what a distribution package wants: only direct dependencies), `ordered`
/// (the default) as above. The test learns which it was from `VFRAME_LINK_ORDERED` (1 or 0).
fn startup_link_order() {
    for var in [
        "VFRAME_LINK_ORDER",
        "FFMPEG_DIR",
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
        "LD_LIBRARY_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let ordered = match var("VFRAME_LINK_ORDER").to_ascii_lowercase().as_str() {
        "" | "ordered" => true,
        "plain" => false,
        other => panic!("VFRAME_LINK_ORDER={other:?}: use plain or ordered"),
    };
    let native_glibc =
        var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && var("HOST") == var("TARGET");
    let named = if ordered && native_glibc {
        heaviest_definers().unwrap_or_else(|why| {
            println!("cargo:warning=the vframe CLI is linked plainly (a slower start): {why}");
            // A later build with the tool on the PATH tries again (or `touch build.rs`).
            println!("cargo:rerun-if-env-changed=PATH");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    println!("cargo:rustc-env=VFRAME_LINK_ORDERED={}", u8::from(!named.is_empty()));
    if named.is_empty() {
        return;
    }
    // A shared object given by path is recorded by its SONAME, as -l would record it.
    println!("cargo:rustc-link-arg-bin=vframe=-Wl,--push-state,--no-as-needed");
    for path in &named {
        println!("cargo:rustc-link-arg-bin=vframe={path}");
    }
    println!("cargo:rustc-link-arg-bin=vframe=-Wl,--pop-state");
}

/// The libraries below FFmpeg's direct dependencies that define the most of the symbols
/// bound when FFmpeg's libraries load, heaviest first; or why they cannot be known.
fn heaviest_definers() -> Result<Vec<String>, String> {
    // Where ffmpeg-sys-next links FFmpeg from: FFMPEG_DIR, else pkg-config.
    let libdir = match std::env::var("FFMPEG_DIR") {
        Ok(dir) => format!("{dir}/lib"),
        Err(_) => {
            let pkg_config = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
            output(Command::new(&pkg_config).args(["--variable=libdir", "libavformat"]))
                .map_err(|why| format!("{pkg_config} --variable=libdir libavformat: {why}"))?
                .trim()
                .to_owned()
        }
    };
    // libavformat's dependencies hold libavcodec's and libavutil's; libswscale is apart.
    let roots: Vec<String> = ["libavformat.so", "libswscale.so"]
        .iter()
        .map(|name| format!("{libdir}/{name}"))
        .filter(|path| std::path::Path::new(path).exists())
        .collect();
    if roots.is_empty() {
        return Err(format!("no libavformat.so or libswscale.so in {libdir}"));
    }
    let is_ffmpeg = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or_default();
        FFMPEG_LIBRARIES.iter().any(|lib| name.starts_with(&format!("{lib}.so")))
    };
    let mut definers: HashMap<String, usize> = HashMap::new();
    let mut loaded: Vec<String> = Vec::new();
    let mut status = std::process::ExitStatus::default();
    for root in &roots {
        // The versioned file too: dpkg keeps a package's file times, so an upgraded library
        // may look older than the last run, but its old versioned name then disappears.
        println!("cargo:rerun-if-changed={root}");
        if let Ok(real) = std::fs::canonicalize(root) {
            println!("cargo:rerun-if-changed={}", real.display());
        }
        // A clean environment: nothing preloaded, audited or redirected; the library path kept
        // (an FFmpeg outside the loader's usual places is found through it).
        let mut ldd = Command::new("ldd");
        ldd.arg("-r").arg(root).env_clear().env("LD_DEBUG", "bindings");
        for keep in ["PATH", "LD_LIBRARY_PATH"] {
            if let Ok(value) = std::env::var(keep) {
                ldd.env(keep, value);
            }
        }
        let out = ldd.output().map_err(|e| format!("ldd: {e}"))?;
        status = out.status;
        let text = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&text);
        // The objects loaded: `\tlibx.so.1 => /path/libx.so.1 (0x...)`, `\t/lib64/ld-linux... (0x...)`.
        for line in text.lines() {
            let path = line.split_once(" => ").map_or(line.trim_start(), |(_, path)| path);
            if let Some((path, _)) = path.split_once(" (0x") {
                if path.starts_with('/') {
                    loaded.push(path.to_owned());
                }
            }
        }
        // `PID: binding file A [0] to B [0]: normal symbol `name' [VERSION]`, from the loader
        // (on stdout in glibc 2.36) and from the shell running ldd, which is not counted: only
        // the process that bound the root's own symbols is.
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
    if definers.is_empty() {
        return Err(format!("ldd -r reported no symbol bindings ({status})"));
    }
    // What FFmpeg's libraries name themselves: never named here; libavfilter's too (loaded
    // for HDR pictures only, it is FFmpeg's all the same).
    let mut direct: Vec<String> = Vec::new();
    let avfilter = format!("{libdir}/libavfilter.so");
    let avfilter = std::path::Path::new(&avfilter).exists().then_some(avfilter);
    for lib in roots.iter().chain(&avfilter).chain(loaded.iter().filter(|path| is_ffmpeg(path))) {
        let dynamic = output(Command::new("readelf").args(["-d", "-W"]).arg(lib))
            .map_err(|why| format!("readelf -d {lib}: {why}"))?;
        // ` 0x0000000000000001 (NEEDED)  Shared library: [libx.so.1]`
        direct.extend(
            dynamic
                .lines()
                .filter(|line| line.contains("(NEEDED)"))
                .filter_map(|line| Some(line.split_once('[')?.1.split_once(']')?.0.to_owned())),
        );
    }
    let mut ranked: Vec<(String, usize)> = definers
        .into_iter()
        .filter(|(path, _)| {
            let name = path.rsplit('/').next().unwrap_or_default();
            loaded.contains(path)
                && !is_ffmpeg(path)
                && (TOOLCHAIN_RUNTIMES.iter().any(|lib| name.starts_with(lib))
                    || !direct.iter().any(|needed| needed == name))
                // Already among the executable's first libraries.
                && !["libc.so", "libgcc_s.so", "ld-linux"].iter().any(|prefix| name.starts_with(prefix))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ranked.into_iter().take(FIRST_DEFINERS).map(|(path, _)| path).collect())
}

/// A command's standard output, when it runs and succeeds; else why not.
fn output(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
