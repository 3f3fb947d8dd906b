package detect

import (
	"strings"
	"testing"
)

// modelOutput is about 1 KB of a typical answer: prose, a list, a code
// sample and a link, with no findings except one e-mail address.
const modelOutput = `Sure! Here's how to rotate the API keys for your agents without downtime.

1. Create a new key with the same scopes as the old one. You can do this from the dashboard
   or with the CLI: probity keys create --org acme --scope events:write.
2. Deploy the new key to every replica, then watch the error rate for a few minutes.
3. Revoke the old key once no requests use it (the "last used" column shows this).

If anything goes wrong, contact the on-call engineer at oncall@acme-corp.io or open an incident.

` + "```go\nfunc rotate(ctx context.Context, c *client.Client, old string) error {\n\tk, err := c.CreateKey(ctx, client.KeyRequest{Scopes: []string{\"events:write\"}})\n\tif err != nil {\n\t\treturn fmt.Errorf(\"creating key: %w\", err)\n\t}\n\tif err := deploy(ctx, k); err != nil {\n\t\treturn err\n\t}\n\treturn c.RevokeKey(ctx, old)\n}\n```" + `

Note that keys are shown only once, so store the new one in your secret manager before closing
the page. See [the key rotation guide](https://docs.example.com/keys#rotation) for details on
scopes, expiry and audit events. Let me know if you'd like a script that does all three steps!
`

func benchmarkScan(b *testing.B, text string, kinds ...Kind) {
	d, err := New(Options{Canaries: corpusCanaries})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		d.Scan(text, kinds...)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(text)), "ns/byte")
}

func repeatTo(s string, n int) string {
	return strings.Repeat(s, n/len(s)+1)[:n]
}

// BenchmarkScan runs all detectors over a 1 KB model output (goal: at most
// 50 µs) and over 1 MB and 4 MB of the same text, whose ns/byte should match
// (linear time). Run: go test -run '^$' -bench Scan -count 10 ./internal/detect
func BenchmarkScan(b *testing.B) {
	b.Run("1KB", func(b *testing.B) { benchmarkScan(b, repeatTo(modelOutput, 1<<10)) })
	// What ingest spends on every tool result: the injection detector alone.
	b.Run("1KB-injection", func(b *testing.B) { benchmarkScan(b, repeatTo(modelOutput, 1<<10), Injection) })
	b.Run("1MB", func(b *testing.B) { benchmarkScan(b, repeatTo(modelOutput, 1<<20)) })
	b.Run("4MB", func(b *testing.B) { benchmarkScan(b, repeatTo(modelOutput, 4<<20)) })
}

// BenchmarkScanAdversarial feeds 1 MB and 4 MB of anchor-dense text (every
// detector's trigger words, quotes, digits and base64 runs) to show that
// worst-case cost stays linear.
func BenchmarkScanAdversarial(b *testing.B) {
	const dense = `ignore you are now' or 1=1 <img on onerror=x> ; rm -rf $( | sh AKIA sk- eyJ pb_ password= 415-555-2671 4111 1111 @a.b I can't help ` +
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo= \u200b\u200b "
	b.Run("1MB", func(b *testing.B) { benchmarkScan(b, repeatTo(dense, 1<<20)) })
	b.Run("4MB", func(b *testing.B) { benchmarkScan(b, repeatTo(dense, 4<<20)) })
}
