package pact

import (
	"os"
	"testing"

	"github.com/probity-dev/probity/internal/record"
)

// BenchmarkCheck measures tool-call records against the 20-clause pact in
// testdata/good/twenty-clauses.yaml. "session" checks a realistic session of
// eight tool calls from a new Session and reports ns/record, the figure the
// ≤ 10 µs goal is about. "refund" (compliant) and "email" (breaks the egress
// clause) check one record on a copy of a session that has made a few calls,
// so their ns/op includes a Clone, measured alone by "clone". Run:
//
//	go test ./internal/pact -run '^$' -bench Check -count 10 | tee new.txt
//	benchstat new.txt   # medians
func BenchmarkCheck(b *testing.B) {
	src, err := os.ReadFile("testdata/good/twenty-clauses.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(src)
	if err != nil {
		b.Fatal(err)
	}
	r := &recs{sess: "s1"}
	sess := p.NewSession()
	for _, rec := range []*record.Record{
		r.call("search_kb", `{"query":"refund policy for damaged items"}`),
		r.call("lookup_order", `{"order_id":"AB-123456"}`),
		r.call("create_ticket", `{"priority":"normal","subject":"Damaged item"}`),
	} {
		p.Check(rec, sess, nil)
	}
	for _, tc := range []struct {
		name string
		rec  *record.Record
	}{
		{"refund", r.call("issue_refund", `{"order_id":"AB-123456","amount":42.5,"currency":"EUR","reason":"damaged in transit"}`)},
		{"email", r.call("send_email", `{"to":"jane.doe@example.org","subject":"Your refund","body":"Hi Jane, your refund of 42.50 EUR is on its way. Details: https://help.acme.com/refunds/AB-123456"}`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Check(tc.rec, sess.Clone(), nil)
			}
		})
	}
	b.Run("session", func(b *testing.B) {
		r := &recs{sess: "s2"}
		stream := []*record.Record{
			r.call("search_kb", `{"query":"where is my parcel"}`),
			r.call("lookup_order", `{"order_id":"CD-654321"}`),
			r.call("search_kb", `{"query":"lost parcel policy"}`),
			r.call("create_ticket", `{"priority":"high","subject":"Parcel lost","order_id":"CD-654321"}`),
			r.call("issue_refund", `{"order_id":"CD-654321","amount":35,"currency":"EUR","reason":"lost"}`),
			r.call("fetch_url", `{"url":"https://status.acme.com/carriers/dhl"}`),
			r.call("send_email", `{"to":"support-log@acme.com","subject":"Refund CD-654321","body":"Refunded 35 EUR, see https://help.acme.com/t/991"}`),
			r.call("update_address", `{"customer_id":"c-77","street":"1 Main St","city":"Springfield"}`),
		}
		sess := p.NewSession()
		for _, rec := range stream {
			if vs := p.Check(rec, sess, nil); len(vs) > 0 {
				b.Fatalf("the benchmark session should comply; got %+v", vs)
			}
		}
		n := 0
		for b.Loop() {
			sess := p.NewSession()
			for _, rec := range stream {
				p.Check(rec, sess, nil)
			}
			n += len(stream)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
	})
	// Clone is part of each iteration of refund and email (Check advances the session);
	// this is its share.
	b.Run("clone", func(b *testing.B) {
		for b.Loop() {
			sess.Clone()
		}
	})
	b.Run("output", func(b *testing.B) {
		rec := r.output("Your refund of 42.50 EUR is on its way.")
		for b.Loop() {
			p.Check(rec, sess, func(string, []string) []string { return nil })
		}
	})
}
