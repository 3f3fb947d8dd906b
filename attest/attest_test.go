package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/ledger"

	goldenfile "github.com/probity-dev/probity/internal/golden"
)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) { goldenfile.Check(t, name, got) }

// testKey returns a fixed Ed25519 key for name: signatures are
// deterministic, so envelopes signed with it are golden.
func testKey(name string) (ed25519.PrivateKey, attest.PublicKey) {
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	return priv, attest.PublicKey{KeyID: attest.KeyID(pub), PublicKey: pub, Status: attest.StatusActive}
}

var issued = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// now is a time at which testPredicate is valid.
var now = issued.Add(time.Hour)

func testPredicate() attest.Predicate {
	return attest.Predicate{
		AgentID:           "support-bot",
		CompositeScore:    847,
		Confidence:        0.93,
		CertificationTier: "gold",
		Dimensions: map[string]float64{"accuracy": 0.91, "reliability": 0.95, "safety": 0.97, "security": 0.90,
			"scopeAdherence": 0.99, "outputSanitization": 1.0},
		ScoreVelocity: attest.Velocity{Last1Day: 0, Last7Days: -12, Last30Days: 25},
		SecurityPosture: attest.SecurityPosture{
			Badges:          []string{"injection-free", "scope-adherent"},
			OpenIncidents:   attest.OpenIncidents{High: 1},
			CleanStreakDays: 12,
			OWASP:           map[string]string{"LLM01": "tested", "LLM05": "tested", "LLM06": "monitored"},
		},
		Evidence: attest.Evidence{EvalCases: 1284, Records: 50231, LastEvalAt: issued.Add(-2 * time.Hour),
			LastRecordAt: issued.Add(-time.Minute)},
		Model:      attest.Model{Provider: "openai", Name: "gpt-4o", Version: "2024-08-06"},
		Pact:       attest.Pact{ID: "support", Version: 3, Digest: "sha256:" + strings.Repeat("ab", 32)},
		ComputedAt: issued.Add(-time.Minute),
		IssuedAt:   issued,
		ExpiresAt:  issued.Add(24 * time.Hour),
		Ledger:     testLedger(),
	}
}

const testOrigin = "probity/acme/0123456789abcdef"

// testLedgerKey is a fixed note key pair for the test ledger.
func testLedgerKey() (signerKey, verifierKey string) {
	seed := sha256.Sum256([]byte(testOrigin))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), testOrigin)
	if err != nil {
		panic(err)
	}
	return skey, vkey
}

// testLedger is a real signed checkpoint of the test ledger at size 42.
func testLedger() attest.Ledger {
	skey, _ := testLedgerKey()
	s, err := ledger.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	cp := ledger.Checkpoint{Origin: testOrigin, Size: 42, Hash: tlog.RecordHash([]byte("leaf"))}
	signed, err := s.Sign(cp)
	if err != nil {
		panic(err)
	}
	return attest.Ledger{Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash.String(), Checkpoint: string(signed)}
}

// sign returns p for agent acme/<p.AgentID> signed by priv as key.
func sign(t *testing.T, p attest.Predicate, priv ed25519.PrivateKey, keyID string) attest.Envelope {
	t.Helper()
	st, err := attest.NewStatement("acme", p)
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.Sign(st, keyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// signRaw signs any payload as DSSE does, to make envelopes Sign refuses.
func signRaw(priv ed25519.PrivateKey, keyID, payloadType string, payload []byte) attest.Envelope {
	sig := ed25519.Sign(priv, attest.PAE([]byte(payloadType), payload))
	return attest.Envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload),
		Signatures: []attest.Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}}}
}

// statementJSON is the statement of testPredicate with edit applied to its
// generic JSON form.
func statementJSON(t *testing.T, edit func(st map[string]any)) []byte {
	t.Helper()
	st, err := attest.NewStatement("acme", testPredicate())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	return b
}

