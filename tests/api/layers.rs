//! The floors of docs/architecture.md hold: the modules below the state
//! never name it or anything above it, and pages never call into the
//! endpoints. A `use` that runs back up fails here, with the line.

use std::path::Path;

/// Modules below `state.rs` (files of `src/`, or folders).
const BELOW_STATE: &[&str] = &[
    // The components the state holds, and their rules.
    "policy",
    "backchannel.rs",
    "page_error.rs",
    "phantom_cache.rs",
    "gateway_session.rs",
    "session.rs",
    "clients.rs",
    "client_metadata.rs",
    "tokens.rs",
    "id_token.rs",
    "pkce.rs",
    "metrics.rs",
    "jwt.rs",
    "keys.rs",
    "consents.rs",
    "apis.rs",
    "client_cache.rs",
    "passkeys.rs",
    "client_keys.rs",
    "cors.rs",
    "config.rs",
    "claims.rs",
    "logging.rs",
    // The ground.
    "store",
    "mfa",
    "outbound.rs",
    "password.rs",
    "rate_limit.rs",
    "form.rs",
    "paging.rs",
    "error.rs",
    "routes.rs",
    "types.rs",
    "i18n.rs",
    "uri.rs",
    "user_code.rs",
    "accounts.rs",
    "key_encryption.rs",
    "crypto.rs",
    "net.rs",
];

/// What sits on the state or above it.
const STATE_AND_ABOVE: &[&str] = &[
    "state",
    "service",
    "grants",
    "authorization",
    "client_auth",
    "client_assertion",
    "authn",
    "sign_in",
    "phantom",
    "notices",
    "audit",
    "apply",
    "admin",
    "ui",
    "endpoints",
    "layers",
    "router",
    "server",
    "cli",
];

/// The Rust files of `path` (a file, or a folder's tree).
fn files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut all = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        all.extend(files(&entry.unwrap().path()));
    }
    all.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    all
}

/// Lines of `file` (outside its unit tests) that name `crate::{module}`,
/// directly or in a `use crate::{…}` group (over several lines too).
fn naming(file: &Path, modules: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for module in modules {
        let direct = format!("crate::{module}");
        for (at, _) in code.match_indices(&direct) {
            // `crate::phantom` must not match `crate::phantom_cache`.
            let next = code[at + direct.len()..].chars().next();
            if !next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                found.push(format!("{}:{}: {direct}", file.display(), line_of(at)));
            }
        }
        for (at, _) in code.match_indices("crate::{") {
            let group = &code[at..];
            let group = &group[..group.find(';').unwrap_or(group.len())];
            let named = group.split(['{', '}', ',']).skip(1).any(|item| {
                let item = item.trim();
                item == *module || item.starts_with(&format!("{module}::"))
            });
            if named {
                found.push(format!(
                    "{}:{}: {module} in {group}",
                    file.display(),
                    line_of(at)
                ));
            }
        }
    }
    found
}

#[test]
fn nothing_below_the_state_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for module in BELOW_STATE {
        let path = src.join(module);
        assert!(path.exists(), "{} is listed but missing", path.display());
        for file in files(&path) {
            wrong.extend(naming(&file, STATE_AND_ABOVE));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run back up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn pages_never_call_into_endpoints() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
    let wrong: Vec<String> = files(&ui)
        .iter()
        .flat_map(|f| naming(f, &["endpoints", "router", "layers"]))
        .collect();
    assert!(wrong.is_empty(), "pages calling up:\n{}", wrong.join("\n"));
}

#[test]
fn the_service_layer_serves_every_front_end_and_knows_none() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let front_ends = [
        "admin",
        "ui",
        "cli",
        "endpoints",
        "router",
        "server",
        "layers",
    ];
    let mut wrong: Vec<String> = files(&src.join("service"))
        .iter()
        .flat_map(|f| naming(f, &front_ends))
        .collect();
    // The admin API is a front end beside the others, not a layer under
    // them: the pages and the CLI act through `service`, never through it.
    for front_end in ["ui", "cli", "endpoints"] {
        wrong.extend(
            files(&src.join(front_end))
                .iter()
                .flat_map(|f| naming(f, &["admin"])),
        );
    }
    assert!(wrong.is_empty(), "front ends mixed:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "use crate::{store, state::App};\nuse crate::phantom_cache::X;\n",
    )
    .unwrap();
    assert_eq!(naming(&file, &["state"]).len(), 1);
    assert!(naming(&file, &["phantom"]).is_empty());
}
