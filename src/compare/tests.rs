//! compare's verdicts on known shifts, drift and noise bands.

use super::machine::judge_drift;
use super::*;
use crate::stats::Rng;

fn sample(rng: &mut Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| scale * (1.0 - rng.unit()).ln().abs() + 100.0)
        .collect()
}

fn judged(shift: f64, seed: u64) -> Verdict {
    let mut rng = Rng::new(seed);
    let a = sample(&mut rng, 1000, 20.0);
    let b: Vec<f64> = sample(&mut rng, 1000, 20.0)
        .into_iter()
        .map(|x| x * (1.0 + shift))
        .collect();
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        crate::stats::median_of(&mut s)
    };
    let (_, lo, hi) = change(&a, &b, med(&a), med(&b)).unwrap();
    verdict(lo, hi, med(&a), 5.0, 1.0)
}

fn med(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    crate::stats::median_of(&mut s)
}

fn phase(variant: &str, phase: Phase, verdict: Verdict) -> PhaseChange {
    PhaseChange {
        variant: variant.into(),
        phase,
        base_p50_ns: 1000.0,
        new_p50_ns: 1140.0,
        change_pct: 14.0,
        ci_lo_pct: 12.0,
        ci_hi_pct: 16.0,
        verdict,
        fails: false,
        normalised_pct: None,
    }
}

fn ratio(verdict: Verdict) -> RatioChange {
    RatioChange {
        subject: "wasm".into(),
        baseline: "native".into(),
        base: 1.19,
        new: 1.20,
        change_pct: 0.6,
        ci_lo_pct: -1.0,
        ci_hi_pct: 2.0,
        verdict,
        fails: false,
    }
}

#[test]
fn wasm_and_native_slowing_alike_with_the_ratio_held_is_drift() {
    let r = Verdict::Regressed;
    let mut phases = vec![
        phase("wasm", Phase::Execute, r),
        phase("wasm", Phase::Call, r),
        phase("native", Phase::Call, r),
    ];
    judge_drift(
        &mut phases,
        &[ratio(Verdict::NoChange)],
        true,
        true,
        5.0,
        10.0,
    );
    assert!(
        phases.iter().all(|p| p.verdict == Verdict::Drift),
        "{phases:?}"
    );
    // Native unchanged: wasm's change is wasm's.
    let mut phases = vec![
        phase("wasm", Phase::Call, r),
        phase("native", Phase::Call, Verdict::NoChange),
    ];
    judge_drift(
        &mut phases,
        &[ratio(Verdict::NoChange)],
        true,
        true,
        5.0,
        10.0,
    );
    assert_eq!(phases[0].verdict, r);
    // The same phase of both moved alike, the calls within noise: drift.
    let mut phases = vec![
        phase("wasm", Phase::Decode, r),
        phase("native", Phase::Decode, r),
        phase("native", Phase::Call, Verdict::NoChange),
    ];
    judge_drift(
        &mut phases,
        &[ratio(Verdict::NoChange)],
        true,
        true,
        5.0,
        10.0,
    );
    assert_eq!(phases[0].verdict, Verdict::Drift, "{phases:?}");
    assert_eq!(phases[1].verdict, Verdict::Drift, "{phases:?}");
    // The ratio moved: not drift.
    let mut phases = vec![
        phase("wasm", Phase::Call, r),
        phase("native", Phase::Call, r),
    ];
    judge_drift(
        &mut phases,
        &[ratio(Verdict::Regressed)],
        true,
        true,
        5.0,
        10.0,
    );
    assert_eq!(phases[0].verdict, r);
    // Another input: both doing more work is the input's doing.
    let mut phases = vec![
        phase("wasm", Phase::Call, r),
        phase("native", Phase::Call, r),
    ];
    judge_drift(
        &mut phases,
        &[ratio(Verdict::NoChange)],
        false,
        true,
        5.0,
        10.0,
    );
    assert_eq!(phases[0].verdict, r);
}

#[test]
fn a_change_the_machine_speed_explains_is_drift_and_one_beyond_it_is_not() {
    let mut rng = Rng::new(7);
    let base = sample(&mut rng, 1000, 20.0);
    let slowed: Vec<f64> = sample(&mut rng, 1000, 20.0)
        .iter()
        .map(|x| x * 1.14)
        .collect();
    let reference = |scale: f64, rng: &mut Rng| -> Vec<f64> {
        (0..100)
            .map(|_| scale * (10_000.0 + 100.0 * rng.unit()))
            .collect()
    };
    let (rb, rn) = (reference(1.0, &mut rng), reference(1.14, &mut rng));
    let bs = machine::Speed::from_times(&rb, med(&rb)).unwrap();
    let ns = machine::Speed::from_times(&rn, med(&rn)).unwrap();
    let n =
        machine::normalised_change((&base, med(&base)), (&slowed, med(&slowed)), &bs, &ns).unwrap();
    assert!(n.0.abs() < 2.0 && n.1 < 0.0 && n.2 > 0.0, "{n:?}");
    let mut p = phase("wasm", Phase::Execute, Verdict::Regressed);
    p.normalised_pct = Some(n);
    let mut phases = vec![p];
    judge_drift(&mut phases, &[], true, true, 5.0, 10.0);
    assert_eq!(phases[0].verdict, Verdict::Drift);
    // The same figures where the machine's speed held within noise: the
    // reference workload alone does not clear a change.
    let mut held = phases.clone();
    held[0].verdict = Verdict::Regressed;
    judge_drift(&mut held, &[], true, false, 5.0, 10.0);
    assert_eq!(held[0].verdict, Verdict::Regressed);
    // The same change on a machine whose speed held is a regression.
    let steady = reference(1.0, &mut rng);
    let ss = machine::Speed::from_times(&steady, med(&steady)).unwrap();
    let n =
        machine::normalised_change((&base, med(&base)), (&slowed, med(&slowed)), &bs, &ss).unwrap();
    assert!(n.1 > 10.0, "{n:?}");
    let mut p = phase("wasm", Phase::Execute, Verdict::Regressed);
    p.normalised_pct = Some(n);
    let mut phases = vec![p];
    judge_drift(&mut phases, &[], true, true, 5.0, 10.0);
    assert_eq!(phases[0].verdict, Verdict::Regressed);
}

#[test]
fn a_phase_of_zero_time_is_not_compared_rather_than_divided_by() {
    assert_eq!(change(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], 1.0, 1.0), None);
}

#[test]
fn changes_inside_either_noise_band_are_no_change() {
    // +8 % of 30 ns is 2.4 ns: inside a 10 ns floor.
    assert_eq!(verdict(6.0, 10.0, 30.0, 5.0, 10.0), Verdict::NoChange);
    assert_eq!(verdict(6.0, 10.0, 3000.0, 5.0, 10.0), Verdict::Regressed);
    assert_eq!(verdict(2.0, 4.0, 3000.0, 5.0, 10.0), Verdict::NoChange);
    assert_eq!(verdict(-10.0, -6.0, 3000.0, 5.0, 10.0), Verdict::Improved);
    assert_eq!(verdict(-3.0, 12.0, 3000.0, 5.0, 10.0), Verdict::NoChange);
}

#[test]
fn known_shifts_get_the_right_verdicts() {
    for seed in 0..20 {
        assert_eq!(judged(0.0, seed), Verdict::NoChange, "seed {seed}");
        assert_eq!(judged(0.10, seed), Verdict::Regressed, "seed {seed}");
        assert_eq!(judged(-0.10, seed), Verdict::Improved, "seed {seed}");
    }
}
