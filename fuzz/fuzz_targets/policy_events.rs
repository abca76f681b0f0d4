//! Event streams: a policy and events built from the input bytes through
//! the same generators as the proptest kit, so the fuzzer steers honest
//! traffic, bursts, attackers and window edges. No panic, and every
//! invariant holds. (The JSON-lines form is parsed by serde; its unknown
//! fields, negative and fractional amounts are refused in unit tests.)
#![no_main]

use kinko_policy::check_invariants;
use kinko_policy::gen::{self, ByteEntropy, Entropy};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let mut e = ByteEntropy::new(data);
    let config = gen::config(&mut e);
    let len = e.below(120) as usize;
    let events = gen::events(&config, &mut e, len);
    if let Err(v) = check_invariants(&config, &events) {
        panic!("{v}\nevents: {events:?}");
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
