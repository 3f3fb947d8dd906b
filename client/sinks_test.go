package client_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

// TestSinks drives sinks through the SDK against a real server, with a
// receiver that verifies each request with VerifyWebhook.
func TestSinks(t *testing.T) {
	env := apptest.Start(t, func(c *app.Config) {
		c.Delivery.BackoffBase, c.Delivery.BackoffMax, c.Delivery.Poll, c.Delivery.MaxAttempts = time.Millisecond, 5*time.Millisecond, 10*time.Millisecond, 2
	})
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)
	var mu sync.Mutex
	var secret string
	down := true
	got := map[string]string{} // delivery id → event type
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if err := client.VerifyWebhook(secret, r.Header.Get("Probity-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got[r.Header.Get("Probity-Delivery")] = r.Header.Get("Probity-Event")
	}))
	defer srv.Close()

	sk, s, err := c.CreateSink(ctx, client.SinkInput{Name: "soar", Kind: client.SinkWebhook, URL: srv.URL, EventTypes: []string{"agent.suspended"}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = s
	mu.Unlock()
	if sk.Kind != client.SinkWebhook || sk.Format != client.FormatJSON || s == "" {
		t.Fatalf("CreateSink: %+v, secret %q", sk, s)
	}
	if _, _, err := c.CreateSink(ctx, client.SinkInput{Kind: client.SinkSplunkHEC, URL: "https://splunk.example.com"}); !errors.Is(err, probity.ErrInvalid) {
		t.Errorf("a HEC sink without a token: got %v, want ErrInvalid", err)
	} else if ce := (*client.Error)(nil); errors.As(err, &ce) && ce.Field != "token" {
		t.Errorf("got field %q, want token", ce.Field)
	}
	if _, err := c.CreateAgent(ctx, probity.Agent{ID: "bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SuspendAgent(ctx, "bot", "testing sinks"); err != nil {
		t.Fatal(err)
	}
	var dead client.Delivery
	poll(t, "a dead letter", func() bool {
		p, err := c.ListDeliveries(ctx, sk.ID, client.DeliveryFilter{Status: "dead"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) == 1 {
			dead = p.Items[0]
		}
		return len(p.Items) == 1
	})
	if dead.Attempts != 2 || dead.LastStatusCode != http.StatusBadGateway || len(dead.Log) != 2 || !strings.Contains(string(dead.Event), `"agent.suspended"`) {
		t.Errorf("dead letter: %+v", dead)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if n, err := c.ReplayDeadLetters(ctx, sk.ID); err != nil || n != 1 {
		t.Fatalf("ReplayDeadLetters: %d %v", n, err)
	}
	poll(t, "the replay to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[dead.ID] == "agent.suspended"
	})
	poll(t, "the replay to be recorded", func() bool {
		p, _ := c.ListDeliveries(ctx, sk.ID, client.DeliveryFilter{Status: "sent"})
		return len(p.Items) == 1
	})
	if n, err := c.ReplayDeliveries(ctx, sk.ID, []string{dead.ID}); err != nil || n != 1 {
		t.Errorf("ReplayDeliveries of a sent one: %d %v", n, err)
	}
	list, err := c.ListSinks(ctx, client.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != sk.ID {
		t.Errorf("ListSinks: %+v %v", list, err)
	}
	if err := c.DeleteSink(ctx, sk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSink(ctx, sk.ID); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetSink after delete: got %v, want ErrNotFound", err)
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestVerifyWebhook(t *testing.T) {
	// A signature made by hand, as the documentation describes it:
	// hex HMAC-SHA256 of "1767225600.{}" under "whsec-test-0123456789".
	const secret = "whsec-test-0123456789"
	const sig = "t=1767225600,v1=2c2af2b6d5d2c4fc02bb6c0fd4a09fd6e8a52b4b3bf4f8b4e85e9a8f9a2f2b6d"
	at := time.Unix(1767225600, 0)
	good := signForTest(secret, "1767225600", "{}")
	if err := client.VerifyWebhook(secret, "t=1767225600,v1="+good, []byte("{}"), at, time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for _, tc := range []struct{ name, header, body string }{
		{"a made-up signature", sig, "{}"},
		{"another body", "t=1767225600,v1=" + good, `{"x":1}`},
		{"no timestamp", "v1=" + good, "{}"},
		{"garbage", "nonsense", "{}"},
	} {
		if err := client.VerifyWebhook(secret, tc.header, []byte(tc.body), at, time.Minute); !errors.Is(err, client.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", tc.name, err)
		}
	}
	if err := client.VerifyWebhook(secret, "t=1767225600,v1="+good, []byte("{}"), at.Add(2*time.Minute), time.Minute); !errors.Is(err, client.ErrBadSignature) {
		t.Errorf("an old signature: got %v, want ErrBadSignature", err)
	}
}

// signForTest is the signature's definition, written out.
func signForTest(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}
