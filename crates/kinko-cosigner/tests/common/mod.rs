//! Fixtures shared by the integration tests: fixed test keys, the example
//! custody set-up (of any policy), and an [`Authority`] over a SQLite ledger
//! with a clock the test moves, a fabricated funding transaction and PSBTs
//! signed by the exchange's hot key.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_auth::{Action, SetupId, SignedAction, UnixTime};
use kinko_cosigner::{Authority, AuthorityError, Clock, OpenAuthorityError, Setup};
use kinko_ledger::AuditRecord;
use kinko_policy::{Timestamp, Wallet};
use kinko_wallet::{CreateParams, Keychain, MultisigWallet, Utxo, XprvSigner};

/// The master key of test keystore `seed` (regtest).
pub fn master(seed: u8) -> Xpriv {
    Xpriv::new_master(Network::Regtest, &[seed; 32]).unwrap()
}

/// The action key of a keystore at `path` (`m/1057'/0'/0'` for a person,
/// `m/1057'/1'/0'` for the cosigner's audit key).
pub fn action_key(seed: u8, path: &str) -> Keypair {
    let secp = Secp256k1::new();
    let path: DerivationPath = path.parse().unwrap();
    master(seed)
        .derive_priv(&secp, &path)
        .unwrap()
        .to_keypair(&secp)
}

/// A person's action key (approver or admin).
pub fn person(seed: u8) -> Keypair {
    action_key(seed, "m/1057'/0'/0'")
}

/// The cosigner's audit key (keystore 2).
pub fn audit_key() -> Keypair {
    action_key(2, "m/1057'/1'/0'")
}

pub fn hex(k: &Keypair) -> String {
    kinko_auth::xonly_hex(&k.x_only_public_key().0)
}

/// The wallet key of keystore `seed` (`m/48'/1'/0'/2'`).
pub fn signer(seed: u8) -> XprvSigner {
    let path: DerivationPath = "m/48'/1'/0'/2'".parse().unwrap();
    XprvSigner::from_master(&master(seed), &path).unwrap()
}

/// A wallet key as a descriptor writes it: `[fp/origin]xpub/<0;1>/*`.
pub fn descriptor_key(signer: &XprvSigner) -> String {
    let (fp, origin) = signer.origin();
    let origin = origin.to_string();
    let origin = origin.trim_start_matches("m/");
    format!("[{fp}/{origin}]{}/<0;1>/*", signer.account_xpub())
}

/// The 2-of-3 `wsh(sortedmulti)` of these descriptor keys.
pub fn wallet_of(keys: &[String]) -> MultisigWallet {
    MultisigWallet::from_descriptor(
        &format!("wsh(sortedmulti(2,{}))", keys.join(",")),
        Network::Regtest,
    )
    .unwrap()
}

/// The 2-of-3 `wsh(sortedmulti)` of these keystores.
pub fn wallet(seeds: [u8; 3]) -> MultisigWallet {
    let keys: Vec<String> = seeds.iter().map(|s| descriptor_key(&signer(*s))).collect();
    wallet_of(&keys)
}

/// The example set-up's policy.
pub const POLICY: &str = r#"[assets.BTC]
hot_cap = 2_000_000_000
max_withdrawal = 500_000_000

[[assets.BTC.windows]]
duration = "24h"
limit = 1_000_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 100_000_000
"#;

/// The example set-up with `policy`: hot wallet of keystores [1 exchange,
/// 2 cosigner, 3 backup], cold of [4, 5, 6]; approvers alice (0x11) and bob
/// (0x12); admins carol (0x21), dave (0x22), erin (0x23), two of whom must
/// sign; the audit key is the cosigner's (keystore 2).
pub fn setup_text(policy: &str) -> String {
    setup_text_of(
        &wallet([1, 2, 3]),
        &wallet([4, 5, 6]),
        &hex(&audit_key()),
        policy,
    )
}

