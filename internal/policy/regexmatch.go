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
// the identifier shapes. Empty-width assertions (^, $, \b, \B) are decided
// exactly, from the bytes before and after them; they were taken as
// always satisfied, so that /[a-z]+\B\.example\.com/, which matches no
// name (a letter before a dot is a word boundary), counted as covering
// every name under *.example.com. The answer "may match" is too generous
// only past maxProductStates.

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
// without reading a byte that read one or match; seen guards against
// cycles. An empty-width assertion (^, $, \b, \B) is passed only when ctx,
// the assertions that hold between the byte before and the byte after
// (syntax.EmptyOpContext), satisfies it: the search is exact for them.
func closure(prog *syntax.Prog, pc uint32, ctx syntax.EmptyOp, seen map[uint32]bool, out []uint32) []uint32 {
	if seen[pc] {
		return out
	}
	seen[pc] = true
	switch in := prog.Inst[pc]; in.Op {
	case syntax.InstAlt, syntax.InstAltMatch:
		out = closure(prog, in.Out, ctx, seen, out)
		return closure(prog, in.Arg, ctx, seen, out)
	case syntax.InstEmptyWidth:
		if syntax.EmptyOp(in.Arg)&^ctx != 0 {
			return out // the assertion does not hold here
		}
		return closure(prog, in.Out, ctx, seen, out)
	case syntax.InstCapture, syntax.InstNop:
		return closure(prog, in.Out, ctx, seen, out)
	case syntax.InstFail:
		return out
	}
	return append(out, pc)
}

// threads returns the instructions that read a byte or match, reachable
// from pc between the byte before (prev) and the byte after (next; -1 at
// the ends, as syntax.EmptyOpContext takes them), memoised in memo.
func threads(prog *syntax.Prog, memo map[threadKey][]uint32, pc uint32, prev, next rune) []uint32 {
	ctx := syntax.EmptyOpContext(prev, next)
	k := threadKey{pc, ctx}
	if out, ok := memo[k]; ok {
		return out
	}
	out := closure(prog, pc, ctx, map[uint32]bool{}, nil)
	memo[k] = out
	return out
}

// threadKey is the memo key of threads.
type threadKey struct {
	pc  uint32
	ctx syntax.EmptyOp
}

// step returns the instructions from which the program goes on after
// reading c at pc (not yet followed: what follows depends on the byte
// after c), after the byte prev (-1 at the start).
func step(prog *syntax.Prog, memo map[threadKey][]uint32, pc uint32, prev rune, c byte) []uint32 {
	var out []uint32
	for _, t := range threads(prog, memo, pc, prev, rune(c)) {
		if in := prog.Inst[t]; in.Op != syntax.InstMatch && in.MatchRune(rune(c)) {
			out = append(out, in.Out)
		}
	}
	return out
}

// matches reports whether the program at pc matches at the end of the
// input, after the byte prev.
func matches(prog *syntax.Prog, memo map[threadKey][]uint32, pc uint32, prev rune) bool {
	for _, t := range threads(prog, memo, pc, prev, -1) {
		if prog.Inst[t].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}

// wordClass is the byte that stands for c in a productNode's prev: the
// assertions depend only on whether the byte before is a word character
// (\w), another byte, or none (the start: -1).
func wordClass(c byte) rune {
	if syntax.IsWordChar(rune(c)) {
		return 'a'
	}
	return '.'
}

// productNode is a state of the product: the shapes' state, the class
// of the byte read last (wordClass; -1 before the first), and one
// instruction of each program (the second unused with one program) from
// which it goes on, before the empty-width assertions that follow it are
// decided (they depend on the next byte).
type productNode struct {
	state int
	prev  rune
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
	memoA, memoB := map[threadKey][]uint32{}, map[threadKey][]uint32{}
	var queue []productNode
	seen := map[productNode]bool{}
	add := func(state int, prev rune, as, bs []uint32) bool {
		if !second {
			bs = []uint32{0}
		}
		for _, a := range as {
			for _, b := range bs {
				n := productNode{state, prev, a, b}
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
		bs = []uint32{uint32(progs[1].Start)}
	}
	if !add(sh.start(), -1, []uint32{uint32(progs[0].Start)}, bs) {
		return true
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if sh.accept(n.state) && matches(progs[0], memoA, n.a, n.prev) && (!second || matches(progs[1], memoB, n.b, n.prev)) {
			return true
		}
		for i := 0; i < len(identAlphabet); i++ {
			c := identAlphabet[i]
			s := sh.next(n.state, c)
			if s < 0 {
				continue
			}
			as := step(progs[0], memoA, n.a, n.prev, c)
			if len(as) == 0 {
				continue
			}
			var bs []uint32
			if second {
				if bs = step(progs[1], memoB, n.b, n.prev, c); len(bs) == 0 {
					continue
				}
			}
			if !add(s, wordClass(c), as, bs) {
				return true
			}
		}
	}
	return false
}
