//! The GraphiQL explorer: the page with ready-made operations for each role,
//! and the pinned GraphiQL and React builds of `web/vendor` embedded in the
//! binary and served from our own paths, so it works with no network and
//! the page may load nothing from anywhere else (its Content-Security-Policy
//! says so). `web/vendor.sh` refreshes the builds from the lockfile.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::demo::{DemoAccount, DemoAccounts};
use crate::graphql::ids::{NodeKind, encode};

/// Where the assets are served from (under the endpoint, so one proxy rule
/// covers the explorer).
pub const ASSETS_PATH: &str = "/graphql/assets";

/// Nothing but this server: scripts and styles from our own paths, queries
/// and subscriptions to our own endpoints. GraphiQL's editor sets inline
/// styles, and its fonts and icons are data URIs.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($file:literal, $type:expr) => {
        Asset {
            name: $file,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $file)),
        }
    };
}

/// The pinned builds (checked against `web/vendor/SHA256SUMS` by a test),
/// then our own script and style. Names are paths under `web/`.
const VENDORED: [Asset; 4] = [
    asset!("vendor/react-18.3.1.production.min.js", JS),
    asset!("vendor/react-dom-18.3.1.production.min.js", JS),
    asset!("vendor/graphiql-4.1.2.min.js", JS),
    asset!("vendor/graphiql-4.1.2.min.css", CSS),
];
const OWN: [Asset; 2] = [asset!("explorer.js", JS), asset!("explorer.css", CSS)];

fn assets() -> impl Iterator<Item = &'static Asset> {
    VENDORED.iter().chain(OWN.iter())
}

/// An asset's file name, as it appears in its URL.
fn file_name(asset: &Asset) -> &'static str {
    asset.name.rsplit('/').next().unwrap_or(asset.name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Each asset's URL, with a digest of its content in the query: a URL
/// changes whenever its content does, so browsers may keep it for a year.
static ASSET_URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    assets()
        .map(|a| {
            let name = file_name(a);
            (
                name,
                format!("{ASSETS_PATH}/{name}?v={}", &sha256_hex(a.bytes)[..12]),
            )
        })
        .collect()
});

fn asset_url(name: &str) -> &'static str {
    ASSET_URLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, url)| url.as_str())
        .unwrap_or_else(|| panic!("no embedded asset {name}"))
}

/// `GET /graphql/assets/{file}`.
pub async fn serve_asset(Path(file): Path<String>) -> Response {
    match assets().find(|a| file_name(a) == file) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// One ready-made operation: a GraphiQL tab.
#[derive(Serialize)]
struct Tab {
    query: &'static str,
    /// JSON text, as GraphiQL's Variables pane holds it.
    variables: String,
}

impl Tab {
    fn new(query: &'static str, variables: Value) -> Self {
        let variables = match &variables {
            Value::Object(map) if map.is_empty() => String::new(),
            _ => serde_json::to_string_pretty(&variables).unwrap_or_default(),
        };
        Self { query, variables }
    }
}

#[derive(Serialize)]
struct Role {
    key: &'static str,
    label: String,
    /// JSON text for GraphiQL's Headers pane.
    headers: String,
    tabs: Vec<Tab>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageConfig {
    endpoint: &'static str,
    subscription_endpoint: &'static str,
    demo: bool,
    /// Names the browser storage the tabs are kept in: a new data set (other
    /// ids in the operations) starts from fresh tabs.
    fingerprint: String,
    roles: Vec<Role>,
}

mod operations {
    macro_rules! operation {
        ($file:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/web/operations/",
                $file
            ))
        };
    }
    pub const RECOMMENDED_CREATORS: &str = operation!("recommended-creators.graphql");
    pub const INVITATION_ELIGIBILITY: &str = operation!("invitation-eligibility.graphql");
    pub const SEND_INVITATION: &str = operation!("send-invitation.graphql");
    pub const OUTBOX: &str = operation!("outbox.graphql");
    pub const INVITATION_EVENTS: &str = operation!("invitation-events.graphql");
    pub const SET_DISCOVERABLE: &str = operation!("set-discoverable.graphql");
    pub const INBOX: &str = operation!("inbox.graphql");
    pub const RESPOND_TO_INVITATION: &str = operation!("respond-to-invitation.graphql");
    pub const UPSERT_CREATOR_STATS: &str = operation!("upsert-creator-stats.graphql");
    pub const AGENCIES: &str = operation!("agencies.graphql");
}

