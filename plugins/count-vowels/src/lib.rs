//! Extism's count-vowels example as an Extism plugin author writes it, with
//! extism-pdk and nothing of wprof: wprof runs it through its own host side
//! of `extism:host/env` (src/extism.rs). Besides `count_vowels` it has one
//! export per part of that host ABI a test needs: logging, an error, HTTP.

use extism_pdk::*;
use serde::Serialize;

#[derive(Serialize)]
struct VowelReport {
    /// Vowels in this input.
    count: u64,
    /// Vowels over every call into this instance (an Extism var).
    total: u64,
    /// The letters counted: the `vowels` config value, else `aeiouAEIOU`.
    vowels: String,
}

/// Counts the input's vowels: reads a config value, reads and writes a var
/// and returns JSON, as Extism's own count-vowels plugins do.
#[plugin_fn]
pub fn count_vowels(input: String) -> FnResult<Json<VowelReport>> {
    let vowels = config::get("vowels")?.unwrap_or_else(|| "aeiouAEIOU".to_owned());
    let count = input.chars().filter(|c| vowels.contains(*c)).count() as u64;
    let total = var::get::<u64>("total")?.unwrap_or(0) + count;
    var::set("total", total)?;
    Ok(Json(VowelReport {
        count,
        total,
        vowels,
    }))
}

/// Logs its input at every level, then returns it.
#[plugin_fn]
pub fn log_input(input: String) -> FnResult<String> {
    trace!("trace: {input}");
    debug!("debug: {input}");
    info!("info: {input}");
    warn!("warn: {input}");
    error!("error: {input}");
    Ok(input)
}

/// Fails with an error message naming its input, as a plugin that rejects
/// its input does.
#[plugin_fn]
pub fn reject(input: String) -> FnResult<String> {
    Err(WithReturnCode::new(
        Error::msg(format!("cannot count vowels in {input:?}: rejected")),
        1,
    ))
}

/// Makes an HTTP request to the URL given as input.
#[plugin_fn]
pub fn fetch(url: String) -> FnResult<Vec<u8>> {
    let res = http::request::<()>(&HttpRequest::new(url), None)?;
    Ok(res.body())
}
