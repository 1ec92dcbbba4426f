//! `spawn_app()`: a fresh database, migrated, a server on a free port, and
//! request helpers that read like what a client does.

use std::time::Duration;

use agency_center::auth::TokenKeys;
use agency_center::config::LimitArgs;
use agency_center::db::StatementCounter;
pub use agency_center::domain::Principal as As;
use agency_center::domain::writes::ChangeKind;
use agency_center::domain::{Domain, Principal};
use agency_center::{AppConfig, Application};
use entity::{creator, invitation, membership};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

pub const SECRET: &[u8] = b"test-secret-at-least-16-bytes";

/// A fresh database that is dropped with the test.
enum TestDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Owned by the test (a private cluster).
    External,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = sea_orm::Database::connect(&admin_url).await.ok()?;
                    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

async fn fresh_database() -> (String, TestDb) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("ac_test_{}", Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("TEST_DATABASE_URL must reach a PostgreSQL server");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create the test database");
            let (base, query) = match admin_url.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (admin_url.as_str(), String::new()),
            };
            let (server, _) = base.rsplit_once('/').expect("a URL with a database name");
            (
                format!("{server}/{name}{query}"),
                TestDb::Postgres { admin_url, name },
            )
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, TestDb::Sqlite(dir))
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub db: DatabaseConnection,
    pub statements: StatementCounter,
    /// The server's domain: fixtures write through its one write path, so
    /// the server's ranking index sees them as it sees any mutation.
    pub domain: Domain,
    pub client: reqwest::Client,
    pub keys: TokenKeys,
    /// Stops the server (also when the app is dropped).
    stopper: std::sync::Mutex<Option<Stopper>>,
    _database: TestDb,
}

/// The signal that stops a test's server, and the server's task.
type Stopper = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

impl TestApp {
    /// Stops the server as SIGTERM would; returns once `run` has returned.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let (stop, served) = self
            .stopper
            .lock()
            .unwrap()
            .take()
            .expect("the server runs");
        let _ = stop.send(());
        served.await?
    }
}

/// The answer to one GraphQL request.
pub struct Gql {
    pub status: StatusCode,
    pub body: Value,
}

impl Gql {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `extensions.code` of each top-level error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        self.data()
    }

    #[track_caller]
    pub fn assert_error(&self, code: &str) {
        assert!(
            self.codes().iter().any(|c| c == code),
            "expected a {code} error, got {}",
            self.body
        );
        assert!(!self.status.is_server_error(), "{}", self.status);
    }

    /// `(code, field)` of the `userErrors` of the mutation at `field`.
    pub fn user_errors(&self, field: &str) -> Vec<(String, Vec<String>)> {
        self.data()[field]["userErrors"]
            .as_array()
            .unwrap_or_else(|| panic!("no userErrors in {}", self.body))
            .iter()
            .map(|e| {
                let path = e["field"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|s| s.as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                (e["code"].as_str().unwrap_or_default().to_owned(), path)
            })
            .collect()
    }

    /// Asserts the mutation at `field` was refused with `code` at `path`.
    #[track_caller]
    pub fn assert_refused(&self, field: &str, code: &str, path: &[&str]) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        let errors = self.user_errors(field);
        let want = (
            code.to_owned(),
            path.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        );
        assert!(
            errors.contains(&want),
            "expected {want:?} in {errors:?}: {}",
            self.body
        );
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server that runs every query (no kept answers): for counting the
/// statements a query itself costs.
pub async fn spawn_uncached_app() -> TestApp {
    spawn_app_with(|c| c.limits.answer_cache_bytes = 0).await
}

/// A server whose configuration `configure` may change first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let (database_url, guard) = fresh_database().await;
    serve(database_url, guard, configure).await
}

/// A server as `serve --demo` starts it: the demo data seeded before the
/// server loads, the explorer offering the demo accounts.
pub async fn spawn_demo_app() -> TestApp {
    let (database_url, guard) = fresh_database().await;
    let (db, _) = agency_center::db::connect(&database_url)
        .await
        .expect("connect");
    agency_center::db::migrate(&db).await.expect("migrate");
    assert!(
        agency_center::seed::seed_demo(&db).await.expect("seed"),
        "an empty database"
    );
    db.close().await.expect("close");
    serve(database_url, guard, |config| config.demo = true).await
}

/// A server on a database the test owns.
pub async fn spawn_app_at(database_url: String) -> TestApp {
    serve(database_url, TestDb::External, |_| {}).await
}

