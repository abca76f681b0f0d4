//! A 2-of-3 key ceremony, end to end, in a temporary directory.
//!
//! Three key holders each make a 24-word mnemonic and an encrypted keystore
//! (what `kinko-signer init` does on each air-gapped machine), reopen it with
//! their passphrase and export their BIP48 account xpub with its origin
//! (`kinko-signer xpub --network testnet`). The coordinator joins the three
//! into the multisig descriptor
//! `wsh(sortedmulti(2,[fp/48h/1h/0h/2h]tpub…/<0;1>/*,…))`.
//!
//! ```sh
//! cargo run --release -p kinko-keys --example key_ceremony
//! ```
//!
//! The keystores use the real scrypt work factor (2^18), so each one takes
//! about a second to write and to open.

#![allow(clippy::print_stdout)]

use std::str::FromStr;

use bitcoin::secp256k1::Secp256k1;
use bitcoin::Network;
use kinko_keys::{
    KeyPath, Keystore, KeystoreOptions, Language, Mnemonic, OriginXpub, Passphrase, WordCount,
};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = Network::Testnet;
    let secp = Secp256k1::new();
    let dir = tempfile::tempdir()?;
    let options = KeystoreOptions::new();
    let path = KeyPath::bip48(network, 0)?;
    println!("kinko key ceremony: 2-of-3 P2WSH multisig on {network}");
    println!(
        "working directory (deleted at the end): {}",
        dir.path().display()
    );
    println!();

    let holders = [
        ("alice", Language::English),
        ("bob", Language::English),
        ("chiyo", Language::Japanese),
    ];
    let mut xpubs: Vec<OriginXpub> = Vec::new();
    for (name, language) in holders {
        // 1. On the holder's offline machine: a new mnemonic and a keystore.
        let mnemonic = Mnemonic::generate(WordCount::W24, language)?;
        let file = dir.path().join(format!("{name}.age"));
        let passphrase = Passphrase::from(format!("{name}'s demo passphrase"));
        Keystore::new(mnemonic, Passphrase::empty()).create_file(&file, &passphrase, &options)?;
        println!(
            "{name}: 24 {language} words made (a real holder writes them on paper now), keystore {}",
            file.file_name().unwrap_or_default().to_string_lossy()
        );

        // 2. Later, the holder opens the keystore and exports the account xpub.
        let keystore = Keystore::open_file(&file, &passphrase, &options)?;
        let xpub = keystore.account_xpub(&secp, network, &path)?;
        println!("{name}: {xpub}");
        // What a coordinator receives is text; it parses strictly.
        xpubs.push(OriginXpub::from_str(&xpub.to_string())?);
    }

    // 3. The coordinator builds the descriptor from the three origins.
    let keys: Vec<String> = xpubs.iter().map(|x| format!("{x}/<0;1>/*")).collect();
    let descriptor = format!("wsh(sortedmulti(2,{}))", keys.join(","));
    println!();
    println!("descriptor (receive and change, BIP389 multipath):");
    println!("{descriptor}");

    // Check it with rust-miniscript and show its checksum and first address.
    let parsed = Descriptor::<DescriptorPublicKey>::from_str(&descriptor)?;
    println!();
    println!("with checksum, as Bitcoin Core, Sparrow and BDK import it:");
    println!("{parsed}");
    let receive = parsed
        .into_single_descriptors()?
        .remove(0)
        .at_derivation_index(0)?;
    println!();
    println!("first receive address: {}", receive.address(network)?);
    Ok(())
}
