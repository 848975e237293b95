package store_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// roundTripCounter is a loopback TCP proxy in front of PostgreSQL that
// counts the client's round trips: each Sync message (the end of an
// extended-protocol statement: Parse/Bind/Execute ... Sync) and each simple
// Query (BEGIN, COMMIT) except database/sql's "-- ping" of a connection
// that was idle.
type roundTripCounter struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	wg     sync.WaitGroup
}

// newRoundTripCounter proxies dsn's server and returns the proxy and dsn
// rewritten to reach the server through it.
func newRoundTripCounter(t *testing.T, dsn string) (*roundTripCounter, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &roundTripCounter{ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	p.wg.Add(1)
	go p.accept()
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *roundTripCounter) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
		go func() { defer p.wg.Done(); p.forward(c, s); s.Close() }()
	}
}

// forward copies the client's messages to the server, counting them: the
// startup message (no type byte, sslmode=disable so no SSLRequest
// first), then typed messages (type byte, int32 length that counts itself).
func (p *roundTripCounter) forward(c, s net.Conn) {
	r := bufio.NewReader(c)
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return
	}
	startup := make([]byte, binary.BigEndian.Uint32(hdr[:4])-4)
	if _, err := io.ReadFull(r, startup); err != nil {
		return
	}
	if _, err := s.Write(append(hdr[:4:4], startup...)); err != nil {
		return
	}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		switch hdr[0] {
		case 'S':
			p.n.Add(1)
		case 'Q':
			if string(body) != "-- ping\x00" {
				p.n.Add(1)
			}
		}
		if _, err := s.Write(append(hdr[:], body...)); err != nil {
			return
		}
	}
}

// TestIssuanceRoundTrips counts, on PostgreSQL, the round trips of the
// store's writes of one issuance flow (BenchmarkStoreFlowWrites' five:
// CreateOrder, StartChallenge, FinishChallenge, StartIssuance, FinishOrder
// with its certificate.issue audit event), each statement prepared before:
//
//	CreateOrder      BEGIN, authorization, challenges, order, COMMIT    5
//	StartChallenge   the challenge's lease (autocommit)                  1
//	FinishChallenge  BEGIN, challenge, authorization, COMMIT             4
//	StartIssuance    BEGIN, serial and order (one statement), COMMIT     3 (was 4)
//	FinishOrder      BEGIN, key lock, key block, certificate and names
//	                 (one statement), order and replaced mark (one), audit
//	                 head, event and head (one), COMMIT                   8 (was 11)
//
// 21 in all (25 before). Each round trip costs the server and PostgreSQL
// CPU, and the last ones of FinishOrder run under the audit head's lock,
// which bounds every node's issuance rate together.
func TestIssuanceRoundTrips(t *testing.T) {
	storetest.RequirePostgres(t)
	ctx := context.Background()
	raw := storetest.PostgresDSN(t)
	// Migrations first (a Go migration needs a second connection), then
	// one connection through the counter: every statement on it.
	migrated, err := store.Open(ctx, raw)
	must(t, err)
	must(t, migrated.Close())
	p, dsn := newRoundTripCounter(t, raw+"&pool_max_conns=1")
	st := storetest.OpenDSN(t, dsn)
	acct := &store.Account{ID: "rt-account", KeyThumbprint: "rt-thumbprint", JWK: []byte(`{"kty":"EC"}`), Status: acme.StatusValid, CreatedAt: now}
	must(t, st.CreateAccount(ctx, acct))
	der := make([]byte, benchDERSize)
	_, _ = rand.Read(der)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	var times benchStepTimes
	// The first flow prepares the statements on the pool's connection.
	must(t, benchFlow(ctx, st, acct.ID, 1, der, chain, &times, nil))
	const want = 21
	before := p.n.Load()
	must(t, benchFlow(ctx, st, acct.ID, 2, der, chain, &times, nil))
	got := p.n.Load() - before
	if got != want {
		t.Fatalf("one flow's store writes took %d round trips to PostgreSQL, want %d", got, want)
	}
}
