package pact

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity/internal/record"
)

// CostLimit is the most CEL cost units one condition may spend on one
// record. Compile rejects a condition whose estimated worst case exceeds it,
// estimating every input as large as MaxItems and record.MaxContentLen
// allow.
const CostLimit = 1_000_000

// MaxItems is the most items a list or map in a condition's inputs may hold
// (args at any depth, event.attributes). A record with a larger one is not
// evaluated: each condition that reads it yields an evaluation_error. Strings
// are bounded by record.MaxContentLen the same way.
//
// Why bound inputs instead of relying on a runtime cost limit alone: with
// inputs bounded, the compile-time estimate bounds the work of every
// evaluation, so conditions run without cel-go's runtime cost tracker, whose
// overhead grows with the square of the iterations in a comprehension
// (measured with cel-go v0.31: 1,000 iterations take 9 ms tracked against
// 0.5 ms untracked; 170,000 take over a minute). The tracker's cel.CostLimit
// is kept only for conditions compiled without an estimate (tests).
const MaxItems = 1024

// limits are the CEL cost limits; tests lower them.
type limits struct {
	cost     uint64 // the limit
	estimate bool   // reject at compile time when the estimate exceeds cost; else track cost at runtime
}

var defaultLimits = limits{cost: CostLimit, estimate: true}

// The CEL variables.
var celVars = []cel.EnvOption{
	cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("agent", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("session", cel.MapType(cel.StringType, cel.DynType)),
}

// Variables a condition reads.
const (
	usesArgs = 1 << iota
	usesEvent
)

// condition is a compiled CEL condition.
type condition struct {
	src     string
	prg     cel.Program
	tracked bool // prg carries cel.CostLimit; inputs need no bounds check
	uses    int
}

type celCompiler struct {
	env *cel.Env
	lim limits
}

func newCELCompiler(lim limits) (*celCompiler, error) {
	opts := append([]cel.EnvOption{ext.Strings(), cel.OptionalTypes(), cel.CrossTypeNumericComparisons(true)}, celVars...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating CEL environment: %w", err)
	}
	return &celCompiler{env: env, lim: lim}, nil
}

// expr compiles the CEL condition at n, reporting errors at the pact
// position of the expression.
func (d *decoder) expr(n *yaml.Node, field string) (string, *condition) {
	src := strings.TrimSpace(d.Str(n, field))
	if src == "" {
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			d.Errorf(n, field, "must not be empty")
		}
		return "", nil
	}
	if len(src) > MaxExprLen {
		d.Errorf(n, field, "is longer than %d bytes", MaxExprLen)
		return src, nil
	}
	c := d.cel
	ast, iss := c.env.Compile(src)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, col := n.Line, n.Column
			loc := e.Location
			lead := strings.HasPrefix(n.Value, " ")
			switch {
			case loc.Line() == 1 && n.Style == 0 && !lead:
				col += loc.Column()
			case loc.Line() == 1 && (n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle) && !lead:
				col += 1 + loc.Column()
			case n.Style == yaml.LiteralStyle && !lead:
				// A literal block keeps lines as written: expression line L
				// is source line n.Line+L, after the block's indentation.
				if indent, ok := d.indent(n.Line + 1); ok {
					line, col = n.Line+loc.Line(), indent+1+loc.Column()
				}
			}
			d.Errorf(&yaml.Node{Line: line, Column: col}, field, "CEL: %s (expression %d:%d)", e.Message, loc.Line(), loc.Column()+1)
		}
		return src, nil
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		d.Errorf(n, field, "must be a boolean expression, not %s (compare dynamic values explicitly, e.g. args.flag == true)", ast.OutputType())
		return src, nil
	}
	cond := &condition{src: src}
	for _, r := range ast.NativeRep().ReferenceMap() {
		switch r.Name {
		case "args":
			cond.uses |= usesArgs
		case "event":
			cond.uses |= usesEvent
		}
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if c.lim.estimate {
		est, err := c.env.EstimateCost(ast, sizeBound{})
		if err != nil {
			d.Errorf(n, field, "estimating cost: %v", err)
			return src, nil
		}
		if est.Max > c.lim.cost {
			d.Errorf(n, field, "estimated worst-case cost %d exceeds the limit %d (avoid nested comprehensions and string functions inside comprehensions over arguments)", est.Max, c.lim.cost)
			return src, nil
		}
	} else {
		cond.tracked = true
		opts = append(opts, cel.CostLimit(c.lim.cost))
	}
	prg, err := c.env.Program(ast, opts...)
	if err != nil {
		d.Errorf(n, field, "CEL: %v", err)
		return src, nil
	}
	cond.prg = prg
	return src, cond
}

// sizeBound is the CEL cost estimator for pact conditions: every input list,
// map and dynamic value holds at most MaxItems items, every string at most
// record.MaxContentLen characters.
type sizeBound struct{}

func (sizeBound) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if t := n.Type(); t != nil && (t.IsExactType(cel.StringType) || t.IsExactType(cel.BytesType)) {
		return &checker.SizeEstimate{Min: 0, Max: record.MaxContentLen}
	}
	return &checker.SizeEstimate{Min: 0, Max: MaxItems}
}

// stringFuncs are the string functions whose cost grows with the string.
var stringFuncs = map[string]bool{
	"contains": true, "startsWith": true, "endsWith": true, "matches": true, "charAt": true, "indexOf": true,
	"lastIndexOf": true, "lowerAscii": true, "upperAscii": true, "replace": true, "split": true, "substring": true,
	"trim": true, "reverse": true, "format": true, "join": true, "quote": true,
}

// EstimateCallCost prices a string function on a dynamic value (args.body,
// event.content) as if the value were a string as long as a record allows:
// the checker would otherwise size it like a list, at MaxItems.
func (sizeBound) EstimateCallCost(fn, _ string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if !stringFuncs[fn] {
		return nil
	}
	dyn := target != nil && (*target).Type().IsExactType(cel.DynType)
	for _, a := range args {
		dyn = dyn || a.Type().IsExactType(cel.DynType)
	}
	if !dyn {
		return nil
	}
	const perByte = 10 // cel-go charges 0.1 per byte traversed
	return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: record.MaxContentLen / perByte}}
}

var errNotBool = errors.New("condition did not yield a boolean")

// eval runs c over the record's variables. Runtime errors, oversized inputs
// and cost overruns come back as err.
func eval(c *condition, v *vars) (bool, error) {
	if !c.tracked {
		if err := v.bounds(c.uses); err != nil {
			return false, err
		}
	}
	out, _, err := c.prg.Eval(v)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errNotBool
	}
	return b, nil
}

// checkBounds returns an error naming the first list or map with more than
// MaxItems items or string longer than record.MaxContentLen in x.
func checkBounds(x any, path string) error {
	switch x := x.(type) {
	case string:
		if len(x) > record.MaxContentLen {
			return fmt.Errorf("%s is a string of %d bytes; conditions read at most %d", path, len(x), record.MaxContentLen)
		}
	case []any:
		if len(x) > MaxItems {
			return fmt.Errorf("%s is a list of %d items; conditions read at most %d", path, len(x), MaxItems)
		}
		for _, e := range x {
			if err := checkBounds(e, path+"[]"); err != nil {
				return err
			}
		}
	case map[string]any:
		if len(x) > MaxItems {
			return fmt.Errorf("%s is a map of %d items; conditions read at most %d", path, len(x), MaxItems)
		}
		for k, e := range x {
			if err := checkBounds(e, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}
