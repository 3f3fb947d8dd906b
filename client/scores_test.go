package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// scoredEnv starts a server with steady-bot, which has passed every
// built-in suite, and plain-bot, which has no evidence.
func scoredEnv(t *testing.T) (*apptest.Env, *client.Client) {
	t.Helper()
	ctx := t.Context()
	env := apptest.Start(t)
	c := client.New(env.URL, env.AdminKey, client.WithLogger(slog.New(slog.DiscardHandler)))
	base := tbtest.Start(t, testbed.Options{})
	for _, a := range []probity.Agent{
		{ID: "steady-bot", Model: probity.Model{Provider: "acme", Name: "steady", Version: "1"},
			Endpoint: &probity.Endpoint{Kind: "openai", URL: base + "/v1", Model: "steady"}},
		{ID: "plain-bot"},
	} {
		if _, err := c.CreateAgent(ctx, a); err != nil {
			t.Fatalf("CreateAgent %s: %v", a.ID, err)
		}
	}
	suites, err := c.ListSuites(ctx, client.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range suites.Items {
		ids = append(ids, s.ID)
	}
	run, err := c.StartEval(ctx, "steady-bot", ids, 1)
	if err != nil {
		t.Fatalf("StartEval: %v", err)
	}
	for deadline := time.Now().Add(2 * time.Minute); !run.Ended(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not end: %+v", run.ID, run.Progress)
		}
		if run, err = c.GetEval(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
	}
	if run.Status != client.EvalCompleted {
		t.Fatalf("run ended %s: %s", run.Status, run.Reason)
	}
	return env, c
}

func TestScoresAndGate(t *testing.T) {
	env, c := scoredEnv(t)
	ctx := t.Context()

	sc, err := c.GetScore(ctx, "steady-bot", false)
	if err != nil {
		t.Fatalf("GetScore: %v", err)
	}
	if sc.AgentID != "steady-bot" || sc.CompositeScore < 700 || sc.Confidence <= 0 || sc.CertificationTier == "" ||
		len(sc.Dimensions) != 6 || sc.Dimensions["security"] < 0.9 || sc.Evidence.EvalCases < 400 || sc.Evidence.LastEvalAt.IsZero() ||
		sc.Model.Version != "1" || sc.ComputedAt.IsZero() || len(sc.SecurityPosture.OWASP) != 10 ||
		sc.SecurityPosture.OWASP["LLM01"] != "tested" || !slices.Contains(sc.SecurityPosture.Badges, "baselined") || sc.Explain != nil {
		t.Errorf("GetScore: got %+v, want steady-bot above 700, tested and baselined, without an explanation", sc)
	}
	if _, ok, err := sc.Explanation(); ok || err != nil {
		t.Errorf("Explanation without explain: got %v, %v; want none", ok, err)
	}
	ex, err := c.GetScore(ctx, "steady-bot", true)
	if err != nil {
		t.Fatalf("GetScore explain: %v", err)
	}
	e, ok, err := ex.Explanation()
	if !ok || err != nil {
		t.Fatalf("Explanation: got %v, %v; want one", ok, err)
	}
	sum := 0.0
	for _, d := range e.Dimensions {
		sum += d.Contribution
	}
	if len(e.Dimensions) != 6 || e.Dimensions["security"].Weight != 0.2 || e.Dimensions["safety"].Observations == 0 ||
		math.Abs(sum-e.UndecayedComposite) > 0.01 || e.TierReason == "" || len(e.Badges) != 6 || e.DecayFactor != 1 {
		t.Errorf("Explanation: got %+v, want 6 dimensions whose contributions sum to the undecayed composite", e)
	}
	if _, err := c.GetScore(ctx, "ghost", false); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetScore ghost: got %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		name    string
		req     client.GateRequest
		allow   bool
		reasons []string
	}{
		{"steady", client.GateRequest{AgentID: "steady-bot", RequireBadges: []string{"baselined"}}, true, nil},
		{"above its score", client.GateRequest{AgentID: "steady-bot", MinScore: ptr(1000), RequireBadges: []string{"pact-compliant"}},
			false, []string{"is below 1000", "badge pact-compliant is missing"}},
		{"any score", client.GateRequest{AgentID: "steady-bot", MinScore: ptr(0)}, true, nil},
		{"no evidence", client.GateRequest{AgentID: "plain-bot"}, false, []string{"is below 700", "no eval evidence"}},
	} {
		d, err := c.Gate(ctx, tc.req)
		if err != nil {
			t.Errorf("Gate %s: %v", tc.name, err)
			continue
		}
		joined := strings.Join(d.Reasons, "; ")
		if d.Allow != tc.allow || len(d.Reasons) != len(tc.reasons) || d.Status != probity.StatusActive {
			t.Errorf("Gate %s: got allow %v, reasons %q; want %v with %d reasons", tc.name, d.Allow, d.Reasons, tc.allow, len(tc.reasons))
		}
		for _, r := range tc.reasons {
			if !strings.Contains(joined, r) {
				t.Errorf("Gate %s: got reasons %q, want one saying %q", tc.name, d.Reasons, r)
			}
		}
		if tc.req.AgentID == "steady-bot" && (d.CompositeScore != sc.CompositeScore || !slices.Contains(d.Badges, "baselined")) {
			t.Errorf("Gate %s: got score %d, badges %v; want %d and baselined", tc.name, d.CompositeScore, d.Badges, sc.CompositeScore)
		}
	}
	for _, req := range []client.GateRequest{{AgentID: "ghost"}, {AgentID: "steady-bot", MinTier: "mithril"}, {AgentID: "steady-bot", MinScore: ptr(1001)}} {
		var ce *client.Error
		if _, err := c.Gate(ctx, req); !errors.Is(err, probity.ErrInvalid) || !errors.As(err, &ce) || ce.Field == "" {
			t.Errorf("Gate %+v: got %v, want ErrInvalid naming a field", req, err)
		}
	}

	before := time.Now()
	if err := env.API().RecordScores(ctx); err != nil {
		t.Fatal(err)
	}
	hist, err := c.ScoreHistory(ctx, "steady-bot", time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("ScoreHistory: %v", err)
	}
	if len(hist) != 1 || hist[0].CompositeScore != sc.CompositeScore || hist[0].CertificationTier != sc.CertificationTier ||
		hist[0].Time.Before(before.Add(-time.Second)) || hist[0].LedgerIndex == 0 {
		t.Errorf("ScoreHistory: got %+v, want one point of %d", hist, sc.CompositeScore)
	}
	for _, tc := range []struct {
		from, to time.Time
		want     int
	}{
		{before.Add(-time.Minute), time.Now().Add(time.Minute), 1},
		{time.Now().Add(time.Minute), time.Time{}, 0},
		{time.Time{}, before.Add(-time.Minute), 0},
	} {
		if got, err := c.ScoreHistory(ctx, "steady-bot", tc.from, tc.to); err != nil || len(got) != tc.want {
			t.Errorf("ScoreHistory from %v to %v: got %+v, %v; want %d points", tc.from, tc.to, got, err, tc.want)
		}
	}
	if _, err := c.ScoreHistory(ctx, "ghost", time.Time{}, time.Time{}); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("ScoreHistory ghost: got %v, want ErrNotFound", err)
	}
}

