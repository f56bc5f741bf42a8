//! Bencher Metric Format: `{benchmark: {measure: {value, lower_value,
//! upper_value}}}`. `latency` is each phase's median in nanoseconds, its
//! bounds the median's 95 % bootstrap interval; `throughput`, on a whole
//! call, is calls a second timed without per-phase clock reads.

use std::io::Write;

use serde_json::{Map, Value, json};

use super::{Format, rows};
use crate::run::Run;

/// `bmf`.
pub struct Bmf;

impl Format for Bmf {
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        let mut doc = Map::new();
        for row in rows(runs) {
            let mut latency = json!({ "value": row.phase.stats.p50_ns });
            if let Some((lo, hi)) = row.interval() {
                latency["lower_value"] = json!(lo);
                latency["upper_value"] = json!(hi);
            }
            let mut measures = Map::new();
            measures.insert("latency".into(), latency);
            if let Some(t) = row.throughput() {
                measures.insert("throughput".into(), json!({ "value": t }));
            }
            doc.insert(row.name(), Value::Object(measures));
        }
        serde_json::to_writer_pretty(&mut *out, &Value::Object(doc))?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
