package layer

import (
	"path"
	"regexp/syntax"
	"unicode/utf8"
)

// MatchingPerms returns, in order, the perms that may apply to an entry
// Build writes for s: one matching the store directory or a parent of it,
// a file or one of its parents, or — judged from the store path's name
// alone, since its contents may not be on disk yet (a NAR still in a binary
// cache) — a path inside one of s's store paths. A plan-wide perm thus
// enters the key of exactly the layers it can touch: editing it does not
// rebuild the others. An unanchored regexp can match inside any store path,
// so it enters every layer with store paths.
//
// The answer is conservative: a perm is dropped only when no entry of the
// layer can match it, so dropping it never changes the layer's bytes.
func MatchingPerms(s Spec, perms []Perm) []Perm {
	var out []Perm
	for _, p := range perms {
		if p.Regexp != nil && permMayApply(s, p) {
			out = append(out, p)
		}
	}
	return out
}

func permMayApply(s Spec, p Perm) bool {
	for d := s.storeDir(); d != "/" && d != "."; d = path.Dir(d) {
		if p.Regexp.MatchString(d) {
			return true
		}
	}
	for _, f := range s.Files {
		for d := f.Path; d != "/" && d != "."; d = path.Dir(d) {
			if p.Regexp.MatchString(d) {
				return true
			}
		}
	}
	if len(s.Paths) == 0 {
		return false
	}
	prog, err := compile(p.Regexp.String())
	if err != nil {
		return true // cannot analyse: keep it
	}
	for _, sp := range s.Paths {
		if mayMatchAtOrBelow(prog, sp.Path) {
			return true
		}
	}
	return false
}

func compile(expr string) (*syntax.Prog, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(re.Simplify())
}

// mayMatchAtOrBelow reports whether the regexp (searched anywhere, as
// MatchString does) can match p itself or some path p + "/…". It runs the
// regexp's NFA over p, then asks whether a match is reachable at the end of
// p, or whether any thread survives a following "/" (after which anything
// may come).
func mayMatchAtOrBelow(prog *syntax.Prog, p string) bool {
	m := &nfa{prog: prog}
	cur := m.newSet()
	prev := rune(-1)
	for i := 0; i < len(p); {
		r, w := utf8.DecodeRuneInString(p[i:])
		m.add(cur, uint32(prog.Start), syntax.EmptyOpContext(prev, r))
		if m.matched {
			return true
		}
		next := rune(-1)
		if i+w < len(p) {
			next, _ = utf8.DecodeRuneInString(p[i+w:])
		} else {
			next = '/'
		}
		cur = m.step(cur, r, syntax.EmptyOpContext(r, next))
		if m.matched {
			return true
		}
		prev = r
		i += w
	}
	// p itself: the text ends here.
	atEnd := m.copySet(cur)
	m.matched = false
	m.closeAll(atEnd, syntax.EmptyOpContext(prev, -1))
	m.add(atEnd, uint32(prog.Start), syntax.EmptyOpContext(prev, -1))
	if m.matched {
		return true
	}
	// Below p: "/" follows, then anything.
	m.add(cur, uint32(prog.Start), syntax.EmptyOpContext(prev, '/'))
	if m.matched {
		return true
	}
	// What follows the "/" is unknown: allow whatever any next rune (or
	// the end) would allow; a match may also start anywhere later, after
	// any rune (so not at the beginning of the text).
	after := m.step(cur, '/', afterSlash)
	m.add(after, uint32(prog.Start), laterStart)
	return m.matched || m.live(after)
}

// afterSlash is every empty-width assertion that can hold right after a
// "/" whatever follows it.
var afterSlash = syntax.EmptyOpContext('/', 'a') | syntax.EmptyOpContext('/', '/') | syntax.EmptyOpContext('/', -1)

// laterStart is every empty-width assertion that can hold at some position
// after the beginning of the text.
const laterStart = syntax.EmptyBeginLine | syntax.EmptyEndLine | syntax.EmptyEndText |
	syntax.EmptyWordBoundary | syntax.EmptyNoWordBoundary

// nfa is a minimal Pike VM over a compiled regexp: it tracks the set of
// live instructions, without captures.
type nfa struct {
	prog    *syntax.Prog
	matched bool
}

type instSet struct {
	has  []bool
	list []uint32
}

func (m *nfa) newSet() *instSet { return &instSet{has: make([]bool, len(m.prog.Inst))} }

func (m *nfa) copySet(s *instSet) *instSet {
	c := m.newSet()
	for _, pc := range s.list {
		c.has[pc] = true
		c.list = append(c.list, pc)
	}
	return c
}

// add adds pc and everything reachable from it without consuming a rune,
// under the empty-width context ctx.
func (m *nfa) add(s *instSet, pc uint32, ctx syntax.EmptyOp) {
	if s.has[pc] {
		return
	}
	s.has[pc] = true
	s.list = append(s.list, pc)
	inst := &m.prog.Inst[pc]
	switch inst.Op {
	case syntax.InstAlt, syntax.InstAltMatch:
		m.add(s, inst.Out, ctx)
		m.add(s, inst.Arg, ctx)
	case syntax.InstCapture, syntax.InstNop:
		m.add(s, inst.Out, ctx)
	case syntax.InstEmptyWidth:
		if syntax.EmptyOp(inst.Arg)&^ctx == 0 {
			m.add(s, inst.Out, ctx)
		}
	case syntax.InstMatch:
		m.matched = true
	}
}

// closeAll re-follows empty-width instructions of s under a new context
// (the context at a position is known only once the next rune is).
func (m *nfa) closeAll(s *instSet, ctx syntax.EmptyOp) {
	for i := 0; i < len(s.list); i++ {
		pc := s.list[i]
		inst := &m.prog.Inst[pc]
		if inst.Op == syntax.InstEmptyWidth && syntax.EmptyOp(inst.Arg)&^ctx == 0 {
			m.add(s, inst.Out, ctx)
		}
	}
}

// live reports whether a thread of s can still consume a rune.
func (m *nfa) live(s *instSet) bool {
	for _, pc := range s.list {
		switch m.prog.Inst[pc].Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			return true
		}
	}
	return false
}

// step consumes r from every thread of cur.
func (m *nfa) step(cur *instSet, r rune, ctx syntax.EmptyOp) *instSet {
	next := m.newSet()
	for _, pc := range cur.list {
		inst := &m.prog.Inst[pc]
		if consumes(inst, r) {
			m.add(next, inst.Out, ctx)
		}
	}
	return next
}

func consumes(inst *syntax.Inst, r rune) bool {
	switch inst.Op {
	case syntax.InstRune:
		return inst.MatchRune(r)
	case syntax.InstRune1:
		return r == inst.Rune[0]
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	}
	return false
}
