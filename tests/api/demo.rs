//! The README's first command, for real: `serve --demo` on a fresh SQLite
//! file prints a GraphiQL address and tokens that work, serves seeded
//! creators to the agency token, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

#[tokio::test]
async fn serve_demo_prints_working_tokens_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_agency-center"))
        .args([
            "serve",
            "--demo",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &url,
        ])
        .env_remove("AGENCY_CENTER_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    // Read the banner, then keep draining stdout so the server never
    // writes into a closed pipe.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let banner = tokio::time::timeout(Duration::from_secs(120), async {
        let mut lines = Vec::new();
        while let Some(line) = lines_rx.recv().await {
            let done = line.starts_with("agency-center listening on");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .expect("the banner within two minutes");
    let text = banner.join("\n");
    assert!(text.contains("DEMO MODE"), "{text}");
    let graphiql = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("GraphiQL:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a GraphiQL address")
        .to_owned();
    let token = |who: &str| {
        let line = banner
            .iter()
            .find(|l| l.trim_start().starts_with(who))
            .expect(who);
        let start = line.find("Bearer ").unwrap() + "Bearer ".len();
        line[start..].trim_end_matches("\"}").to_owned()
    };
    let sample = {
        let line = banner.iter().find(|l| l.contains("as the agency")).unwrap();
        line.split('"').nth(1).unwrap().to_owned()
    };
    let client = reqwest::Client::new();
    let ask = |bearer: String, query: String| {
        let request = client
            .post(&graphiql)
            .bearer_auth(bearer)
            .json(&json!({"query": query}));
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    assert!(
        client
            .get(&graphiql)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("id=\"explorer-config\"")
    );
    let as_agency = ask(
        token("agency"),
        format!("{{ viewer {{ role agency {{ slug }} }} agencies {{ totalCount }} creator(handle: \"{sample}\") {{ handle discoverable stats {{ followers }} }} }}"),
    )
    .await;
    assert_eq!(
        as_agency["data"]["viewer"]["agency"]["slug"], "demo-agency",
        "{as_agency}"
    );
    assert_eq!(as_agency["data"]["agencies"]["totalCount"], 26);
    assert_eq!(as_agency["data"]["creator"]["handle"], sample.as_str());
    assert_eq!(as_agency["data"]["creator"]["discoverable"], true);
    let ranking_query = {
        let line = banner
            .iter()
            .find(|l| l.contains("ranked for the agency"))
            .unwrap();
        line[line.find('{').unwrap()..].to_owned()
    };
    let ranked = ask(token("agency"), ranking_query).await;
    let edges = ranked["data"]["recommendedCreators"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{ranked}"));
    assert_eq!(edges.len(), 5, "{ranked}");
    assert!(
        ranked["data"]["recommendedCreators"]["totalCandidates"]
            .as_i64()
            .unwrap()
            > 100
    );
    assert!(
        edges
            .iter()
            .all(|e| !e["reasons"].as_array().unwrap().is_empty()),
        "{ranked}"
    );
    let as_creator = ask(token("creator"), "{ viewer { creator { handle } } }".into()).await;
    assert_eq!(
        as_creator["data"]["viewer"]["creator"]["handle"],
        "demo.creator"
    );
    let as_admin = ask(token("admin"), "{ viewer { role } }".into()).await;
    assert_eq!(as_admin["data"]["viewer"]["role"], "ADMIN");

    // An open subscription does not hold the shutdown back.
    let base = graphiql.trim_end_matches("/graphql").to_owned();
    let _subscriber = crate::events::Subscription::open(&base, Some(&token("creator"))).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}