/// The ids the operations start from: the demo data's on a demo server,
/// placeholders that say what to paste otherwise.
struct Ids {
    agency: String,
    invitable: Vec<String>,
    creator: String,
    pending_invitation: String,
}

impl Ids {
    fn of(demo: Option<&DemoAccounts>) -> Self {
        let id_of = |account: Option<&DemoAccount>, kind: NodeKind| {
            account.and_then(|a| match a.principal {
                crate::domain::Principal::Agency(id) | crate::domain::Principal::Creator(id) => {
                    Some(encode(kind, id).0)
                }
                _ => None,
            })
        };
        let demo_agency = demo.and_then(|d| d.agency.as_ref());
        let demo_creator = demo.and_then(|d| d.creator.as_ref());
        let mut invitable: Vec<String> = demo
            .map(|d| {
                d.top_ranked
                    .iter()
                    .map(|c| encode(NodeKind::Creator, c.id).0)
                    .collect()
            })
            .unwrap_or_default();
        if invitable.is_empty() {
            invitable.push("<a creator id from RecommendedCreators>".into());
        }
        Self {
            agency: id_of(demo_agency, NodeKind::Agency)
                .unwrap_or_else(|| "<your agency id: { viewer { agency { id } } }>".into()),
            creator: id_of(demo_creator, NodeKind::Creator)
                .unwrap_or_else(|| "<a creator id>".into()),
            pending_invitation: demo
                .and_then(|d| d.pending_invitation)
                .map(|id| encode(NodeKind::Invitation, id).0)
                .unwrap_or_else(|| "<an invitation id from the Inbox>".into()),
            invitable,
        }
    }
}

fn authorization_headers(token: &str) -> String {
    serde_json::to_string_pretty(&json!({ "Authorization": format!("Bearer {token}") }))
        .unwrap_or_default()
}

fn roles(demo: Option<&DemoAccounts>) -> Vec<Role> {
    use operations::*;
    let ids = Ids::of(demo);
    // Without --demo the page never holds a token: the Headers pane says
    // where to get one.
    let headers = |account: Option<&DemoAccount>, command: &str| match account {
        Some(a) => authorization_headers(&a.token),
        None => authorization_headers(&format!("<paste a token: agency-center token {command}>")),
    };
    let named = |account: Option<&DemoAccount>, demo_label: &str, label: &str| match account {
        Some(a) => format!("{demo_label} ({})", a.name),
        None => label.to_owned(),
    };
    let agency = demo.and_then(|d| d.agency.as_ref());
    let creator = demo.and_then(|d| d.creator.as_ref());
    let admin = demo.map(|d| &d.admin);
    vec![
        Role {
            key: "agency",
            label: named(agency, "Demo agency", "Agency staff"),
            headers: headers(agency, "agency <slug>"),
            tabs: vec![
                Tab::new(
                    RECOMMENDED_CREATORS,
                    json!({ "agencyId": ids.agency, "first": 10, "diversity": 0.3 }),
                ),
                Tab::new(
                    INVITATION_ELIGIBILITY,
                    json!({
                        "agencyId": ids.agency,
                        "creatorIds": ids.invitable.iter().chain([&ids.creator]).collect::<Vec<_>>(),
                    }),
                ),
                Tab::new(
                    SEND_INVITATION,
                    json!({ "input": {
                        "creatorId": ids.invitable[0],
                        "message": "We love your LIVEs and would like you in our network.",
                    } }),
                ),
                Tab::new(OUTBOX, json!({})),
                Tab::new(INVITATION_EVENTS, json!({})),
            ],
        },
        Role {
            key: "creator",
            label: named(creator, "Demo creator", "Creator"),
            headers: headers(creator, "creator <handle>"),
            tabs: vec![
                Tab::new(INBOX, json!({})),
                Tab::new(
                    RESPOND_TO_INVITATION,
                    json!({ "id": ids.pending_invitation }),
                ),
                Tab::new(SET_DISCOVERABLE, json!({ "discoverable": true })),
                Tab::new(INVITATION_EVENTS, json!({})),
            ],
        },
        Role {
            key: "admin",
            label: named(admin, "Admin", "Admin"),
            headers: headers(admin, "admin <name>"),
            tabs: vec![
                Tab::new(
                    UPSERT_CREATOR_STATS,
                    json!({ "input": [{
                        "creatorId": ids.creator,
                        "followers": 48200,
                        "avgViewers": 310.5,
                        "peakViewers": 1800,
                        "liveHours30d": 62.0,
                        "liveDays30d": 24,
                        "diamonds30d": 91000,
                        "followerGrowth30d": 0.08,
                        "engagementRate": 0.11,
                    }] }),
                ),
                Tab::new(AGENCIES, json!({ "region": null })),
                Tab::new(INVITATION_EVENTS, json!({})),
            ],
        },
    ]
}

