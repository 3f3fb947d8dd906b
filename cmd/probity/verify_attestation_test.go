package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/ledger"
)

// attestEnv is an org's attestation key and ledger key, freshly generated,
// and a directory to write envelopes and key files to.
type attestEnv struct {
	t         *testing.T
	dir       string
	priv      ed25519.PrivateKey
	pub       attest.PublicKey
	ledger    *ledger.Signer
	ledgerKey string
}

func newAttestEnv(t *testing.T) *attestEnv {
	t.Helper()
	isolate(t)
	e := &attestEnv{t: t, dir: t.TempDir()}
	e.priv, e.pub = newAttestKey(t)
	origin, err := ledger.NewOrigin("acme")
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := ledger.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	if e.ledger, err = ledger.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	e.ledgerKey = vkey
	return e
}

func newAttestKey(t *testing.T) (ed25519.PrivateKey, attest.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, attest.PublicKey{KeyID: attest.KeyID(pub), PublicKey: pub, Status: attest.StatusActive}
}

// predicate is a trust state of agent support-bot, issued an hour ago and
// valid for a day, consistent with a checkpoint signed by the env's ledger.
func (e *attestEnv) predicate() attest.Predicate {
	cp := ledger.Checkpoint{Origin: e.ledger.Origin(), Size: 42, Hash: tlog.RecordHash([]byte("leaf"))}
	signed, err := e.ledger.Sign(cp)
	if err != nil {
		e.t.Fatal(err)
	}
	issued := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	return attest.Predicate{
		AgentID: "support-bot", CompositeScore: 847, Confidence: 0.93, CertificationTier: "gold",
		Dimensions: map[string]float64{"accuracy": 0.91, "reliability": 0.95, "safety": 0.97, "security": 0.90,
			"scopeAdherence": 0.99, "outputSanitization": 1.0},
		SecurityPosture: attest.SecurityPosture{Badges: []string{"injection-free", "scope-adherent"},
			OpenIncidents: attest.OpenIncidents{High: 1}},
		Model:     attest.Model{Provider: "openai", Name: "gpt-4o", Version: "2024-08-06"},
		Pact:      attest.Pact{ID: "support", Version: 3, Digest: "sha256:" + strings.Repeat("ab", 32)},
		IssuedAt:  issued,
		ExpiresAt: issued.Add(24 * time.Hour),
		Ledger:    attest.Ledger{Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash.String(), Checkpoint: string(signed)},
	}
}

// envelope signs p as org acme's with priv and writes it to a file.
func (e *attestEnv) envelope(p attest.Predicate, priv ed25519.PrivateKey, keyID string) string {
	e.t.Helper()
	st, err := attest.NewStatement("acme", p)
	if err != nil {
		e.t.Fatal(err)
	}
	env, err := attest.Sign(st, keyID, priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.writeJSON("attestation-*.json", env)
}

// keys writes a GET /v1/keys answer with keys and the env's ledger key.
func (e *attestEnv) keys(keys ...attest.PublicKey) string {
	e.t.Helper()
	list := []map[string]any{}
	for _, k := range keys {
		list = append(list, map[string]any{"keyid": k.KeyID, "algorithm": "ed25519", "publicKey": []byte(k.PublicKey), "status": k.Status})
	}
	return e.writeJSON("keys-*.json", map[string]any{
		"ledger":      map[string]string{"origin": e.ledger.Origin(), "verifierKey": e.ledgerKey},
		"attestation": list,
	})
}

func (e *attestEnv) writeJSON(pattern string, v any) string {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.write(pattern, b)
}

func (e *attestEnv) write(pattern string, b []byte) string {
	e.t.Helper()
	f, err := os.CreateTemp(e.dir, pattern)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		e.t.Fatal(err)
	}
	return f.Name()
}

