//! Signed human actions (kinko-auth) on the air-gapped machine: the action
//! keys a keystore derives, and which actions a person's key may sign.
//! Unsigned action files are read by [`kinko_auth::Action::from_json`].

use std::fmt;

use kinko_auth::{Action, SignedAction};
use kinko_keys::bitcoin::secp256k1::{Keypair, Secp256k1, Signing, XOnlyPublicKey};
use kinko_keys::bitcoin::NetworkKind;
use kinko_keys::{DeriveError, KeyPath, Keystore};

/// The rule that refuses, in a person's signer, an action only the
/// cosigner's audit key signs (an audit head).
pub const RULE_NOT_A_PERSON_ACTION: &str = "not-a-person-action";

/// Which of a keystore's action keys (docs/signed-messages.md, "Keys"):
/// kinko-auth's roles and paths, the one definition the cosigner uses too.
pub use kinko_auth::KeyRole as ActionRole;

/// A BIP-340 action key derived from a keystore. The secret is erased on
/// drop (`Keypair::non_secure_erase`), `Debug` prints `[redacted]`, and
/// nothing here returns or prints it: the key only signs.
pub struct ActionKey {
    keypair: Keypair,
}

impl fmt::Debug for ActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActionKey([redacted])")
    }
}

impl Drop for ActionKey {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl ActionKey {
    /// Derives the `role` key from the keystore's master key (the intermediate
    /// extended keys are wiped by kinko-keys).
    ///
    /// # Errors
    /// [`DeriveError`] in BIP32's probability-2^-127 case.
    pub fn derive<C: Signing>(
        secp: &Secp256k1<C>,
        keystore: &Keystore,
        role: ActionRole,
    ) -> Result<Self, DeriveError> {
        // The network only changes how an extended key is printed, never the
        // derived private key.
        let master = keystore.master_key(NetworkKind::Main)?;
        let derived = master.derive(secp, &KeyPath::from(role.path()))?;
        Ok(ActionKey {
            keypair: derived.expose_xpriv().to_keypair(secp),
        })
    }

    /// The x-only public key: what the set-up names (64 hex digits through
    /// [`kinko_auth::xonly_hex`]).
    pub fn public_key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// Signs `action` (BIP-340, fresh auxiliary randomness).
    pub fn sign(&self, action: &Action) -> SignedAction {
        action.sign(&self.keypair)
    }
}

/// Whether a person may sign `action` with the person key; `Err` names the
/// rule ([`RULE_NOT_A_PERSON_ACTION`]) and says why.
///
/// # Errors
/// An audit head: only the cosigner's audit key signs those.
pub fn check_person_action(action: &Action) -> Result<(), (&'static str, String)> {
    match action {
        Action::AuditHead { .. } => Err((
            RULE_NOT_A_PERSON_ACTION,
            "an audit head is signed by the cosigner's audit key, not by a person".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            KeyPath::from(ActionRole::Person.path()).to_string(),
            "m/1057h/0h/0h"
        );
        assert_eq!(
            KeyPath::from(ActionRole::Audit.path()).to_string(),
            "m/1057h/1h/0h"
        );
    }
}
