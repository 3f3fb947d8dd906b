package detect

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusCanaries are the canaries the canary corpus is written against.
var corpusCanaries = []string{"CANARY-7f3a9c2e1b", "pbcanary_Zx81Qm4Tq9", "ctx-tripwire-0042-alpha", "canary token 7/ok"}

type corpusCase struct {
	Text     string `json:"text"`
	Positive bool   `json:"positive"`
	Note     string `json:"note"`
}

// Goals per detector, checked by TestCorpus.
const (
	minRecall = 0.95
	maxFPR    = 0.02
)

// TestCorpus measures recall and false-positive rate of each detector on
// testdata/corpus/<kind>.jsonl and fails below the goals. Run with -v to see
// the table.
func TestCorpus(t *testing.T) {
	d, err := New(Options{Canaries: corpusCanaries})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%-10s %5s %5s %7s %6s", "detector", "pos", "neg", "recall", "FPR")
	for _, k := range Kinds() {
		cases := readCorpus(t, filepath.Join("testdata", "corpus", string(k)+".jsonl"))
		var pos, neg, tp, fp int
		for i, c := range cases {
			var hit bool
			var fs []Finding
			if k == Refusal {
				hit = d.Refusal(c.Text)
			} else {
				fs = d.Scan(c.Text, k)
				hit = len(fs) > 0
			}
			if c.Positive {
				pos++
				if hit {
					tp++
				} else {
					t.Logf("%s:%d missed (%s): %q", k, i+1, c.Note, c.Text)
				}
			} else {
				neg++
				if hit {
					fp++
					t.Logf("%s:%d false positive (%s): %q %v", k, i+1, c.Note, c.Text, fs)
				}
			}
		}
		if pos < 60 || neg < 60 {
			t.Errorf("%s corpus: got %d positives and %d negatives, want at least 60 of each", k, pos, neg)
			continue
		}
		recall, fpr := float64(tp)/float64(pos), float64(fp)/float64(neg)
		t.Logf("%-10s %5d %5d %7.3f %6.3f", k, pos, neg, recall, fpr)
		if recall < minRecall {
			t.Errorf("%s recall: got %.3f, want >= %.2f", k, recall, minRecall)
		}
		if fpr > maxFPR {
			t.Errorf("%s false-positive rate: got %.3f, want <= %.2f", k, fpr, maxFPR)
		}
	}
}

// TestHoldout logs recall and false-positive rate on testdata/holdout, small
// sets written after the rules and never used to tune them. They are too
// small to gate on; the numbers are the honest estimate to quote.
func TestHoldout(t *testing.T) {
	d, err := New(Options{Canaries: corpusCanaries})
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "holdout", "*.jsonl"))
	for _, p := range paths {
		k := Kind(strings.TrimSuffix(filepath.Base(p), ".jsonl"))
		var pos, neg, tp, fp int
		for i, c := range readCorpus(t, p) {
			hit := len(d.Scan(c.Text, k)) > 0
			if c.Positive {
				pos++
				if hit {
					tp++
				} else {
					t.Logf("%s:%d missed: %q", k, i+1, c.Text)
				}
			} else {
				neg++
				if hit {
					fp++
					t.Logf("%s:%d false positive: %q", k, i+1, c.Text)
				}
			}
		}
		t.Logf("holdout %-10s pos %3d neg %3d recall %.3f FPR %.3f", k, pos, neg, float64(tp)/float64(max(pos, 1)), float64(fp)/float64(max(neg, 1)))
	}
}

func readCorpus(t *testing.T, path string) []corpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}
