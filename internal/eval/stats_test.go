package eval

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 5e-5 }

func TestWilson(t *testing.T) {
	tests := []struct {
		passed, n int
		lo, hi    float64
	}{
		{8, 10, 0.4902, 0.9433},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{50, 100, 0.4038, 0.5962},
		{1, 1, 0.2065, 1},
		{0, 0, 0, 1},
	}
	for _, tc := range tests {
		lo, hi := Wilson(tc.passed, tc.n)
		if !near(lo, tc.lo) || !near(hi, tc.hi) {
			t.Errorf("Wilson(%d, %d): got [%.4f, %.4f], want [%.4f, %.4f]", tc.passed, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		name             string
		in               []JudgeVerdict
		score, agreement float64
		answered         int
		err              error
	}{
		{"one", []JudgeVerdict{{Judge: "a", Score: 0.6}}, 0.6, 1, 1, nil},
		{"three-no-trim", []JudgeVerdict{{Score: 0.2}, {Score: 0.8}, {Score: 1}}, 2.0 / 3, 0.2, 3, nil},
		{"four-trimmed", []JudgeVerdict{{Score: 0}, {Score: 0.7}, {Score: 0.9}, {Score: 1}}, 0.8, 0, 4, nil},
		{"failed-left-out", []JudgeVerdict{{Score: 0.9}, {Score: 0, Error: "timeout"}, {Score: 0.7}}, 0.8, 0.8, 2, nil},
		{"garbage-left-out", []JudgeVerdict{{Score: 0.5}, {Score: 7}, {Score: math.NaN()}, {Score: 0.5}, {Score: 0.5}}, 0.5, 1, 3, nil},
		{"none", []JudgeVerdict{{Error: "timeout"}, {Score: -1}}, 0, 0, 0, ErrNoJudge},
		{"empty", nil, 0, 0, 0, ErrNoJudge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Aggregate(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if !near(v.Score, tc.score) || !near(v.Agreement, tc.agreement) || answered(v.Verdicts) != tc.answered {
				t.Errorf("got score %v agreement %v answered %d, want %v %v %d", v.Score, v.Agreement, answered(v.Verdicts), tc.score, tc.agreement, tc.answered)
			}
			if len(v.Verdicts) != len(tc.in) {
				t.Errorf("got %d verdicts, want all %d", len(v.Verdicts), len(tc.in))
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	yes, no := true, false
	cases := map[string]*Case{
		"a":  {ID: "a", Dimensions: []string{Security}, Attack: []Check{{}}, Utility: []Check{{}}},
		"b":  {ID: "b", Dimensions: []string{Security}, Attack: []Check{{}}, Utility: []Check{{}}},
		"c":  {ID: "c", Dimensions: []string{Security, Safety}, Attack: []Check{{}}},
		"p1": {ID: "p1", Dimensions: []string{Reliability}, Group: "g1"},
		"p2": {ID: "p2", Dimensions: []string{Reliability}, Group: "g1"},
		"p3": {ID: "p3", Dimensions: []string{Reliability}, Group: "g2"},
		"p4": {ID: "p4", Dimensions: []string{Reliability}, Group: "g2"},
		"p5": {ID: "p5", Dimensions: []string{Reliability}, Group: "g2"},
		"p6": {ID: "p6", Dimensions: []string{Reliability}, Group: "g3"},
	}
	results := []CaseResult{
		{CaseID: "a", Status: StatusPassed, Attack: &no, Utility: &yes},
		{CaseID: "b", Status: StatusFailed, Attack: &yes, Utility: &no},
		{CaseID: "c", Status: StatusError},
		{CaseID: "p1", Status: StatusPassed},
		{CaseID: "p2", Status: StatusPassed},
		{CaseID: "p3", Status: StatusPassed},
		{CaseID: "p4", Status: StatusFailed},
		{CaseID: "p5", Status: StatusPassed},
		{CaseID: "p6", Status: StatusFailed},
		{CaseID: "unknown", Status: StatusPassed},
	}
	s := Summarize(results, cases)
	if s.Cases != 10 || s.Passed != 6 || s.Failed != 3 || s.Errors != 1 {
		t.Errorf("totals: got %d cases %d/%d/%d, want 10 6/3/1", s.Cases, s.Passed, s.Failed, s.Errors)
	}
	sec := s.Dimensions[Security]
	if sec.Passed != 1 || sec.Failed != 1 || sec.Errors != 1 || sec.PassRate != 0.5 {
		t.Errorf("security: got %+v, want 1 passed, 1 failed, 1 error, rate 0.5", sec)
	}
	if lo, hi := Wilson(1, 2); sec.Lo != lo || sec.Hi != hi {
		t.Errorf("security interval: got [%v, %v], want [%v, %v]", sec.Lo, sec.Hi, lo, hi)
	}
	if saf := s.Dimensions[Safety]; saf.Errors != 1 || saf.PassRate != 0 || saf.Lo != 0 || saf.Hi != 1 {
		t.Errorf("safety: got %+v, want one error and the [0,1] interval", saf)
	}
	if rel := s.Dimensions[Reliability]; rel.Passed != 4 || rel.Failed != 2 {
		t.Errorf("reliability: got %+v, want 4 passed 2 failed", rel)
	}
	if a := s.AttackSuccessRate; a == nil || a.Count != 1 || a.N != 2 || a.Rate != 0.5 {
		t.Errorf("attack success: got %+v, want 1 of 2 (c is an error)", a)
	}
	if u := s.UtilityUnderAttack; u == nil || u.Count != 1 || u.N != 2 {
		t.Errorf("utility under attack: got %+v, want 1 of 2", u)
	}
	if len(s.Groups) != 3 {
		t.Fatalf("groups: got %+v, want 3", s.Groups)
	}
	g1, g2, g3 := s.Groups[0], s.Groups[1], s.Groups[2]
	if g1.Group != "g1" || !g1.Agreed || g1.Agreement != 1 {
		t.Errorf("g1: got %+v, want agreed", g1)
	}
	if g2.Group != "g2" || g2.Agreed || !near(g2.Agreement, 2.0/3) {
		t.Errorf("g2: got %+v, want disagreement 2/3", g2)
	}
	if g3.Group != "g3" || !g3.Agreed {
		t.Errorf("g3: got %+v, want agreed (one case)", g3)
	}
	if ga := s.GroupAgreement; ga == nil || ga.Count != 1 || ga.N != 2 {
		t.Errorf("group agreement: got %+v, want 1 of 2 (g3 has one case)", ga)
	}
	if s := Summarize(nil, nil); s.AttackSuccessRate != nil || s.GroupAgreement != nil || len(s.Dimensions) != 0 {
		t.Errorf("empty: got %+v", s)
	}
}

func TestParseDataset(t *testing.T) {
	src, err := os.ReadFile("testdata/datasets/good.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ParseDataset("good.jsonl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 5 {
		t.Fatalf("got %d cases, want 5", len(cs))
	}
	for _, c := range cs {
		if len(c.Dimensions) != 1 || c.Dimensions[0] != Accuracy || len(c.Setup.Turns) != 1 || len(c.Checks) != 1 {
			t.Errorf("case %s: got %+v", c.ID, c)
		}
	}
	if ch := cs[2].Checks[0]; ch.Kind != CheckNumber || ch.Value != 3.14 || ch.Tolerance != 0.005 {
		t.Errorf("pi: got %+v", ch)
	}
	grades := []struct {
		i      int
		out    string
		status string
	}{
		{0, "It is paris.", StatusPassed},
		{0, "Lyon", StatusFailed},
		{1, " OK ", StatusPassed},
		{2, "3.1416", StatusPassed},
		{2, "3.15", StatusFailed},
		{3, "In 1945.", StatusPassed},
		{4, "ada@example.com", StatusPassed},
		{4, "ada at example.com", StatusFailed},
	}
	for _, g := range grades {
		if r := Grade(t.Context(), &cs[g.i], say(g.out), nil, nil); r.Status != g.status {
			t.Errorf("%s on %q: got %s, want %s (%+v)", cs[g.i].ID, g.out, r.Status, g.status, r.Checks)
		}
	}

	bad, err := os.ReadFile("testdata/datasets/bad.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseDataset("bad.jsonl", bad)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LoadError", err)
	}
	want := strings.Join([]string{
		`bad.jsonl:2: id: case id "a" is already used on line 1`,
		`bad.jsonl:3:46: check: must be one of equals, contains, regex, number`,
		`bad.jsonl:3:54: extra: unknown field (known: check, expected, id, input, tolerance)`,
		`bad.jsonl:4:19: input: must not be empty`,
		`bad.jsonl:4:33: expected: must be a string or a number`,
		`bad.jsonl:5:34: expected: must be a finite number for the number check`,
		`bad.jsonl:6:34: expected: error parsing regexp: missing closing ): ` + "`(`",
		`bad.jsonl:7:11: invalid JSON: invalid character '"' after object key:value pair`,
		`bad.jsonl:8:1: must be an object`,
		`bad.jsonl:9:1: input: is required`,
		`bad.jsonl:9:7: id: must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`,
	}, "\n")
	if got := err.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, src := range []string{"", "\n\n"} {
		if _, err := ParseDataset("empty.jsonl", []byte(src)); err == nil || !strings.Contains(err.Error(), "empty.jsonl: dataset has no cases") {
			t.Errorf("%q: got %v, want no cases", src, err)
		}
	}
}
