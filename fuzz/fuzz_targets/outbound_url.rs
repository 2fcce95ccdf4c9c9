//! URLs an outsider registers for monban to call: the outbound guard never
//! panics, and lets no IP literal through that is not public.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::outbound_url(data));
