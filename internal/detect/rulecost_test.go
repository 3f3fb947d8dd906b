package detect

import (
	"testing"
	"time"
)

func TestRuleCost(t *testing.T) {
	s := newScan(repeatTo(modelOutput, 1<<10))
	all := map[Kind][]*rule{Injection: injectionRules, XSS: xssRules, SQL: sqlRules, Shell: shellRules, Secrets: secretRules}
	for k, rs := range all {
		for _, r := range rs {
			st := time.Now()
			for i := 0; i < 200; i++ {
				s.runRule(k, r, nil)
			}
			if d := time.Since(st) / 200; d > 2*time.Microsecond {
				t.Logf("%-28s %v windows=%v", r.name, d, len(s.windows(map[bool]string{true: s.text, false: s.low}[r.raw], r)))
			}
		}
	}
	for name, f := range map[string]func(){"hidden": func() { hiddenUnicode(s) }, "b64": func() { base64Injection(s, 0) }, "digits": func() { digitRuns(s) }, "upper": func() { upperIDs(s) }, "email": func() { scanEmails(s) }, "refusal": func() { refusal(s) }} {
		st := time.Now()
		for i := 0; i < 200; i++ {
			f()
		}
		t.Logf("%-28s %v", name, time.Since(st)/200)
	}
}
