package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// ValidOrigin reports whether origin can name a log and its signing key: it
// must be a valid signed-note key name (non-empty UTF-8 with no Unicode
// spaces and no '+') and hold no control characters.
func ValidOrigin(origin string) error {
	switch {
	case origin == "":
		return fmt.Errorf("%w origin: empty", ErrMalformed)
	case !utf8.ValidString(origin):
		return fmt.Errorf("%w origin %q: not UTF-8", ErrMalformed, origin)
	case strings.ContainsFunc(origin, unicode.IsSpace):
		return fmt.Errorf("%w origin %q: contains a space", ErrMalformed, origin)
	case strings.Contains(origin, "+"):
		return fmt.Errorf("%w origin %q: contains '+'", ErrMalformed, origin)
	case strings.ContainsFunc(origin, isControl):
		return fmt.Errorf("%w origin %q: contains a control character", ErrMalformed, origin)
	}
	return nil
}

// NewOrigin returns a fresh origin for an org's log:
// probity/<org>/<16 random hex digits>. The random part tells apart two logs
// of the same org, such as one kept before and one after a database reset.
func NewOrigin(org string) (string, error) {
	if org == "" || strings.Contains(org, "/") {
		return "", fmt.Errorf("%w origin: org %q is empty or contains '/'", ErrMalformed, org)
	}
	var id [8]byte
	rand.Read(id[:]) // never fails: crypto/rand crashes the program instead
	origin := "probity/" + org + "/" + hex.EncodeToString(id[:])
	if err := ValidOrigin(origin); err != nil {
		return "", err
	}
	return origin, nil
}

// GenerateKey makes an Ed25519 key pair for signing origin's checkpoints. The
// key name is the origin. signerKey is secret (PRIVATE+KEY+<origin>+…);
// verifierKey (<origin>+<key id>+<key>) is published and given to verifiers.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	if err := ValidOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

// A Signer signs checkpoints of the one log its key is named for.
type Signer struct {
	s note.Signer
}

// NewSigner returns a Signer for an encoded signer key from GenerateKey.
func NewSigner(signerKey string) (*Signer, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		// note's error may quote the key; never repeat a secret.
		return nil, fmt.Errorf("%w signer key", ErrMalformed)
	}
	if err := ValidOrigin(s.Name()); err != nil {
		return nil, err
	}
	return &Signer{s: s}, nil
}

// Origin returns the origin the signer signs for: its key name.
func (s *Signer) Origin() string { return s.s.Name() }

// Sign returns c as a signed note. c's origin must be the signer's.
func (s *Signer) Sign(c Checkpoint) ([]byte, error) {
	if c.Origin != s.s.Name() {
		return nil, fmt.Errorf("%w: signing a checkpoint for %q with the key for %q", ErrOriginMismatch, c.Origin, s.s.Name())
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("%w checkpoint: negative size %d", ErrMalformed, c.Size)
	}
	return note.Sign(&note.Note{Text: string(c.Marshal())}, s.s)
}

// OpenCheckpoint verifies a signed checkpoint against verifierKey and returns
// it. The note must carry a valid signature by that key (other signatures,
// such as witnesses' cosignatures, are ignored), and its origin must be the
// key's name. Errors wrap ErrMalformed, ErrUnknownKey, ErrBadSignature or
// ErrOriginMismatch.
func OpenCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w verifier key %q", ErrMalformed, verifierKey)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return Checkpoint{}, fmt.Errorf("%w %s+%08x: checkpoint is signed by %s", ErrUnknownKey, v.Name(), v.KeyHash(), strings.Join(by, ", "))
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: signature by %s+%08x does not verify; the checkpoint was altered after signing", ErrBadSignature, invalid.Name, invalid.Hash)
		}
		return Checkpoint{}, fmt.Errorf("%w signed note", ErrMalformed)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint origin %q, signed by the key for %q", ErrOriginMismatch, c.Origin, v.Name())
	}
	return c, nil
}
