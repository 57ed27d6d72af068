//! The command line: `serve`, `tokens`, `companies`, `import`/`export`/`reset`. Every flag is also an
//! environment variable.

mod data;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::admin;
use crate::app::{shutdown_signal, App};
use crate::config::{redact_url, PartialSettings, Settings, DEFAULT_COMPANY, DEFAULT_DATABASE_URL};
use crate::keys::Scope;
use crate::storage::{Database, Store, StoreError, UserQuery, Workload};
use crate::teamtailor::mapping::format_time;
use crate::teamtailor::{Role, UnknownRole, User, UserData};

#[derive(Debug, Parser)]
#[command(
    name = "teamtailor-scim",
    version,
    about = "Teamtailor's SCIM 2.0 and user API, as a local server"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// sqlite://PATH (created on first use) or postgres://USER@HOST/DB
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Manage API keys
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Manage the keys that sign OAuth access tokens
    SigningKeys {
        #[command(subcommand)]
        command: SigningKeysCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Manage users outside SCIM (roles SCIM cannot set)
    Users {
        #[command(subcommand)]
        command: UsersCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Load users from a JSON or CSV fixture into a company
    Import {
        #[command(flatten)]
        args: data::ImportArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Write a company's users as JSON lines or CSV
    Export {
        #[command(flatten)]
        args: data::ExportArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Delete every user and journal entry of a company
    Reset {
        #[command(flatten)]
        args: data::ResetArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Manage companies (tenants)
    Companies {
        #[command(subcommand)]
        command: CompaniesCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Every setting may also come from a TOML file (`--config`); flags and
/// environment variables win over the file, the file over the defaults.
#[derive(Debug, Args)]
struct ServeArgs {
    /// A TOML file with any of these settings (and [[trusted_issuers]])
    #[arg(long, env = "TEAMTAILOR_SCIM_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TEAMTAILOR_SCIM_LISTEN")]
    listen: Option<String>,
    /// sqlite://PATH (created on first use) or postgres://USER@HOST/DB [default: sqlite://teamtailor-scim.db]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// A key made valid for company 'default' with every scope at start
    #[arg(long, env = "TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", hide_env_values = true)]
    bootstrap_token: Option<String>,
    /// Largest accepted request body in bytes, larger gives 413 [default: 1048576]
    #[arg(long, env = "TEAMTAILOR_SCIM_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Seconds from a request's headers to its response, body included; then 408 [default: 30]
    #[arg(long, env = "TEAMTAILOR_SCIM_REQUEST_TIMEOUT_SECONDS")]
    request_timeout_seconds: Option<u64>,
    /// Seconds a connection has to send a request's headers; then it is closed [default: 10]
    #[arg(long, env = "TEAMTAILOR_SCIM_HEADER_READ_TIMEOUT_SECONDS")]
    header_read_timeout_seconds: Option<u64>,
    /// Public base URL used in Location headers, e.g. https://scim.example.com
    #[arg(long, env = "TEAMTAILOR_SCIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Teamtailor API requests allowed per key per period, 0 switches the limit off [default: 50]
    #[arg(long, env = "TEAMTAILOR_SCIM_API_RATE_LIMIT")]
    api_rate_limit: Option<u32>,
    /// The rate limit's period in seconds [default: 10]
    #[arg(long, env = "TEAMTAILOR_SCIM_API_RATE_LIMIT_PERIOD")]
    api_rate_limit_period: Option<u64>,
    /// Operator token for the /admin API (off without it)
    #[arg(long, env = "TEAMTAILOR_SCIM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Secret that signs OAuth access tokens (default: generated and stored)
    #[arg(long, env = "TEAMTAILOR_SCIM_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// The `iss` of OAuth access tokens [default: teamtailor-scim]
    #[arg(long, env = "TEAMTAILOR_SCIM_TOKEN_ISSUER")]
    token_issuer: Option<String>,
    /// Journal entries kept per company, 0 switches the journal off [default: 100000]
    #[arg(long, env = "TEAMTAILOR_SCIM_JOURNAL_MAX_ENTRIES")]
    journal_max_entries: Option<i64>,
    /// Days journal entries are kept [default: 7]
    #[arg(long, env = "TEAMTAILOR_SCIM_JOURNAL_MAX_AGE_DAYS")]
    journal_max_age_days: Option<u64>,
}

impl ServeArgs {
    fn settings(self) -> Result<Settings, String> {
        let file = match &self.config {
            Some(path) => PartialSettings::load(path)?,
            None => PartialSettings::default(),
        };
        PartialSettings {
            listen: self.listen,
            database_url: self.database_url,
            bootstrap_token: self.bootstrap_token,
            max_body_bytes: self.max_body_bytes,
            request_timeout_seconds: self.request_timeout_seconds,
            header_read_timeout_seconds: self.header_read_timeout_seconds,
            public_url: self.public_url,
            api_rate_limit: self.api_rate_limit,
            api_rate_limit_period: self.api_rate_limit_period,
            admin_token: self.admin_token,
            jwt_secret: self.jwt_secret,
            token_issuer: self.token_issuer,
            journal_max_entries: self.journal_max_entries,
            journal_max_age_days: self.journal_max_age_days,
            trusted_issuers: Vec::new(),
        }
        .resolve(file)
    }
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Create a key; the key is the last line of stdout
    Create {
        /// Company slug (created if missing)
        #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
        company: String,
        /// scim, api-admin or api-read; repeat for several (default: all)
        #[arg(long = "scope", env = "TEAMTAILOR_SCIM_TOKEN_SCOPES", value_delimiter = ',', value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// A label to recognise the key by
        #[arg(long, env = "TEAMTAILOR_SCIM_TOKEN_NAME", default_value = "cli")]
        name: String,
        /// Stop working after this long, e.g. 90d, 12h (default: never)
        #[arg(long, env = "TEAMTAILOR_SCIM_TOKEN_EXPIRES_IN", value_parser = admin::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// Replace a key with a new one (same company, name, scopes); prints the new key last
    Rotate {
        id: i64,
        /// Keep the old key working this long, e.g. 1h (default: revoke it now)
        #[arg(long, env = "TEAMTAILOR_SCIM_TOKEN_GRACE", value_parser = admin::parse_duration)]
        grace: Option<std::time::Duration>,
    },
    /// List keys (never their values)
    List {
        /// Only this company's keys
        #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY")]
        company: Option<String>,
    },
    /// Revoke a key by id; takes effect immediately
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
enum SigningKeysCommand {
    /// Sign new access tokens with a new key; earlier tokens stay valid until they expire
    Rotate,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Print a company's users as Teamtailor sees them, one JSON object a line
    List {
        /// Company slug
        #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
        company: String,
    },
    /// Show the SQL and the database's query plan of a SCIM list request
    Explain {
        /// Company slug
        #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
        company: String,
        /// A SCIM filter, e.g. 'userName eq "ada@example.com"'
        #[arg(long, env = "TEAMTAILOR_SCIM_FILTER")]
        filter: Option<String>,
        /// A SCIM sortBy attribute path
        #[arg(long, env = "TEAMTAILOR_SCIM_SORT_BY")]
        sort_by: Option<String>,
        /// Sort descending
        #[arg(long, env = "TEAMTAILOR_SCIM_DESCENDING")]
        descending: bool,
        /// Page size
        #[arg(long, env = "TEAMTAILOR_SCIM_COUNT", default_value_t = 100)]
        count: u64,
        /// The page's first result, 1-based (SCIM startIndex)
        #[arg(long, env = "TEAMTAILOR_SCIM_START_INDEX", default_value_t = 1)]
        start_index: u64,
        /// PostgreSQL: plan as for a large table (sequential scans off), to
        /// see which index a million users would use
        #[arg(long, env = "TEAMTAILOR_SCIM_PREFER_INDEXES")]
        prefer_indexes: bool,
    },
    /// Set a user's Teamtailor role (no_access, user, recruiter, designer, admin, external_recruiter)
    SetRole {
        /// Company slug
        #[arg(long, env = "TEAMTAILOR_SCIM_COMPANY", default_value = DEFAULT_COMPANY)]
        company: String,
        /// User id
        id: i64,
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum CompaniesCommand {
    /// Create a company
    Create { slug: String },
    /// List companies
    List,
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        command => on_database(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = args.settings()?;
    let app = App::build(&settings).await.map_err(|e| e.to_string())?;
    let url = format!("http://{}", app.local_addr());
    println!(
        "teamtailor-scim listening on {url} (database: {}, {})",
        redact_url(&settings.database_url),
        app.backend()
    );
    match &app.first_key {
        Some(key) => println!(
            "\nCreated company '{DEFAULT_COMPANY}' and its first API key (shown only this once):\n\n    {}\n\nTry it:\n\n    curl -H 'Authorization: Bearer {}' {url}/scim/v2/Users\n",
            key.expose(),
            key.expose()
        ),
        None if settings.bootstrap_token.is_some() => {
            println!("The bootstrap token is valid for company '{DEFAULT_COMPANY}' with every scope.")
        }
        None => println!(
            "Create an API key with: teamtailor-scim tokens create --company {DEFAULT_COMPANY}"
        ),
    }
    app.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

const SERVE_OPENS_ITS_DATABASE: &str = "serve opens its database itself";

/// Runs a command other than `serve` on its database, then closes the
/// database: a SQLite file is left whole, without its write-ahead log.
async fn on_database(command: Command) -> Result<(), String> {
    let (database, workload) = match &command {
        Command::Import { database, .. } => (database, Workload::BulkLoad),
        Command::Tokens { database, .. }
        | Command::Users { database, .. }
        | Command::SigningKeys { database, .. }
        | Command::Export { database, .. }
        | Command::Reset { database, .. }
        | Command::Companies { database, .. } => (database, Workload::Serve),
        Command::Serve(_) => return Err(SERVE_OPENS_ITS_DATABASE.into()),
    };
    let url = &database.database_url;
    let store = Database::connect_for(url, workload)
        .await
        .map_err(|e| format!("{e} ({})", redact_url(url)))?;
    let result = match command {
        Command::Tokens { command, .. } => tokens(command, &store).await,
        Command::Users { command, .. } => users(command, &store).await,
        Command::SigningKeys {
            command: SigningKeysCommand::Rotate,
            ..
        } => rotate_signing_key(&store).await,
        Command::Import { args, .. } => data::import(args, &store).await,
        Command::Export { args, .. } => data::export(args, &store).await,
        Command::Reset { args, .. } => data::reset(args, &store).await,
        Command::Companies { command, .. } => companies(command, &store).await,
        Command::Serve(_) => Err(SERVE_OPENS_ITS_DATABASE.into()),
    };
    store.close().await;
    result
}

async fn tokens(command: TokensCommand, store: &Database) -> Result<(), String> {
    match command {
        TokensCommand::Create {
            company,
            scopes,
            name,
            expires_in,
        } => {
            let (key, secret) = admin::create_key(store, &company, &scopes, &name, expires_in)
                .await
                .map_err(|e| e.to_string())?;
            announce_key(&key, "Created");
            println!("{}", secret.expose());
        }
        TokensCommand::Rotate { id, grace } => {
            let (key, secret) = admin::rotate_key(store, id, grace)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("no active key with id {id}"),
                    other => other.to_string(),
                })?;
            match grace {
                Some(grace) => eprintln!("Key {id} keeps working for {}s.", grace.as_secs()),
                None => eprintln!("Key {id} is revoked."),
            }
            announce_key(&key, "Created replacement");
            println!("{}", secret.expose());
        }
        TokensCommand::List { company } => {
            let company_id = match company {
                Some(slug) => Some(
                    store
                        .company_by_slug(&slug)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no company '{slug}'"))?
                        .id,
                ),
                None => None,
            };
            let keys = store
                .list_keys(company_id)
                .await
                .map_err(|e| e.to_string())?;
            let now = crate::storage::now_micros();
            println!(
                "{:<6} {:<16} {:<20} {:<26} {:<25} {:<25} STATUS",
                "ID", "COMPANY", "NAME", "SCOPES", "CREATED", "LAST USED"
            );
            for key in keys {
                let status = match (key.revoked_at, key.expires_at) {
                    (Some(at), _) => format!("revoked {}", format_time(at)),
                    (None, Some(at)) if at <= now => format!("expired {}", format_time(at)),
                    (None, Some(at)) => format!("active until {}", format_time(at)),
                    (None, None) => "active".into(),
                };
                println!(
                    "{:<6} {:<16} {:<20} {:<26} {:<25} {:<25} {status}",
                    key.id,
                    key.company_slug,
                    key.name,
                    Scope::join(&key.scopes),
                    format_time(key.created_at),
                    key.last_used_at
                        .map(format_time)
                        .unwrap_or_else(|| "never".into()),
                );
            }
        }
        TokensCommand::Revoke { id } => {
            if store.revoke_key(id).await.map_err(|e| e.to_string())? {
                println!("Revoked key {id}.");
            } else {
                return Err(format!("no active key with id {id}"));
            }
        }
    }
    Ok(())
}

async fn users(command: UsersCommand, store: &Database) -> Result<(), String> {
    match command {
        UsersCommand::Explain {
            company,
            filter,
            sort_by,
            descending,
            count,
            start_index,
            prefer_indexes,
        } => {
            let company = store
                .company_by_slug(&company)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no company '{company}'"))?;
            let filter = filter
                .as_deref()
                .map(crate::scim::filter::parse_filter)
                .transpose()
                .map_err(|e| format!("invalid filter: {e}"))?;
            let order = match sort_by {
                None => crate::storage::UserOrder::Created,
                Some(path) => crate::storage::UserOrder::Attribute {
                    path: crate::scim::path::parse_attr_path(&path)
                        .map_err(|e| format!("invalid sort attribute: {e}"))?,
                    descending,
                },
            };
            let query = UserQuery {
                filter,
                order,
                start_index: start_index.max(1),
                count,
                ..Default::default()
            };
            let plan = store
                .explain_users(company.id, &query, prefer_indexes)
                .await
                .map_err(|e| e.to_string())?;
            println!("-- {} --", store.backend());
            println!("{}", plan.sql);
            println!("-- bound values: {}", plan.binds.join(", "));
            println!(
                "-- runs as: {}",
                if plan.gathered {
                    "a lookup, in one statement with the userName lookups asked at the same time (up to 64)"
                } else if plan.lookup {
                    "a lookup"
                } else {
                    "a scan (never on every reader connection at once: lookups always find one)"
                }
            );
            println!("-- plan:");
            for line in plan.plan {
                println!("{line}");
            }
        }
        UsersCommand::List { company } => {
            let company = store
                .company_by_slug(&company)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no company '{company}'"))?;
            let mut start_index = 1;
            loop {
                let query = UserQuery {
                    start_index,
                    count: 500,
                    ..Default::default()
                };
                let page = store
                    .list_users(company.id, &query)
                    .await
                    .map_err(|e| e.to_string())?;
                for user in &page.users {
                    println!("{}", teamtailor_json(user));
                }
                if page.users.is_empty() {
                    break;
                }
                start_index += page.users.len() as u64;
            }
        }
        UsersCommand::SetRole { company, id, role } => {
            let role: Role = role.parse().map_err(|e: UnknownRole| e.to_string())?;
            let company = store
                .company_by_slug(&company)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no company '{company}'"))?;
            store
                .modify_user(company.id, id, |user| {
                    Ok(Some(UserData {
                        role,
                        ..user.data.clone()
                    }))
                })
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("no user {id} in company '{}'", company.slug),
                    other => other.to_string(),
                })?;
            println!("User {id} now has role {role}.");
        }
    }
    Ok(())
}

/// The Teamtailor user record behind a SCIM user.
fn teamtailor_json(user: &User) -> serde_json::Value {
    serde_json::json!({
        "id": user.id.to_string(),
        "login_email": user.data.attributes.user_name,
        "email": user.data.display_email(),
        "name": user.data.full_name(),
        "title": user.data.attributes.title,
        "phone": user.data.phone(),
        "external_id": user.data.attributes.external_id,
        "role": user.data.role.as_str(),
    })
}

async fn rotate_signing_key(store: &Database) -> Result<(), String> {
    let kid = admin::rotate_signing_key(store)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Running servers sign new access tokens with key {kid} within a second (those started with --jwt-secret keep signing with it); tokens signed before stay valid until they expire."
    );
    Ok(())
}

fn announce_key(key: &crate::storage::ApiKey, verb: &str) {
    eprintln!(
        "{verb} key {} '{}' for company '{}' with scopes: {}{}. OAuth client id: {}. The key is shown only once:",
        key.id,
        key.name,
        key.company_slug,
        Scope::join(&key.scopes),
        key.expires_at
            .map(|at| format!(", expires {}", format_time(at)))
            .unwrap_or_default(),
        key.id,
    );
}

async fn companies(command: CompaniesCommand, store: &Database) -> Result<(), String> {
    match command {
        CompaniesCommand::Create { slug } => {
            let slug = slug.trim();
            if slug.is_empty() {
                return Err("a company slug cannot be empty".into());
            }
            match store.create_company(slug).await {
                Ok(company) => println!("Created company '{}' (id {}).", company.slug, company.id),
                Err(StoreError::Conflict(_)) => {
                    return Err(format!("company '{slug}' already exists"))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        CompaniesCommand::List => {
            println!("{:<6} {:<24} CREATED", "ID", "SLUG");
            for company in store.list_companies().await.map_err(|e| e.to_string())? {
                println!(
                    "{:<6} {:<24} {}",
                    company.id,
                    company.slug,
                    format_time(company.created_at)
                );
            }
        }
    }
    Ok(())
}