async fn serve(
    database_url: String,
    guard: TestDb,
    configure: impl FnOnce(&mut AppConfig),
) -> TestApp {
    let mut config = AppConfig {
        database_url: database_url.clone(),
        addr: "127.0.0.1:0".parse().expect("address"),
        jwt_secret: SECRET.to_vec(),
        // Suites fire hundreds of requests per token; the limits tests
        // turn rate limiting on.
        limits: LimitArgs {
            rate_limit_capacity: 0,
            ..LimitArgs::default()
        },
        settings: Default::default(),
        expiry_sweep_interval: Duration::from_secs(3600),
        events: Default::default(),
        change_log_poll_interval: Duration::from_millis(50),
        demo: false,
    };
    configure(&mut config);
    let app = Application::build(config)
        .await
        .expect("the application starts");
    let base = format!("http://{}", app.local_addr());
    let db = app.db.clone();
    let statements = app.statements.clone();
    let domain = app.domain.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        database_url,
        db,
        statements,
        domain,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        keys: TokenKeys::new(SECRET),
        stopper: std::sync::Mutex::new(Some((stop, served))),
        _database: guard,
    }
}

impl TestApp {
    pub fn token(&self, principal: Principal) -> String {
        self.token_scoped(principal, None)
    }

    pub fn token_scoped(&self, principal: Principal, scope: Option<&str>) -> String {
        self.keys
            .issue(&principal, Duration::from_secs(600), scope)
            .expect("token")
    }

    pub fn admin(&self) -> String {
        self.token(Principal::Admin("ops".into()))
    }

    /// POSTs a GraphQL request with an optional bearer token.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the server answers")
    }

    /// Creates an agency through the API as an admin; returns (global id, uuid).
    pub async fn create_agency(
        &self,
        slug: &str,
        regions: &[&str],
        capacity: i32,
    ) -> (String, Uuid) {
        let res = self
            .gql(
                Some(&self.admin()),
                "mutation($input: CreateAgencyInput!) { createAgency(input: $input) { agency { id } userErrors { code field message } } }",
                json!({ "input": {
                    "slug": slug, "name": format!("Agency {slug}"), "regions": regions,
                    "languages": ["en", "fr"], "specialties": ["GAMING", "MUSIC"], "capacity": capacity
                }}),
            )
            .await;
        let id = res.assert_ok()["createAgency"]["agency"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("agency created: {}", res.body))
            .to_owned();
        let uuid = uuid_of(&id);
        (id, uuid)
    }

    /// Creates an adult creator through the API as an admin.
    pub async fn create_creator(&self, handle: &str, region: &str) -> (String, Uuid) {
        let res = self
            .gql(
                Some(&self.admin()),
                "mutation($input: CreateCreatorInput!) { createCreator(input: $input) { creator { id } userErrors { code field message } } }",
                json!({ "input": {
                    "handle": handle, "displayName": format!("Creator {handle}"), "region": region,
                    "languages": ["en"], "categories": ["GAMING"], "birthDate": "1999-04-01"
                }}),
            )
            .await;
        let id = res.assert_ok()["createCreator"]["creator"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("creator created: {}", res.body))
            .to_owned();
        let uuid = uuid_of(&id);
        (id, uuid)
    }

    /// Fixture: flips the switch without the API's authorisation.
    pub async fn set_discoverable(&self, creator_id: Uuid, on: bool) {
        let mut write = self.domain.begin_write().await.expect("begin");
        let model = creator::Entity::find_by_id(creator_id)
            .one(write.txn())
            .await
            .expect("query")
            .expect("creator exists");
        let mut model: creator::ActiveModel = model.into();
        model.discoverable = Set(on);
        model.discoverable_since = Set(on.then(chrono::Utc::now));
        model.update(write.txn()).await.expect("update");
        write.creator_changed(ChangeKind::CreatorDiscoverable, creator_id);
        write.commit().await.expect("commit");
    }

    /// Fixture: a PENDING invitation from `agency` to `creator`.
    pub async fn insert_invitation(&self, agency: Uuid, creator: Uuid) -> Uuid {
        let now = chrono::Utc::now();
        let id = Uuid::now_v7();
        let mut write = self.domain.begin_write().await.expect("begin");
        invitation::ActiveModel {
            id: Set(id),
            agency_id: Set(agency),
            creator_id: Set(creator),
            status: Set(invitation::Status::Pending),
            message: Set(Some("Join us".into())),
            idempotency_key: Set(None),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::days(7)),
            responded_at: Set(None),
        }
        .insert(write.txn())
        .await
        .expect("insert invitation");
        write.link_changed(ChangeKind::InvitationCreated, id, creator, agency);
        write.commit().await.expect("commit");
        id
    }

    /// Fixture: `creator` is a member of `agency`.
    pub async fn insert_membership(&self, agency: Uuid, creator: Uuid) {
        let mut write = self.domain.begin_write().await.expect("begin");
        let id = Uuid::now_v7();
        membership::ActiveModel {
            id: Set(id),
            agency_id: Set(agency),
            creator_id: Set(creator),
            joined_at: Set(chrono::Utc::now()),
        }
        .insert(write.txn())
        .await
        .expect("insert membership");
        write.link_changed(ChangeKind::MembershipCreated, id, creator, agency);
        write.commit().await.expect("commit");
    }

    pub async fn creator_count(&self) -> u64 {
        creator::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }

    pub async fn creator_row(&self, id: Uuid) -> creator::Model {
        creator::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .expect("query")
            .expect("creator exists")
    }
}

