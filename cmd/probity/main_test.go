package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Commands:"},
		{[]string{"help"}, exitOK, "inventory"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// The offline key and org commands work on the data directory of a stopped
// server, and what they do holds once it serves again.
func TestOffline(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	dir := env.DataDir
	if _, err := client.New(env.URL, env.AdminKey).CreateAgent(t.Context(), probity.Agent{ID: "bot"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Shutdown(t.Context()); err != nil {
		t.Fatalf("stopping the server: %v", err)
	}

	var created struct {
		ID, Key, Name string
		Scopes        []probity.Scope
	}
	if err := json.Unmarshal([]byte(ok(t, "key", "create", "--data", dir, "--scope", "read,eval", "--name", "ci", "--json")), &created); err != nil {
		t.Fatalf("key create --json: %v", err)
	}
	if !strings.HasPrefix(created.Key, probity.KeyPrefix) || created.Name != "ci" || len(created.Scopes) != 2 {
		t.Errorf("key create: got %+v, want a pb_ key named ci with 2 scopes", created)
	}
	rows := table(ok(t, "key", "list", "--data", dir))
	if len(rows) != 3 || !strings.Contains(strings.Join(rows[0], " "), "ID PREFIX SCOPES NAME") {
		t.Fatalf("key list: got %q, want a header and 2 keys", rows)
	}
	found := false
	for _, r := range rows[1:] {
		if r[0] == created.ID {
			found = true
			if r[2] != "read,eval" || r[3] != "ci" || r[5] != "-" {
				t.Errorf("key list row: got %q, want scopes read,eval, name ci, not revoked", r)
			}
		}
	}
	if !found {
		t.Errorf("key list: got %q, want a row for %s", rows, created.ID)
	}

	if out := ok(t, "key", "revoke", created.ID, "--data", dir); out != "Revoked key "+created.ID+".\n" {
		t.Errorf("key revoke: got %q", out)
	}
	if r := cli(t, "key", "revoke", created.ID, "--data", dir); r.code != exitError || !strings.Contains(r.stderr, "already revoked") {
		t.Errorf("key revoke again: got exit %d, stderr %q; want 1, already revoked", r.code, r.stderr)
	}
	var keys []probity.APIKey
	if err := json.Unmarshal([]byte(ok(t, "key", "list", "--data", dir, "--json")), &keys); err != nil {
		t.Fatalf("key list --json: %v", err)
	}
	for _, k := range keys {
		if got, want := k.RevokedAt != nil, k.ID == created.ID; got != want {
			t.Errorf("key list --json: key %s revoked %v, want %v", k.ID, got, want)
		}
	}

	out := ok(t, "org", "create", "acme", "--data", dir)
	acmeKey := regexp.MustCompile(`pb_[A-Za-z0-9_-]+`).FindString(out)
	if !strings.HasPrefix(out, `Created org "acme".`) || acmeKey == "" {
		t.Fatalf("org create: got %q, want the org and its key", out)
	}
	if r := cli(t, "org", "create", "acme", "--data", dir); r.code != exitError {
		t.Errorf("org create twice: got exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	if r := cli(t, "org", "create", "Not Valid", "--data", dir); r.code != exitError || !strings.Contains(r.stderr, "must be 1-64 characters") {
		t.Errorf("org create with a bad name: got exit %d, stderr %q; want 1 and the rule", r.code, r.stderr)
	}
	if r := cli(t, "key", "create", "--scope", "root", "--data", dir); r.code != exitUsage || !strings.Contains(r.stderr, `unknown scope "root"`) {
		t.Errorf("key create --scope root: got exit %d, stderr %q; want 2, unknown scope", r.code, r.stderr)
	}

	// Serve the directory again.
	env2 := apptest.Start(t, apptest.WithDataDir(dir))
	if env2.AdminKey != env.AdminKey {
		t.Fatalf("restart: got a new admin key, want the same admin.key")
	}
	if r := cli(t, "agent", "list", "--server", env2.URL, "--key", created.Key); r.code != exitError || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("agent list with the revoked key: got exit %d, stderr %q; want 1, revoked", r.code, r.stderr)
	}
	var list []probity.Agent
	json.Unmarshal([]byte(ok(t, "agent", "list", "--json", "--server", env2.URL, "--key", acmeKey)), &list)
	if len(list) != 0 {
		t.Errorf("acme's agents: got %+v, want none (bot is default's)", list)
	}
	ok(t, "agent", "create", "--id", "acme-bot", "--server", env2.URL, "--key", acmeKey)
	rows = table(ok(t, "agent", "list", "--server", env2.URL, "--data", dir))
	if len(rows) != 2 || rows[1][0] != "bot" {
		t.Errorf("default's agents through admin.key: got %q, want bot alone", rows)
	}
}

// TestBinary builds the command and drives it as a user would: serve, create
// and list through the CLI, then SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	bin := filepath.Join(t.TempDir(), "probity")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROBITY_") {
			environ = append(environ, kv)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	serve := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--data", data)
	serve.Env = environ
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// Read the log until the server says where it listens; keep the rest.
	var logs strings.Builder
	lines := bufio.NewScanner(stderr)
	url := ""
	for url == "" && lines.Scan() {
		logs.WriteString(lines.Text() + "\n")
		if m := regexp.MustCompile(`msg="probity serving" url=(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		serve.Wait()
		t.Fatalf("the server exited without serving; log:\n%s", logs.String())
	}
	drained := make(chan struct{})
	go func() {
		for lines.Scan() {
			logs.WriteString(lines.Text() + "\n")
		}
		io.Copy(io.Discard, stderr)
		close(drained)
	}()

	probity := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(environ, "PROBITY_SERVER="+url, "PROBITY_DATA="+data)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			err = &exitErr{err, errOut.String()}
		}
		return out.String(), err
	}
	if out, err := probity("agent", "create", "--id", "e2e", "--name", "End to end", "--risk-tier", "low"); err != nil || out != "Created agent e2e.\n" {
		t.Errorf("agent create: got %q, %v; want Created agent e2e.", out, err)
	}
	out, err := probity("agent", "list")
	if rows := table(out); err != nil || len(rows) != 2 || rows[1][0] != "e2e" || rows[1][1] != "End to end" {
		t.Errorf("agent list: got %q, %v; want e2e", out, err)
	}
	_, err = probity("agent", "get", "nobody")
	if ee, ok := err.(*exitErr); !ok || ee.ExitCode() != exitError || !strings.Contains(ee.stderr, "not_found") {
		t.Errorf("agent get nobody: got %v, want exit 1 with not_found", err)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-drained
	if err := serve.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: got %v, want exit 0; log:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `msg="stopped cleanly"`) {
		t.Errorf("serve log after SIGTERM lacks \"stopped cleanly\":\n%s", logs.String())
	}
}

type exitErr struct {
	error
	stderr string
}

func (e *exitErr) ExitCode() int {
	if ee, ok := e.error.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func (e *exitErr) Error() string { return e.error.Error() + ": " + e.stderr }

// TestWriteJSONEscapesTerminalControls: text that could drive a terminal
// (C1 controls, bidirectional overrides) is written as \u escapes, and the
// JSON still means the same.
func TestWriteJSONEscapesTerminalControls(t *testing.T) {
	in := map[string]string{"owner": "team\u202eevil\u009b31m\x1b[0m plain é"}
	var buf bytes.Buffer
	if err := writeJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsFunc(strings.ReplaceAll(out, "\n", ""), probity.Unsafe) {
		t.Errorf("unsafe characters written raw: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["owner"] != in["owner"] {
		t.Errorf("the JSON changed meaning: %q (%v)", back["owner"], err)
	}
	if !strings.Contains(out, "é") {
		t.Errorf("ordinary text was escaped: %q", out)
	}
}
