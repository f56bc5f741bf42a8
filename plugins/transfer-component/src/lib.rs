//! The transfer plugin's checksum and the drug checker as a WebAssembly
//! component (built for wasm32-wasip2): the same functions as the core
//! plugins, behind the WIT world in `wit/transfer.wit`, so that wprof can
//! time what the component model's lowering and lifting cost against the
//! core-module ways.

// The transfer plugin's checksum, compiled from its own file: depending on
// that crate would link its `wprof_host` imports into the component.
#[cfg(target_family = "wasm")]
#[path = "../../transfer/src/fnv.rs"]
mod fnv;

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        world: "transfer",
        path: "wit",
    });

    struct Transfer;

    impl Guest for Transfer {
        fn checksum(data: Vec<u8>) -> u64 {
            super::fnv::checksum(&data)
        }

        fn check_interactions(req: CheckRequest) -> Vec<Interaction> {
            drug_checker::find_interactions(&req.medications)
                .into_iter()
                .map(|i| Interaction {
                    drug_a: i.drug_a,
                    drug_b: i.drug_b,
                    severity: i.severity.to_owned(),
                    description: i.description.to_owned(),
                })
                .collect()
        }
    }

    export!(Transfer);
}
