package eval

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/probity-dev/probity/internal/detect"
)

// Item is one case to run: which suite it is from, the case, and which
// repetition.
type Item struct {
	Suite  string
	Case   *Case
	Repeat int // 0-based
}

// Result is one item's outcome: its transcript (nil when the target could
// not run it), its grade, and when it was run.
type Result struct {
	Suite      string      `json:"suite"`
	CaseID     string      `json:"caseId"`
	Repeat     int         `json:"repeat"`
	Grade      CaseResult  `json:"grade"`
	Transcript *Transcript `json:"transcript,omitempty"`
	Error      string      `json:"error,omitempty"` // why the target could not run it
	StartedAt  time.Time   `json:"startedAt"`
	DurationMs float64     `json:"durationMs"`
}

// RunOptions tune Run.
type RunOptions struct {
	Concurrency int              // cases in flight at once; default 8
	Detector    *detect.Detector // nil: a Detector without org canaries
	Jury        Jury             // nil: judge checks are errors
	// Done is called after each item, from the goroutine that ran it, in
	// completion order; the caller stores the result. With Done set, Run
	// keeps no results and returns nil.
	Done func(i int, r Result)
	Now  func() time.Time // default time.Now
}

// Items expands suites into the items of a run: every case of every suite,
// repeat times, in suite order.
func Items(suites []*Suite, repeat int) []Item {
	var out []Item
	for r := range max(repeat, 1) {
		for _, s := range suites {
			for i := range s.Cases {
				out = append(out, Item{Suite: s.ID, Case: &s.Cases[i], Repeat: r})
			}
		}
	}
	return out
}

// Run runs items against target, at most opts.Concurrency at once, grades
// each, and returns the results in item order. A case the target cannot
// run is graded an error with the reason kept. When ctx ends, items not
// started are left out (their Result has an empty CaseID) and Run returns
// ctx's error.
func Run(ctx context.Context, target Target, items []Item, opts RunOptions) ([]Result, error) {
	conc := opts.Concurrency
	if conc <= 0 {
		conc = 8
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	results := make([]Result, len(items))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				r := runOne(ctx, target, items[i], opts, now)
				if opts.Done != nil {
					opts.Done(i, r) // the caller keeps it; a long run does not hold every transcript
				} else {
					results[i] = r
				}
			}
		}()
	}
	wg.Wait()
	if opts.Done != nil {
		return nil, ctx.Err()
	}
	return results, ctx.Err()
}

func runOne(ctx context.Context, target Target, it Item, opts RunOptions, now func() time.Time) Result {
	start := now()
	r := Result{Suite: it.Suite, CaseID: it.Case.ID, Repeat: it.Repeat, StartedAt: start}
	t, err := target.Run(ctx, it.Case)
	if err != nil {
		r.Error = err.Error()
		if !errors.Is(err, ErrTarget) {
			r.Error = ErrTarget.Error() + ": " + r.Error
		}
		r.Transcript = t
		r.Grade = Grade(ctx, it.Case, nil, opts.Detector, opts.Jury)
	} else {
		r.Transcript = t
		r.Grade = Grade(ctx, it.Case, t, opts.Detector, opts.Jury)
	}
	r.DurationMs = float64(now().Sub(start).Microseconds()) / 1000
	return r
}