/// The set-up of [`setup_text`] with other wallets and audit key (a
/// cosigner whose keys come from a real keystore).
pub fn setup_text_of(
    hot: &MultisigWallet,
    cold: &MultisigWallet,
    audit: &str,
    policy: &str,
) -> String {
    format!(
        r#"# kinko custody set-up: pinned at the key ceremony, signed by the admins.
version = 1
asset = "BTC"
network = "regtest"
hot_descriptor = "{hot}"
cold_descriptor = "{cold}"
change_gap = 1000
audit_key = "{audit}"
admin_quorum = 2
# The policy (kinko-policy TOML), exactly as hashed: the first newline after
# the opening quotes is not part of the string.
policy = '''
{policy}'''

[fees]
max_fee_sat = 100000
max_fee_rate_sat_vb = 200

[chain]
reference_height = 870000
reference_time = "2024-11-20T00:00:00Z"

[[approvers]]
name = "alice"
key = "{alice}"

[[approvers]]
name = "bob"
key = "{bob}"

[[admins]]
name = "carol"
key = "{carol}"

[[admins]]
name = "dave"
key = "{dave}"

[[admins]]
name = "erin"
key = "{erin}"
"#,
        hot = hot.descriptor(),
        cold = cold.descriptor(),
        alice = hex(&person(0x11)),
        bob = hex(&person(0x12)),
        carol = hex(&person(0x21)),
        dave = hex(&person(0x22)),
        erin = hex(&person(0x23)),
    )
}

/// Keystore `seed`'s person key signs `text` as a set-up (deterministic).
pub fn sign_setup(text: &str, seed: u8) -> String {
    Action::SetupSignature {
        setup_id: SetupId::of_file(text.as_bytes()),
    }
    .sign_with_aux_rand(&person(seed), &[seed; 32])
    .to_json()
}

/// The set-up text of `policy` and the signatures of carol and dave.
pub fn signed_setup(policy: &str) -> (String, String) {
    let text = setup_text(policy);
    let sigs = [0x21, 0x22]
        .iter()
        .map(|s| sign_setup(&text, *s) + "\n")
        .collect();
    (text, sigs)
}

/// An address outside every wallet of the set-up.
pub fn outside(n: u8) -> Address {
    Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51, n]), Network::Regtest)
}

/// When the fixture's day starts.
pub const START: &str = "2026-01-26T09:00:00Z";
/// The hot coins of the funding transaction: four of 5 BTC.
pub const COIN: u64 = 500_000_000;

/// The cosigner's authority over a fresh SQLite ledger, its clock, and what
/// the exchange's backend holds: its hot key and the hot wallet's coins.
pub struct Fixture {
    pub authority: Authority<XprvSigner>,
    pub setup: Setup,
    pub clock: Arc<AtomicI64>,
    pub url: String,
    pub db: PathBuf,
    pub hot: MultisigWallet,
    pub exchange: XprvSigner,
    /// The hot wallet's third key, to show what the exchange signed is valid.
    pub backup: XprvSigner,
    pub utxos: Vec<Utxo>,
    pub txouts: HashMap<OutPoint, TxOut>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// The set-up of `policy` signed by carol and dave, its authority open
    /// at [`START`], and the funding transaction (4 × [`COIN`] to hot
    /// receive addresses 0..4) reported as a hot deposit.
    pub fn new(policy: &str) -> Self {
        Self::over(policy, None)
    }

    /// [`Fixture::new`] over the ledger at `url` (a PostgreSQL schema the
    /// test made for itself) instead of a fresh SQLite file.
    pub fn with_url(policy: &str, url: &str) -> Self {
        Self::over(policy, Some(url))
    }

    fn over(policy: &str, url: Option<&str>) -> Self {
        let (text, sigs) = signed_setup(policy);
        let setup = Setup::load_signed(text.as_bytes(), &sigs).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("l.db");
        let url = url.map_or_else(|| format!("sqlite:{}", db.display()), str::to_owned);
        let clock = Arc::new(AtomicI64::new(
            Timestamp::parse_rfc3339(START).unwrap().unix(),
        ));
        let authority = open(&setup, &url, &clock).unwrap();
        let hot = setup.hot_wallet().clone();
        let (utxos, txouts) = funding(&hot);
        let mut f = Fixture {
            authority,
            setup,
            clock,
            url,
            db,
            hot,
            exchange: signer(1),
            backup: signer(3),
            utxos,
            txouts,
            _dir: dir,
        };
        f.authority
            .report_deposit(Wallet::Hot, 4 * COIN)
            .expect("the funding deposit is recorded");
        f
    }

