package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The fixed type names of an attestation.
const (
	// PayloadType is the DSSE payload type of an in-toto statement, the only
	// one Verify accepts.
	PayloadType = "application/vnd.in-toto+json"
	// StatementType is the _type of an in-toto Statement v1.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType names Probity's trust predicate, version 1.
	PredicateType = "https://probity.dev/attestation/trust/v1"
)

// Key statuses in GET /v1/keys.
const (
	StatusActive  = "active"  // signs new attestations
	StatusRetired = "retired" // signs no more, still verifies what it signed
)

// Errors Verify reports, each wrapped with what failed, so that errors.Is
// tells them apart and the message tells a person why.
var (
	// ErrMalformed: an envelope, statement, predicate or key that does not
	// parse or breaks the format (wrong payload type, statement type,
	// predicate type, subject name or digest).
	ErrMalformed = errors.New("attest: malformed")
	// ErrUnknownKey: no signature names a key id among the trusted keys.
	ErrUnknownKey = errors.New("attest: not signed by a trusted key")
	// ErrBadSignature: a signature names a trusted key but does not verify
	// with it; the attestation was altered after signing.
	ErrBadSignature = errors.New("attest: bad signature")
	// ErrExpired: the attestation is outside its validity period: past its
	// expiresAt, or issued in the future.
	ErrExpired = errors.New("attest: expired")
	// ErrSubjectMismatch: the attestation is not about the agent asked for,
	// or its subject digest is not that of its own predicate.
	ErrSubjectMismatch = errors.New("attest: subject mismatch")
)

// An Envelope is a DSSE envelope (envelope.md of the DSSE spec).
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"` // base64 of the statement; Sign writes standard base64
	Signatures  []Signature `json:"signatures"`
}

// A Signature is one signature of an Envelope: Ed25519 over
// PAE(payloadType, payload), in base64, with the signing key's KeyID.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// A Statement is an in-toto Statement v1 with one subject, the agent. The
// predicate stays raw, exactly as signed; Verify also decodes it.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// A Subject is an in-toto resource descriptor: here agent:<org>/<id> and
// {"sha256": SubjectDigest(…)}.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// A Predicate is the trust state an attestation signs: the score object of
// GET /v1/agents/{id}/score, when it was issued and until when it holds, and
// the ledger checkpoint it is consistent with.
type Predicate struct {
	AgentID           string             `json:"agentId"`
	CompositeScore    int                `json:"compositeScore"` // 0–1000
	Confidence        float64            `json:"confidence"`     // 0–1
	CertificationTier string             `json:"certificationTier"`
	Dimensions        map[string]float64 `json:"dimensions"` // each 0–1
	ScoreVelocity     Velocity           `json:"scoreVelocity"`
	SecurityPosture   SecurityPosture    `json:"securityPosture"`
	Evidence          Evidence           `json:"evidence"`
	Model             Model              `json:"model"`
	Pact              Pact               `json:"pact,omitzero"` // none when the agent has no pact
	ComputedAt        time.Time          `json:"computedAt,omitzero"`

	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Ledger    Ledger    `json:"ledger"`
}

// Velocity is the change of the composite score, in points, over the last
// day, 7 days and 30 days.
type Velocity struct {
	Last1Day   float64 `json:"last1Day"`
	Last7Days  float64 `json:"last7Days"`
	Last30Days float64 `json:"last30Days"`
}

// SecurityPosture is the agent's badges, open incidents and OWASP LLM Top
// 10 coverage.
type SecurityPosture struct {
	Badges          []string          `json:"badges"`
	OpenIncidents   OpenIncidents     `json:"openIncidents"`
	CleanStreakDays int               `json:"cleanStreakDays"`
	OWASP           map[string]string `json:"owasp,omitempty"`
}

// OpenIncidents counts the agent's open incidents by severity.
type OpenIncidents struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
}

// Evidence is how much the score rests on.
type Evidence struct {
	EvalCases    int64     `json:"evalCases"`
	Records      int64     `json:"records"`
	LastEvalAt   time.Time `json:"lastEvalAt,omitzero"`
	LastRecordAt time.Time `json:"lastRecordAt,omitzero"`
}

// Model is the model the agent ran on when it was scored.
type Model struct {
	Provider string `json:"provider"`
	Name     string `json:"name"`
	Version  string `json:"version"`
}

