//! The embedded receiver's decoder and assembler fed the packets a sender (or anyone)
//! sends: formats, payloads, sequence numbers, timestamps and FLUSHes as the input says.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airstream_receiver::fuzzing::decode_and_assemble(data);
});
