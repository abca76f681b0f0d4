//! Snapshot tests of `kinko-signer inspect` (trycmd: stdout, stderr and exit
//! status of each `tests/cmd/*.toml`), on fixed fixtures in `tests/cmd/data`.
//!
//! The fixtures are made by the ignored test below:
//! `cargo test -p kinko-signer --test tests regenerate_inspect_fixtures -- --ignored`,
//! then `TRYCMD=overwrite cargo test -p kinko-signer --test tests inspect_snapshots`.

use std::path::Path;

use bitcoin::Network;
use kinko_keys::keystore::MIN_WORK_FACTOR;
use kinko_keys::{Keystore, KeystoreOptions, Mnemonic, Passphrase, Registration};
use kinko_wallet::{MultisigWallet, PsbtEncoding};

use crate::fixtures::*;

#[test]
fn inspect_snapshots() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}

#[test]
#[ignore = "writes the fixtures of the snapshot tests"]
fn regenerate_inspect_fixtures() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/data");
    let hs = holders();
    let wallet = MultisigWallet::from_descriptor(&descriptor(&hs), Network::Testnet).unwrap();
    let mut ks = Keystore::new(Mnemonic::parse(PHRASES[0]).unwrap(), Passphrase::empty());
    ks.registrations_mut()
        .push(Registration::new("cold", wallet.descriptor()));
    let opts = KeystoreOptions::new()
        .with_work_factor(MIN_WORK_FACTOR)
        .unwrap();
    let path = data.join("holder0.age");
    let _ = std::fs::remove_file(&path);
    ks.create_file(&path, &Passphrase::from(PASS), &opts)
        .unwrap();

    let honest = honest_psbt(&hs);
    write_file(
        &data.join("honest.psbt"),
        &kinko_wallet::encode_psbt(&honest, PsbtEncoding::Base64),
    );
    write_file(&data.join("honest.bin"), &honest.serialize());
    // Change fraud: the change output pays a script the wallet does not derive.
    let mut fraud = honest.clone();
    fraud.unsigned_tx.output[1].script_pubkey = external().script_pubkey();
    write_file(
        &data.join("change-fraud.psbt"),
        &kinko_wallet::encode_psbt(&fraud, PsbtEncoding::Base64),
    );
    // A signed input and a sighash the signer refuses.
    let mut odd = honest.clone();
    odd.inputs[1].non_witness_utxo = None;
    write_file(
        &data.join("prev-tx-missing.psbt"),
        &kinko_wallet::encode_psbt(&odd, PsbtEncoding::Base64),
    );
    write_file(&data.join("garbage.psbt"), b"cHNidP8BAgarbage\n");
}
