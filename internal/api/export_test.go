package api

import "testing"

// OnEvalRuns sends "id status" for every run a worker finishes with (in
// this process) to the returned channel until the test ends.
func OnEvalRuns(t testing.TB) <-chan [2]string {
	ch := make(chan [2]string, 64)
	afterEvalRun = func(_, id, status string) {
		select {
		case ch <- [2]string{id, status}:
		default:
		}
	}
	t.Cleanup(func() { afterEvalRun = func(string, string, string) {} })
	return ch
}

// OnEvalFlush calls fn (from the worker) each time a batch of results of
// any run is stored, until the test ends.
func OnEvalFlush(t testing.TB, fn func(id string, n int)) {
	afterEvalFlush = fn
	t.Cleanup(func() { afterEvalFlush = func(string, int) {} })
}
