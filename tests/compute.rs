//! `wprof record compute`: the blur natively, in wasm with SIMD128 and
//! without, every output equal to native's.

mod common;

use common::Sandbox;

#[test]
fn simd_scalar_and_native_blur_the_same_image_alike() {
    let sb = Sandbox::new();
    sb.ok_line("record compute --image 160x90 --time-per-variant 20ms -o out");
    let run = sb.json("out/compute.json");
    assert_eq!(run["scenario"], "compute");
    assert_eq!(run["plugin"]["outputs_identical"], true);
    assert!(run["failures"].as_array().is_none_or(|f| f.is_empty()));
    assert_eq!(run["plugin"]["input_bytes"], 8 + 160 * 90 * 4);
    assert_eq!(run["plugin"]["output_bytes"], 160 * 90 * 4);
    let names: Vec<&str> = run["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["native", "wasm-simd", "wasm-scalar"]);
    // Two different modules: the SIMD build is not the scalar one.
    let simd = common::variant(&run, "wasm-simd")["module_bytes"]
        .as_u64()
        .unwrap();
    let scalar = common::variant(&run, "wasm-scalar")["module_bytes"]
        .as_u64()
        .unwrap();
    assert_ne!(simd, scalar);
    assert_eq!(run["summary"]["rows"].as_array().unwrap().len(), 3);
    let verdicts = run["verdicts"].to_string();
    assert!(
        verdicts.contains("SIMD128 makes the wasm blur "),
        "{verdicts}"
    );
}

#[test]
fn a_bad_image_size_is_refused() {
    let sb = Sandbox::new();
    let ran = sb.line("record compute --image 0x5 -o out");
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("from 1x1 to 100 megapixels"),
        "{}",
        ran.stderr
    );
    let ran = sb.line("record compute --image 8000x8000 --memory-limit 64 -o out");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("over the 64 MiB limit"),
        "{}",
        ran.stderr
    );
}
