// Package ledger is the public format of Probity's tamper-evident ledger and
// everything needed to verify it without the server: leaf hashes (RFC 6962,
// through golang.org/x/mod/sumdb/tlog), checkpoints as C2SP signed notes
// (golang.org/x/mod/sumdb/note, Ed25519), and inclusion and consistency
// proofs. Each org has one append-only log; every record, audit entry and
// later every pact, eval result, score and incident is a leaf of it.
package ledger
