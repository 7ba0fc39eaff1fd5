//! Ring header validation on arbitrary bytes and sizes: must return an error or a geometry that
//! fits the stated size, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyrt_ring::{RingKind, validate_header};

fuzz_target!(|input: (Vec<u8>, u64)| {
    let (bytes, size) = input;
    for kind in [RingKind::Queue, RingKind::Broadcast] {
        if let Ok(geometry) = validate_header(&bytes, size, kind) {
            assert_eq!(geometry.file_size as u64, size);
            assert!(geometry.capacity.is_power_of_two());
        }
    }
});
