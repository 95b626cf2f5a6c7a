//! `vigil`: the runtime binary. Parses runc's command line, runs one command, and maps any
//! error to runc's JSON error line and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod journal;
mod log;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let logger: &'static log::RuncLog = match log::RuncLog::new(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        Ok(l) => Box::leak(Box::new(l)),
        Err(e) => {
            eprintln!("vigil: cannot open log file {:?}: {e}", cli.global.log);
            return ExitCode::from(1);
        }
    };
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(logger);
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    match commands::run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            let msg = format!("{err:#}");
            logger.write(&tracing::Level::ERROR, &msg);
            // runc also prints the error on stderr, where go-runc picks it up for its errors.
            eprintln!("vigil: {msg}");
            ExitCode::from(1)
        }
    }
}
