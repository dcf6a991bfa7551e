//! Build script: `SPECGATE_VERSION` for `--version`, the package version plus the git revision
//! when built from a checkout ("0.1.0 (git 1a2b3c4)"). Outside a checkout, or without git, it is
//! the package version alone: the build never fails for want of git.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The compiler's minor version (`rustc 1.89.0 …` → 89), if it says.
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let v = String::from_utf8(out.stdout).ok()?;
    v.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `specgate_avx512`: the compiler has the AVX-512 target features and intrinsics (stable
    // since Rust 1.89). The MSRV is older; its compilers build the AVX2 and baseline paths only.
    println!("cargo:rustc-check-cfg=cfg(specgate_avx512)");
    if rustc_minor().is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=specgate_avx512");
    }
    let version = env!("CARGO_PKG_VERSION");
    // Only a checkout of this very package counts, not some repository around a copy of it.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let top = git(&["-C", &manifest, "rev-parse", "--show-toplevel"]);
    let ours = top
        .as_deref()
        .is_some_and(|t| std::fs::canonicalize(t).ok() == std::fs::canonicalize(&manifest).ok());
    let rev = if ours {
        git(&["-C", &manifest, "rev-parse", "--short=10", "HEAD"])
    } else {
        None
    };
    match rev {
        Some(rev) => {
            // Rebuild the string when HEAD moves: HEAD itself, the branch it names, packed refs.
            let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
            if let Some(branch) = git(&["-C", &manifest, "symbolic-ref", "-q", "HEAD"]) {
                watch.push(branch);
            }
            for w in watch {
                if let Some(p) = git(&[
                    "-C",
                    &manifest,
                    "rev-parse",
                    "--path-format=absolute",
                    "--git-path",
                    &w,
                ]) {
                    if std::path::Path::new(&p).exists() {
                        println!("cargo:rerun-if-changed={p}");
                    }
                }
            }
            println!("cargo:rustc-env=SPECGATE_VERSION={version} (git {rev})");
        }
        None => println!("cargo:rustc-env=SPECGATE_VERSION={version}"),
    }
}
