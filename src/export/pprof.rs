//! pprof protobuf (`profile.proto`, as `go tool pprof` and most profile
//! viewers read) of one sampler's stacks, through pprof-rs's generated
//! types. One location per distinct frame name: samples carry names, not
//! addresses, so that host and wasm frames are alike.

use std::collections::HashMap;
use std::io::Write;

use pprof::protos::{Function, Line, Location, Message as _, Profile, Sample, ValueType};

use super::Exporter;
use crate::run::Run;

/// `profiles/<stem>.<sampler>.pb`.
pub struct Pprof {
    /// `guest` or `host`.
    pub sampler: &'static str,
}

/// Interns strings into a profile's string table (entry 0 is "").
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }

    fn get(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// The profile of `run`'s `sampler` stacks, or `None` when it has none.
pub fn profile(run: &Run, sampler: &str) -> Option<Profile> {
    let p = run.profiles.iter().find(|p| p.sampler == sampler)?;
    let mut strings = Strings::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut by_name: HashMap<String, u64> = HashMap::new();
    let period_ns = if p.requested_hz > 0.0 {
        (1e9 / p.requested_hz) as i64
    } else {
        0
    };
    let mut samples = Vec::with_capacity(p.stacks.len());
    for stack in &p.stacks {
        // pprof lists a sample's locations leaf first.
        let ids = stack
            .frames
            .split(';')
            .rev()
            .map(|name| {
                if let Some(&id) = by_name.get(name) {
                    return id;
                }
                let id = by_name.len() as u64 + 1;
                let n = strings.get(name);
                functions.push(Function {
                    id,
                    name: n,
                    system_name: n,
                    ..Function::default()
                });
                locations.push(Location {
                    id,
                    line: vec![Line {
                        function_id: id,
                        line: 0,
                    }],
                    ..Location::default()
                });
                by_name.insert(name.to_owned(), id);
                id
            })
            .collect();
        samples.push(Sample {
            location_id: ids,
            value: vec![stack.count as i64, stack.count as i64 * period_ns],
            label: Vec::new(),
        });
    }
    let sample_type = vec![
        ValueType {
            ty: strings.get("samples"),
            unit: strings.get("count"),
        },
        ValueType {
            ty: strings.get("cpu"),
            unit: strings.get("nanoseconds"),
        },
    ];
    let period_type = Some(ValueType {
        ty: strings.get("cpu"),
        unit: strings.get("nanoseconds"),
    });
    let comment = vec![strings.get(&format!(
        "wprof {} {}: {} sampler, {}",
        run.scenario, run.plugin.name, p.sampler, p.method
    ))];
    Some(Profile {
        sample_type,
        sample: samples,
        location: locations,
        function: functions,
        string_table: strings.table,
        duration_nanos: (p.seconds * 1e9) as i64,
        period_type,
        period: period_ns,
        comment,
        ..Profile::default()
    })
}

impl Exporter for Pprof {
    fn applies(&self, run: &Run) -> bool {
        run.profiles.iter().any(|p| p.sampler == self.sampler)
    }

    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        let profile = profile(run, self.sampler)
            .ok_or_else(|| anyhow::anyhow!("the run has no {} profile", self.sampler))?;
        out.write_all(&profile.encode_to_vec())?;
        Ok(())
    }
}
