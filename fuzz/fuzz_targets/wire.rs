//! Arbitrary bytes → parse → (when Ok) emit → parse again, equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = utp_core::fuzzing::wire(data) {
        panic!("{violation}");
    }
});
