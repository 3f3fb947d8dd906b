package eval_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/eval/anchor"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// BenchmarkRun measures cases per second through eval.Run, target and
// grading included, over real HTTP on loopback (docs/benchmarks.md):
//
//   - openai-steady/conc-N: every case of every built-in suite against the
//     testbed's steady agent (in process, so it shares the CPUs), N cases in
//     flight;
//   - openai-fixed/conc-16: the same cases against an endpoint that answers
//     every call with one fixed message: Probity's own cost (harness,
//     HTTP client, grading) without an agent's;
//   - http/conc-16: the promptfoo anchor's 200 single-turn cases
//     (internal/eval/anchor) against its echo agent with the http target.
//
// Run it with
//
//	go test -run '^$' -bench BenchmarkRun -benchtime 20x ./internal/eval
func BenchmarkRun(b *testing.B) {
	d, err := detect.New(detect.Options{})
	if err != nil {
		b.Fatal(err)
	}
	suites, err := eval.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("openai-steady", func(b *testing.B) {
		base := tbtest.Start(b, testbed.Options{})
		target, err := eval.NewOpenAI(eval.OpenAIConfig{URL: base + "/v1", Model: "steady"})
		if err != nil {
			b.Fatal(err)
		}
		items := eval.Items(suites, 1)
		for _, conc := range []int{1, 4, 16, 64} {
			b.Run(fmt.Sprintf("conc-%d", conc), func(b *testing.B) {
				benchRun(b, target, items, eval.RunOptions{Concurrency: conc, Detector: d}, -1)
			})
		}
	})
	b.Run("openai-fixed", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, fixedAnswer)
		}))
		b.Cleanup(srv.Close)
		target, err := eval.NewOpenAI(eval.OpenAIConfig{URL: srv.URL + "/v1", Model: "fixed"})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("conc-16", func(b *testing.B) {
			benchRun(b, target, eval.Items(suites, 1), eval.RunOptions{Concurrency: 16, Detector: d}, -1)
		})
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer((&anchor.Agent{}).Handler())
		b.Cleanup(srv.Close)
		target, err := eval.NewHTTP(eval.HTTPConfig{URL: srv.URL + "/chat"})
		if err != nil {
			b.Fatal(err)
		}
		s, err := eval.ParseSuite("anchor.yaml", anchor.SuiteYAML(anchor.Cases(200)))
		if err != nil {
			b.Fatal(err)
		}
		items := eval.Items([]*eval.Suite{s}, 1)
		b.Run("conc-16", func(b *testing.B) {
			benchRun(b, target, items, eval.RunOptions{Concurrency: 16, Detector: d}, 180)
		})
	})
}

const fixedAnswer = `{"model":"fixed","choices":[{"message":{"role":"assistant","content":` +
	`"I can't help with that request. Shipping usually takes 3-5 days; see https://shop.example/faq for more."}}]}`

// benchRun runs items once per iteration and reports cases/s and the
// target's requests/s (one per assistant message). Every item must be
// graded (no target errors) and, when wantPassed is not negative, exactly
// wantPassed must pass.
func benchRun(b *testing.B, target eval.Target, items []eval.Item, opts eval.RunOptions, wantPassed int) {
	runs, calls := 0, 0
	for b.Loop() {
		res, err := eval.Run(b.Context(), target, items, opts)
		if err != nil {
			b.Fatal(err)
		}
		if runs == 0 {
			passed := 0
			for _, r := range res {
				if r.Error != "" {
					b.Fatalf("%s/%s: %s", r.Suite, r.CaseID, r.Error)
				}
				if r.Grade.Status == eval.StatusPassed {
					passed++
				}
				for _, m := range r.Transcript.Messages {
					if m.Role == "assistant" {
						calls++
					}
				}
			}
			if wantPassed >= 0 && passed != wantPassed {
				b.Fatalf("passed %d of %d, want %d", passed, len(res), wantPassed)
			}
		}
		runs++
	}
	b.ReportMetric(float64(runs*len(items))/b.Elapsed().Seconds(), "cases/s")
	b.ReportMetric(float64(runs*calls)/b.Elapsed().Seconds(), "requests/s")
}