    /// The cosigner's time now.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.clock.load(Ordering::SeqCst))
    }

    /// Moves the cosigner's clock on.
    pub fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// Opens a second authority on the same ledger (a restart).
    pub fn reopen(&self) -> Result<Authority<XprvSigner>, OpenAuthorityError> {
        open(&self.setup, &self.url, &self.clock)
    }

    /// The attacker's handle on the ledger file.
    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }

    /// Every record of the BTC chain.
    pub fn records(&mut self) -> Vec<AuditRecord> {
        self.authority
            .ledger()
            .audit_records("BTC", 0, 100_000)
            .unwrap()
    }

    /// The last record of the BTC chain.
    pub fn last_record(&mut self) -> AuditRecord {
        self.records().pop().expect("a record")
    }

    /// An approval of `id` (paying `amount` to `destination`) by keystore
    /// `seed`'s person key, for this set-up, expiring in an hour.
    pub fn approval(&self, seed: u8, id: &str, destination: &Address, amount: u64) -> SignedAction {
        self.approval_action(id, destination, amount)
            .sign(&person(seed))
    }

    /// The approval action itself (to sign or to bend).
    pub fn approval_action(&self, id: &str, destination: &Address, amount: u64) -> Action {
        Action::Approval {
            setup_id: self.setup.id(),
            asset: "BTC".into(),
            withdrawal_id: id.into(),
            destination: destination.to_string(),
            amount,
            expires: self.expires_in(3600),
        }
    }

    /// `secs` from the cosigner's now, as an expiry.
    pub fn expires_in(&self, secs: i64) -> UnixTime {
        UnixTime::from_unix(self.now().unix() + secs)
    }

    /// An unsigned PSBT of the hot wallet paying `to`, its change at
    /// `change_index`.
    pub fn create(&self, to: &[(&Address, u64)], sat_per_vb: u64, change_index: u32) -> Psbt {
        create_psbt(&self.hot, &self.utxos, to, sat_per_vb, change_index)
    }

    /// Signs `psbt` with the exchange's hot key, checking the signatures are
    /// valid (with the backup key's, the transaction passes Bitcoin Core's
    /// interpreter).
    pub fn exchange_signs(&self, mut psbt: Psbt) -> Psbt {
        let r = self.hot.sign(&mut psbt, &self.exchange).unwrap();
        assert_eq!(r.signatures(), psbt.inputs.len());
        let mut full = psbt.clone();
        self.hot.sign(&mut full, &self.backup).unwrap();
        self.verify(full);
        psbt
    }

    /// A PSBT paying `to` (change at index 0), signed by the exchange.
    pub fn psbt(&self, to: &[(&Address, u64)], sat_per_vb: u64) -> Psbt {
        self.exchange_signs(self.create(to, sat_per_vb, 0))
    }

    /// A PSBT paying `to`, its transaction edited by hand (lock time,
    /// version, sequences) before the exchange signs it.
    pub fn psbt_edited(&self, to: &[(&Address, u64)], edit: impl FnOnce(&mut Transaction)) -> Psbt {
        let mut psbt = self.create(to, 5, 0);
        edit(&mut psbt.unsigned_tx);
        self.hot.sign(&mut psbt, &self.exchange).unwrap();
        psbt
    }

    /// Finalizes `psbt` and checks the transaction with libbitcoinconsensus.
    pub fn verify(&self, mut psbt: Psbt) {
        kinko_wallet::finalize(&mut psbt).unwrap();
        let tx = kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap();
        tx.verify(|op| self.txouts.get(op).cloned())
            .expect("libbitcoinconsensus accepts the transaction");
    }
}

/// A fabricated funding transaction paying 4 × [`COIN`] to `hot`'s
/// receive addresses 0..4: its outputs as the wallet's coins, and the
/// outputs by outpoint (for the script interpreter).
pub fn funding(hot: &MultisigWallet) -> (Vec<Utxo>, HashMap<OutPoint, TxOut>) {
    let prev = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: (0..4)
            .map(|i| TxOut {
                value: Amount::from_sat(COIN),
                script_pubkey: hot.script_pubkey(Keychain::Receive, i).unwrap(),
            })
            .collect(),
    };
    let txid = prev.compute_txid();
    let mut txouts = HashMap::new();
    let utxos = (0..4u32)
        .map(|i| {
            let outpoint = OutPoint::new(txid, i);
            txouts.insert(outpoint, prev.output[i as usize].clone());
            Utxo {
                outpoint,
                amount: Amount::from_sat(COIN),
                keychain: Keychain::Receive,
                index: i,
                prev_tx: prev.clone(),
            }
        })
        .collect();
    (utxos, txouts)
}

