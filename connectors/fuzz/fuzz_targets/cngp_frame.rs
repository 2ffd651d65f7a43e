#![no_main]
// Filled in with the CNGP codec.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
