package pact

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/probity-dev/probity/internal/record"
)

// FuzzCompile feeds arbitrary sources to Compile: it must not panic, a pact
// it accepts must round-trip through its canonical form, and checking a few
// records against it must not panic either. The committed corpus is in
// testdata/fuzz/FuzzCompile; the good and bad pacts seed it too. A CI-sized
// run:
//
//	go test ./internal/pact -run '^$' -fuzz FuzzCompile -fuzztime 60s -fuzzminimizetime 5s
func FuzzCompile(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*", "testdata/bad/*.yaml", "testdata/bad/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	r := &recs{sess: "fuzz"}
	records := []*record.Record{
		r.call("fetch_url", `{"url":"https://docs.acme.com/a","to":"x@evil.example"}`),
		r.call("send_email", `{"to":"eve@evil.example","amount":5,"items":[1,2,3]}`),
		r.call("issue_refund", `"plain string"`),
		r.output("<script>alert(1)</script>"),
		r.data("payment_card"),
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Compile(src)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("got error of type %T, want Errors: %v", err, err)
			}
			return
		}
		q, err := Compile(p.Canonical())
		if err != nil {
			t.Fatalf("canonical form does not compile: %v\n%s", err, p.Canonical())
		}
		if !bytes.Equal(q.Canonical(), p.Canonical()) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", p.Canonical(), q.Canonical())
		}
		sess := p.NewSession()
		for _, rec := range records {
			p.Check(rec, sess, fakeDetect)
		}
	})
}