/// An unsigned PSBT of `hot` spending `utxos` to pay `to`, its change at
/// `change_index`.
pub fn create_psbt(
    hot: &MultisigWallet,
    utxos: &[Utxo],
    to: &[(&Address, u64)],
    sat_per_vb: u64,
    change_index: u32,
) -> Psbt {
    hot.create_psbt(
        utxos,
        &CreateParams {
            recipients: to
                .iter()
                .map(|(a, s)| (a.as_unchecked().clone(), Amount::from_sat(*s)))
                .collect(),
            fee_rate: FeeRate::from_sat_per_vb(sat_per_vb).unwrap(),
            change_index,
            spend_all: false,
        },
    )
    .unwrap()
    .psbt
}

/// The authority of `setup` over `url`, with the cosigner's keys and `clock`.
pub fn open(
    setup: &Setup,
    url: &str,
    clock: &Arc<AtomicI64>,
) -> Result<Authority<XprvSigner>, OpenAuthorityError> {
    open_skewed(setup, url, clock, 0)
}

/// [`open`] on a host whose clock reads `skew` seconds off `clock`.
pub fn open_skewed(
    setup: &Setup,
    url: &str,
    clock: &Arc<AtomicI64>,
    skew: i64,
) -> Result<Authority<XprvSigner>, OpenAuthorityError> {
    let c = Arc::clone(clock);
    Authority::open(
        setup.clone(),
        url,
        signer(2),
        audit_key(),
        Clock::Custom(Arc::new(move || {
            Timestamp::from_unix(c.load(Ordering::SeqCst) + skew)
        })),
    )
}

/// The rule name of a refusal; panics on anything else.
pub fn rule<T: std::fmt::Debug>(r: Result<T, AuthorityError>) -> String {
    match r {
        Err(e) => match e.rule() {
            Some(rule) => rule.as_str().to_owned(),
            None => panic!("expected a refusal, got {e}"),
        },
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

/// The refusal's rule name and detail; panics on anything else.
pub fn refusal<T: std::fmt::Debug>(r: Result<T, AuthorityError>) -> (String, String) {
    match r {
        Err(AuthorityError::Refused { rule, detail }) => (rule.as_str().to_owned(), detail),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The admin quorum's signed `policy-change` for `text`, change `sequence`.
pub fn policy_change(
    f: &Fixture,
    text: &str,
    sequence: u64,
    seeds: &[u8],
) -> Vec<kinko_auth::SignedAction> {
    let sha = kinko_ledger::Policy::from_toml_str(text)
        .unwrap()
        .sha256()
        .unwrap()
        .parse()
        .unwrap();
    seeds
        .iter()
        .map(|s| {
            Action::PolicyChange {
                setup_id: f.setup.id(),
                asset: "BTC".into(),
                policy_sha256: sha,
                sequence,
                expires: f.expires_in(3600),
            }
            .sign(&person(*s))
        })
        .collect()
}

/// splitmix64: enough randomness for a reproducible stream.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The environment variable `name` as a number, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A schema of this run's own in `DATABASE_URL`, dropped with it.
pub struct Schema {
    base: String,
    name: String,
    pub url: String,
}

impl Schema {
    /// A new schema named `{prefix}_{pid}_{nanos}`; `None` (with a note on
    /// stderr naming `what` is skipped) when `DATABASE_URL` is unset.
    pub fn new(prefix: &str, what: &str) -> Option<Self> {
        let base = match std::env::var("DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("DATABASE_URL is unset: skipping {what}");
                }
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Some(Schema { base, name, url })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// The audit payload of a decided event (as `kinko-ledger` writes it).
#[derive(serde::Deserialize)]
pub struct DecisionPayload {
    pub event: kinko_policy::Event,
    pub changes: Vec<kinko_policy::Change>,
}

/// The audit payload of a cosign.
#[derive(serde::Deserialize)]
pub struct CosignPayload {
    pub id: String,
    pub result: String,
    #[serde(default)]
    pub txid: Option<String>,
}
