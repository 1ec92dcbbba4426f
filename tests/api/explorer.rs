//! The GraphiQL explorer as agency staff use it: served entirely by the
//! binary (pinned builds, long-cached, a policy that allows nothing off the
//! server), ready-made operations that run as their role, and the page
//! driven in Debian's chromium by playwright-core (pinned in
//! tests/conformance's lockfile).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::conformance::{conformance_dir, install_clients};
use crate::helpers::{spawn_app, spawn_demo_app};

async fn page(base: &str) -> (reqwest::header::HeaderMap, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    (response.headers().clone(), response.text().await.unwrap())
}

/// The JSON the page's script starts from.
fn page_config(page: &str) -> Value {
    let start = page
        .find("id=\"explorer-config\">")
        .expect("a config block")
        + "id=\"explorer-config\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).expect("the config is JSON")
}

/// Every `src="…"` and `href="…"` of the page.
fn page_links(page: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| {
            page.match_indices(attr).map(move |(i, _)| {
                let rest = &page[i + attr.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
        })
        .collect()
}

#[tokio::test]
async fn the_page_loads_only_pinned_assets_from_the_server_itself() {
    let app = spawn_app().await;
    let (headers, page) = page(&app.base).await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!page.contains("unpkg") && !page.contains("cdn"), "{page}");

    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor/SHA256SUMS"),
    )
    .unwrap();
    let links = page_links(&page);
    let assets: Vec<&String> = links.iter().filter(|l| !l.starts_with("data:")).collect();
    assert_eq!(assets.len(), 6, "{links:?}");
    let mut vendored = 0;
    for link in assets {
        assert!(link.starts_with("/graphql/assets/"), "{link}");
        let response = app.get(link).await;
        assert_eq!(response.status(), 200, "{link}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            kind.starts_with("text/javascript") || kind.starts_with("text/css"),
            "{link}: {kind}"
        );
        let body = response.bytes().await.unwrap();
        let digest: String = Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // The URL names the content: its `v` is the digest's start.
        let version = link.split("?v=").nth(1).expect("a versioned URL");
        assert!(digest.starts_with(version), "{link}");
        let file = link
            .trim_start_matches("/graphql/assets/")
            .split('?')
            .next()
            .unwrap();
        if let Some(line) = manifest.lines().find(|l| l.ends_with(&format!("  {file}"))) {
            assert!(
                line.starts_with(&digest),
                "{file} differs from web/vendor/SHA256SUMS"
            );
            vendored += 1;
        }
    }
    assert_eq!(vendored, 4, "React, ReactDOM, GraphiQL's script and style");
    assert_eq!(app.get("/graphql/assets/nothing.js").await.status(), 404);
    assert_eq!(
        app.get("/graphql/assets/..%2FCargo.toml").await.status(),
        404
    );
}

