//! The `agency-center` command: parses the CLI and calls into the library.

use std::time::Instant;

use agency_center::auth::{DEMO_SECRET, TokenKeys};
use agency_center::config::{
    Cli, Command, LogFormat, SecretArgs, ServeArgs, TokenArgs, TokenSubject,
};
use agency_center::domain::agencies::AgencyService;
use agency_center::domain::creators::CreatorService;
use agency_center::domain::{Domain, Principal, Settings};
use agency_center::seed::{self, SeedPlan};
use agency_center::{AppConfig, Application, db, graphql};
use anyhow::Context;
use clap::Parser;

/// The server's allocations cross threads (rows decoded on the SQLite
/// driver's worker threads are freed on the runtime's): glibc's arenas
/// contend on that, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use sea_orm::DatabaseConnection;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    match cli.command {
        Command::Serve(args) => serve(&cli.database_url, args).await,
        Command::Migrate => {
            let (db, _) = db::connect(&cli.database_url).await?;
            db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed(args) => {
            let (db, _) = db::connect(&cli.database_url).await?;
            db::migrate(&db).await?;
            let started = Instant::now();
            let plan = SeedPlan {
                creators: args.creators,
                agencies: args.agencies,
                seed: args.seed,
            };
            let report = seed::seed(&db, plan).await?;
            println!(
                "seeded {} creators, {} agencies, {} memberships, {} invitations in {:.1?}",
                report.creators,
                report.agencies,
                report.memberships,
                report.invitations,
                started.elapsed()
            );
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token(args) => token(&cli.database_url, args).await,
    }
}

fn secret(args: &SecretArgs, demo: bool) -> anyhow::Result<Vec<u8>> {
    if demo {
        return Ok(DEMO_SECRET.as_bytes().to_vec());
    }
    match &args.jwt_secret {
        Some(s) if s.len() >= 16 => Ok(s.as_bytes().to_vec()),
        Some(_) => anyhow::bail!("AGENCY_CENTER_JWT_SECRET must be at least 16 bytes"),
        None => anyhow::bail!("set AGENCY_CENTER_JWT_SECRET (or pass --demo for the demo secret)"),
    }
}

async fn serve(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let jwt_secret = secret(&args.secret, args.demo)?;
    if args.demo {
        // Written before the server loads its ranking index, so the index
        // starts with the demo data (nothing else writes around the one
        // write path while a server runs).
        let (db, _) = db::connect(database_url).await?;
        db::migrate(&db).await?;
        if seed::seed_demo(&db).await? {
            tracing::info!("seeded the demo data set");
        }
    }
    let app = Application::build(AppConfig {
        database_url: database_url.to_owned(),
        addr: args.addr,
        jwt_secret: jwt_secret.clone(),
        limits: args.limits.clone(),
        settings: Settings {
            invitation_ttl: args.invitation_ttl,
        },
        expiry_sweep_interval: args.expiry_sweep_interval,
        events: args.events_via,
        change_log_poll_interval: args.change_log_poll_interval,
        demo: args.demo,
    })
    .await?;
    println!("{}", app.index_report);
    print_demo_banner(&app);
    println!("agency-center listening on http://{}", app.local_addr());
    app.run(agency_center::shutdown_signal()).await
}

fn print_demo_banner(app: &Application) {
    let Some(demo) = &app.demo else { return };
    let addr = app.local_addr();
    println!();
    println!(
        "  !! DEMO MODE: tokens are signed with a PUBLIC development secret. Never use --demo in production. !!"
    );
    println!();
    println!(
        "  GraphiQL:  http://{addr}/graphql   (pick agency, creator or admin at the top of the page)"
    );
    println!();
    println!("  Or paste one of these into GraphiQL's Headers tab:");
    if let Some(agency) = &demo.agency {
        println!(
            "  agency  ({}):  {{\"Authorization\": \"Bearer {}\"}}",
            agency.name, agency.token
        );
    }
    if let Some(creator) = &demo.creator {
        println!(
            "  creator ({}): {{\"Authorization\": \"Bearer {}\"}}",
            creator.name, creator.token
        );
    }
    println!(
        "  admin   ({}):          {{\"Authorization\": \"Bearer {}\"}}",
        demo.admin.name, demo.admin.token
    );
    println!();
    println!(
        "  Try:  {{ viewer {{ role agency {{ name regions }} }} agencies(first: 5) {{ totalCount edges {{ node {{ slug name memberCount }} }} }} }}"
    );
    if let Some(top) = demo.top_ranked.first() {
        println!(
            "  and, as the agency:  {{ creator(handle: \"{}\") {{ displayName region categories stats {{ followers avgViewers liveDays30d }} }} }}",
            top.handle
        );
    }
    if let Some(Principal::Agency(id)) = demo.agency.as_ref().map(|a| &a.principal) {
        println!(
            "  ranked for the agency:  {{ recommendedCreators(agencyId: \"{}\", first: 5) {{ totalCandidates edges {{ rank score reasons node {{ handle categories }} }} }} }}",
            graphql::ids::encode(graphql::ids::NodeKind::Agency, *id).0
        );
    }
    println!();
}

async fn token(database_url: &str, args: TokenArgs) -> anyhow::Result<()> {
    let keys = TokenKeys::new(&secret(&args.secret, args.demo)?);
    let principal = match &args.subject {
        TokenSubject::Admin { name } => Principal::Admin(name.clone()),
        TokenSubject::Creator { handle } => {
            let domain = Domain::new(connect_existing(database_url).await?, Settings::default());
            let creator = CreatorService::new(&domain)
                .find_by_handle(handle)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no creator with handle {handle:?}"))?;
            Principal::Creator(creator.id)
        }
        TokenSubject::Agency { slug } => {
            let domain = Domain::new(connect_existing(database_url).await?, Settings::default());
            let agency = AgencyService::new(&domain)
                .find_by_slug(slug)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no agency with slug {slug:?}"))?;
            Principal::Agency(agency.id)
        }
    };
    println!(
        "{}",
        keys.issue(&principal, args.ttl, args.scope.as_deref())?
    );
    Ok(())
}

async fn connect_existing(database_url: &str) -> anyhow::Result<DatabaseConnection> {
    let (db, _) = db::connect(database_url).await?;
    anyhow::ensure!(
        seed::has_schema(&db).await,
        "the database at {database_url} has no Agency Center tables: run `agency-center migrate` or `serve` first"
    );
    Ok(db)
}
