//! The `ticketgate` binary: see `ticketgate --help`.

fn main() -> std::process::ExitCode {
    match ticketgate::cli::parse_args() {
        Ok(cli) => ticketgate::cli::run(cli),
        Err(code) => code,
    }
}
