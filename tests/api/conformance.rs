//! Clients written by others against the real server: graphql-http's own
//! GraphQL-over-HTTP audits (npm, pinned in tests/conformance's lockfile,
//! installed here on first use).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::spawn_app;

pub(crate) fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// `npm ci` once per checkout: the lockfile decides every version. The
/// tests that need it run at once on a fresh checkout, and two `npm ci`
/// in one folder break each other: the first installs, the rest wait.
pub(crate) fn install_clients() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let dir = conformance_dir();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("package.json")).expect("package.json"),
        )
        .expect("package.json is JSON");
        let installed = manifest["dependencies"]
            .as_object()
            .expect("dependencies")
            .keys()
            .all(|name| {
                dir.join("node_modules")
                    .join(name)
                    .join("package.json")
                    .exists()
            });
        if installed {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node.js is on every machine the suite runs on)");
        assert!(status.success(), "npm ci in {}", dir.display());
    });
}

#[tokio::test]
async fn graphql_http_server_audits_all_pass() {
    install_clients();
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    // Off the runtime's thread: the server answers on it meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(conformance_dir().join("audit.mjs"))
            .arg(&url)
            .output()
    })
    .await
    .expect("the audit task")
    .expect("node runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let failing: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with('{') && !l.contains(r#""status":"ok""#))
        .collect();
    assert!(
        output.status.success() && failing.is_empty(),
        "graphql-http audits not passing:\n{}\n{}",
        failing.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = report.lines().last().unwrap_or_default();
    assert!(summary.contains(" 0 not ok"), "{summary}");
    println!("{summary}");
}

/// Apollo Client's own `PersistedQueryLink` (pinned in the same lockfile)
/// against the real server, with hashed queries by GET as mobile clients
/// send them: the first hash is unknown, the client sends the query once,
/// and from then on the hash alone is enough.
#[tokio::test]
async fn apollo_clients_persisted_queries_work() {
    install_clients();
    let app = spawn_app().await;
    app.create_agency("persisted", &["FR"], 5).await;
    let url = format!("{}/graphql", app.base);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(conformance_dir().join("apq.mjs"))
            .arg(&url)
            .output()
    })
    .await
    .expect("the client task")
    .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for run in ["first", "second"] {
        assert_eq!(report[run]["agencies"]["totalCount"], 1, "{report}");
    }
    let exchanges: Vec<(String, bool, u64)> = report["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["hashOnly"].as_bool().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        exchanges,
        vec![
            ("GET".to_owned(), true, 200),   // unknown hash: PersistedQueryNotFound
            ("POST".to_owned(), false, 200), // hash and query: registered
            ("GET".to_owned(), true, 200),   // the hash alone
        ],
        "{report}"
    );
}