// Pact is the pact version the agent was held to: its id, version number
// and digest ("sha256:<hex>" of its canonical form).
type Pact struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Digest  string `json:"digest"`
}

// Ledger is the org's ledger checkpoint the trust state is consistent
// with: every record and result the score rests on is a leaf of the tree
// it signs. Checkpoint is the signed note exactly as signed (package
// ledger's OpenCheckpoint verifies it with the ledger's verifier key);
// Origin, Size and RootHash (standard base64, as in the note) repeat its
// body.
type Ledger struct {
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	RootHash   string `json:"rootHash"`
	Checkpoint string `json:"checkpoint"`
}

// A PublicKey is a key that signs (active) or signed (retired) an org's
// attestations.
type PublicKey struct {
	KeyID     string
	PublicKey ed25519.PublicKey
	Status    string // StatusActive or StatusRetired
}

// Expect is what a verifier wants an attestation to be about, beyond what
// every attestation must be. Empty fields are not checked.
type Expect struct {
	// Subject is the agent's subject name, agent:<org>/<id>.
	Subject string
	// Digest is the subject digest in hex, SubjectDigest of the agent,
	// model version and pact digest the verifier relies on.
	Digest string
}

// Verified is an attestation that verified: its statement, its predicate
// and the key whose signature verified. A retired key still verifies what
// it signed; Key.Status says so.
type Verified struct {
	Statement Statement
	Predicate Predicate
	Key       PublicKey
}

// SubjectName returns an agent's subject name: agent:<org>/<id>.
func SubjectName(org, agentID string) string { return "agent:" + org + "/" + agentID }

