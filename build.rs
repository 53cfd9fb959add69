//! Build metadata for `fastlb version` (`fastlb._core.build_info()`): git commit, cargo
//! profile, enabled crate features, target and rustc, baked in as `FASTLB_BUILD_*` env vars.
//!
//! The git commit is read only for the Python extension (`--features python`): plain
//! `cargo test` then never reruns this script or rebuilds the crate because HEAD moved.
//! `FASTLB_GIT_COMMIT` overrides it (`make wheel` passes the commit plus `-dirty` for an
//! uncommitted tree; a build from an sdist without `.git` says `unknown`).

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FASTLB_GIT_COMMIT");

    let mut features: Vec<String> = env::vars()
        .filter_map(|(key, _)| key.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .map(|name| name.to_lowercase().replace('_', "-"))
        .filter(|name| name != "default")
        .collect();
    features.sort();
    let python = features.iter().any(|f| f == "python");

    let commit = match env::var("FASTLB_GIT_COMMIT") {
        Ok(commit) if !commit.is_empty() => commit,
        _ if python => git_head().unwrap_or_else(|| "unknown".into()),
        _ => "unknown".into(),
    };
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = run(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());

    set("FASTLB_BUILD_COMMIT", &commit);
    set(
        "FASTLB_BUILD_PROFILE",
        &env::var("PROFILE").unwrap_or_default(),
    );
    set("FASTLB_BUILD_FEATURES", &features.join(","));
    set(
        "FASTLB_BUILD_TARGET",
        &env::var("TARGET").unwrap_or_default(),
    );
    set("FASTLB_BUILD_RUSTC", &rustc_version);
}

fn set(key: &str, value: &str) {
    println!("cargo:rustc-env={key}={value}");
}

/// HEAD's commit, and rerun-if-changed on the files that move when it does: HEAD itself
/// (a checkout) and the branch's ref (a commit). Only existing paths: cargo reruns the
/// script on every build for a path that does not exist.
fn git_head() -> Option<String> {
    let commit = run("git", &["rev-parse", "HEAD"])?;
    let mut watched = vec![run("git", &["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
        watched.extend(run("git", &["rev-parse", "--git-path", &branch]));
    }
    watched.extend(run("git", &["rev-parse", "--git-path", "packed-refs"]));
    for path in watched {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