func TestVerifyAttestation(t *testing.T) {
	e := newAttestEnv(t)
	file, keys := e.envelope(e.predicate(), e.priv, e.pub.KeyID), e.keys(e.pub)
	// No --server is reachable: offline means no call at all.
	r := cli(t, "verify", "attestation", file, "--keys", keys, "--agent", "acme/support-bot", "--server", "http://127.0.0.1:1")
	if r.code != exitOK {
		t.Fatalf("got exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr: got %q, want nothing", r.stderr)
	}
	for _, w := range []string{
		"VERIFIED: signed by key " + e.pub.KeyID + " (active)",
		"Keys:            " + keys,
		"Subject:         agent:acme/support-bot (sha256:" + attest.SubjectDigest("acme", "support-bot", "2024-08-06", "sha256:"+strings.Repeat("ab", 32)) + ")",
		"Composite:       847 / 1000",
		"Tier:            gold",
		"Confidence:      0.93",
		"Dimensions:      accuracy 0.91, reliability 0.95, safety 0.97, security 0.90, scopeAdherence 0.99, outputSanitization 1.00",
		"Badges:          injection-free, scope-adherent",
		"Open incidents:  0 critical, 1 high, 0 medium",
		"Expires:         ", "(in 23h0m)",
		"Model:           openai gpt-4o 2024-08-06",
		"Pact:            support v3 (sha256:abab",
		"Ledger:          " + e.ledger.Origin() + " at size 42, root ",
		"Checkpoint:      signature verified with the ledger key",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}

	out := ok(t, "verify", "attestation", file, "--keys", keys, "--json")
	var got struct {
		Verified   bool   `json:"verified"`
		Checkpoint string `json:"checkpoint"`
		Key        struct {
			KeyID  string `json:"keyid"`
			Status string `json:"status"`
		} `json:"key"`
		Subject   attest.Subject   `json:"subject"`
		Predicate attest.Predicate `json:"predicate"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !got.Verified || got.Key.KeyID != e.pub.KeyID || got.Subject.Name != "agent:acme/support-bot" ||
		got.Predicate.CompositeScore != 847 || got.Predicate.Ledger.Size != 42 || !strings.HasPrefix(got.Checkpoint, "signature verified") {
		t.Errorf("--json: got %+v", got)
	}
}

func TestVerifyAttestationRetiredKey(t *testing.T) {
	e := newAttestEnv(t)
	oldPriv, old := newAttestKey(t)
	old.Status = attest.StatusRetired
	file := e.envelope(e.predicate(), oldPriv, old.KeyID)
	out := ok(t, "verify", "attestation", file, "--keys", e.keys(e.pub, old))
	if w := "VERIFIED: signed by key " + old.KeyID + ", which is retired"; !strings.Contains(out, w) {
		t.Errorf("stdout lacks %q:\n%s", w, out)
	}
}

func TestVerifyAttestationFails(t *testing.T) {
	e := newAttestEnv(t)
	good := e.predicate()
	goodFile := e.envelope(good, e.priv, e.pub.KeyID)
	keys := e.keys(e.pub)
	strangerPriv, stranger := newAttestKey(t)

	tampered := func() string {
		var env attest.Envelope
		b, _ := os.ReadFile(goodFile)
		json.Unmarshal(b, &env)
		payload, _ := base64.StdEncoding.DecodeString(env.Payload)
		env.Payload = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"compositeScore":847`, `"compositeScore":947`, 1)))
		return e.writeJSON("tampered-*.json", env)
	}
	expired := good
	expired.IssuedAt, expired.ExpiresAt = good.IssuedAt.Add(-48*time.Hour), good.IssuedAt.Add(-24*time.Hour)
	otherLedger := newAttestEnv(t).predicate().Ledger
	forged := good
	forged.Ledger = otherLedger
	lying := good
	lying.Ledger.Size = 43

	tests := []struct {
		name   string
		args   []string
		reason string
		want   []string
	}{
		{"bad signature", []string{tampered(), "--keys", keys}, "bad_signature",
			[]string{"ATTESTATION DOES NOT VERIFY: attest: bad signature: the signature by key " + e.pub.KeyID + " does not verify"}},
		{"unknown key id", []string{e.envelope(good, strangerPriv, stranger.KeyID), "--keys", keys}, "unknown_key",
			[]string{"not signed by a trusted key: signed by key id \"" + stranger.KeyID + "\"; the trusted keys are " + e.pub.KeyID + " (active)"}},
		{"expired", []string{e.envelope(expired, e.priv, e.pub.KeyID), "--keys", keys}, "expired",
			[]string{"attest: expired: the attestation expired at " + expired.ExpiresAt.Format(time.RFC3339)}},
		{"subject mismatch", []string{goodFile, "--keys", keys, "--agent", "acme/billing-bot"}, "subject_mismatch",
			[]string{"subject mismatch: the attestation is about agent:acme/support-bot, want agent:acme/billing-bot"}},
		{"not an envelope", []string{e.write("junk-*.json", []byte("<html>")), "--keys", keys}, "malformed",
			[]string{"attest: malformed envelope: not a DSSE envelope in JSON"}},
		{"checkpoint of another ledger", []string{e.envelope(forged, e.priv, e.pub.KeyID), "--keys", keys}, "ledger_checkpoint",
			[]string{"ledger checkpoint does not verify with the ledger key " + e.ledgerKey}},
		{"checkpoint misquoted", []string{e.envelope(lying, e.priv, e.pub.KeyID), "--keys", keys}, "ledger_checkpoint",
			[]string{"the signed checkpoint is " + good.Ledger.Origin + " at size 42", "the attestation says " + good.Ledger.Origin + " at size 43"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"verify", "attestation"}, tt.args...)
			r := fails(t, exitError, tt.want, args...)
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
			r = fails(t, exitError, tt.want, append(args, "--json")...)
			var got struct {
				Verified bool   `json:"verified"`
				Reason   string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Verified || got.Reason != tt.reason {
				t.Errorf("--json: got %+v (%v), want verified false, reason %s:\n%s", got, err, tt.reason, r.stdout)
			}
		})
	}
}

