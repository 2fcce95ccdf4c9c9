//! The committed fuzz corpus (`fuzz/corpus/TARGET/`, minimised with
//! `cargo fuzz cmin`) replayed through the fuzz targets' own checks, on
//! stable Rust: every input that once found new code, or broke a parser,
//! is tried again on each run of the suite. `fuzz/run.sh` does the fuzzing.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;

/// Runs every input of `target`'s corpus through `check`; a panic names
/// the input.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{} breaks the {target} check", input.display());
        }
    }
}

macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), checks::$target);
            }
        )*
    };
}

corpus_tests!(
    accept,
    apply_file,
    basic_header,
    client_metadata,
    form,
    jwt,
    outbound_url,
    policy,
    redirect_uri,
);
