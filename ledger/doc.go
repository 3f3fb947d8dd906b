// Package ledger is the public format of Probity's tamper-evident ledger and
// everything needed to verify it without the server: leaf hashes (RFC 6962,
// through golang.org/x/mod/sumdb/tlog), checkpoints as C2SP signed notes
// (golang.org/x/mod/sumdb/note, Ed25519), inclusion and consistency proofs,
// and exports of a whole log for audits with no server (WriteExport,
// VerifyExport). Each org has one append-only log; every record, audit entry
// and later every pact, eval result, score and incident is a leaf of it.
// Verifier errors are sentinels (ErrInclusion, ErrInconsistent, …) wrapped
// with what failed and where. docs/ledger.md says why it is built this way.
package ledger
