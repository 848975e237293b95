package policy

import (
	"regexp/syntax"
	"slices"
)

// This file answers, for regexp identifier rules, questions a regexp
// library does not: can a rule's regular expression match any identifier
// at all (a dead rule), any name some other rule matches too (overlap),
// or any name a wildcard certificate is valid for? Each is whether the
// intersection of regular languages is empty, decided by a breadth-first
// search of the product of the expressions' compiled programs
// (regexp/syntax.Prog, the NFA RE2 itself runs) with a small automaton of
// the identifier shapes. Empty-width assertions (^, $, \b, \B) are taken
// as always satisfied: the answer "may match" is then sometimes too
// generous, never too strict, which keeps a deny or approval rule on the
// side of matching and a dead-rule check on the side of accepting.

// shapes is a deterministic automaton over the bytes of normalised DNS
// identifiers (lower-case ASCII letters, digits, hyphens, dots and a
// leading "*"), in which some identifier of a given shape is to be found.
type shapes interface {
	start() int
	next(state int, c byte) int // -1: no such identifier
	accept(state int) bool
}

// identAlphabet is every byte of a normalised DNS identifier.
const identAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-.*"

// dnsShapes are the normalised DNS identifiers (acme.CheckDNSName),
// generously: LDH labels separated by dots, the last one not all digits,
// after an optional leading "*." when wildcard is set (lengths and
// hyphen positions are not followed).
type dnsShapes struct{ wildcard bool }

const (
	dsStart      = iota // nothing read
	dsStar              // "*"
	dsLabelStart        // after a dot
	dsDigits            // in a label of digits only
	dsLabel             // in a label with a letter or hyphen
)

func (dnsShapes) start() int { return dsStart }

func (d dnsShapes) next(s int, c byte) int {
	ldh := c >= 'a' && c <= 'z' || c == '-'
	digit := c >= '0' && c <= '9'
	switch s {
	case dsStart:
		if c == '*' && d.wildcard {
			return dsStar
		}
		fallthrough
	case dsLabelStart, dsDigits:
		switch {
		case digit:
			return dsDigits
		case ldh:
			return dsLabel
		case c == '.' && s == dsDigits:
			return dsLabelStart
		}
	case dsStar:
		if c == '.' {
			return dsLabelStart
		}
	case dsLabel:
		switch {
		case ldh || digit:
			return dsLabel
		case c == '.':
			return dsLabelStart
		}
	}
	return -1
}

func (dnsShapes) accept(s int) bool { return s == dsLabel }

// coveredShapes are the names a wildcard certificate for "*.base" is
// valid for (RFC 6125 §6.4.3): one LDH label, a dot, then base.
type coveredShapes struct{ base string }

// States: 0 nothing read, 1 in the label, 2+i read i bytes of base.
func (coveredShapes) start() int { return 0 }

func (w coveredShapes) next(s int, c byte) int {
	ldh := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	switch {
	case s == 0 && ldh, s == 1 && ldh:
		return 1
	case s == 1 && c == '.':
		return 2
	case s >= 2 && s-2 < len(w.base) && w.base[s-2] == c:
		return s + 1
	}
	return -1
}

func (w coveredShapes) accept(s int) bool { return s == 2+len(w.base) }

// maxProductStates bounds the search; beyond it the answer is "may match".
const maxProductStates = 1 << 16

// compileRule compiles the expression of a regexp rule (as ParseRule
// wraps it: case-insensitive, anchored) into the program searched here.
func compileRule(expr string) (*syntax.Prog, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(re.Simplify())
}

// closure adds to set the instructions of prog reachable from pc without
// reading a byte (empty-width assertions taken as satisfied).
func closure(prog *syntax.Prog, pc uint32, set map[uint32]bool) {
	if set[pc] {
		return
	}
	set[pc] = true
	switch in := prog.Inst[pc]; in.Op {
	case syntax.InstAlt, syntax.InstAltMatch:
		closure(prog, in.Out, set)
		closure(prog, in.Arg, set)
	case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
		closure(prog, in.Out, set)
	}
}

// step returns the instructions of prog that reading c from set leads to.
func step(prog *syntax.Prog, set map[uint32]bool, c byte) map[uint32]bool {
	out := map[uint32]bool{}
	for pc := range set {
		in := prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if in.MatchRune(rune(c)) {
				closure(prog, in.Out, out)
			}
		}
	}
	return out
}

func matches(prog *syntax.Prog, set map[uint32]bool) bool {
	for pc := range set {
		if prog.Inst[pc].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}

// mayMatchTogether reports whether some string of the shapes sh is
// matched by every one of progs (at least one). The search runs on sets
// of program instructions (the subset construction), so it ends; past
// maxProductStates states it answers true.
func mayMatchTogether(sh shapes, progs ...*syntax.Prog) bool {
	type node struct {
		state int
		sets  []map[uint32]bool
	}
	key := func(n node) string {
		b := []byte{byte(n.state), byte(n.state >> 8), byte(n.state >> 16)}
		for _, set := range n.sets {
			pcs := make([]uint32, 0, len(set))
			for pc := range set {
				pcs = append(pcs, pc)
			}
			slices.Sort(pcs)
			b = append(b, '|')
			for _, pc := range pcs {
				b = append(b, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
			}
		}
		return string(b)
	}
	first := node{state: sh.start()}
	for _, p := range progs {
		set := map[uint32]bool{}
		closure(p, uint32(p.Start), set)
		first.sets = append(first.sets, set)
	}
	seen := map[string]bool{key(first): true}
	queue := []node{first}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if sh.accept(n.state) {
			all := true
			for i, p := range progs {
				all = all && matches(p, n.sets[i])
			}
			if all {
				return true
			}
		}
		for i := 0; i < len(identAlphabet); i++ {
			c := identAlphabet[i]
			s := sh.next(n.state, c)
			if s < 0 {
				continue
			}
			m := node{state: s}
			alive := true
			for j, p := range progs {
				set := step(p, n.sets[j], c)
				if len(set) == 0 {
					alive = false
					break
				}
				m.sets = append(m.sets, set)
			}
			if !alive {
				continue
			}
			k := key(m)
			if seen[k] {
				continue
			}
			if len(seen) >= maxProductStates {
				return true
			}
			seen[k] = true
			queue = append(queue, m)
		}
	}
	return false
}
