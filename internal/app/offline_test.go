package app_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func TestRotateSigningKeySQLite(t *testing.T) {
	rotateSigningKey(t, apptest.Start(t))
}

func TestRotateSigningKeyPostgres(t *testing.T) {
	rotateSigningKey(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// rotateSigningKey rotates the attestation key of a running server's store:
// the server signs with the new key from its next attestation, GET /v1/keys
// lists the old one retired, and what it signed still verifies.
func rotateSigningKey(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	if code, body := send(t, "POST", env.URL+"/v1/agents", env.AdminKey, `{"id":"bot"}`); code != http.StatusCreated {
		t.Fatalf("creating an agent: %d %s", code, body)
	}
	attestation := func() attest.Envelope {
		t.Helper()
		code, body := get(t, env.URL+"/v1/agents/bot/attestation", env.AdminKey)
		e, err := attest.ParseEnvelope(body)
		if code != http.StatusOK || err != nil || len(e.Signatures) != 1 {
			t.Fatalf("GET attestation: %d %s", code, body)
		}
		return e
	}
	keys := func(key string) []attest.PublicKey {
		t.Helper()
		code, body := get(t, env.URL+"/v1/keys", key)
		ks, err := attest.ParseKeys(body)
		if code != http.StatusOK || err != nil {
			t.Fatalf("GET /v1/keys: %d %s: %v", code, body, err)
		}
		return ks
	}
	before := attestation()
	oldID := before.Signatures[0].KeyID

	st, err := app.OpenStore(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newID, err := app.RotateSigningKey(ctx, st, app.DefaultOrg)
	if err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}
	if newID == "" || newID == oldID {
		t.Fatalf("RotateSigningKey: got key %q, want a new one (the old is %s)", newID, oldID)
	}

	// A server may reuse the key it read for a few seconds.
	after := attestation()
	for deadline := time.Now().Add(10 * time.Second); after.Signatures[0].KeyID != newID && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		after = attestation()
	}
	if got := after.Signatures[0].KeyID; got != newID {
		t.Fatalf("attestation after the rotation: signed by %s, want %s", got, newID)
	}
	ks := keys(env.AdminKey)
	want := []attest.PublicKey{{KeyID: oldID, Status: attest.StatusRetired}, {KeyID: newID, Status: attest.StatusActive}}
	if len(ks) != 2 || ks[0].KeyID != want[0].KeyID || ks[0].Status != want[0].Status || ks[1].KeyID != want[1].KeyID || ks[1].Status != want[1].Status {
		t.Errorf("GET /v1/keys: got %+v, want %s retired then %s active", ks, oldID, newID)
	}
	for _, tc := range []struct {
		name string
		env  attest.Envelope
		key  string
	}{{"signed before", before, attest.StatusRetired}, {"signed after", after, attest.StatusActive}} {
		v, err := attest.Open(tc.env, ks, time.Now(), attest.Expect{Subject: attest.SubjectName(app.DefaultOrg, "bot")})
		if err != nil || v.Key.Status != tc.key {
			t.Errorf("verifying the attestation %s: got %v, key %+v; want it verified by a %s key", tc.name, err, v.Key, tc.key)
		}
	}

	// The rotation is audited, by the CLI.
	code, body := get(t, env.URL+"/v1/audit?action=attestation-key.rotate", env.AdminKey)
	var audit struct{ Items []probity.AuditEntry }
	if err := json.Unmarshal(body, &audit); code != http.StatusOK || err != nil || len(audit.Items) != 1 ||
		audit.Items[0].Actor != "cli" || audit.Items[0].Target != "attestation-key:"+newID {
		t.Errorf("audit: got %d %s, want one rotation by cli", code, body)
	}

	// An org without a key yet gets its first; an unknown org is an error.
	secret, err := app.CreateOrg(ctx, st, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	first, err := app.RotateSigningKey(ctx, st, "fresh")
	if ks := keys(secret); err != nil || len(ks) != 1 || ks[0].KeyID != first || ks[0].Status != attest.StatusActive {
		t.Errorf("rotating in an org without a key: got %+v, %v; want one active key %s", ks, err, first)
	}
	if _, err := app.RotateSigningKey(ctx, st, "nope"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("rotating in an unknown org: got %v, want ErrNotFound", err)
	}
}