/// The explorer page, rendered once when the server starts.
#[derive(Clone)]
pub struct Explorer {
    page: std::sync::Arc<str>,
}

impl Explorer {
    pub fn new(demo: Option<&DemoAccounts>) -> Self {
        let roles = roles(demo);
        let fingerprint = {
            let tabs: Vec<&Vec<Tab>> = roles.iter().map(|r| &r.tabs).collect();
            sha256_hex(serde_json::to_string(&tabs).unwrap_or_default().as_bytes())[..12].to_owned()
        };
        let config = PageConfig {
            endpoint: "/graphql",
            subscription_endpoint: "/graphql/ws",
            demo: demo.is_some(),
            fingerprint,
            roles,
        };
        // In a <script type="application/json"> block: no "<" may close it.
        let config = serde_json::to_string(&config)
            .unwrap_or_default()
            .replace('<', "\\u003c");
        let hint = if demo.is_some() {
            "demo tokens: a public development secret signed them"
        } else {
            "put your own token in the Headers tab"
        };
        let page = format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agency Center</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{graphiql_css}">
<link rel="stylesheet" href="{explorer_css}">
</head>
<body>
<header id="explorer-bar">
<strong>Agency Center</strong>
<label>Act as <select id="explorer-role"></select></label>
<span class="hint">{hint}</span>
</header>
<div id="graphiql"></div>
<script type="application/json" id="explorer-config">{config}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{explorer}"></script>
</body>
</html>
"#,
            graphiql_css = asset_url("graphiql-4.1.2.min.css"),
            explorer_css = asset_url("explorer.css"),
            react = asset_url("react-18.3.1.production.min.js"),
            react_dom = asset_url("react-dom-18.3.1.production.min.js"),
            graphiql = asset_url("graphiql-4.1.2.min.js"),
            explorer = asset_url("explorer.js"),
        );
        Self { page: page.into() }
    }

    pub fn response(&self) -> Response {
        (
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
                ),
                // A demo page holds tokens; any page may change with the data.
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            self.page.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded builds are exactly the files `web/vendor.sh` took from
    /// the lockfile: every file in the manifest is embedded and matches its
    /// digest, and nothing unlisted is served as vendored.
    #[test]
    fn vendored_builds_match_their_checksum_manifest() {
        let manifest = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/web/vendor/SHA256SUMS"
        ));
        let listed: Vec<(&str, &str)> = manifest
            .lines()
            .map(|line| {
                let (digest, file) = line.split_once("  ").expect("sha256sum format");
                (digest, file)
            })
            .collect();
        assert_eq!(listed.len(), VENDORED.len(), "{manifest}");
        for asset in &VENDORED {
            let name = file_name(asset);
            let (digest, _) = listed
                .iter()
                .find(|(_, file)| *file == name)
                .unwrap_or_else(|| panic!("{name} is not in web/vendor/SHA256SUMS"));
            assert_eq!(sha256_hex(asset.bytes), *digest, "{name} was changed");
        }
    }

    #[test]
    fn a_page_without_demo_accounts_holds_no_token() {
        let page = Explorer::new(None).page;
        assert!(!page.contains("Bearer ey"), "{page}");
        assert!(page.contains("paste a token"));
        for (_, url) in ASSET_URLS.iter() {
            assert!(page.contains(url.as_str()), "{url} is referenced");
        }
    }

    #[test]
    fn the_config_block_cannot_be_closed_by_its_content() {
        let page = Explorer::new(None).page;
        let start = page.find("id=\"explorer-config\">").unwrap();
        let end = page[start..].find("</script>").unwrap() + start;
        let config: Value =
            serde_json::from_str(&page[start + "id=\"explorer-config\">".len()..end]).unwrap();
        assert_eq!(config["roles"].as_array().unwrap().len(), 3);
        assert!(
            config["roles"][0]["headers"]
                .as_str()
                .unwrap()
                .contains("\u{3c}paste a token")
        );
    }
}
