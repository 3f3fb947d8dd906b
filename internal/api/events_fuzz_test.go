package api

import (
	"testing"
	"time"
)

// FuzzDecodeBatch feeds arbitrary bodies to the ingest decoder: it must
// never panic, and every record it accepts must have canonical bytes and a
// leaf. The seed corpus is in testdata/fuzz/FuzzDecodeBatch.
//
//	go test ./internal/api -run '^$' -fuzz FuzzDecodeBatch -fuzztime 60s
func FuzzDecodeBatch(f *testing.F) {
	for _, seed := range []string{
		`{"events":[{"id":"e1","agentId":"a","time":"2026-01-01T00:00:00Z","type":"user_input","content":"hi"}]}`,
		`{"events":[{"id":"e2","agentId":"a","sessionId":"s","time":"2026-01-01T00:00:00.123456789Z","type":"tool_call","tool":{"name":"t","arguments":{"x":[1,2,{"y":null}]}},"latencyMs":1.5,"outcome":"success","model":{"version":"v"},"attributes":{"k":"v","n":1}}]}`,
		`{"events":[{"id":"e3","agentId":"a","time":"2026-01-01T00:00:00Z","type":"tool_result","tool":{"name":"t","result":"\u003cscript\u003e"}}]}`,
		`{"events":[{"id":"","agentId":"A","time":"1900-01-01T00:00:00Z","type":"x","extra":1},{"id":"ok","agentId":"a","time":"2026-01-01T00:00:00Z","type":"error"}]}`,
		`{"events":[]}`, `{"events":{}}`, `[]`, `{`, `{"events":[{"tool":{"arguments":{"a":`,
		`{"events":[{"id":"e","agentId":"a","time":"2026-01-01T00:00:00Z","type":"decision","attributes":{"\u0000":"\ud800"}}]}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, berr, err := decodeBatch(body, now)
		if err != nil || berr != nil {
			return
		}
		for i := range recs {
			leaf, err := RecordLeaf(&recs[i])
			if err != nil {
				t.Fatalf("a valid record has no leaf: %v", err)
			}
			if len(leaf) == 0 {
				t.Fatal("empty leaf")
			}
		}
	})
}
