//! Turns the FFmpeg version that ffmpeg-sys-next detected (its `links = "ffmpeg"` metadata)
//! into cfg flags, so version differences can be written as `#[cfg(ffmpeg_6_1)]` in
//! `src/av/compat.rs` and nowhere else; and gives the shared library its SONAME.

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
}
