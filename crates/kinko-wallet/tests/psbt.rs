//! PSBT create, sign, combine, finalize, extract.
