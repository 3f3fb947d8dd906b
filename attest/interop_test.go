package attest_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/probity-dev/probity/attest"
)

// sslibKey is the key of testKey(name) as go-securesystemslib, an
// independent DSSE implementation, holds it, with our key id.
func sslibKey(t *testing.T, name string, private bool) *signerverifier.ED25519SignerVerifier {
	t.Helper()
	priv, pub := testKey(name)
	k := &signerverifier.SSLibKey{KeyType: "ed25519", Scheme: "ed25519", KeyID: pub.KeyID,
		KeyVal: signerverifier.KeyVal{Public: hex.EncodeToString(pub.PublicKey)}}
	if private {
		k.KeyVal.Private = hex.EncodeToString(priv)
	}
	sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// TestInteropOurEnvelopeTheirVerifier: go-securesystemslib's DSSE verifier
// accepts our envelopes, and rejects them altered.
func TestInteropOurEnvelopeTheirVerifier(t *testing.T) {
	priv, pub := testKey("k1")
	b, err := json.Marshal(sign(t, testPredicate(), priv, pub.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(sslibKey(t, "k1", false))
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := ev.Verify(context.Background(), &env)
	if err != nil {
		t.Fatalf("dsse.EnvelopeVerifier.Verify(our envelope): %v", err)
	}
	if len(accepted) != 1 || accepted[0].KeyID != pub.KeyID {
		t.Errorf("dsse accepted %+v, want the one key %s", accepted, pub.KeyID)
	}

	env.PayloadType = "application/json"
	if _, err := ev.Verify(context.Background(), &env); err == nil {
		t.Errorf("dsse.EnvelopeVerifier.Verify(our envelope, payloadType changed): got nil, want an error")
	}
}

// TestInteropTheirEnvelopeOurVerify: Verify accepts an envelope that
// go-securesystemslib's DSSE signer made, with and without a key id.
func TestInteropTheirEnvelopeOurVerify(t *testing.T) {
	_, pub := testKey("k1")
	st, err := attest.NewStatement("acme", testPredicate())
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	es, err := dsse.NewEnvelopeSigner(sslibKey(t, "k1", true))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := es.SignPayload(context.Background(), attest.PayloadType, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(theirs)
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.Open(env, []attest.PublicKey{pub}, now, attest.Expect{Subject: "agent:acme/support-bot"})
	if err != nil {
		t.Fatalf("Open(go-securesystemslib's envelope): %v", err)
	}
	if v.Key.KeyID != pub.KeyID || v.Predicate.CompositeScore != 847 {
		t.Errorf("got key %s, composite %d; want %s, 847", v.Key.KeyID, v.Predicate.CompositeScore, pub.KeyID)
	}

	env.Signatures[0].KeyID = ""
	if _, _, err := attest.Verify(env, []attest.PublicKey{pub}, now, attest.Expect{}); err != nil {
		t.Errorf("Verify(go-securesystemslib's envelope, no keyid): %v", err)
	}
}

func TestInteropPAE(t *testing.T) {
	for _, tt := range []struct{ typ, body string }{
		{attest.PayloadType, `{"_type":"https://in-toto.io/Statement/v1"}`},
		{"", ""},
		{"application/vnd.exämple+json", "\x00\xff"},
	} {
		if got, want := attest.PAE([]byte(tt.typ), []byte(tt.body)), dsse.PAE(tt.typ, []byte(tt.body)); string(got) != string(want) {
			t.Errorf("PAE(%q, %q): got %q, go-securesystemslib %q", tt.typ, tt.body, got, want)
		}
	}
}