func predicateOf(m map[string]any) map[string]any { return m["predicate"].(map[string]any) }

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden pins the bytes of an attestation and of the keys that verify
// it, and verifies the files as a relying party would.
func TestGolden(t *testing.T) {
	priv, pub := testKey("probity-test-key-1")
	_, old := testKey("probity-test-key-0")
	old.Status = attest.StatusRetired
	env := sign(t, testPredicate(), priv, pub.KeyID)
	golden(t, "attestation.json", indent(t, env))
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	golden(t, "statement.json", payload)
	_, vkey := testLedgerKey()
	keys := map[string]any{
		"ledger": map[string]string{"origin": testOrigin, "verifierKey": vkey},
		"attestation": []map[string]any{
			{"keyid": pub.KeyID, "algorithm": "ed25519", "publicKey": []byte(pub.PublicKey), "status": "active"},
			{"keyid": old.KeyID, "algorithm": "ed25519", "publicKey": []byte(old.PublicKey), "status": "retired"},
		},
	}
	golden(t, "keys.json", indent(t, keys))

	envBytes, err := os.ReadFile("testdata/attestation.json")
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := attest.ParseEnvelope(envBytes)
	if err != nil {
		t.Fatal(err)
	}
	list, err := attest.ParseKeys(keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].KeyID != pub.KeyID || list[1].Status != attest.StatusRetired || !list[0].PublicKey.Equal(pub.PublicKey) {
		t.Fatalf("ParseKeys: got %+v, want the active key %s and the retired key %s", list, pub.KeyID, old.KeyID)
	}
	st, p, err := attest.Verify(got, list, now, attest.Expect{Subject: "agent:acme/support-bot"})
	if err != nil {
		t.Fatalf("Verify(testdata/attestation.json): %v", err)
	}
	if st.Subject[0].Name != "agent:acme/support-bot" || p.CompositeScore != 847 {
		t.Errorf("Verify: got subject %q and composite %d, want agent:acme/support-bot and 847", st.Subject[0].Name, p.CompositeScore)
	}
	// The checkpoint the trust state is consistent with verifies with the
	// ledger's key, and the predicate repeats it.
	cp, err := ledger.OpenCheckpoint([]byte(p.Ledger.Checkpoint), vkey)
	if err != nil {
		t.Fatalf("OpenCheckpoint(predicate.ledger.checkpoint): %v", err)
	}
	if cp.Origin != p.Ledger.Origin || cp.Size != p.Ledger.Size || cp.Hash.String() != p.Ledger.RootHash {
		t.Errorf("checkpoint %s/%d/%s, predicate.ledger %s/%d/%s", cp.Origin, cp.Size, cp.Hash, p.Ledger.Origin, p.Ledger.Size, p.Ledger.RootHash)
	}
}

