package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/ledger"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// probityBinary builds cmd/probity once per test run.
func probityBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "probity-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "probity")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/probity-dev/probity/cmd/probity").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a probity serve process.
type proc struct {
	cmd *exec.Cmd
	url string
}

// startServe runs the binary and waits for its "probity serving" log line.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(probityBinary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct {
			Msg string
			URL string
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "probity serving" {
			go io.Copy(io.Discard, stderr)
			return &proc{cmd: cmd, url: line.URL}
		}
	}
	t.Fatalf("server exited before serving: %v", cmd.Wait())
	return nil
}

type api struct {
	t        *testing.T
	url, key string
}

func (a api) call(method, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (a api) must(method, path, body string) []byte {
	a.t.Helper()
	code, b, err := a.call(method, path, body)
	if err != nil || code/100 != 2 {
		a.t.Fatalf("%s %s: %d %v %s", method, path, code, err, b)
	}
	return b
}

func crashBatch(n int) (string, []string) {
	var evs, ids []string
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // fixed: a resent batch is the same batch
	for i := range 200 {
		id := fmt.Sprintf("b%04d-e%03d", n, i)
		ids = append(ids, id)
		evs = append(evs, fmt.Sprintf(`{"id":%q,"agentId":"crash-bot","sessionId":"s%d","time":%q,"type":"tool_call","tool":{"name":"lookup","arguments":{"q":"order %d"}}}`,
			id, n, at.Add(time.Duration(n*200+i)*time.Millisecond).Format(time.RFC3339Nano), i))
	}
	return `{"events":[` + strings.Join(evs, ",") + `]}`, ids
}

// TestCrashLosesNothingAcknowledged streams batches into the real binary,
// kills it with SIGKILL mid-stream, restarts it, and checks that every
// acknowledged batch is there exactly once, that the ledger holds exactly
// the records and audit entries, and that the new checkpoint extends the
// last one published before the kill.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { crashTest(t) })
	t.Run("postgres", func(t *testing.T) { crashTest(t, "--db", pgtest.TempDSN(t)) })
}

func crashTest(t *testing.T, extra ...string) {
	dir := t.TempDir()
	args := append([]string{"--data", dir}, extra...)
	p := startServe(t, args...)
	keyBytes, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	a := api{t, p.url, strings.TrimSpace(string(keyBytes))}
	a.must("POST", "/v1/agents", `{"id":"crash-bot"}`)
	var keys struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(a.must("GET", "/v1/keys", ""), &keys)

	var acked [][]string
	var lastPublished []byte
	killed := false
	var pending string
	for n := 0; ; n++ {
		body, ids := crashBatch(n)
		if n == 6 && !killed {
			// Kill while this batch is in flight: send it in the
			// background and kill as soon as the server is reading it.
			done := make(chan struct{})
			go func() {
				defer close(done)
				code, _, err := a.call("POST", "/v1/events", body)
				if err == nil && code == 200 {
					acked = append(acked, ids)
				}
			}()
			// Kill once the server is serving it (or it finished first).
		wait:
			for {
				select {
				case <-done:
					break wait
				default:
				}
				_, m, err := a.call("GET", "/metrics", "")
				if err != nil || strings.Contains(string(m), "probity_http_requests_in_flight 2") {
					break
				}
			}
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-done
			p.cmd.Wait()
			killed = true
			pending = body
			break
		}
		code, out, err := a.call("POST", "/v1/events", body)
		if err != nil || code != 200 {
			t.Fatalf("batch %d before the kill: %d %v %s", n, code, err, out)
		}
		acked = append(acked, ids)
		if n%2 == 1 {
			lastPublished = a.must("GET", "/v1/ledger/checkpoint", "")
		}
	}
	before, err := ledger.OpenCheckpoint(lastPublished, keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatalf("checkpoint before the kill: %v", err)
	}

	p = startServe(t, args...)
	a.url = p.url
	seen := map[string]int{}
	cursor := ""
	for {
		path := "/v1/agents/crash-bot/records?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items      []struct{ ID string }
			NextCursor string
		}
		json.Unmarshal(a.must("GET", path, ""), &page)
		for _, r := range page.Items {
			seen[r.ID]++
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for _, ids := range acked {
		for _, id := range ids {
			if seen[id] != 1 {
				t.Fatalf("acknowledged record %s: present %d times, want exactly 1", id, seen[id])
			}
		}
	}
	var audit struct{ Items []json.RawMessage }
	json.Unmarshal(a.must("GET", "/v1/audit?limit=1000", ""), &audit)
	after, err := ledger.OpenCheckpoint(a.must("GET", "/v1/ledger/checkpoint", ""), keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatalf("checkpoint after restart: %v", err)
	}
	if want := int64(len(seen) + len(audit.Items)); after.Size != want {
		t.Errorf("ledger size: got %d, want %d (%d records + %d audit entries)", after.Size, want, len(seen), len(audit.Items))
	}
	var proof ledger.ConsistencyProof
	json.Unmarshal(a.must("GET", fmt.Sprintf("/v1/ledger/consistency?from=%d&to=%d", before.Size, after.Size), ""), &proof)
	if err := ledger.VerifyConsistency(proof, before, after); err != nil {
		t.Errorf("the checkpoint after the crash does not extend the one before: %v", err)
	}
	// The client retries the batch it never saw acknowledged: nothing is
	// stored twice.
	var res struct{ Accepted, Duplicates int }
	json.Unmarshal(a.must("POST", "/v1/events", pending), &res)
	if res.Accepted+res.Duplicates != 200 {
		t.Errorf("retry after the crash: got %+v, want 200 in all", res)
	}
	if len(acked) < 6 {
		t.Errorf("only %d batches were acknowledged before the kill, want at least 6", len(acked))
	}
	t.Logf("%d batches acknowledged, %d records after restart, ledger size %d", len(acked), len(seen), after.Size)
}
