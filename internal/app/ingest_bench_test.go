package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

const ingestBatch = 1000

// toolCall is a realistic tool-call record of about 450 bytes.
func toolCall(n int64, at time.Time) string {
	return fmt.Sprintf(`{"id":"evt-%012d-7f3a9c","agentId":"support-bot","sessionId":"sess-%06d","time":%q,"type":"tool_call",`+
		`"tool":{"name":"send_email","arguments":{"to":"customer-%d@example.com","subject":"Your refund for order %d",`+
		`"body":"Hello, your refund of 42.00 EUR has been issued and should arrive within five business days."}},`+
		`"latencyMs":182.5,"outcome":"success","model":{"version":"2026-01-15"},"attributes":{"region":"eu-west-1"}}`,
		n, n/20, at.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano), n%5000, n)
}

// toolResult is the result of toolCall n: about 1 KiB of clean text, which
// ingest scans for injection.
func toolResult(n int64, at time.Time) string {
	return fmt.Sprintf(`{"id":"res-%012d-7f3a9c","agentId":"support-bot","sessionId":"sess-%06d","time":%q,"type":"tool_result",`+
		`"tool":{"name":"send_email","result":{"status":"sent","message_id":"<%d@mail.example.com>","note":%q}},`+
		`"latencyMs":40.5,"outcome":"success"}`,
		n, n/20, at.Add(time.Duration(n)*time.Millisecond+time.Microsecond).Format(time.RFC3339Nano), n, resultNote)
}

const resultNote = "The message was accepted by the outbound relay and queued for delivery. Delivery usually completes " +
	"within a minute; bounces are reported to the sender address configured for the support mailbox. The customer " +
	"record was updated with the refund reference and the time of the notification, and the ticket moved to the " +
	"waiting-for-customer state. If the customer replies, the reply is threaded into the same ticket and the agent " +
	"is notified. Attachments larger than 10 MB are stripped and replaced with a link to the document store, which " +
	"keeps them for 90 days. The relay signs outgoing mail with DKIM for the support domain and records the message " +
	"in the outbound archive for compliance review. No further action is needed for this message unless the customer " +
	"asks for a copy of the refund receipt, in which case the receipt tool can produce one from the refund reference."

// BenchmarkIngest measures sustained ingest through HTTP: batches of 1,000
// tool-call records, ledger on, two clients so that parsing one batch
// overlaps committing the other. "raw" is the anchor: the same rows inserted
// into SQLite in 1,000-row transactions with a unique id, without Probity.
// "sqlite-pact" is "sqlite" with a realistic 20-clause pact bound to the
// agent, so every record is checked at ingest; the goal is ≥ 70% of
// "sqlite"'s events/s in the same run.
//
//	go test ./internal/app -run '^$' -bench 'Ingest/sqlite' -benchtime 30x -count 3
func BenchmarkIngest(b *testing.B) {
	b.Run("raw-sqlite", benchRawInsert)
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, nil, false) })
	b.Run("sqlite-pact", func(b *testing.B) { benchIngest(b, benchPact(b), false) })
	// Half tool calls, half 1 KiB tool results (scanned for injection).
	b.Run("sqlite-mixed", func(b *testing.B) { benchIngest(b, nil, true) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, nil, false, apptest.WithPostgres(pgtest.TempDSN(b))) })
}

// benchPact is internal/pact's 20-clause benchmark pact (bound to
// support-bot) with example.com added to its egress domains, so that the
// benchmark's send_email records, which write to customers at example.com,
// are compliant: the run measures checking, not storing violations.
func benchPact(b *testing.B) []byte {
	src, err := os.ReadFile("../pact/testdata/good/twenty-clauses.yaml")
	if err != nil {
		b.Fatal(err)
	}
	const from = "egressDomains: [acme.com,"
	if !bytes.Contains(src, []byte(from)) {
		b.Fatalf("twenty-clauses.yaml no longer has %q", from)
	}
	return bytes.Replace(src, []byte(from), []byte("egressDomains: [example.com, acme.com,"), 1)
}

// benchIngest runs the ingest benchmark; pact, when not nil, is applied
// (bound to support-bot) before the clock starts; mixed makes every other
// record a tool result.
func benchIngest(b *testing.B, pact []byte, mixed bool, opts ...apptest.Option) {
	opts = append(opts, func(c *app.Config) { c.LogLevel = "error" })
	env := apptest.Start(b, opts...)
	if code, body := sendB(b, env.URL+"/v1/agents", env.AdminKey, `{"id":"support-bot"}`); code != 201 {
		b.Fatalf("creating agent: %d %s", code, body)
	}
	if pact != nil {
		req, _ := http.NewRequest("POST", env.URL+"/v1/pacts", bytes.NewReader(pact))
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			b.Fatalf("applying the pact: %d %s", resp.StatusCode, out)
		}
	}
	at := time.Now().Add(-time.Hour)
	var next atomic.Int64
	makeBatch := func() []byte {
		start := next.Add(ingestBatch) - ingestBatch
		var buf bytes.Buffer
		buf.WriteString(`{"events":[`)
		for i := range int64(ingestBatch) {
			if i > 0 {
				buf.WriteByte(',')
			}
			if mixed && i%2 == 1 {
				buf.WriteString(toolResult(start+i-1, at))
			} else {
				buf.WriteString(toolCall(start+i, at))
			}
		}
		buf.WriteString(`]}`)
		return buf.Bytes()
	}
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.SetParallelism(1)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := makeBatch()
			req, _ := http.NewRequest("POST", env.URL+"/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+env.AdminKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(out), `"accepted":1000`) {
				b.Errorf("ingest: %d %s", resp.StatusCode, out)
				return
			}
			// The records are compliant, with or without the pact.
			if !strings.Contains(string(out), `"violations":[]`) {
				b.Errorf("ingest answered violations: %.2000s", out)
				return
			}
		}
	})
	b.ReportMetric(float64(next.Load())/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

func benchRawInsert(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "raw.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE records (id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	var n int64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rows := make([]string, ingestBatch)
		for i := range rows {
			rows[i] = toolCall(n+int64(i), at)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.Prepare(`INSERT INTO records (id, body) VALUES (?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range rows {
			if _, err := stmt.Exec(fmt.Sprintf("evt-%012d-7f3a9c", n+int64(i)), r); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		n += ingestBatch
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// peakRSSMiB reads the process's peak resident set size (VmHWM) on Linux;
// the server and the load generator share the process here.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}
