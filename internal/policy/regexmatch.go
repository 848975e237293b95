package policy

import (
	"regexp/syntax"
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
// With one program (a wildcard against a deny or approval rule, at
// newOrder) the product has at most len(prog.Inst)·(len(base)+3) states
// and never reaches it; two programs (overlaps of rules, when a profile is
// written) may.
const maxProductStates = 1 << 18

// compileRule compiles the expression of a regexp rule (as ParseRule
// wraps it: case-insensitive, anchored) into the program searched here.
func compileRule(expr string) (*syntax.Prog, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(re.Simplify())
}

// closure appends to out the instructions of prog reachable from pc
// without reading a byte (empty-width assertions taken as satisfied) that
// read one or match; seen guards against cycles.
func closure(prog *syntax.Prog, pc uint32, seen map[uint32]bool, out []uint32) []uint32 {
	if seen[pc] {
		return out
	}
	seen[pc] = true
	switch in := prog.Inst[pc]; in.Op {
	case syntax.InstAlt, syntax.InstAltMatch:
		out = closure(prog, in.Out, seen, out)
		return closure(prog, in.Arg, seen, out)
	case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
		return closure(prog, in.Out, seen, out)
	case syntax.InstFail:
		return out
	}
	return append(out, pc)
}

// step returns the instructions that reading c at pc leads to.
func step(prog *syntax.Prog, pc uint32, c byte) []uint32 {
	in := prog.Inst[pc]
	if in.Op == syntax.InstMatch || !in.MatchRune(rune(c)) {
		return nil
	}
	return closure(prog, in.Out, map[uint32]bool{}, nil)
}

// productNode is a state of the product: the shapes' state and one
// instruction of each program (the second unused with one program).
type productNode struct {
	state int
	a, b  uint32
}

// mayMatchTogether reports whether some string of the shapes sh is
// matched by every one of progs (one or two): whether a state where the
// shapes accept and every program matches is reachable in the product of
// the shapes with the programs' NFAs. Past maxProductStates states it
// answers true.
func mayMatchTogether(sh shapes, progs ...*syntax.Prog) bool {
	if len(progs) == 0 || len(progs) > 2 {
		panic("policy: mayMatchTogether takes one or two programs")
	}
	second := len(progs) == 2
	starts := func(p *syntax.Prog) []uint32 { return closure(p, uint32(p.Start), map[uint32]bool{}, nil) }
	var queue []productNode
	seen := map[productNode]bool{}
	add := func(state int, as, bs []uint32) bool {
		if !second {
			bs = []uint32{0}
		}
		for _, a := range as {
			for _, b := range bs {
				n := productNode{state, a, b}
				if seen[n] {
					continue
				}
				if len(seen) >= maxProductStates {
					return false
				}
				seen[n] = true
				queue = append(queue, n)
			}
		}
		return true
	}
	var bs []uint32
	if second {
		bs = starts(progs[1])
	}
	if !add(sh.start(), starts(progs[0]), bs) {
		return true
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if sh.accept(n.state) && progs[0].Inst[n.a].Op == syntax.InstMatch && (!second || progs[1].Inst[n.b].Op == syntax.InstMatch) {
			return true
		}
		for i := 0; i < len(identAlphabet); i++ {
			c := identAlphabet[i]
			s := sh.next(n.state, c)
			if s < 0 {
				continue
			}
			as := step(progs[0], n.a, c)
			if len(as) == 0 {
				continue
			}
			var bs []uint32
			if second {
				if bs = step(progs[1], n.b, c); len(bs) == 0 {
					continue
				}
			}
			if !add(s, as, bs) {
				return true
			}
		}
	}
	return false
}
