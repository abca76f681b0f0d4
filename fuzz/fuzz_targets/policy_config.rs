//! Policy files: any text parses to a validated config or a typed error,
//! never a panic; a valid config's loss bounds and proposals compute.
#![no_main]

use kinko_policy::{
    loss_bound, proposals, Amount, AssetState, AssetStateParts, Config, Duration,
};
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml_str(text) {
        Ok(c) => c,
        Err(e) => {
            // Errors render (and name a key or carry the toml error).
            let _ = e.to_string();
            return;
        }
    };
    for (id, p) in config.assets() {
        for h in [60, 3_600, 86_400, kinko_policy::MAX_DURATION_SECS] {
            let b = loss_bound(p, Duration::from_secs(h).expect("at most the maximum"));
            for custody in [0, 1, 1_000_000, u64::MAX].map(Amount::from_units) {
                let (amount, _) = b.at_custody(custody);
                assert!(amount <= custody);
            }
            let _ = (b.absolute(), b.share_bps());
        }
        for (hot, cold) in [(0, 0), (u64::MAX / 2, u64::MAX / 2), (1, u64::MAX - 1)] {
            let s = AssetState::from_parts(AssetStateParts {
                hot: Amount::from_units(hot),
                cold: Amount::from_units(cold),
                ..Default::default()
            });
            let _ = proposals(p, &s, id);
        }
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
