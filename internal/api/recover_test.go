package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/store/sqlite"
)

// TestPanicDoesNotKillTheServer forces a panic in a handler: the client gets
// a JSON 500 without a stack trace, the panic is logged, and the same server
// goes on answering.
func TestPanicDoesNotKillTheServer(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	s, err := New(Options{Store: db, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Config: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	s.mux.Handle("GET /boom", s.wrap(route{pattern: "GET /boom", h: func(http.ResponseWriter, *http.Request, *call) error {
		var m map[string]int
		m["x"]++ // nil map write: a real runtime panic
		return nil
	}}))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	for range 3 {
		resp, err := http.Get(srv.URL + "/boom")
		if err != nil {
			t.Fatalf("request after a panic: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) {
			t.Fatalf("got %d %s, want 500 internal", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), "nil map") {
			t.Fatalf("the answer leaks panic details: %s", body)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after panics: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.Contains(logs.String(), "handler panic") || !strings.Contains(logs.String(), "nil map") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}
