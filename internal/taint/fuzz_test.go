package taint

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzExtractCarried checks that Extract and Carried never panic, that
// Extract keeps its limits, and that content passed back as arguments
// carries its own url, e-mail and IBAN tokens. Seeds live in
// testdata/fuzz/FuzzExtractCarried.
func FuzzExtractCarried(f *testing.F) {
	for _, s := range []string{"", injected, "1.2.3 e.g. report.pdf", "\xff\xfe https://\xff.example/", "[[[[{\"a\":1e999}]]]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := Extract(s)
		if len(toks) > MaxTokens {
			t.Fatalf("got %d tokens, want at most %d", len(toks), MaxTokens)
		}
		seen := map[Token]bool{}
		for _, k := range toks {
			if seen[k] {
				t.Fatalf("got duplicate token %v", k)
			}
			seen[k] = true
			if k.Kind == Text && (len(k.Value) > MaxText || !utf8.ValidString(k.Value) && utf8.ValidString(s)) {
				t.Fatalf("got text token %q, want at most %d bytes of valid UTF-8", k.Value, MaxText)
			}
		}
		quoted, _ := json.Marshal(map[string]string{"v": s})
		for _, args := range [][]byte{[]byte(s), quoted, []byte(strings.ToUpper(s))} {
			Carried(args, toks)
		}
		if !utf8.ValidString(s) {
			return
		}
		got := map[Token]bool{}
		for _, k := range Carried(quoted, toks) {
			got[k] = true
		}
		for _, k := range toks {
			if (k.Kind == URL || k.Kind == Email || k.Kind == Account) && !got[k] {
				t.Fatalf("content %q does not carry its own token %v", s, k)
			}
		}
	})
}