/// The uuid inside a global ID (tests only; clients treat IDs as opaque).
pub fn uuid_of(global_id: &str) -> Uuid {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(global_id)
        .expect("base64 id");
    let text = String::from_utf8(raw).expect("utf8 id");
    Uuid::parse_str(text.split_once(':').expect("typed id").1).expect("uuid")
}

/// A global ID for `kind` and `uuid`, as the server would encode it.
pub fn global_id(kind: &str, uuid: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{}", uuid.simple()))
}

impl TestApp {
    /// Runs `query` as `token` and returns the data (asserting no errors).
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql(Some(token), query, variables)
            .await
            .assert_ok()
            .clone()
    }

    /// A discoverable adult creator in `region`; returns (global id, uuid, token).
    pub async fn discoverable_creator(&self, handle: &str, region: &str) -> (String, Uuid, String) {
        let (id, uuid) = self.create_creator(handle, region).await;
        let token = self.token(Principal::Creator(uuid));
        let res = self
            .gql(Some(&token), "mutation { setDiscoverable(discoverable: true) { creator { discoverable } userErrors { code } } }", json!({}))
            .await;
        assert_eq!(
            res.assert_ok()["setDiscoverable"]["creator"]["discoverable"],
            true
        );
        (id, uuid, token)
    }

    /// An agency recruiting in `regions`; returns (global id, uuid, token).
    pub async fn agency_with_token(
        &self,
        slug: &str,
        regions: &[&str],
        capacity: i32,
    ) -> (String, Uuid, String) {
        let (id, uuid) = self.create_agency(slug, regions, capacity).await;
        (id, uuid, self.token(Principal::Agency(uuid)))
    }

    pub async fn invitation_count(&self) -> u64 {
        invitation::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }

    pub async fn membership_count(&self) -> u64 {
        membership::Entity::find()
            .count(&self.db)
            .await
            .expect("count")
    }
}

pub const SEND: &str = "mutation($input: SendInvitationInput!) {
  sendInvitation(input: $input) { invitation { id status message expiresAt agency { slug } creator { handle } } userErrors { code field message } }
}";

/// Sends an invitation as `token`; returns the raw answer.
pub async fn send(app: &TestApp, token: &str, creator_id: &str) -> Gql {
    app.gql(
        Some(token),
        SEND,
        json!({"input": {"creatorId": creator_id}}),
    )
    .await
}

/// Sends an invitation that must succeed; returns its global id.
pub async fn invite(app: &TestApp, token: &str, creator_id: &str) -> String {
    let res = send(app, token, creator_id).await;
    let data = res.assert_ok();
    assert_eq!(
        data["sendInvitation"]["userErrors"],
        json!([]),
        "{}",
        res.body
    );
    data["sendInvitation"]["invitation"]["id"]
        .as_str()
        .expect("an invitation id")
        .to_owned()
}

/// Calls `acceptInvitation`, `declineInvitation` or `withdrawInvitation`.
pub async fn respond(app: &TestApp, token: Option<&str>, mutation: &str, id: &str) -> Gql {
    let query = format!(
        "mutation($id: ID!) {{ {mutation}(id: $id) {{ invitation {{ id status respondedAt }} userErrors {{ code field message }} }} }}"
    );
    app.gql(token, &query, json!({"id": id})).await
}

impl TestApp {
    /// Isolation between rows of a matrix: no invitations, no memberships.
    pub async fn reset_lifecycle(&self) {
        let mut write = self.domain.begin_write().await.expect("begin");
        let ended = membership::Entity::delete_many()
            .exec_with_returning(write.txn())
            .await
            .expect("delete memberships");
        for m in ended {
            write.link_changed(ChangeKind::MembershipEnded, m.id, m.creator_id, m.agency_id);
        }
        let withdrawn = invitation::Entity::delete_many()
            .exec_with_returning(write.txn())
            .await
            .expect("delete invitations");
        for i in withdrawn {
            write.link_changed(
                ChangeKind::InvitationAnswered,
                i.id,
                i.creator_id,
                i.agency_id,
            );
        }
        write.commit().await.expect("commit");
    }
}
