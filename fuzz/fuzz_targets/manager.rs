//! See `utp_core::fuzzing::manager`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = utp_core::fuzzing::manager(data) {
        panic!("{violation}");
    }
});
