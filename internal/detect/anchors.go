package detect

import "slices"

// An automaton finds every occurrence of a fixed set of byte strings in one
// pass (Aho–Corasick with a dense transition table), so the cost of looking
// for all anchors of all rules does not grow with the number of anchors.
type automaton struct {
	class [256]uint8 // byte → column; bytes in no pattern share column 0
	width int
	next  []int32   // next[state*width+class]
	out   [][]int32 // pattern ids ending at each state
	lens  []int     // length of each pattern
	rules [][]int32 // rule ids of each pattern
}

func buildAutomaton(pats []string, ruleOf [][]int32) *automaton {
	a := &automaton{rules: ruleOf, width: 1}
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			if a.class[p[i]] == 0 {
				a.class[p[i]] = uint8(a.width)
				a.width++
			}
		}
	}
	w := a.width
	a.next = make([]int32, w)
	a.out = make([][]int32, 1)
	for id, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := int32(a.class[p[i]])
			if a.next[s*int32(w)+c] == 0 {
				a.next = append(a.next, make([]int32, w)...)
				a.out = append(a.out, nil)
				a.next[s*int32(w)+c] = int32(len(a.out) - 1)
			}
			s = a.next[s*int32(w)+c]
		}
		a.out[s] = append(a.out[s], int32(id))
		a.lens = append(a.lens, len(p))
	}
	// Breadth-first: complete the transitions through failure links.
	fail := make([]int32, len(a.out))
	var queue []int32
	for c := 1; c < w; c++ {
		if s := a.next[c]; s != 0 {
			queue = append(queue, s)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.out[s] = append(a.out[s], a.out[fail[s]]...)
		for c := 1; c < w; c++ {
			t := a.next[int(s)*w+c]
			if t == 0 {
				a.next[int(s)*w+c] = a.next[int(fail[s])*w+c]
				continue
			}
			fail[t] = a.next[int(fail[s])*w+c]
			queue = append(queue, t)
		}
	}
	return a
}

// A hit is one anchor occurrence: hay[start:start+n].
type hit struct{ start, n int }

// find returns, per rule id, its anchor occurrences in hay sorted by start.
func (a *automaton) find(hay string, nrules int) [][]hit {
	hits := make([][]hit, nrules)
	s := int32(0)
	w := int32(a.width)
	for i := 0; i < len(hay); i++ {
		s = a.next[s*w+int32(a.class[hay[i]])]
		if s == 0 {
			continue
		}
		for _, id := range a.out[s] {
			st := i + 1 - a.lens[id]
			for _, r := range a.rules[id] {
				hits[r] = append(hits[r], hit{st, a.lens[id]})
			}
		}
	}
	for _, h := range hits {
		if len(h) > 1 {
			slices.SortFunc(h, func(x, y hit) int { return x.start - y.start })
		}
	}
	return hits
}

// anchorIndex numbers every anchored rule and holds one automaton over the
// lowered anchors of all rules.
type anchorIndex struct {
	id     map[*rule]int
	low    *automaton
	nrules int
}

// refusalRule only carries refusalAnchors into the index.
var refusalRule = &rule{name: "refusal.phrase", anchors: refusalAnchors}

var anchors = func() *anchorIndex {
	x := &anchorIndex{id: map[*rule]int{}}
	type set struct {
		pats   []string
		idx    map[string]int
		ruleOf [][]int32
	}
	low := set{idx: map[string]int{}}
	for _, rs := range [][]*rule{injectionRules, xssRules, sqlRules, shellRules, secretRules, {refusalRule}} {
		for _, r := range rs {
			if r.anchors == nil {
				continue
			}
			id := len(x.id)
			x.id[r] = id
			st := &low
			for _, p := range r.anchors {
				// Raw anchors are found through their lowered form; runRule
				// checks the case against the raw text.
				p = asciiLower(p)
				pid, ok := st.idx[p]
				if !ok {
					pid = len(st.pats)
					st.idx[p] = pid
					st.pats = append(st.pats, p)
					st.ruleOf = append(st.ruleOf, nil)
				}
				if !slices.Contains(st.ruleOf[pid], int32(id)) {
					st.ruleOf[pid] = append(st.ruleOf[pid], int32(id))
				}
			}
		}
	}
	x.nrules = len(x.id)
	x.low = buildAutomaton(low.pats, low.ruleOf)
	return x
}()
