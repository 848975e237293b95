package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// seedFlags are the settings of `certgate bench seed`.
type seedFlags struct {
	data, db           string
	certificates, accs int
	batch              int
}

func newBenchSeed() *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Fill a stopped server's database with synthetic issued certificates (for load tests at scale)",
		Long: `Write N synthetic issuance records — an account's valid order, its valid
authorization and http-01 challenge, a reserved serial and a certificate row of
realistic size (random DER, not a real certificate; its chain is the DER's PEM
block and one random intermediate shared by all, stored once) with its inventory
rows (names under d0..d999.seed.test, attributes env and team, expiry spread
over the next 89 days) — into the database
of a server that is not running, so that load tests can measure throughput with
a large inventory (docs/performance.md). Never run it on a production database.`,
		Example: `  certgate bench seed --data ./bench-data --certificates 1000000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Resolve(cmd.Flags()); err != nil {
				return err
			}
			return runSeed(cmd.Context(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "./certgate-data", "data directory of the server (its lock is taken while seeding)")
	fl.StringVar(&f.db, "db", "", "database DSN when the server uses PostgreSQL")
	fl.IntVar(&f.certificates, "certificates", 100000, "how many certificates to add")
	fl.IntVar(&f.accs, "accounts", 1000, "how many accounts they are spread over")
	fl.IntVar(&f.batch, "batch", 1000, "records per transaction")
	fl.String("config", "", "YAML configuration file")
	return cmd
}

var seedEnvs = []string{"prod", "staging", "dev"}

func randB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func runSeed(ctx context.Context, progress io.Writer, f seedFlags) error {
	if f.certificates < 1 || f.accs < 1 || f.batch < 1 {
		return fmt.Errorf("--certificates, --accounts and --batch must be positive")
	}
	lock, err := server.LockDataDir(f.data)
	if err != nil {
		return err
	}
	defer lock.Close()
	unlockDB, err := lockDatabase(server.DSN(f.data, f.db), f.data, "seeding it")
	if err != nil {
		return err
	}
	defer unlockDB(false)
	st, err := store.Open(ctx, server.DSN(f.data, f.db))
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	run := randB64(3)
	accounts := make([]string, f.accs)
	for i := range accounts {
		accounts[i] = "seed-" + run + "-" + randB64(12)
		a := &store.Account{ID: accounts[i], KeyThumbprint: randB64(32), JWK: []byte(`{"kty":"EC","crv":"P-256","x":"` + randB64(32) + `","y":"` + randB64(32) + `"}`),
			Status: acme.StatusValid, Contact: []string{"mailto:seed@example.test"}, TOSAgreed: true, CreatedAt: now}
		if err := st.CreateAccount(ctx, a); err != nil {
			return err
		}
	}
	// The chain as issued: the leaf's PEM block, then one intermediate
	// (random, the size of the built-in CA's P-256 intermediate), the same
	// for every certificate, so that it is stored once (issuer_chains).
	inter := make([]byte, 560)
	rand.Read(inter)
	interPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter}))
	start := time.Now()
	for done := 0; done < f.certificates; {
		n := min(f.batch, f.certificates-done)
		recs := make([]store.IssuedRecord, n)
		for i := range recs {
			k := done + i
			acct := accounts[k%len(accounts)]
			// Inventory shape (docs/inventory.md): names under 1,000 domains
			// (d0.seed.test ... d999.seed.test), notBefore spread over the
			// last 89 days so that NotAfter (90 days) spreads over the next
			// 89 days, and custom attributes env (3 values) and team (50).
			name := fmt.Sprintf("s%d-%s.d%d.seed.test", k, run, k%1000)
			id := acme.Identifier{Type: acme.IdentifierDNS, Value: name}
			issued := now.Add(-time.Duration(float64(f.certificates-k) / float64(f.certificates) * float64(89*24*time.Hour)))
			azID, chID, oID := store.NewID(issued), store.NewID(issued), store.NewID(issued)
			_, serial := store.NewSerial(issued)
			der := make([]byte, 700)
			rand.Read(der)
			fp := sha256.Sum256(der)
			recs[i] = store.IssuedRecord{
				Authz: &store.Authorization{ID: azID, AccountID: acct, Identifier: id, Status: acme.StatusValid, Expires: issued.Add(30 * 24 * time.Hour),
					ValidatedAt: issued, CreatedAt: issued, Challenges: []store.Challenge{{ID: chID, AuthzID: azID, Type: acme.ChallengeHTTP01,
						Token: randB64(32), Status: acme.StatusValid, ValidatedAt: issued, UpdatedAt: issued}}},
				Order: &store.Order{ID: oID, AccountID: acct, Status: acme.StatusValid, Expires: issued.Add(7 * 24 * time.Hour),
					Identifiers: []acme.Identifier{id}, AuthzIDs: []string{azID}, CertSerial: serial, CreatedAt: issued, UpdatedAt: issued},
				Cert: &store.Certificate{Serial: serial, Issuer: "local", OrderID: oID, AccountID: acct, DER: der,
					ChainPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + interPEM, SANs: []string{name},
					KeyType: "ECDSA P-256", FingerprintSHA256: hex.EncodeToString(fp[:]), NotBefore: issued, NotAfter: issued.Add(90 * 24 * time.Hour),
					Status: acme.StatusValid, CreatedAt: issued, KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256",
					Profile: store.DefaultProfile, Source: store.SourceIssued,
					Attributes: map[string]string{"env": seedEnvs[k%len(seedEnvs)], "team": fmt.Sprintf("team%d", k%50)}},
			}
		}
		if err := st.InsertIssued(ctx, recs); err != nil {
			return err
		}
		done += n
		if done%100000 == 0 || done == f.certificates {
			fmt.Fprintf(progress, "seeded %d of %d certificates (%.0f/s)\n", done, f.certificates, float64(done)/time.Since(start).Seconds())
		}
	}
	return nil
}
