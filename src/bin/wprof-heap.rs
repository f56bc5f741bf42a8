//! wprof's heap pass: the same library under dhat's heap profiler. A binary
//! of its own because dhat must be the global allocator, and that would slow
//! every allocation in wprof's timing runs (a lock per allocation even while
//! no profile is being taken). `wprof record <scenario> --heap` runs it.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> ExitCode {
    match wprof::heap::child() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wprof: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
