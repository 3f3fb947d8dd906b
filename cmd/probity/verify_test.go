package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/ledger"
)

// ledgerEnv is a server with an agent "bot" and records r-0 … r-(n-1), and
// the flags that point the CLI at it with a fresh witness state.
type ledgerEnv struct {
	env   *apptest.Env
	state string
}

func startLedger(t *testing.T, records int) *ledgerEnv {
	t.Helper()
	isolate(t)
	env := apptest.Start(t)
	if _, err := client.New(env.URL, env.AdminKey).CreateAgent(t.Context(), probity.Agent{ID: "bot"}); err != nil {
		t.Fatal(err)
	}
	postEvents(t, env, "r", records)
	return &ledgerEnv{env: env, state: t.TempDir()}
}

// args appends the flags for the server and the witness state.
func (e *ledgerEnv) args(args ...string) []string {
	return append(args, "--server", e.env.URL, "--key", e.env.AdminKey, "--state", e.state)
}

func (e *ledgerEnv) client() *client.Client { return client.New(e.env.URL, e.env.AdminKey) }

// postEvents ingests n model_output records of agent bot, named
// prefix-0 … prefix-(n-1), each with the content "answer <i>.".
func postEvents(t *testing.T, env *apptest.Env, prefix string, n int) {
	t.Helper()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var events []map[string]any
	for i := range n {
		events = append(events, map[string]any{"id": fmt.Sprintf("%s-%d", prefix, i), "agentId": "bot", "sessionId": "s1",
			"time": at.Add(time.Duration(i) * time.Second), "type": "model_output", "content": fmt.Sprintf("answer %d.", i)})
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", env.URL+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/events: got status %d, want 200", resp.StatusCode)
	}
}

// fails runs the command and fails the test unless it exits with code and
// its stderr holds every one of want.
func fails(t *testing.T, code int, want []string, args ...string) result {
	t.Helper()
	r := cli(t, args...)
	if r.code != code {
		t.Errorf("probity %s: got exit %d, want %d; stdout:\n%s\nstderr:\n%s", strings.Join(args[:2], " "), r.code, code, r.stdout, r.stderr)
		return r
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("probity %s: stderr lacks %q:\n%s", strings.Join(args[:2], " "), w, r.stderr)
		}
	}
	return r
}

func keyOf(t *testing.T, c *client.Client) client.LedgerKey {
	t.Helper()
	k, err := c.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k.Ledger
}