#[tokio::test]
async fn without_demo_the_page_holds_no_token_and_says_where_to_get_one() {
    let app = spawn_app().await;
    let (_, page) = page(&app.base).await;
    assert!(!page.contains("Bearer ey"), "{page}");
    let config = page_config(&page);
    assert_eq!(config["demo"], false);
    let roles = config["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 3);
    for role in roles {
        let headers = role["headers"].as_str().unwrap();
        assert!(
            headers.contains("paste a token: agency-center token"),
            "{headers}"
        );
    }
}

/// The operation names a document defines, with their kinds.
fn operations(document: &str) -> Vec<(&str, &str)> {
    document
        .lines()
        .filter_map(|line| {
            let (kind, rest) = line.split_once(' ')?;
            let name = rest.split(['(', ' ', '{']).next()?;
            ["query", "mutation", "subscription"]
                .contains(&kind)
                .then_some((kind, name))
        })
        .collect()
}

#[tokio::test]
async fn every_ready_made_operation_runs_as_its_role_on_the_demo_data() {
    let app = spawn_demo_app().await;
    let (_, page) = page(&app.base).await;
    let config = page_config(&page);
    assert_eq!(config["demo"], true);
    let mut ran = Vec::new();
    for role in config["roles"].as_array().unwrap() {
        let key = role["key"].as_str().unwrap();
        let headers: Value = serde_json::from_str(role["headers"].as_str().unwrap()).unwrap();
        let authorization = headers["Authorization"].as_str().unwrap();
        assert!(
            authorization.starts_with("Bearer ey"),
            "{key}: a demo token"
        );
        for tab in role["tabs"].as_array().unwrap() {
            let query = tab["query"].as_str().unwrap();
            let variables: Value = match tab["variables"].as_str().unwrap() {
                "" => json!({}),
                text => serde_json::from_str(text).unwrap(),
            };
            for (kind, name) in operations(query) {
                if kind == "subscription" {
                    // Over the websocket: the browser test runs one.
                    continue;
                }
                let answer: Value = app
                    .client
                    .post(format!("{}/graphql", app.base))
                    .header("authorization", authorization)
                    .json(&json!({ "query": query, "operationName": name, "variables": variables }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(answer.get("errors").is_none(), "{key} {name}: {answer}");
                ran.push((key.to_owned(), name.to_owned(), answer));
            }
        }
    }
    let answer = |name: &str| {
        &ran.iter()
            .find(|(_, n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} tab"))
            .2["data"]
    };
    // The demo's operations do what their tabs say, the first time.
    let ranked = &answer("RecommendedCreators")["recommendedCreators"];
    assert_eq!(ranked["edges"].as_array().unwrap().len(), 10, "{ranked}");
    let eligibility = answer("InvitationEligibility")["invitationEligibility"]
        .as_array()
        .unwrap();
    assert_eq!(eligibility[0]["invitable"], true, "{eligibility:?}");
    assert_eq!(
        eligibility.last().unwrap()["reason"],
        "ALREADY_INVITED",
        "the demo creator holds the demo agency's invitation"
    );
    let sent = &answer("SendInvitation")["sendInvitation"];
    assert_eq!(sent["invitation"]["status"], "PENDING", "{sent}");
    assert_eq!(
        sent["invitation"]["creator"]["handle"], ranked["edges"][0]["node"]["handle"],
        "the tab invites the best-ranked creator"
    );
    let outbox = &answer("Outbox")["viewer"]["agency"]["invitations"];
    assert!(outbox["totalCount"].as_i64().unwrap() >= 2, "{outbox}");
    assert!(
        outbox["edges"][0]["node"]["creator"]["stats"]["followers"].is_number(),
        "{outbox}"
    );
    assert_eq!(
        answer("Inbox")["viewer"]["creator"]["invitations"]["totalCount"],
        1
    );
    assert_eq!(
        answer("UpsertCreatorStats")["upsertCreatorStats"]["updated"],
        1
    );
    let roles: Vec<&str> = ran.iter().map(|(role, _, _)| role.as_str()).collect();
    for role in ["agency", "creator", "admin"] {
        assert!(roles.contains(&role), "{role} ran nothing");
    }
}

/// Debian's chromium: `CHROMIUM` if set, else the package's binary,
/// installed first when missing (as `.ci/run` does).
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return path.into();
    }
    let path = PathBuf::from("/usr/bin/chromium");
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if !path.exists() {
            let status = Command::new("apt-get")
                .args(["install", "-y", "-q", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
            assert!(
                matches!(status, Ok(s) if s.success()),
                "the browser test needs Debian's chromium: apt-get install chromium (as root)"
            );
        }
    });
    path
}

#[tokio::test]
async fn the_explorer_works_in_a_real_browser() {
    let browser = chromium();
    install_clients();
    let app = spawn_demo_app().await;
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/explorer.png");
    let base = app.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(conformance_dir().join("explorer.mjs"))
            .arg(&base)
            .arg(&screenshot)
            .env("CHROMIUM", browser)
            .current_dir(conformance_dir())
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("a JSON summary");
    assert_eq!(summary["ranked"], 10, "{summary}");
    assert_eq!(summary["event"], "CREATED", "{summary}");
    assert_eq!(
        summary["creatorTabs"],
        json!([
            "Inbox",
            "AcceptInvitation",
            "SetDiscoverable",
            "InvitationEvents"
        ])
    );
}
