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
        // Ctrl-C or SIGTERM: the shell's convention, 128 + the signal.
        Err(e)
            if matches!(
                e.downcast_ref(),
                Some(wprof::Error::Interrupted | wprof::Error::InterruptedEarly)
            ) =>
        {
            eprintln!("wprof: {e:#}");
            ExitCode::from(wprof::interrupt::exit_code() as u8)
        }
        Err(e) => {
            let text = format!("{e:#}");
            // wprof's own errors escape the plugin text in them and keep a
            // trap's frames on lines of their own; anything else is escaped
            // whole, so that it stays one line.
            if e.downcast_ref::<wprof::Error>().is_some() {
                eprintln!("wprof: error: {text}");
            } else {
                eprintln!("wprof: error: {}", wprof::text::esc(&text));
            }
            ExitCode::FAILURE
        }
    }
}
