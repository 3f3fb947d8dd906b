package probity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"support-bot": true, "a": true, "v1.2_x": true, "0": true, strings.Repeat("a", 64): true,
		"": false, ".": false, "..": false, ".x": false, "-x": false, "Upper": false, "a b": false,
		"a/b": false, strings.Repeat("a", 65): false, "é": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q): got %v, want %v", id, got, want)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"plain text", true}, {"tab\tand\nnewline", true}, {"ünïcode ✓", true},
		{"bell\a", false}, {"esc\x1b[31m", false}, {"del\x7f", false}, {"c1\u009b", false},
		{"rlo\u202e", false}, {"isolate\u2066", false}, {"bad utf8 \xff", false},
		{strings.Repeat("x", 31), false},
	} {
		err := CheckText("f", tc.in, 30)
		if (err == nil) != tc.ok {
			t.Errorf("CheckText(%q): got %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckText(%q): error %v is not ErrInvalid", tc.in, err)
		}
	}
}

func TestAssess(t *testing.T) {
	for _, tc := range []struct {
		name       string
		agent      Agent
		v          Verification
		risk, gap  int
		tier       string
		verifiedPc int
	}{
		{name: "nothing", agent: Agent{}, risk: 0, gap: 0, tier: "low"},
		{name: "treasurer", agent: Agent{Access: Access{Production: true, Financial: true, DataClasses: []string{"pci", "internal"},
			Actions: []string{"transfer", "refund"}}}, risk: 76, gap: 76, tier: "critical"},
		{name: "treasurer, half verified", agent: Agent{Access: Access{Production: true, Financial: true, DataClasses: []string{"pci"},
			Actions: []string{"transfer", "refund"}}}, v: Verification{PactBound: true, Monitored24h: true}, risk: 76, gap: 38, tier: "critical", verifiedPc: 50},
		{name: "action and system caps", agent: Agent{Access: Access{Actions: []string{"delete", "deploy", "exec", "grant"},
			Systems: []string{"a", "b", "c", "d", "e", "f"}}}, risk: 40, gap: 40, tier: "medium"},
		{name: "unknown class counts as confidential", agent: Agent{Access: Access{DataClasses: []string{"trade-secrets"}}}, risk: 10, gap: 10, tier: "low"},
		{name: "declared tier is a floor", agent: Agent{RiskTier: "high"}, risk: 0, gap: 50, tier: "high"},
		{name: "declared tier never lowers", agent: Agent{RiskTier: "low", Access: Access{Production: true, Financial: true, DataClasses: []string{"phi"}}}, risk: 60, gap: 60, tier: "high"},
		{name: "fully verified", agent: Agent{RiskTier: "critical"}, v: Verification{true, true, true, true}, risk: 0, gap: 0, tier: "critical", verifiedPc: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := Assess(&tc.agent, tc.v)
			if it.Risk.Score != tc.risk || it.Gap != tc.gap || it.Risk.Tier != tc.tier || it.Verified != tc.verifiedPc {
				t.Errorf("got risk %d gap %d tier %s verified %d (factors %v), want risk %d gap %d tier %s verified %d",
					it.Risk.Score, it.Gap, it.Risk.Tier, it.Verified, it.Risk.Factors, tc.risk, tc.gap, tc.tier, tc.verifiedPc)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	secret, k, err := NewKey("o", "n", []Scope{ScopeRead}, "cli", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) < 40 || !strings.HasPrefix(secret, k.Prefix) {
		t.Errorf("key %q with prefix %q", secret, k.Prefix)
	}
	if string(k.Hash) != string(HashKey(secret)) || strings.Contains(string(k.Hash), secret) {
		t.Error("stored hash does not match the secret")
	}
	other, _, _ := NewKey("o", "n", []Scope{ScopeRead}, "cli", time.Time{})
	if other == secret {
		t.Error("two keys are equal")
	}
	if !k.Allows(ScopeRead) || k.Allows(ScopeAdmin) || !(&APIKey{Scopes: []Scope{ScopeAdmin}}).Allows(ScopeEval) {
		t.Error("scope checks are wrong")
	}
}
