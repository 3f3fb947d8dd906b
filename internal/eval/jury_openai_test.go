package eval_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/eval"
)

const judgedSuite = `apiVersion: probity/v1
kind: Suite
id: judged
dimensions: [reliability]
cases:
  - id: polite
    setup: {turns: ["Say hello."]}
    checks:
      - judge: {rubric: "The answer is polite.", threshold: 0.7}
`

// judge answers every chat completion with content.
func judge(t *testing.T, content string, status int) string {
	return fakeModel(t, func(_ int, w http.ResponseWriter, req map[string]any) {
		if status != 200 {
			w.WriteHeader(status)
			return
		}
		answer(w, content)
	})
}

func TestOpenAIJury(t *testing.T) {
	s := suite(t, judgedSuite)
	agent, _ := eval.NewOpenAI(eval.OpenAIConfig{URL: fakeModel(t, func(_ int, w http.ResponseWriter, _ map[string]any) { answer(w, "Hello there!") }), Model: "m"})
	run := func(judges ...string) eval.CheckResult {
		var cfgs []eval.JudgeConfig
		for i, u := range judges {
			cfgs = append(cfgs, eval.JudgeConfig{Name: fmt.Sprintf("j%d", i+1), URL: u, Model: "judge"})
		}
		jury, err := eval.NewOpenAIJury(cfgs, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := eval.Run(t.Context(), agent, eval.Items([]*eval.Suite{s}, 1), eval.RunOptions{Jury: jury})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Grade.Checks[0]
	}
	// Four judges: the highest and lowest are dropped; a fenced answer is read.
	c := run(judge(t, `{"score":0.9,"reason":"polite"}`, 200), judge(t, "```json\n{\"score\":0.8,\"reason\":\"ok\"}\n```", 200),
		judge(t, `{"score":1,"reason":"very"}`, 200), judge(t, `{"score":0.2,"reason":"curt"}`, 200))
	if !c.Passed || c.Jury == nil || math.Abs(c.Jury.Score-0.85) > 1e-9 || math.Abs(c.Jury.Agreement-0.2) > 1e-9 || len(c.Jury.Verdicts) != 4 {
		t.Errorf("four judges: %+v %+v", c, c.Jury)
	}
	// A judge that answers garbage or fails is reported and left out.
	c = run(judge(t, `{"score":0.9}`, 200), judge(t, "I think it is fine", 200), judge(t, "", 400))
	if !c.Passed || c.Jury.Score != 0.9 || c.Jury.Verdicts[1].Error == "" || c.Jury.Verdicts[2].Error == "" {
		t.Errorf("one good judge: %+v %+v", c, c.Jury)
	}
	// Below the threshold fails; no judge answering is an error, not a pass.
	if c := run(judge(t, `{"score":0.5,"reason":"meh"}`, 200)); c.Passed || c.Error {
		t.Errorf("below threshold: %+v", c)
	}
	if c := run(judge(t, "", 400)); c.Passed || !c.Error || !strings.Contains(c.Reason, "judge") {
		t.Errorf("no judge: %+v", c)
	}
}
