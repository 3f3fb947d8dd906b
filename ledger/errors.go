package ledger

import "errors"

// Errors a verifier reports, each wrapped with what failed and where, so
// that errors.Is tells them apart and the message tells a person why.
var (
	// ErrMalformed: a checkpoint, note, key, proof or export that does not parse.
	ErrMalformed = errors.New("ledger: malformed")
	// ErrUnknownKey: a note carries no signature by the trusted key (it was
	// signed by another key, or the verifier holds the wrong one).
	ErrUnknownKey = errors.New("ledger: not signed by the trusted key")
	// ErrBadSignature: a signature by the trusted key does not verify; the
	// note was altered after signing.
	ErrBadSignature = errors.New("ledger: bad signature")
	// ErrOriginMismatch: a checkpoint is for another log than expected.
	ErrOriginMismatch = errors.New("ledger: origin mismatch")
	// ErrOutOfRange: an index or size outside the log (asked of a prover).
	ErrOutOfRange = errors.New("ledger: out of range")
	// ErrInclusion: an entry is not in the tree a checkpoint commits to.
	ErrInclusion = errors.New("ledger: inclusion proof failed")
	// ErrInconsistent: a checkpoint's tree does not extend an earlier one;
	// the log was forked or rewritten.
	ErrInconsistent = errors.New("ledger: log is inconsistent (forked or rewritten)")
	// ErrTampered: an export's entries differ from the log its checkpoint signs.
	ErrTampered = errors.New("ledger: export does not match its signed checkpoint")
)
