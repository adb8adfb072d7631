#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sessiond_fuzz::persist_snapshot(data));
