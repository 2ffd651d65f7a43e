#![no_main]
// Filled in with the SGIP codec.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
