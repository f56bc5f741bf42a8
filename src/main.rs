//! The `wprof` binary: all the work is in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match wprof::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wprof: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
