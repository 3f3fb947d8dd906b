package report

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkBoardReport builds and renders the report of 1,000 agents in
// each format, without the store: what the API adds to gathering the facts.
//
//	go test ./internal/report -run '^$' -bench BoardReport -benchmem
func BenchmarkBoardReport(b *testing.B) {
	base := testFacts()
	f := base
	f.Agents = nil
	for i := range 1000 {
		af := base.Agents[i%2]
		af.Agent.ID = fmt.Sprintf("agent-%04d", i)
		f.Agents = append(f.Agents, af)
	}
	for _, r := range []struct {
		name   string
		render func(io.Writer, Report) error
	}{{"md", Markdown}, {"html", HTML}, {"json", JSON}} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				if err := r.render(io.Discard, Build(f)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
