//! The `wprof` binary: all the work is in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match wprof::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        // `wprof record ... | head`: the reader left; the files are written.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        // Ctrl-C: the shell's convention, 128 + SIGINT.
        Err(e) if matches!(e.downcast_ref(), Some(wprof::Error::Interrupted)) => {
            eprintln!("wprof: {e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("wprof: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
