//! Puts the git commit and the enabled cargo features into `airstream --version`. Outside a
//! git checkout (a source tarball, `cargo install` from a registry) the commit is "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    // Only this repository's commit: a source tarball unpacked inside some other checkout
    // must not report that one's. Cargo.toml is tracked only in ours.
    let ours = git(&["ls-files", "--full-name", "Cargo.toml"]).is_some();
    let commit = ours
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AIRSTREAM_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout, a reset), in a worktree too: git logs
    // every move of HEAD in logs/HEAD.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(name, _)| {
            let feature = name.strip_prefix("CARGO_FEATURE_")?;
            Some(feature.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(", ")
    };
    println!("cargo:rustc-env=AIRSTREAM_FEATURES={features}");
}