func TestVerifyLedgerTwice(t *testing.T) {
	e := startLedger(t, 5)
	lk := keyOf(t, e.client())

	r := cli(t, e.args("verify", "ledger")...)
	if r.code != exitOK {
		t.Fatalf("first verify ledger: got exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "first use of ledger "+lk.Origin) || !strings.Contains(r.stderr, lk.VerifierKey) {
		t.Errorf("first verify ledger: stderr does not say it trusts %s on first use:\n%s", lk.VerifierKey, r.stderr)
	}
	for _, w := range []string{"Ledger " + lk.Origin + ": checkpoint verified.", "Previous:  none", "(trusted on first use)"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("first verify ledger: stdout lacks %q:\n%s", w, r.stdout)
		}
	}

	// The state: one directory per origin, 0700, with the key and the checkpoint, 0600.
	dir := filepath.Join(e.state, originDir(lk.Origin))
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("witness directory %s: got %v, %v; want mode 0700", dir, fi, err)
	}
	signed, err := e.client().Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"key": lk.VerifierKey + "\n", "checkpoint": string(signed)} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if err != nil || string(b) != want || fi.Mode().Perm() != 0o600 {
			t.Errorf("witness file %s: got %q (%v), %v; want %q, mode 0600", name, b, fi.Mode(), err, want)
		}
	}
	first, _ := ledger.OpenCheckpoint(signed, lk.VerifierKey)

	// The second run uses the saved key and proves the new checkpoint extends the first.
	postEvents(t, e.env, "s", 3)
	r = cli(t, e.args("verify", "ledger")...)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("second verify ledger: got exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	for _, w := range []string{
		fmt.Sprintf("Size:      %d entries", first.Size+3),
		fmt.Sprintf("Previous:  %d entries, seen at", first.Size),
		"(consistency proof verified)",
		"(saved at first use)",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("second verify ledger: stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	var out struct {
		Origin       string
		Size         int64
		PreviousSize *int64
		KeySource    string
	}
	if err := json.Unmarshal([]byte(ok(t, e.args("verify", "ledger", "--json")...)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Origin != lk.Origin || out.Size != first.Size+3 || out.PreviousSize == nil || *out.PreviousSize != first.Size+3 || out.KeySource != "saved at first use" {
		t.Errorf("third verify ledger --json: got %+v, want size and previous size %d", out, first.Size+3)
	}

	// A record, through the same witness.
	out2 := ok(t, e.args("verify", "record", "--id", "r-2")...)
	p, _ := e.client().RecordProof(t.Context(), "r-2", 0)
	if want := fmt.Sprintf("Record r-2 is ledger entry %d of %s: included, unchanged", p.Index, lk.Origin); !strings.HasPrefix(out2, want) {
		t.Errorf("verify record: got %q, want %q…", out2, want)
	}
	fails(t, exitError, []string{"not_found"}, e.args("verify", "record", "--id", "nope")...)
}

func TestVerifierKeys(t *testing.T) {
	e := startLedger(t, 1)
	lk := keyOf(t, e.client())
	_, otherKey, err := ledger.GenerateKey(lk.Origin) // same ledger name, another key
	if err != nil {
		t.Fatal(err)
	}
	_, foreignKey, _ := ledger.GenerateKey("probity/acme/0123456789abcdef")
	stateEmpty := func(t *testing.T) {
		t.Helper()
		if des, _ := os.ReadDir(e.state); len(des) != 0 {
			t.Errorf("the witness state holds %d entries after a failure, want none", len(des))
		}
	}

	fails(t, exitError, []string{"VERIFIER KEY MISMATCH", otherKey, lk.VerifierKey}, e.args("verify", "ledger", "--verifier-key", otherKey)...)
	stateEmpty(t)
	fails(t, exitError, []string{"is the key of probity/acme/0123456789abcdef", "not the ledger you pinned"}, e.args("verify", "ledger", "--verifier-key", foreignKey)...)
	stateEmpty(t)
	fails(t, exitUsage, []string{"--verifier-key: not a note verifier key"}, e.args("verify", "ledger", "--verifier-key", "nonsense")...)

	// Pinned right: no trust on first use, and the key is saved.
	r := cli(t, e.args("verify", "ledger", "--verifier-key", lk.VerifierKey)...)
	if r.code != exitOK || strings.Contains(r.stderr, "first use") || !strings.Contains(r.stdout, "(pinned with --verifier-key)") {
		t.Fatalf("verify ledger with the right pinned key: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	fails(t, exitError, []string{"differs from the key saved for ledger " + lk.Origin}, e.args("verify", "ledger", "--verifier-key", otherKey)...)

	// The server now reports another key for the same ledger (here: the
	// saved one is not the server's, which is the same comparison).
	keyFile := filepath.Join(e.state, originDir(lk.Origin), "key")
	if err := os.WriteFile(keyFile, []byte(otherKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(e.state, originDir(lk.Origin), "checkpoint"))
	fails(t, exitError, []string{"LEDGER KEY CHANGED", lk.VerifierKey, otherKey}, e.args("verify", "ledger")...)
	if after, _ := os.ReadFile(filepath.Join(e.state, originDir(lk.Origin), "checkpoint")); !bytes.Equal(before, after) {
		t.Errorf("the saved checkpoint changed after a key change was refused")
	}
}

func TestVerifyUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify"}, "usage: probity verify ledger|record|export"},
		{[]string{"verify", "attestation"}, "missing attestation FILE"},
		{[]string{"verify", "witness"}, `unknown subcommand "witness"`},
		{[]string{"verify", "ledger", "extra"}, "verify ledger takes no arguments"},
		{[]string{"verify", "ledger", "--server", "ftp://x"}, "want an http:// or https:// URL"},
		{[]string{"verify", "ledger", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"verify", "record"}, "--id is required"},
		{[]string{"verify", "record", "--id", "x", "y"}, "verify record takes no arguments"},
		{[]string{"verify", "export"}, "missing export DIR"},
		{[]string{"verify", "export", "a", "b"}, `unexpected arguments ["b"]`},
		{[]string{"verify", "export", "a", "--verifier-key", "nonsense"}, "--verifier-key: not a note verifier key"},
		{[]string{"ledger"}, "usage: probity ledger export --out DIR"},
		{[]string{"ledger", "import"}, `unknown subcommand "import"`},
		{[]string{"ledger", "export"}, "--out is required"},
		{[]string{"ledger", "export", "--out", "d", "x"}, "ledger export takes no arguments"},
		{[]string{"ledger", "export", "--out", "d", "--progress", "-1"}, "--progress must not be negative"},
	} {
		r := cli(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"verify", "-h"}, {"verify", "ledger", "-h"}, {"ledger", "export", "-h"}, {"verify", "export", "-h"}} {
		if r := cli(t, args...); r.code != exitOK || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("probity %q: got exit %d, stderr %q; want 0 and the usage", args, r.code, r.stderr)
		}
	}
}

func TestExport(t *testing.T) {
	e := startLedger(t, 25)
	lk := keyOf(t, e.client())
	dir := filepath.Join(t.TempDir(), "export")
	r := cli(t, e.args("ledger", "export", "--out", dir, "--progress", "10")...)
	if r.code != exitOK {
		t.Fatalf("ledger export: got exit %d; stderr:\n%s", r.code, r.stderr)
	}
	signed, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	cp, err := ledger.OpenCheckpoint(signed, lk.VerifierKey)
	if err != nil {
		t.Fatalf("exported checkpoint: %v", err)
	}
	for _, w := range []string{"fetched 10 of", "fetched 20 of", fmt.Sprintf("fetched %d of %d entries", cp.Size, cp.Size)} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("ledger export: progress lacks %q:\n%s", w, r.stderr)
		}
	}
	if want := fmt.Sprintf("Exported ledger %s: %d entries", lk.Origin, cp.Size); !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "--verifier-key "+lk.VerifierKey) {
		t.Errorf("ledger export: got %q, want %q… and how to verify", r.stdout, want)
	}
	fails(t, exitError, []string{"is not empty"}, e.args("ledger", "export", "--out", dir)...)

	emptyState := t.TempDir()
	for _, tc := range []struct {
		name       string
		args       []string
		keyFrom    string
		warnsAbout bool
	}{
		{"pinned", []string{"--verifier-key", lk.VerifierKey, "--state", emptyState}, "(pinned with --verifier-key)", false},
		{"witnessed", []string{"--state", e.state}, "(saved by 'probity verify ledger'", false},
		{"own key file", []string{"--state", emptyState}, "(the export's own key file: proves internal consistency only)", true},
	} {
		r := cli(t, append([]string{"verify", "export", dir}, tc.args...)...)
		if r.code != exitOK {
			t.Errorf("verify export %s: got exit %d; stderr:\n%s", tc.name, r.code, r.stderr)
			continue
		}
		for _, w := range []string{"Ledger:      " + lk.Origin, fmt.Sprintf("Entries:     %d", cp.Size), "Result:      OK", tc.keyFrom} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("verify export %s: stdout lacks %q:\n%s", tc.name, w, r.stdout)
			}
		}
		if got := strings.Contains(r.stderr, "WARNING: verifying with the export's own key file"); got != tc.warnsAbout {
			t.Errorf("verify export %s: warned about the key file %v, want %v; stderr %q", tc.name, got, tc.warnsAbout, r.stderr)
		}
	}
	_, otherKey, _ := ledger.GenerateKey(lk.Origin)
	fails(t, exitError, []string{"EXPORT DOES NOT VERIFY", "not signed by the trusted key"}, "verify", "export", dir, "--verifier-key", otherKey)
	fails(t, exitError, []string{"no such file"}, "verify", "export", filepath.Join(t.TempDir(), "none"), "--verifier-key", lk.VerifierKey)
}

func TestOriginDir(t *testing.T) {
	long := "probity/" + strings.Repeat("x", 300)
	for _, tc := range []struct{ origin, want string }{
		{"probity/default/0123456789abcdef", "probity_2fdefault_2f0123456789abcdef"},
		{"probity/a_b/1", "probity_2fa_5fb_2f1"},
		{"Probity/A", "_50robity_2f_41"},
		{".", "_2e"},
		{"..x", "_2e.x"},
		{long, originDir(long)},
	} {
		got := originDir(tc.origin)
		if got != tc.want || len(got) > 200 || strings.ContainsAny(got, `/\`) {
			t.Errorf("originDir(%q): got %q, want %q (at most 200 bytes, no separators)", tc.origin, got, tc.want)
		}
	}
	if originDir(long) == originDir(long+"y") {
		t.Errorf("originDir: two long origins map to one directory")
	}
}
