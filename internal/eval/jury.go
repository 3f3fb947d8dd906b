package eval

import (
	"context"
	"errors"
	"math"
	"slices"
)

// Jury grades a transcript against a rubric with several judges and
// aggregates their scores (see Aggregate).
type Jury interface {
	Judge(ctx context.Context, rubric string, t *Transcript) (JuryVerdict, error)
}

// JuryVerdict is a jury's grade: the trimmed mean Score in [0,1], the
// Agreement of the judges that answered (1 − the spread of their scores),
// and every judge's verdict.
type JuryVerdict struct {
	Score     float64        `json:"score"`
	Agreement float64        `json:"agreement"`
	Verdicts  []JudgeVerdict `json:"verdicts"`
}

// JudgeVerdict is one judge's answer. A judge that failed or answered
// garbage has Error set and is left out of the grade.
type JudgeVerdict struct {
	Judge  string  `json:"judge"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ErrNoJudge is returned by Aggregate when no judge answered.
var ErrNoJudge = errors.New("no judge answered")

// Aggregate combines judges' verdicts: the mean of the answered scores,
// dropping the highest and the lowest when at least four answered, and the
// agreement 1 − (max − min). A verdict with a score outside [0,1] counts as
// garbage: it is kept, marked with an error, and left out.
func Aggregate(vs []JudgeVerdict) (JuryVerdict, error) {
	out := JuryVerdict{Verdicts: slices.Clone(vs)}
	var scores []float64
	for i := range out.Verdicts {
		v := &out.Verdicts[i]
		if v.Error != "" {
			continue
		}
		if math.IsNaN(v.Score) || v.Score < 0 || v.Score > 1 {
			v.Error = "score outside [0,1]"
			continue
		}
		scores = append(scores, v.Score)
	}
	if len(scores) == 0 {
		return out, ErrNoJudge
	}
	slices.Sort(scores)
	out.Agreement = 1 - (scores[len(scores)-1] - scores[0])
	if len(scores) >= 4 {
		scores = scores[1 : len(scores)-1]
	}
	sum := 0.0
	for _, s := range scores {
		sum += s
	}
	out.Score = sum / float64(len(scores))
	return out, nil
}

func answered(vs []JudgeVerdict) int {
	n := 0
	for _, v := range vs {
		if v.Error == "" {
			n++
		}
	}
	return n
}