func ptr[T any](v T) *T { return &v }

// tamperProxy serves the API of the server at target, except that it
// hands each attestation answer to edit first.
func tamperProxy(t *testing.T, target string, edit func(agent string, env attest.Envelope) attest.Envelope) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		agent, ok := strings.CutSuffix(resp.Request.URL.Path, "/attestation")
		if !ok || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		env, err := attest.ParseEnvelope(b)
		if err != nil {
			return err
		}
		b, err = json.Marshal(edit(strings.TrimPrefix(agent, "/v1/agents/"), env))
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTrustAttestation(t *testing.T) {
	ctx := t.Context()
	env := apptest.Start(t)
	var logs bytes.Buffer
	c := client.New(env.URL, env.AdminKey, client.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for _, id := range []string{"support-bot", "other-bot"} {
		if _, err := c.CreateAgent(ctx, probity.Agent{ID: id, Model: probity.Model{Provider: "acme", Name: "m", Version: "2"}}); err != nil {
			t.Fatal(err)
		}
	}

	raw, err := c.GetAttestation(ctx, "support-bot")
	if err != nil {
		t.Fatalf("GetAttestation: %v", err)
	}
	if raw.PayloadType != attest.PayloadType || len(raw.Signatures) != 1 {
		t.Errorf("GetAttestation: got %+v, want a signed DSSE envelope", raw)
	}
	if _, err := c.GetAttestation(ctx, "ghost"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetAttestation ghost: got %v, want ErrNotFound", err)
	}

	// Keys fetched from the server: it verifies, and warns once.
	for range 2 {
		p, err := c.GetTrustAttestation(ctx, "support-bot")
		if err != nil {
			t.Fatalf("GetTrustAttestation with fetched keys: %v", err)
		}
		if p.AgentID != "support-bot" || p.Model.Version != "2" || p.ExpiresAt.Sub(p.IssuedAt) != 24*time.Hour || p.Ledger.Size == 0 {
			t.Errorf("GetTrustAttestation: got %+v, want support-bot's trust state for 24h", p)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "WithAttestationKeys") {
		t.Errorf("logs: got %q, want one warning about fetched keys", logs.String())
	}

	// Pinned keys: no warning, and a key that is not the org's is refused.
	keys, err := c.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := keys.AttestationKeys()
	if err != nil || len(pinned) != 1 || pinned[0].Status != attest.StatusActive {
		t.Fatalf("AttestationKeys: got %+v, %v; want the active key", pinned, err)
	}
	logs.Reset()
	pc := client.New(env.URL, env.AdminKey, client.WithAttestationKeys(pinned), client.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if p, err := pc.GetTrustAttestation(ctx, "other-bot"); err != nil || p.AgentID != "other-bot" {
		t.Errorf("GetTrustAttestation with pinned keys: got %+v, %v", p, err)
	}
	if logs.Len() != 0 {
		t.Errorf("logs with pinned keys: got %q, want nothing", logs.String())
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	wrong := client.New(env.URL, env.AdminKey, client.WithAttestationKeys([]attest.PublicKey{{KeyID: attest.KeyID(pub), PublicKey: pub, Status: attest.StatusActive}}))
	if _, err := wrong.GetTrustAttestation(ctx, "support-bot"); !errors.Is(err, attest.ErrUnknownKey) {
		t.Errorf("GetTrustAttestation with a wrong pinned key: got %v, want ErrUnknownKey", err)
	}

	// A server in the middle that alters the attestation, or swaps in
	// another agent's, is caught.
	for _, tc := range []struct {
		name string
		edit func(agent string, env attest.Envelope) attest.Envelope
		want error
	}{
		{"tampered payload", func(_ string, e attest.Envelope) attest.Envelope {
			b, _ := base64.StdEncoding.DecodeString(e.Payload)
			e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(b, []byte(`"compositeScore":`), []byte(`"compositeScore":9`), 1))
			return e
		}, attest.ErrBadSignature},
		{"no signature", func(_ string, e attest.Envelope) attest.Envelope { e.Signatures = nil; return e }, attest.ErrMalformed},
	} {
		mitm := tamperProxy(t, env.URL, tc.edit)
		for _, kc := range []*client.Client{
			client.New(mitm, env.AdminKey, client.WithAttestationKeys(pinned)),
			client.New(mitm, env.AdminKey, client.WithLogger(slog.New(slog.DiscardHandler))),
		} {
			if _, err := kc.GetTrustAttestation(ctx, "support-bot"); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	}
	swap := tamperProxy(t, env.URL, func(agent string, e attest.Envelope) attest.Envelope {
		if agent == "other-bot" {
			return raw // support-bot's attestation, answered for other-bot
		}
		return e
	})
	if _, err := client.New(swap, env.AdminKey, client.WithAttestationKeys(pinned)).GetTrustAttestation(ctx, "other-bot"); !errors.Is(err, attest.ErrSubjectMismatch) {
		t.Errorf("another agent's attestation: got %v, want ErrSubjectMismatch", err)
	}

	// After a rotation, fetched keys are fetched again; keys pinned before
	// it no longer know the signing key, and must be pinned anew.
	st, err := app.OpenStore(ctx, app.Config{DataDir: env.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	newID, err := app.RotateSigningKey(ctx, st, app.DefaultOrg)
	st.Close()
	if err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}
	// A server may reuse the key it read for a few seconds.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		e, err := c.GetAttestation(ctx, "support-bot")
		if err != nil {
			t.Fatal(err)
		}
		if e.Signatures[0].KeyID == newID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attestation after a rotation: signed by %s, want %s", e.Signatures[0].KeyID, newID)
		}
	}
	logs.Reset()
	if _, err := c.GetTrustAttestation(ctx, "support-bot"); err != nil {
		t.Errorf("GetTrustAttestation after a rotation, fetched keys: %v", err)
	}
	if logs.Len() != 0 {
		t.Errorf("logs after refetching: got %q, want no second warning", logs.String())
	}
	if _, err := pc.GetTrustAttestation(ctx, "support-bot"); !errors.Is(err, attest.ErrUnknownKey) || !strings.Contains(err.Error(), "support-bot") {
		t.Errorf("GetTrustAttestation after a rotation, keys pinned before: got %v, want ErrUnknownKey", err)
	}
}
