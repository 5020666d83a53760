//! The `ticketgate` binary: see `ticketgate --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ticketgate::cli::run(ticketgate::cli::Cli::parse())
}
