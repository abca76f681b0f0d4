//! Custody set-up files and their signatures: any bytes give a validated
//! set-up or a typed error, never a panic. The input is the set-up file's
//! bytes, a NUL, then the signatures text (lossy UTF-8); without a NUL it is
//! all set-up. Seed with `crates/kinko-cosigner/tests/data/setup.toml`, a
//! NUL and `setup.sigs` (see the README) to start from a signed set-up.
#![no_main]

use kinko_cosigner::setup::Setup;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let (setup, sigs) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], String::from_utf8_lossy(&data[i + 1..])),
        None => (data, "".into()),
    };
    match Setup::load_signed(setup, &sigs) {
        Ok(s) => {
            // A signed set-up has its quorum among its admins.
            let signed = s.signed_by(&sigs).expect("load_signed read these lines");
            assert!(signed.len() >= s.admin_quorum() as usize);
            assert!(s.admin_quorum() as usize <= s.admins().len());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match Setup::parse_unsigned(setup) {
        Ok(s) => {
            // Every rule the accessors promise.
            assert_eq!(s.id(), kinko_auth::SetupId::of_file(setup));
            assert!(s.admin_quorum() >= 1);
            assert!((1..=100_000).contains(&s.change_gap()));
            let (fee, rate) = s.fee_limits();
            assert!(fee.to_sat() > 0 && rate.to_sat_per_kwu() > 0);
            assert_eq!(s.policy().config().assets().count(), 1);
            assert_ne!(s.hot_wallet(), s.cold_wallet());
            let _ = (s.hot_wallet().descriptor(), s.cold_wallet().descriptor());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
