//! A WASI command (wasm32-wasip1, `_start`) that uses the Sightglass
//! benchmark protocol: it calls the host's `bench.start` and `bench.end`
//! around the work to be measured (counting primes below N with a sieve),
//! so that a host times exactly that span. Around it, it uses what a
//! command gets from WASI: its arguments (N, default 200 000), an
//! environment variable (`BENCH_LABEL`), stdin (its bytes are counted) and,
//! when `INPUT_FILE` names one, a file in a preopened directory.

#[cfg(target_family = "wasm")]
#[link(wasm_import_module = "bench")]
unsafe extern "C" {
    #[link_name = "start"]
    fn bench_start();
    #[link_name = "end"]
    fn bench_end();
}

/// Native builds (none are made; this keeps `cargo check` happy) have no host.
#[cfg(not(target_family = "wasm"))]
unsafe fn bench_start() {}
#[cfg(not(target_family = "wasm"))]
unsafe fn bench_end() {}

/// How many primes lie below `n`.
fn primes_below(n: usize) -> usize {
    let mut composite = vec![false; n];
    let mut count = 0;
    for i in 2..n {
        if !composite[i] {
            count += 1;
            let mut j = i * i;
            while j < n {
                composite[j] = true;
                j += i;
            }
        }
    }
    count
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let stdin = std::io::read_to_string(std::io::stdin()).unwrap_or_default();
    // SAFETY: plain host calls with no arguments.
    unsafe { bench_start() };
    let count = primes_below(std::hint::black_box(n));
    unsafe { bench_end() };
    let label = std::env::var("BENCH_LABEL").unwrap_or_else(|_| "bench".into());
    println!(
        "{label}: {count} primes below {n}; stdin {} bytes",
        stdin.len()
    );
    if let Ok(path) = std::env::var("INPUT_FILE") {
        match std::fs::read(&path) {
            Ok(bytes) => println!("{path}: {} bytes", bytes.len()),
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                std::process::exit(2);
            }
        }
    }
}
