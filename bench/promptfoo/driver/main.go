// Command driver drives the promptfoo anchor (docs/benchmarks.md); run.sh
// calls it. Subcommands:
//
//	gen -n 200 -url URL -dir DIR      write DIR/suite.yaml and DIR/promptfooconfig.yaml
//	probity -suite FILE -url URL      run the suite with Probity's http target, print a JSON summary
//	report -dir DIR                   read the runs under DIR/runs and print the comparison
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/eval/anchor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: driver gen|probity|report [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "gen":
		err = gen(args[1:], stderr)
	case "probity":
		err = probity(ctx, args[1:], stdout, stderr)
	case "report":
		err = report(args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("unknown subcommand %q: want gen, probity or report", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "driver:", err)
		return 1
	}
	return 0
}

func gen(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 200, "number of cases")
	url := fs.String("url", "http://127.0.0.1:7431/chat", "the agent's endpoint")
	dir := fs.String("dir", ".", "where to write suite.yaml and promptfooconfig.yaml")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cases := anchor.Cases(*n)
	if err := os.WriteFile(filepath.Join(*dir, "suite.yaml"), anchor.SuiteYAML(cases), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "promptfooconfig.yaml"), anchor.PromptfooYAML(cases, *url), 0o644)
}

// summary is what the probity subcommand prints, and what report reads
// from each tool's run.
type summary struct {
	Cases   int     `json:"cases"`
	Passed  int     `json:"passed"`
	Failed  int     `json:"failed"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"` // eval.Run alone, in process
}

func probity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suitePath := fs.String("suite", "suite.yaml", "the suite to run")
	url := fs.String("url", "http://127.0.0.1:7431/chat", "the agent's endpoint")
	conc := fs.Int("concurrency", 16, "cases in flight at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := eval.LoadSuiteFile(*suitePath)
	if err != nil {
		return err
	}
	target, err := eval.NewHTTP(eval.HTTPConfig{URL: *url})
	if err != nil {
		return err
	}
	d, err := detect.New(detect.Options{})
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := eval.Run(ctx, target, eval.Items([]*eval.Suite{s}, 1), eval.RunOptions{Concurrency: *conc, Detector: d})
	if err != nil {
		return err
	}
	sum := summary{Cases: len(res), Seconds: time.Since(start).Seconds()}
	for _, r := range res {
		switch r.Grade.Status {
		case eval.StatusPassed:
			sum.Passed++
		case eval.StatusFailed:
			sum.Failed++
		default:
			sum.Errors++
		}
	}
	return json.NewEncoder(stdout).Encode(sum)
}

// A measured run, read from DIR/runs/TOOL-ROUND/: wall_ns (the command's
// wall time), rss_kb (its peak resident set), stats.json (the agent's
// count and window) and result.json (the tool's own output).
type measured struct {
	tool    string
	round   int
	wall    float64 // seconds, end to end
	window  float64 // seconds, first request in to last answer out
	rssKB   int
	served  int
	summary summary
}

func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "the work directory run.sh filled")
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths, err := filepath.Glob(filepath.Join(*dir, "runs", "*-*"))
	if err != nil || len(paths) == 0 {
		return fmt.Errorf("no runs under %s/runs", *dir)
	}
	var runs []measured
	for _, p := range paths {
		m, err := readRun(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		runs = append(runs, m)
	}
	slices.SortFunc(runs, func(a, b measured) int {
		if c := strings.Compare(a.tool, b.tool); c != 0 {
			return c
		}
		return a.round - b.round
	})
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tround\tcases\tpassed\tfailed\terrors\tend-to-end s\tcases/s e2e\twindow s\tcases/s window\tRSS MB\t")
	med := map[string][2][]float64{}
	for _, m := range runs {
		e2e, win := float64(m.summary.Cases)/m.wall, float64(m.summary.Cases)/m.window
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.3f\t%.1f\t%.0f\t\n", m.tool, m.round, m.summary.Cases, m.summary.Passed,
			m.summary.Failed, m.summary.Errors, m.wall, e2e, m.window, win, float64(m.rssKB)/1024)
		v := med[m.tool]
		v[0], v[1] = append(v[0], e2e), append(v[1], win)
		med[m.tool] = v
		if m.served != m.summary.Cases {
			fmt.Fprintf(stderr, "warning: %s round %d: the agent served %d requests for %d cases\n", m.tool, m.round, m.served, m.summary.Cases)
		}
	}
	tw.Flush()
	p, f := med["probity"], med["promptfoo"]
	if len(p[0]) == 0 || len(f[0]) == 0 {
		return errors.New("want runs of both probity and promptfoo")
	}
	fmt.Fprintf(stdout, "\nmedians, cases/s: probity %.1f end to end, %.1f excluding start-up; promptfoo %.1f end to end, %.1f excluding start-up\n",
		median(p[0]), median(p[1]), median(f[0]), median(f[1]))
	fmt.Fprintf(stdout, "ratio probity/promptfoo: %.1fx end to end, %.1fx excluding start-up\n",
		median(p[0])/median(f[0]), median(p[1])/median(f[1]))
	return nil
}

func readRun(dir string) (measured, error) {
	var m measured
	name := filepath.Base(dir)
	i := strings.LastIndexByte(name, '-')
	m.tool = name[:i]
	m.round, _ = strconv.Atoi(name[i+1:])
	// num reads the number on a file's last line (GNU time writes a line
	// about the exit status before it).
	num := func(file string) (float64, error) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return 0, err
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		return strconv.ParseFloat(strings.TrimSpace(lines[len(lines)-1]), 64)
	}
	ns, err := num("wall_ns")
	if err != nil {
		return m, err
	}
	m.wall = ns / 1e9
	if kb, err := num("rss_kb"); err == nil {
		m.rssKB = int(kb)
	}
	var st anchor.Stats
	if err := readJSON(filepath.Join(dir, "stats.json"), &st); err != nil {
		return m, err
	}
	m.window, m.served = st.WindowSeconds, st.Requests
	switch m.tool {
	case "probity":
		err = readJSON(filepath.Join(dir, "result.json"), &m.summary)
	case "promptfoo":
		var out struct {
			Results struct {
				Results []json.RawMessage `json:"results"`
				Stats   struct {
					Successes int `json:"successes"`
					Failures  int `json:"failures"`
					Errors    int `json:"errors"`
				} `json:"stats"`
			} `json:"results"`
		}
		err = readJSON(filepath.Join(dir, "result.json"), &out)
		st := out.Results.Stats
		m.summary = summary{Cases: len(out.Results.Results), Passed: st.Successes, Failed: st.Failures, Errors: st.Errors}
	default:
		err = fmt.Errorf("unknown tool %q", m.tool)
	}
	if err == nil && (m.summary.Cases == 0 || m.wall <= 0 || m.window <= 0) {
		err = fmt.Errorf("an empty run: %+v, wall %v s, window %v s", m.summary, m.wall, m.window)
	}
	return m, err
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
