package audit

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/certgate/certgate/internal/store"
)

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// OK is true when the whole chain is intact.
	OK bool `json:"ok"`
	// Events is how many events were checked.
	Events int64 `json:"events"`
	// HeadSeq and HeadHash are the newest event as the head row records it.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"` // see HeadSeq
	// BrokenSeq and BrokenID name the first event where the chain breaks
	// (BrokenID is "" when that event is missing); Problem says how.
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	BrokenID  string `json:"broken_id,omitempty"` // see BrokenSeq
	Problem   string `json:"problem,omitempty"`   // see BrokenSeq
}

// Error describes a broken chain in one line, naming the event.
func (r *VerifyResult) Error() string {
	if r.OK {
		return ""
	}
	if r.BrokenSeq == 0 && r.BrokenID == "" {
		return "audit log broken: " + r.Problem
	}
	if r.BrokenID != "" {
		return fmt.Sprintf("audit log broken at event seq %d (id %s): %s", r.BrokenSeq, r.BrokenID, r.Problem)
	}
	return fmt.Sprintf("audit log broken at event seq %d: %s", r.BrokenSeq, r.Problem)
}

var errStop = errors.New("stop")

// Verify walks the whole log in seq order and checks that seq counts from
// 1 without gaps, that each event's prev_hash is the previous event's hash,
// that each event's hash matches its content, that the last event is the
// one the head row records, and that no row lies outside the chain
// (before seq 1, or after the head without being covered by it when the
// head is read again). Events appended while it runs are not
// checked (it stops at the head read first). A broken chain is reported in
// the result (OK false), not as an error; errors are storage failures.
func (l *Log) Verify(ctx context.Context) (*VerifyResult, error) {
	headSeq, headHash, err := l.st.AuditHead(ctx)
	if errors.Is(err, store.ErrNotFound) {
		// Migrations create the head row; without it every append fails.
		return &VerifyResult{Problem: "the head row (table audit_head) is missing: it was deleted"}, nil
	}
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{HeadSeq: headSeq, HeadHash: headHash}
	prevSeq, prevHash := int64(0), store.AuditGenesisHash
	fail := func(seq int64, id, problem string) error {
		res.BrokenSeq, res.BrokenID, res.Problem = seq, id, problem
		return errStop
	}
	// The chain starts at seq 1: a row below it was added by hand (the
	// walk below would not see it, but listings show it).
	first, err := l.st.ListAudit(ctx, store.AuditFilter{AfterSeq: math.MinInt64, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	if len(first) == 1 && first[0].Seq < 1 {
		_ = fail(first[0].Seq, first[0].ID, "not part of the chain (events are numbered from 1; the row was added)")
		return res, nil
	}
	err = l.st.EachAudit(ctx, headSeq, func(r *store.AuditRecord) error {
		switch {
		case r.Seq != prevSeq+1:
			return fail(prevSeq+1, "", fmt.Sprintf("missing (the log continues at seq %d)", r.Seq))
		case r.PrevHash != prevHash:
			return fail(r.Seq, r.ID, "prev_hash does not match the previous event's hash (an earlier event was changed or removed)")
		case Hash(r) != r.Hash:
			return fail(r.Seq, r.ID, "content does not match its hash (the event was modified)")
		}
		res.Events++
		prevSeq, prevHash = r.Seq, r.Hash
		return nil
	})
	if errors.Is(err, errStop) {
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	switch {
	case prevSeq != headSeq:
		res.BrokenSeq, res.Problem = prevSeq+1, fmt.Sprintf("missing (the head records %d events)", headSeq)
	case prevHash != headHash:
		res.BrokenSeq, res.Problem = headSeq, "hash differs from the one the head records (the newest event was replaced)"
	default:
		// A row after the head that the head still does not cover once
		// read again was not appended (an append moves the head in its
		// transaction): it was added by hand, and would make the next
		// append fail on its seq.
		extra, err := l.extraAfter(ctx, headSeq)
		if err != nil {
			return nil, err
		}
		if extra != nil {
			res.BrokenSeq, res.BrokenID = extra.Seq, extra.ID
			res.Problem = fmt.Sprintf("not part of the chain (after the newest event the head records, seq %d; the row was added)", headSeq)
			return res, nil
		}
		res.OK = true
	}
	return res, nil
}

// extraAfter returns the first stored event after seq headSeq that the
// head, read after it, does not cover; nil when there is none. An event
// appended while Verify runs is covered: its transaction moved the head.
// Rows after the newer head are looked at too, a few rounds while appends
// go on (a row added by hand is then found by a later run).
func (l *Log) extraAfter(ctx context.Context, headSeq int64) (*store.AuditRecord, error) {
	after := headSeq
	for range 3 {
		next, err := l.st.ListAudit(ctx, store.AuditFilter{AfterSeq: after, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("verify audit log: %w", err)
		}
		if len(next) == 0 {
			return nil, nil
		}
		nowSeq, _, err := l.st.AuditHead(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify audit log: %w", err)
		}
		if next[0].Seq > nowSeq {
			return next[0], nil
		}
		after = nowSeq
	}
	return nil, nil
}
