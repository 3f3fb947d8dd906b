package pact

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/record"
)

func TestDestinations(t *testing.T) {
	for _, tc := range []struct {
		args string
		want []string // host/from/path
	}{
		{`{"url":"https://Docs.Acme.com:443/a?b=c#d"}`, []string{"docs.acme.com/url/args.url"}},
		{`{"to":"Jane.Doe+x@Example.org","cc":["a@b.acme.com","not an address @ all"]}`, []string{"b.acme.com/email/args.cc[0]", "example.org/email/args.to"}},
		{`{"body":"see http://a.example/x, //b.example/y and www.c.example. mailto:d@e.example"}`,
			[]string{"a.example/url/args.body", "b.example/url/args.body", "www.c.example/url/args.body", "e.example/email/args.body"}},
		{`{"host":"db.internal.example","ip":"10.1.2.3","file":"report.pdf","version":"1.2.3","word":"e.g","n":42}`,
			[]string{"db.internal.example/host/args.host", "10.1.2.3/host/args.ip"}},
		{`"https://string-args.example/path"`, []string{"string-args.example/url/args"}},
		{`{"url":"https://[::1]:8080/x"}`, []string{"::1/url/args.url"}},
		{`{"q":"a//b and x:/y", "path":"/usr/local/bin"}`, nil},
		{`{"u":"http://intranet:8080/"}`, []string{"intranet/url/args.u"}},
		{`{"url":"https://user:pw@evil.example@acme.com/"}`, []string{"acme.com/url/args.url", "evil.example/email/args.url"}},
		{`not json`, nil},
		{`{"u":"https://exämple.com/a","v":"https://my_host.acme.com/","m":"bob@exämple.org"}`,
			[]string{"exämple.org/email/args.m", "exämple.com/url/args.u", "my_host.acme.com/url/args.v"}},
		{`{"u":"see (https://evil.example) or git+ssh://git.example/repo, not 3://x or a://"}`, []string{"evil.example/url/args.u", "git.example/url/args.u"}},
	} {
		t.Run(tc.args, func(t *testing.T) {
			v := newVars(&record.Record{Type: record.ToolCall, Tool: &record.Tool{Name: "x", Arguments: json.RawMessage(tc.args)}}, nil)
			var got []string
			for _, d := range v.destinations() {
				got = append(got, fmt.Sprintf("%s/%s/%s", d.host, d.from, d.path))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDomainPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		match         bool
	}{
		{"acme.com", "acme.com", true},
		{"acme.com", "www.acme.com", false},
		{"*.acme.com", "www.acme.com", true},
		{"*.acme.com", "a.b.acme.com", true},
		{"*.acme.com", "acme.com", false},
		{"*.acme.com", "evilacme.com", false},
		{"ACME.com.", "acme.com", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"intranet", "intranet", true},
	} {
		d, err := parseDomainPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := d.match(tc.host); got != tc.match {
			t.Errorf("%s matches %s: got %v, want %v", tc.pattern, tc.host, got, tc.match)
		}
	}
	for _, bad := range []string{"*", "*.*.com", "http://acme.com", "1.2.3", "-acme.com", "acme..com", "*.10.0.0.1", ""} {
		if _, err := parseDomainPattern(bad); err == nil {
			t.Errorf("%q: got no error, want one", bad)
		}
	}
}

// FuzzDestinations feeds arbitrary tool arguments to the egress extractor:
// no panics, at most maxDestinations distinct lowercase hosts.
func FuzzDestinations(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://user:pw@evil.example@acme.com:8443/x?y#z"}`, `"//[::1]:80 www.a.example mailto:x@y.example"`,
		`{"a":[{"b":"http://"},{"c":"@."},"x@-.com","https://[","git+ssh://ä.example"]}`, `"1.2.3.4"`, `"report.pdf"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, args []byte) {
		v := newVars(&record.Record{Type: record.ToolCall, Tool: &record.Tool{Name: "x", Arguments: args}}, nil)
		ds := v.destinations()
		if len(ds) > maxDestinations {
			t.Fatalf("got %d destinations, want at most %d", len(ds), maxDestinations)
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if d.host == "" || seen[d.host] || d.host != strings.ToLower(d.host) {
				t.Fatalf("bad or repeated host %q in %v", d.host, ds)
			}
			seen[d.host] = true
		}
	})
}