func TestVerifyAttestationUsage(t *testing.T) {
	e := newAttestEnv(t)
	file := e.envelope(e.predicate(), e.priv, e.pub.KeyID)
	keys := e.keys(e.pub)
	fails(t, exitUsage, []string{"missing attestation FILE"}, "verify", "attestation", "--keys", keys)
	fails(t, exitUsage, []string{`--agent "support-bot": want ORG/ID`}, "verify", "attestation", file, "--keys", keys, "--agent", "support-bot")
	fails(t, exitUsage, []string{"unexpected arguments"}, "verify", "attestation", file, file, "--keys", keys)
	fails(t, exitError, []string{"reading --keys"}, "verify", "attestation", file, "--keys", filepath.Join(e.dir, "nope.json"))
	fails(t, exitError, []string{`status "revoked"`}, "verify", "attestation", file, "--keys",
		e.write("keys-*.json", []byte(`{"attestation":[{"keyid":"k","algorithm":"ed25519","publicKey":"`+
			base64.StdEncoding.EncodeToString(e.pub.PublicKey)+`","status":"revoked"}]}`)))
}

// Without --keys the keys come from the server, which says so. This
// server has no attestation keys yet, so nothing it could sign verifies.
func TestVerifyAttestationFetchesKeys(t *testing.T) {
	e := newAttestEnv(t)
	srv := apptest.Start(t)
	file := e.envelope(e.predicate(), e.priv, e.pub.KeyID)
	r := fails(t, exitError, []string{
		"fetched the attestation keys from " + srv.URL + " (GET /v1/keys)",
		"pass --keys FILE",
		"not signed by a trusted key", "the trusted keys are none",
	}, "verify", "attestation", file, "--server", srv.URL, "--key", srv.AdminKey)
	if r.stdout != "" {
		t.Errorf("stdout: got %q, want nothing", r.stdout)
	}
	fails(t, exitError, []string{"no --keys file, and cannot fetch the keys from the server: no API key"},
		"verify", "attestation", file, "--server", srv.URL, "--data", t.TempDir())
}
