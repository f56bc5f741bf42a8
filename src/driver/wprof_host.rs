//! The host functions wprof's bundled plugins import from `wprof_host`:
//! the payload (`read_input`) and a patient's lab values (`patient_len`,
//! `read_patient`), for the ways that let the guest pull its data instead
//! of having it copied in.

use std::sync::{Arc, OnceLock};

use wasmtime::{Caller, Engine, Linker, Memory};

use super::wasmtime::HostState;
use crate::error::{CallError, at};
use crate::phase::Phase;

/// What the transfer plugin's host functions hand out: the payload
/// (`read_input`) and a patient's lab values (`patient_len`,
/// `read_patient`), with the instance's memory once it exists.
#[derive(Clone, Default)]
pub struct HostData {
    /// The payload `read_input` copies.
    pub payload: Arc<[u8]>,
    /// The one patient's id and lab values `read_patient` copies.
    pub patient: (u32, Arc<[f64]>),
    /// The instance's linear memory, set right after instantiation.
    pub memory: Arc<OnceLock<Memory>>,
}

/// A linker that supplies the transfer plugin's imports from `data`.
pub fn linker(engine: &Engine, data: &HostData) -> Result<Linker<HostState<()>>, CallError> {
    let link = |e: wasmtime::Error| at(Phase::Link)(anyhow::Error::from(e));
    let mut linker = Linker::new(engine);
    let d = data.clone();
    linker
        .func_wrap(
            "wprof_host",
            "read_input",
            move |mut caller: Caller<'_, HostState<()>>, dst: i32, len: i32| -> i32 {
                let Some(memory) = d.memory.get() else {
                    return -1;
                };
                let n = (len.max(0) as usize).min(d.payload.len());
                match memory.write(&mut caller, dst as u32 as usize, &d.payload[..n]) {
                    Ok(()) => n as i32,
                    Err(_) => -1,
                }
            },
        )
        .map_err(link)?;
    let d = data.clone();
    linker
        .func_wrap("wprof_host", "patient_len", move |id: i32| -> i32 {
            if id as u32 == d.patient.0 {
                (d.patient.1.len() * 8) as i32
            } else {
                -1
            }
        })
        .map_err(link)?;
    let d = data.clone();
    linker
        .func_wrap(
            "wprof_host",
            "read_patient",
            move |mut caller: Caller<'_, HostState<()>>, id: i32, dst: i32, len: i32| -> i32 {
                let Some(memory) = d.memory.get() else {
                    return -1;
                };
                if id as u32 != d.patient.0 {
                    return -1;
                }
                // The values as they lie in host memory: little-endian f64s
                // on every host wprof builds for, the layout wasm reads.
                let labs: &[f64] = &d.patient.1;
                // SAFETY: any initialised f64 slice is also a byte slice of
                // 8 times its length.
                let bytes = unsafe {
                    std::slice::from_raw_parts(labs.as_ptr().cast::<u8>(), labs.len() * 8)
                };
                let n = (len.max(0) as usize).min(bytes.len());
                match memory.write(&mut caller, dst as u32 as usize, &bytes[..n]) {
                    Ok(()) => n as i32,
                    Err(_) => -1,
                }
            },
        )
        .map_err(link)?;
    Ok(linker)
}
