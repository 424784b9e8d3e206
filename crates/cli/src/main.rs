//! `roster`: the one binary. `roster serve` runs everything; the other commands let an
//! operator bootstrap and inspect the same store from the command line.

mod commands;
mod config;
mod serve;
mod store;

use clap::{Parser, Subcommand};
use config::{Config, ConfigArgs, LogFormat};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Self-hosted accounts, organizations and members."
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API, pages, email delivery.
    Serve,
    /// Create the first organization and invite its admin; prints the invitation link.
    Setup(commands::SetupArgs),
    /// Organizations.
    #[command(subcommand)]
    Org(commands::OrgCommand),
    /// Members of an organization.
    #[command(subcommand)]
    Member(commands::MemberCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(commands::TokenCommand),
    /// The email outbox.
    #[command(subcommand)]
    Mail(commands::MailCommand),
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example roster.toml.
    Example,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Config(ConfigCommand::Example) = cli.command {
        print!("{}", config::EXAMPLE);
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve::run(config).await,
            Command::Setup(args) => commands::setup(&config, args).await,
            Command::Org(cmd) => commands::org(&config, cmd).await,
            Command::Member(cmd) => commands::member(&config, cmd).await,
            Command::Token(cmd) => commands::token(&config, cmd).await,
            Command::Mail(cmd) => commands::mail(&config, cmd).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::Config(ConfigCommand::Example) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
