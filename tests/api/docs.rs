//! The README cannot rot: its tour is the files in `docs/tour/`, shown in
//! README.md verbatim and run here in order, as the roles it says, against
//! a demo server; and every relative link in README.md and docs/ points at
//! a file that exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agency_center::domain::Principal;
use serde_json::{Value, json};

use crate::events::Subscription;
use crate::helpers::{spawn_demo_app, uuid_of};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn tour(step: &str) -> String {
    let dir = Path::new(ROOT).join("docs/tour");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(step))
        .unwrap_or_else(|| panic!("docs/tour/{step}-*.graphql"));
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn the_readme_shows_every_tour_step_as_it_is() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let steps = std::fs::read_dir(Path::new(ROOT).join("docs/tour")).unwrap();
    let mut shown = 0;
    for step in steps {
        let text = std::fs::read_to_string(step.unwrap().path()).unwrap();
        assert!(readme.contains(&text), "README.md shows:\n{text}");
        shown += 1;
    }
    assert_eq!(shown, 6);
}

#[tokio::test]
async fn the_tour_runs_as_the_readme_says() {
    let app = spawn_demo_app().await;
    let admin = app.admin();
    let ids = app
        .ok(
            &admin,
            "{ agency(slug: \"demo-agency\") { id } creator(handle: \"demo.creator\") { id } }",
            json!({}),
        )
        .await;
    let agency = app.token(Principal::Agency(uuid_of(
        ids["agency"]["id"].as_str().unwrap(),
    )));
    let creator = app.token(Principal::Creator(uuid_of(
        ids["creator"]["id"].as_str().unwrap(),
    )));

    // 1. Who am I.
    let me = app.ok(&agency, &tour("1"), json!({})).await;
    let agency_id = me["viewer"]["agency"]["id"].as_str().unwrap().to_owned();
    assert_eq!(me["viewer"]["agency"]["slug"], "demo-agency");

    // 2. The events tab, left open.
    let mut events = Subscription::open_query(&app.base, Some(&agency), &tour("2")).await;

    // 3. Ranked, explained.
    let ranked = app
        .ok(&agency, &tour("3"), json!({"agency": agency_id}))
        .await;
    let edges = ranked["recommendedCreators"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    let first = &edges[0];
    let sum: f64 = first["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["contribution"].as_f64().unwrap())
        .sum();
    assert!((sum - first["score"].as_f64().unwrap()).abs() < 1e-6);
    assert!(!first["reasons"].as_array().unwrap().is_empty());

    // 4. Invite the best-ranked: the events tab shows it.
    let best = first["node"]["id"].as_str().unwrap();
    let sent = app.ok(&agency, &tour("4"), json!({"creator": best})).await;
    assert_eq!(sent["sendInvitation"]["userErrors"], json!([]));
    assert_eq!(sent["sendInvitation"]["invitation"]["status"], "PENDING");
    let created = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("an event");
    assert_eq!(created["kind"], "CREATED");

    // 5. The creator's inbox holds Demo Agency's invitation.
    let inbox = app.ok(&creator, &tour("5"), json!({})).await;
    let pending = inbox["viewer"]["creator"]["invitations"]["edges"]
        .as_array()
        .unwrap();
    let from_demo: Vec<&Value> = pending
        .iter()
        .filter(|e| e["node"]["agency"]["slug"] == "demo-agency")
        .collect();
    assert_eq!(from_demo.len(), 1, "{inbox}");
    let invitation = from_demo[0]["node"]["id"].as_str().unwrap();

    // 6. Accepted: the agency's events tab shows it at once.
    let accepted = app
        .ok(&creator, &tour("6"), json!({"invitation": invitation}))
        .await;
    assert_eq!(accepted["acceptInvitation"]["userErrors"], json!([]));
    assert_eq!(
        accepted["acceptInvitation"]["invitation"]["status"],
        "ACCEPTED"
    );
    let event = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("an event");
    assert_eq!(
        (event["kind"].as_str(), event["invitation"]["id"].as_str()),
        (Some("ACCEPTED"), Some(invitation))
    );
}

/// `[text](target)` targets in a Markdown text, code spans and blocks aside.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_block = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_points_at_a_file() {
    let root = Path::new(ROOT);
    let mut files: Vec<PathBuf> = vec![root.join("README.md")];
    files.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = file.parent().unwrap().join(path);
            assert!(
                resolved.exists(),
                "{}: {target} points at nothing",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} links checked");
}
