#![no_main]
// Filled in with the SMGP codec.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
