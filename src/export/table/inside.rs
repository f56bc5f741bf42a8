//! The passes inside the calls, as text: heap, perf counters, fuel and
//! samplers.

use std::io::Write;

use crate::run::Run;
use crate::text::Esc;
use crate::units::{fmt_bytes, fmt_ns};

/// A counter's mean in its unit: task-clock is nanoseconds.
fn count(name: &str, v: f64) -> String {
    match name {
        "task-clock" => fmt_ns(v),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// The heap pass, on one line.
pub(super) fn heap(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(h) = &run.heap {
        writeln!(out)?;
        let side = |p: &crate::run::HeapPerCall| {
            format!("{} in {:.1} blocks", fmt_bytes(p.bytes), p.blocks)
        };
        writeln!(
            out,
            "heap per {u} (dhat, a separate untimed pass of {} {u}s{}): wasm {}{}; profile {}",
            h.calls,
            if h.native.is_some() { " a side" } else { "" },
            side(&h.wasm),
            h.native
                .as_ref()
                .map_or(String::new(), |n| format!(", native {}", side(n))),
            h.file,
            u = Esc(&h.unit),
        )?;
    }
    Ok(())
}

/// The guest heap pass: its per-call figures beside native's, the leak,
/// the growth, and where the profile is.
pub(super) fn guest_heap(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(g) = &run.guest_heap else {
        return Ok(());
    };
    writeln!(out)?;
    for line in crate::run::guest_heap_lines(g, run.heap.as_ref(), &run.plugin.name) {
        writeln!(out, "{}", Esc(&line))?;
    }
    let found: Vec<String> = g
        .allocator
        .iter()
        .map(|a| format!("{} ({}, {})", a.name, a.role, a.found_by))
        .collect();
    writeln!(out, "  allocator: {}", Esc(&found.join("; ")))?;
    writeln!(
        out,
        "  live: {} after the first call, {} after the last; peak {} in {} blocks",
        fmt_bytes(g.live_before_bytes as f64),
        fmt_bytes(g.live_after_bytes as f64),
        fmt_bytes(g.peak_bytes as f64),
        g.peak_blocks
    )?;
    for grow in g.grows.iter().take(5) {
        writeln!(
            out,
            "  memory.grow {} page{}{}{}: {}",
            grow.pages,
            if grow.pages == 1 { "" } else { "s" },
            grow.from_pages
                .map_or(" (failed)".to_owned(), |p| format!(" from {p}")),
            if grow.in_measured_call {
                ", in a measured call"
            } else {
                ""
            },
            Esc(&grow
                .stack
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(" < "))
        )?;
    }
    if g.grows.len() > 5 {
        writeln!(out, "  ... {} more memory.grow", g.grows.len() - 5)?;
    }
    writeln!(out, "  profile: {} (dh_view.html)", Esc(&g.file))?;
    Ok(())
}

/// The counter pass.
pub(super) fn counters(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(c) = &run.perf {
        writeln!(out)?;
        if c.iterations > 1 {
            writeln!(
                out,
                "perf counters, mean per iteration (up to {} iterations a variant):",
                c.iterations
            )?;
        } else {
            writeln!(out, "perf counters:")?;
        }
        writeln!(out, "  how: {}", c.method)?;
        if c.counters.iter().any(|n| n == "task-clock") && c.iterations > 1 {
            // The same time as the timing table, read another way: say why
            // the two differ rather than print two figures that disagree.
            writeln!(
                out,
                "  task-clock is not the timing table's figure: it is CPU time between two counter reads (each a syscall whose own cost the empty window removes only on average, at the kernel's accounting granularity), so a short phase reads high or low; quote the timing table"
            )?;
        }
        if !c.counters.is_empty() {
            let w = run
                .variants
                .iter()
                .map(|v| v.name.len())
                .max()
                .unwrap_or(0)
                .max(7);
            write!(out, "  {:<w$} {:<12}", "variant", "phase")?;
            for n in &c.counters {
                write!(out, " {n:>16}")?;
            }
            writeln!(out)?;
            for v in &run.variants {
                for p in &v.counters {
                    write!(out, "  {:<w$} {:<12}", Esc(&v.name), p.phase.to_string())?;
                    for n in &c.counters {
                        let cell = p.values.get(n).map_or("-".to_owned(), |&x| count(n, x));
                        write!(out, " {cell:>16}")?;
                    }
                    writeln!(out)?;
                }
            }
        }
        for u in &c.unavailable {
            writeln!(out, "  {}: not measured: {}", u.name, Esc(&u.reason))?;
        }
    }
    Ok(())
}

/// The fuel and sampling passes.
pub(super) fn passes(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    for v in &run.variants {
        let Some(f) = &v.fuel else { continue };
        writeln!(out)?;
        let list = |phases: &[crate::run::PhaseFuel]| {
            phases
                .iter()
                .map(|p| format!("{} {}", p.phase, p.fuel))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "fuel per {u} ({}, a separate pass of {} {u}s{}): first {u} {}; then {}, {} {u}; metering costs {:+.1} %",
            Esc(&v.name),
            f.calls,
            if f.unit == "run" {
                ", each a fresh instance"
            } else {
                " on a fresh instance"
            },
            list(&f.first_call),
            list(&f.phases),
            if f.constant {
                "the same on every later"
            } else {
                "NOT the same on every later"
            },
            f.slowdown_pct,
            u = Esc(&f.unit),
        )?;
    }
    for p in &run.profiles {
        writeln!(out)?;
        writeln!(
            out,
            "{} sampler: {} samples in {:.2} s at {:.0} Hz (asked {:.0} Hz){}",
            p.sampler,
            p.samples,
            p.seconds,
            p.achieved_hz,
            p.requested_hz,
            p.overhead_pct
                .map_or(String::new(), |o| format!("; cost of sampling {o:+.1} %"))
        )?;
        if p.achieved_hz < 0.8 * p.requested_hz {
            writeln!(
                out,
                "  the platform delivered {:.0} of the {:.0} samples a second asked for{}",
                p.achieved_hz,
                p.requested_hz,
                if p.sampler == "host" {
                    " (SIGPROF follows the process's CPU time at the kernel tick's rate)"
                } else {
                    ""
                }
            )?;
        }
        // Self time by leaf frame: what a reader looks for first.
        let mut leaves: std::collections::BTreeMap<&str, u64> = Default::default();
        for s in &p.stacks {
            let leaf = s.frames.rsplit(';').next().unwrap_or(&s.frames);
            *leaves.entry(leaf).or_default() += s.count;
        }
        let mut leaves: Vec<(&str, u64)> = leaves.into_iter().collect();
        leaves.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (leaf, n) in leaves.iter().take(5) {
            let short: String = leaf.chars().take(90).collect();
            let short = Esc(&short);
            writeln!(
                out,
                "  {:>5.1} %  {short}",
                100.0 * *n as f64 / p.samples.max(1) as f64
            )?;
        }
    }
    Ok(())
}