// SubjectDigest returns the subject digest of an agent: the lowercase hex
// SHA-256 of the RFC 8785 (JCS) canonical JSON of its identity, model
// version and pact digest, which is exactly the bytes
//
//	{"agentId":A,"modelVersion":M,"org":O,"pactDigest":P}
//
// with no white space, keys in that order, and each value a JSON string:
// '"' and '\' escaped with a backslash, \b \t \n \f \r for those five
// control characters, \u00xx (lowercase hex) for the other characters
// below U+0020, every other character as its UTF-8 bytes. Bytes that are
// not UTF-8 are each replaced by U+FFFD first (agent ids, orgs and pact
// digests never hold any).
func SubjectDigest(org, agentID, modelVersion, pactDigest string) string {
	var b []byte
	b = append(b, `{"agentId":`...)
	b = appendJCSString(b, agentID)
	b = append(b, `,"modelVersion":`...)
	b = appendJCSString(b, modelVersion)
	b = append(b, `,"org":`...)
	b = appendJCSString(b, org)
	b = append(b, `,"pactDigest":`...)
	b = appendJCSString(b, pactDigest)
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendJCSString appends s as a JSON string serialized per RFC 8785
// section 3.2.2.2.
func appendJCSString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s { // invalid UTF-8 ranges as U+FFFD
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			if r < 0x20 {
				b = fmt.Appendf(b, `\u%04x`, r)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// KeyID returns the key id of an Ed25519 public key: the lowercase hex of
// the first 16 bytes of the SHA-256 of its 32 raw bytes (32 hex digits).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// PAE is DSSE's pre-authentication encoding, the bytes a signature covers:
//
//	"DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload
//
// with SP one space and LEN the byte length in decimal, no leading zeros.
func PAE(payloadType, payload []byte) []byte {
	b := make([]byte, 0, len("DSSEv1  ")+2*20+len(payloadType)+len(payload)+2)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// NewStatement returns the statement that attests p for an agent of org:
// its subject is SubjectName(org, p.AgentID) with the digest
// SubjectDigest(org, p.AgentID, p.Model.Version, p.Pact.Digest).
func NewStatement(org string, p Predicate) (Statement, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return Statement{}, fmt.Errorf("%w predicate: %v", ErrMalformed, err)
	}
	st := Statement{
		Type: StatementType,
		Subject: []Subject{{
			Name:   SubjectName(org, p.AgentID),
			Digest: map[string]string{"sha256": SubjectDigest(org, p.AgentID, p.Model.Version, p.Pact.Digest)},
		}},
		PredicateType: PredicateType,
		Predicate:     raw,
	}
	if _, err := check(st); err != nil {
		return Statement{}, err
	}
	return st, nil
}

// Sign returns st in a DSSE envelope signed by priv, naming the key keyID
// (normally KeyID(priv.Public())). It refuses a statement that Verify would
// reject as malformed or as not matching its own subject.
func Sign(st Statement, keyID string, priv ed25519.PrivateKey) (Envelope, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Envelope{}, fmt.Errorf("%w private key: %d bytes, want %d", ErrMalformed, len(priv), ed25519.PrivateKeySize)
	}
	if _, err := check(st); err != nil {
		return Envelope{}, err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w statement: %v", ErrMalformed, err)
	}
	sig := ed25519.Sign(priv, PAE([]byte(PayloadType), body))
	return Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(body),
		Signatures:  []Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Issue builds org's statement about p and signs it, as NewStatement
// and Sign would, checking p once and encoding it once: it is how a server
// issues attestations at volume.
func Issue(org string, p Predicate, keyID string, priv ed25519.PrivateKey) (Envelope, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Envelope{}, fmt.Errorf("%w private key: %d bytes, want %d", ErrMalformed, len(priv), ed25519.PrivateKeySize)
	}
	name, digest := SubjectName(org, p.AgentID), SubjectDigest(org, p.AgentID, p.Model.Version, p.Pact.Digest)
	if org == "" || strings.Contains(org, "/") {
		return Envelope{}, fmt.Errorf("%w statement: subject name %q, want agent:<org>/<id>", ErrMalformed, name)
	}
	if err := checkPredicate(p, name, org, p.AgentID, digest); err != nil {
		return Envelope{}, err
	}
	// The statement with its predicate as a value, not as raw JSON: the
	// same bytes as Sign's, without compacting the predicate again.
	body, err := json.Marshal(struct {
		Type          string    `json:"_type"`
		Subject       []Subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     Predicate `json:"predicate"`
	}{StatementType, []Subject{{Name: name, Digest: map[string]string{"sha256": digest}}}, PredicateType, p})
	if err != nil {
		return Envelope{}, fmt.Errorf("%w statement: %v", ErrMalformed, err)
	}
	sig := ed25519.Sign(priv, PAE([]byte(PayloadType), body))
	return Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(body),
		Signatures:  []Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// ParseEnvelope parses a DSSE envelope in JSON, as GET
// /v1/agents/{id}/attestation serves it.
func ParseEnvelope(data []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Envelope{}, fmt.Errorf("%w envelope: not a DSSE envelope in JSON: %v", ErrMalformed, err)
	}
	return env, nil
}

// Verify verifies env with keys at time now and returns its statement and
// predicate; it is Open for a caller that does not need to know which key
// signed.
func Verify(env Envelope, keys []PublicKey, now time.Time, want Expect) (Statement, Predicate, error) {
	v, err := Open(env, keys, now, want)
	return v.Statement, v.Predicate, err
}

// clockSkew is how far in the future an attestation may have been issued,
// by the clock of the server, and still be valid.
const clockSkew = 5 * time.Minute

// Open verifies env in the order of the DSSE protocol and returns what it
// attests:
//
//   - the payload and signatures decode from base64 (standard or URL-safe,
//     as DSSE allows);
//   - a signature verifies over PAE(payloadType, payload) with a key of keys
//     whose KeyID is the signature's keyid (with every key, for a signature
//     with no keyid); other signatures are ignored, and a retired key is as
//     good as an active one;
//   - the payload type is PayloadType, the payload an in-toto Statement v1
//     of PredicateType with one subject agent:<org>/<id>, whose digest is
//     SubjectDigest of the predicate's agent, model version and pact digest;
//   - the subject is want's, when want says;
//   - now is before expiresAt and not before issuedAt (less 5 minutes for
//     clock skew).
//
// Errors wrap ErrMalformed, ErrUnknownKey, ErrBadSignature,
// ErrSubjectMismatch or ErrExpired.
func Open(env Envelope, keys []PublicKey, now time.Time, want Expect) (Verified, error) {
	for _, k := range keys {
		if len(k.PublicKey) != ed25519.PublicKeySize {
			return Verified{}, fmt.Errorf("%w key %q: public key is %d bytes, want %d", ErrMalformed, k.KeyID, len(k.PublicKey), ed25519.PublicKeySize)
		}
	}
	body, err := decodeBase64(env.Payload)
	if err != nil {
		return Verified{}, fmt.Errorf("%w envelope: payload is not base64", ErrMalformed)
	}
	if len(env.Signatures) == 0 {
		return Verified{}, fmt.Errorf("%w envelope: no signatures", ErrMalformed)
	}
	key, err := verifySignatures(env, body, keys)
	if err != nil {
		return Verified{}, err
	}
	if env.PayloadType != PayloadType {
		return Verified{}, fmt.Errorf("%w envelope: payloadType %q, want %q", ErrMalformed, env.PayloadType, PayloadType)
	}
	var st Statement
	if err := json.Unmarshal(body, &st); err != nil {
		return Verified{}, fmt.Errorf("%w statement: not JSON of an in-toto statement: %v", ErrMalformed, err)
	}
	p, err := check(st)
	if err != nil {
		return Verified{}, err
	}
	name, digest := st.Subject[0].Name, st.Subject[0].Digest["sha256"]
	if want.Subject != "" && name != want.Subject {
		return Verified{}, fmt.Errorf("%w: the attestation is about %s, want %s", ErrSubjectMismatch, name, want.Subject)
	}
	if want.Digest != "" && digest != want.Digest {
		return Verified{}, fmt.Errorf("%w: subject %s has digest sha256:%s, want sha256:%s (another model version or pact)", ErrSubjectMismatch, name, digest, want.Digest)
	}
	switch {
	case !now.Before(p.ExpiresAt):
		return Verified{}, fmt.Errorf("%w: the attestation expired at %s; it is now %s",
			ErrExpired, p.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Before(p.IssuedAt.Add(-clockSkew)):
		return Verified{}, fmt.Errorf("%w: the attestation is issued at %s, in the future: it is now %s (check the clocks)",
			ErrExpired, p.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return Verified{Statement: st, Predicate: p, Key: key}, nil
}

// verifySignatures returns the first key that verifies a signature of env.
func verifySignatures(env Envelope, body []byte, keys []PublicKey) (PublicKey, error) {
	pae := PAE([]byte(env.PayloadType), body)
	var unknown, bad []string
	for i, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return PublicKey{}, fmt.Errorf("%w envelope: signature %d (keyid %q) is not base64", ErrMalformed, i, s.KeyID)
		}
		tried := false
		for _, k := range keys {
			if s.KeyID != "" && k.KeyID != s.KeyID {
				continue
			}
			tried = true
			if ed25519.Verify(k.PublicKey, pae, sig) {
				return k, nil
			}
		}
		switch {
		case tried && s.KeyID == "":
			bad = append(bad, "the signature with no keyid verifies with none of the trusted keys (it was made by another key, or the attestation was altered after it was signed)")
		case tried:
			bad = append(bad, "the signature by key "+s.KeyID+" does not verify: the attestation was altered after it was signed")
		default:
			unknown = append(unknown, strconv.Quote(s.KeyID))
		}
	}
	if len(bad) > 0 {
		return PublicKey{}, fmt.Errorf("%w: %s", ErrBadSignature, strings.Join(bad, "; "))
	}
	var known []string
	for _, k := range keys {
		known = append(known, k.KeyID+" ("+k.Status+")")
	}
	if len(known) == 0 {
		known = []string{"none"}
	}
	return PublicKey{}, fmt.Errorf("%w: signed by key id %s; the trusted keys are %s", ErrUnknownKey, strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// check checks that st is a Probity trust statement consistent with its
// subject and returns its predicate.
func check(st Statement) (Predicate, error) {
	bad := func(format string, args ...any) (Predicate, error) {
		return Predicate{}, fmt.Errorf("%w statement: "+format, append([]any{ErrMalformed}, args...)...)
	}
	switch {
	case st.Type != StatementType:
		return bad("_type %q, want %q", st.Type, StatementType)
	case st.PredicateType != PredicateType:
		return bad("predicateType %q, want %q", st.PredicateType, PredicateType)
	case len(st.Subject) != 1:
		return bad("%d subjects, want 1 (the agent)", len(st.Subject))
	}
	sub := st.Subject[0]
	org, id, ok := strings.Cut(strings.TrimPrefix(sub.Name, "agent:"), "/")
	if !strings.HasPrefix(sub.Name, "agent:") || !ok || org == "" || id == "" {
		return bad("subject name %q, want agent:<org>/<id>", sub.Name)
	}
	digest := sub.Digest["sha256"]
	if len(digest) != 2*sha256.Size || strings.Trim(digest, "0123456789abcdef") != "" {
		return bad("subject %s: digest.sha256 %q is not 64 lowercase hex digits", sub.Name, digest)
	}
	var p Predicate
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		return bad("predicate: %v", err)
	}
	if err := checkPredicate(p, sub.Name, org, id, digest); err != nil {
		return Predicate{}, err
	}
	return p, nil
}

// checkPredicate checks p on its own and against its statement's subject
// (name, and the org, agent id and digest read from it).
func checkPredicate(p Predicate, name, org, id, digest string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w statement: "+format, append([]any{ErrMalformed}, args...)...)
	}
	switch {
	case p.AgentID == "":
		return bad("predicate: no agentId")
	case p.CompositeScore < 0 || p.CompositeScore > 1000:
		return bad("predicate: compositeScore %d outside 0–1000", p.CompositeScore)
	case p.Confidence < 0 || p.Confidence > 1:
		return bad("predicate: confidence %g outside 0–1", p.Confidence)
	case p.IssuedAt.IsZero():
		return bad("predicate: no issuedAt")
	case p.ExpiresAt.IsZero():
		return bad("predicate: no expiresAt")
	case !p.ExpiresAt.After(p.IssuedAt):
		return bad("predicate: expiresAt %s is not after issuedAt %s", p.ExpiresAt.Format(time.RFC3339), p.IssuedAt.Format(time.RFC3339))
	}
	if p.AgentID != id {
		return fmt.Errorf("%w: subject %s, but the predicate is about agent %q", ErrSubjectMismatch, name, p.AgentID)
	}
	if d := SubjectDigest(org, p.AgentID, p.Model.Version, p.Pact.Digest); d != digest {
		return fmt.Errorf("%w: subject %s has digest sha256:%s, but its predicate's model version %q and pact digest %q give sha256:%s",
			ErrSubjectMismatch, name, digest, p.Model.Version, p.Pact.Digest, d)
	}
	return nil
}

// decodeBase64 decodes standard or URL-safe base64, padded; DSSE verifiers
// must accept either.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.Strict().DecodeString(s)
	}
	return b, err
}

// ParseKeys reads the attestation keys of a GET /v1/keys answer:
//
//	{"ledger":{…},"attestation":[{"keyid":"…","algorithm":"ed25519",
//	  "publicKey":"<standard base64 of the 32 raw bytes>","status":"active|retired"}]}
//
// Every key must be a complete Ed25519 key with a known status, and key
// ids must be unique. Errors wrap ErrMalformed.
func ParseKeys(data []byte) ([]PublicKey, error) {
	var doc struct {
		Attestation *[]struct {
			KeyID     string `json:"keyid"`
			Algorithm string `json:"algorithm"`
			PublicKey string `json:"publicKey"`
			Status    string `json:"status"`
		} `json:"attestation"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w keys: not JSON of GET /v1/keys: %v", ErrMalformed, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w keys: data after the JSON object", ErrMalformed)
	}
	if doc.Attestation == nil {
		return nil, fmt.Errorf("%w keys: no \"attestation\" list", ErrMalformed)
	}
	keys := []PublicKey{}
	seen := map[string]bool{}
	for i, k := range *doc.Attestation {
		bad := func(format string, args ...any) ([]PublicKey, error) {
			return nil, fmt.Errorf("%w keys: attestation key %d (%q): "+format, append([]any{ErrMalformed, i, k.KeyID}, args...)...)
		}
		pub, err := base64.StdEncoding.Strict().DecodeString(k.PublicKey)
		switch {
		case k.KeyID == "":
			return bad("no keyid")
		case seen[k.KeyID]:
			return bad("keyid listed twice")
		case k.Algorithm != "ed25519":
			return bad("algorithm %q, want ed25519", k.Algorithm)
		case err != nil:
			return bad("publicKey is not standard base64")
		case len(pub) != ed25519.PublicKeySize:
			return bad("publicKey is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
		case k.Status != StatusActive && k.Status != StatusRetired:
			return bad("status %q, want %s or %s", k.Status, StatusActive, StatusRetired)
		}
		seen[k.KeyID] = true
		keys = append(keys, PublicKey{KeyID: k.KeyID, PublicKey: pub, Status: k.Status})
	}
	return keys, nil
}