func TestRoundTrip(t *testing.T) {
	priv, pub := testKey("k1")
	_, other := testKey("k2")
	want := testPredicate()
	env := sign(t, want, priv, pub.KeyID)
	v, err := attest.Open(env, []attest.PublicKey{other, pub}, now, attest.Expect{
		Subject: attest.SubjectName("acme", "support-bot"),
		Digest:  attest.SubjectDigest("acme", "support-bot", want.Model.Version, want.Pact.Digest),
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := indent(t, v.Predicate), indent(t, want); !bytes.Equal(g, w) {
		t.Errorf("predicate:\ngot:\n%s\nwant:\n%s", g, w)
	}
	if v.Key.KeyID != pub.KeyID || v.Key.Status != attest.StatusActive {
		t.Errorf("Key: got %s (%s), want %s (active)", v.Key.KeyID, v.Key.Status, pub.KeyID)
	}
	if v.Statement.Type != attest.StatementType || v.Statement.PredicateType != attest.PredicateType {
		t.Errorf("Statement: got _type %q, predicateType %q", v.Statement.Type, v.Statement.PredicateType)
	}
}

func TestVerifyAccepts(t *testing.T) {
	priv, pub := testKey("k1")
	_, other := testKey("k2")
	retired := pub
	retired.Status = attest.StatusRetired
	good := sign(t, testPredicate(), priv, pub.KeyID)
	tests := []struct {
		name    string
		env     func() attest.Envelope
		keys    []attest.PublicKey
		status  string
		wantKey string
	}{
		{"active key", func() attest.Envelope { return good }, []attest.PublicKey{pub}, attest.StatusActive, pub.KeyID},
		{"retired key still verifies what it signed", func() attest.Envelope { return good }, []attest.PublicKey{other, retired}, attest.StatusRetired, pub.KeyID},
		{"no keyid: every key is tried", func() attest.Envelope {
			e := good
			e.Signatures = []attest.Signature{{Sig: good.Signatures[0].Sig}}
			return e
		}, []attest.PublicKey{other, pub}, attest.StatusActive, pub.KeyID},
		{"a bad and a good signature", func() attest.Envelope {
			e := good
			bad := attest.Signature{KeyID: other.KeyID, Sig: base64.StdEncoding.EncodeToString(make([]byte, 64))}
			e.Signatures = []attest.Signature{bad, good.Signatures[0]}
			return e
		}, []attest.PublicKey{other, pub}, attest.StatusActive, pub.KeyID},
		{"URL-safe base64", func() attest.Envelope {
			e := good
			b, _ := base64.StdEncoding.DecodeString(e.Payload)
			e.Payload = base64.URLEncoding.EncodeToString(b)
			s, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
			e.Signatures = []attest.Signature{{KeyID: pub.KeyID, Sig: base64.URLEncoding.EncodeToString(s)}}
			return e
		}, []attest.PublicKey{pub}, attest.StatusActive, pub.KeyID},
		{"within the clock skew of issuedAt", func() attest.Envelope {
			p := testPredicate()
			p.IssuedAt = now.Add(4 * time.Minute)
			return sign(t, p, priv, pub.KeyID)
		}, []attest.PublicKey{pub}, attest.StatusActive, pub.KeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := attest.Open(tt.env(), tt.keys, now, attest.Expect{})
			if err != nil {
				t.Fatalf("got %v, want it to verify", err)
			}
			if v.Key.KeyID != tt.wantKey || v.Key.Status != tt.status {
				t.Errorf("got key %s (%s), want %s (%s)", v.Key.KeyID, v.Key.Status, tt.wantKey, tt.status)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	priv, pub := testKey("k1")
	stranger, strangerPub := testKey("stranger")
	keys := []attest.PublicKey{pub}
	good := sign(t, testPredicate(), priv, pub.KeyID)
	payload, _ := base64.StdEncoding.DecodeString(good.Payload)
	with := func(edit func(e *attest.Envelope)) func() attest.Envelope {
		return func() attest.Envelope {
			e := good
			e.Signatures = append([]attest.Signature(nil), good.Signatures...)
			edit(&e)
			return e
		}
	}
	signed := func(edit func(st map[string]any)) func() attest.Envelope {
		return func() attest.Envelope {
			return signRaw(priv, pub.KeyID, attest.PayloadType, statementJSON(t, edit))
		}
	}
	tests := []struct {
		name  string
		env   func() attest.Envelope
		keys  []attest.PublicKey
		now   time.Time
		want  attest.Expect
		err   error
		inMsg string
	}{
		{name: "tampered payload", env: with(func(e *attest.Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte(`"compositeScore":847`), []byte(`"compositeScore":947`), 1))
		}), err: attest.ErrBadSignature, inMsg: "signature by key " + pub.KeyID + " does not verify"},
		{name: "tampered signature", env: with(func(e *attest.Envelope) {
			s, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
			s[0] ^= 1
			e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(s)
		}), err: attest.ErrBadSignature, inMsg: "altered after it was signed"},
		{name: "payloadType changed after signing", env: with(func(e *attest.Envelope) { e.PayloadType = "application/json" }),
			err: attest.ErrBadSignature},
		{name: "truncated signature", env: with(func(e *attest.Envelope) { e.Signatures[0].Sig = "AAAA" }),
			err: attest.ErrBadSignature},
		{name: "signed by an unknown key", env: func() attest.Envelope { return sign(t, testPredicate(), stranger, strangerPub.KeyID) },
			err: attest.ErrUnknownKey, inMsg: `signed by key id "` + strangerPub.KeyID + `"; the trusted keys are ` + pub.KeyID + " (active)"},
		{name: "no trusted keys", env: with(func(*attest.Envelope) {}), keys: []attest.PublicKey{},
			err: attest.ErrUnknownKey, inMsg: "the trusted keys are none"},
		{name: "unknown key with no keyid", env: func() attest.Envelope { return sign(t, testPredicate(), stranger, "") },
			err: attest.ErrBadSignature, inMsg: "verifies with none of the trusted keys"},
		{name: "stranger signs under a trusted key id", env: func() attest.Envelope { return sign(t, testPredicate(), stranger, pub.KeyID) },
			err: attest.ErrBadSignature},
		{name: "expired", env: with(func(*attest.Envelope) {}), now: issued.Add(25 * time.Hour),
			err: attest.ErrExpired, inMsg: "expired at 2026-11-21T10:00:00Z; it is now 2026-11-21T11:00:00Z"},
		{name: "expires exactly now", env: with(func(*attest.Envelope) {}), now: issued.Add(24 * time.Hour), err: attest.ErrExpired},
		{name: "issued in the future", env: with(func(*attest.Envelope) {}), now: issued.Add(-time.Hour),
			err: attest.ErrExpired, inMsg: "in the future"},
		{name: "another agent", env: with(func(*attest.Envelope) {}), want: attest.Expect{Subject: "agent:acme/billing-bot"},
			err: attest.ErrSubjectMismatch, inMsg: "about agent:acme/support-bot, want agent:acme/billing-bot"},
		{name: "another org", env: with(func(*attest.Envelope) {}), want: attest.Expect{Subject: "agent:globex/support-bot"},
			err: attest.ErrSubjectMismatch},
		{name: "another model version", env: with(func(*attest.Envelope) {}),
			want: attest.Expect{Digest: attest.SubjectDigest("acme", "support-bot", "2025-01-01", testPredicate().Pact.Digest)},
			err:  attest.ErrSubjectMismatch, inMsg: "another model version or pact"},
		{name: "predicate about another agent", env: signed(func(st map[string]any) { predicateOf(st)["agentId"] = "billing-bot" }),
			err: attest.ErrSubjectMismatch, inMsg: `the predicate is about agent "billing-bot"`},
		{name: "digest not of the predicate's model", env: signed(func(st map[string]any) {
			predicateOf(st)["model"].(map[string]any)["version"] = "2025-01-01"
		}), err: attest.ErrSubjectMismatch, inMsg: `model version "2025-01-01"`},
		{name: "payload not base64", env: with(func(e *attest.Envelope) { e.Payload = "not base64!" }),
			err: attest.ErrMalformed, inMsg: "payload is not base64"},
		{name: "signature not base64", env: with(func(e *attest.Envelope) { e.Signatures[0].Sig = "%%%" }),
			err: attest.ErrMalformed, inMsg: "signature 0"},
		{name: "no signatures", env: with(func(e *attest.Envelope) { e.Signatures = nil }),
			err: attest.ErrMalformed, inMsg: "no signatures"},
		{name: "signed with another payloadType", env: func() attest.Envelope { return signRaw(priv, pub.KeyID, "application/json", payload) },
			err: attest.ErrMalformed, inMsg: `payloadType "application/json", want "application/vnd.in-toto+json"`},
		{name: "payload not JSON", env: func() attest.Envelope { return signRaw(priv, pub.KeyID, attest.PayloadType, []byte("hello")) },
			err: attest.ErrMalformed, inMsg: "not JSON of an in-toto statement"},
		{name: "statement v0.1", env: signed(func(st map[string]any) { st["_type"] = "https://in-toto.io/Statement/v0.1" }),
			err: attest.ErrMalformed, inMsg: `_type "https://in-toto.io/Statement/v0.1"`},
		{name: "another predicate type", env: signed(func(st map[string]any) { st["predicateType"] = "https://slsa.dev/provenance/v1" }),
			err: attest.ErrMalformed, inMsg: "predicateType"},
		{name: "two subjects", env: signed(func(st map[string]any) { st["subject"] = append(st["subject"].([]any), st["subject"].([]any)[0]) }),
			err: attest.ErrMalformed, inMsg: "2 subjects"},
		{name: "subject not an agent", env: signed(func(st map[string]any) { st["subject"].([]any)[0].(map[string]any)["name"] = "pkg:acme/support-bot" }),
			err: attest.ErrMalformed, inMsg: "want agent:<org>/<id>"},
		{name: "digest not hex", env: signed(func(st map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("Z", 64)}
		}), err: attest.ErrMalformed, inMsg: "not 64 lowercase hex digits"},
		{name: "predicate not an object", env: signed(func(st map[string]any) { st["predicate"] = "gold" }),
			err: attest.ErrMalformed, inMsg: "predicate:"},
		{name: "no expiresAt", env: signed(func(st map[string]any) { delete(predicateOf(st), "expiresAt") }),
			err: attest.ErrMalformed, inMsg: "no expiresAt"},
		{name: "expires when issued", env: signed(func(st map[string]any) { predicateOf(st)["expiresAt"] = predicateOf(st)["issuedAt"] }),
			err: attest.ErrMalformed, inMsg: "is not after issuedAt"},
		{name: "composite out of range", env: signed(func(st map[string]any) { predicateOf(st)["compositeScore"] = 1001 }),
			err: attest.ErrMalformed, inMsg: "compositeScore 1001"},
		{name: "short public key", env: with(func(*attest.Envelope) {}), keys: []attest.PublicKey{{KeyID: "k", PublicKey: make([]byte, 31)}},
			err: attest.ErrMalformed, inMsg: "31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.keys
			if k == nil {
				k = keys
			}
			at := tt.now
			if at.IsZero() {
				at = now
			}
			_, _, err := attest.Verify(tt.env(), k, at, tt.want)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("got %q, want it to say %q", err, tt.inMsg)
			}
			for _, other := range []error{attest.ErrMalformed, attest.ErrUnknownKey, attest.ErrBadSignature, attest.ErrExpired, attest.ErrSubjectMismatch} {
				if other != tt.err && errors.Is(err, other) {
					t.Errorf("got %v, which is also %v", err, other)
				}
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	priv, pub := testKey("k1")
	st, err := attest.NewStatement("acme", testPredicate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Sign(st, pub.KeyID, priv[:32]); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("Sign with a 32-byte private key: got %v, want ErrMalformed", err)
	}
	bad := st
	bad.Subject = []attest.Subject{{Name: "agent:acme/support-bot", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}
	if _, err := attest.Sign(bad, pub.KeyID, priv); !errors.Is(err, attest.ErrSubjectMismatch) {
		t.Errorf("Sign with a wrong subject digest: got %v, want ErrSubjectMismatch", err)
	}
	p := testPredicate()
	p.ExpiresAt = time.Time{}
	if _, err := attest.NewStatement("acme", p); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("NewStatement with no expiresAt: got %v, want ErrMalformed", err)
	}
}

func TestParseEnvelope(t *testing.T) {
	for _, name := range []string{"envelope-not-json.json", "envelope-payload-number.json"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "bad", name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.ParseEnvelope(b); !errors.Is(err, attest.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseKeysRejects(t *testing.T) {
	tests := []struct{ file, inMsg string }{
		{"keys-not-json.json", "not JSON of GET /v1/keys"},
		{"keys-no-attestation.json", `no "attestation" list`},
		{"keys-rsa.json", `algorithm "rsa", want ed25519`},
		{"keys-short.json", "publicKey is 31 bytes, want 32"},
		{"keys-hex.json", "publicKey is 48 bytes, want 32"},
		{"keys-not-base64.json", "publicKey is not standard base64"},
		{"keys-status.json", `status "revoked"`},
		{"keys-duplicate.json", "keyid listed twice"},
		{"keys-no-keyid.json", "no keyid"},
		{"keys-trailing.json", "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "bad", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = attest.ParseKeys(b)
			if !errors.Is(err, attest.ErrMalformed) || !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("got %v, want ErrMalformed saying %q", err, tt.inMsg)
			}
		})
	}
	keys, err := attest.ParseKeys([]byte(`{"ledger":{},"attestation":[]}`))
	if err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("ParseKeys of an empty list: got %v, %v; want an empty list", keys, err)
	}
}

// TestPAESpecExample checks PAE against the example of the DSSE protocol
// (protocol.md, "Test Vectors"): the encoding it gives, and its ECDSA P-256
// signature, which verifies only over exactly those bytes.
func TestPAESpecExample(t *testing.T) {
	got := attest.PAE([]byte("http://example.com/HelloWorld"), []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(got) != want {
		t.Fatalf("PAE: got %q, want %q", got, want)
	}
	x, _ := new(big.Int).SetString("46950820868899156662930047687818585632848591499744589407958293238635476079160", 10)
	y, _ := new(big.Int).SetString("5640078356564379163099075877009565129882514886557779369047442380624545832820", 10)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
	sig, err := base64.StdEncoding.DecodeString("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==")
	if err != nil || len(sig) != 64 {
		t.Fatalf("the spec's signature: %d bytes, %v", len(sig), err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	sum := sha256.Sum256(got)
	if !ecdsa.Verify(pub, sum[:], r, s) {
		t.Errorf("the DSSE spec's example signature does not verify over our PAE %q", got)
	}

	for _, tt := range []struct{ typ, body, want string }{
		{attest.PayloadType, "", "DSSEv1 28 application/vnd.in-toto+json 0 "},
		{"", "{}", "DSSEv1 0  2 {}"},
		{"application/vnd.exämple+json", "x", "DSSEv1 29 application/vnd.exämple+json 1 x"}, // LEN counts bytes
	} {
		if got := attest.PAE([]byte(tt.typ), []byte(tt.body)); string(got) != tt.want {
			t.Errorf("PAE(%q, %q): got %q, want %q", tt.typ, tt.body, got, tt.want)
		}
	}
}

func TestSubjectDigest(t *testing.T) {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	tests := []struct{ org, id, model, pact, bytes string }{
		{"acme", "support-bot", "2024-08-06", "sha256:ab",
			`{"agentId":"support-bot","modelVersion":"2024-08-06","org":"acme","pactDigest":"sha256:ab"}`},
		{"acme", "bot", "", "", `{"agentId":"bot","modelVersion":"","org":"acme","pactDigest":""}`},
		{"acme", "bot", "v\"1\\\b\t\n\f\r\x01\x1f<&>é\u2028", "\xff",
			`{"agentId":"bot","modelVersion":"v\"1\\\b\t\n\f\r\u0001\u001f<&>é` + "\u2028" + `","org":"acme","pactDigest":"` + "\ufffd" + `"}`},
	}
	for _, tt := range tests {
		if got, want := attest.SubjectDigest(tt.org, tt.id, tt.model, tt.pact), hash(tt.bytes); got != want {
			t.Errorf("SubjectDigest(%q, %q, %q, %q): got %s, want sha256 of %s = %s", tt.org, tt.id, tt.model, tt.pact, got, tt.bytes, want)
		}
	}
	// For plain strings the bytes are what encoding/json writes too.
	b, _ := json.Marshal(map[string]string{"org": "acme", "agentId": "support-bot", "modelVersion": "2024-08-06", "pactDigest": "sha256:ab"})
	if got, want := attest.SubjectDigest("acme", "support-bot", "2024-08-06", "sha256:ab"), hash(string(b)); got != want {
		t.Errorf("SubjectDigest: got %s, want %s (encoding/json)", got, want)
	}
	if a, b := attest.SubjectDigest("a", "b", "c", "d"), attest.SubjectDigest("a", "b", "c", "e"); a == b {
		t.Errorf("SubjectDigest ignores the pact digest")
	}
}

func TestKeyID(t *testing.T) {
	_, k := testKey("probity-test-key-1")
	sum := sha256.Sum256(k.PublicKey)
	if got, want := attest.KeyID(k.PublicKey), hex.EncodeToString(sum[:16]); got != want || len(got) != 32 {
		t.Errorf("KeyID: got %s, want %s (32 hex digits)", got, want)
	}
}

// TestIssue: Issue signs exactly what NewStatement and Sign sign, and
// refuses what they refuse.
func TestIssue(t *testing.T) {
	priv, pub := testKey("k1")
	p := testPredicate()
	st, err := attest.NewStatement("acme", p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := attest.Sign(st, pub.KeyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := attest.Issue("acme", p, pub.KeyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Payload != want.Payload || got.Signatures[0] != want.Signatures[0] || got.PayloadType != want.PayloadType {
		t.Errorf("Issue and NewStatement+Sign differ:\n%+v\n%+v", got, want)
	}
	for _, tc := range []struct {
		name string
		org  string
		edit func(*attest.Predicate)
	}{
		{"no org", "", func(*attest.Predicate) {}},
		{"an org with a slash", "a/b", func(*attest.Predicate) {}},
		{"no agent", "acme", func(p *attest.Predicate) { p.AgentID = "" }},
		{"a score over 1000", "acme", func(p *attest.Predicate) { p.CompositeScore = 1001 }},
		{"no expiresAt", "acme", func(p *attest.Predicate) { p.ExpiresAt = time.Time{} }},
	} {
		p := testPredicate()
		tc.edit(&p)
		if _, err := attest.Issue(tc.org, p, pub.KeyID, priv); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("Issue with %s: got %v, want ErrMalformed", tc.name, err)
		}
		if st, err := attest.NewStatement(tc.org, p); err == nil {
			t.Errorf("NewStatement accepts %s (%v) where Issue refuses", tc.name, st.Subject)
		}
	}
	if _, err := attest.Issue("acme", p, pub.KeyID, priv[:32]); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("Issue with a 32-byte private key: got %v, want ErrMalformed", err)
	}
}
