#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pairrm_web_fuzz::run("alpaca_join", data));
