//! PsbtAnalysis: one test per refusal rule, each PSBT built as an attacker would.
