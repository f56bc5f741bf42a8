//! wc-command's `wc`, built for wasm32-wasip2, whose linker makes a
//! component that exports `wasi:cli/run`.

fn main() {
    std::process::exit(wc_command::run());
}
