package certlint_test

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/certgate/certgate/internal/certlint"
)

// TestLinterMatchesLintCorpus compares a Linter with zlint's own
// LintCertificateEx on every certificate of zlint's test corpus (its
// module's testdata: over a thousand certificates, made to trigger every
// lint), one by one and then from four goroutines each in another order,
// so that a shared lint instance whose result depended on an earlier
// certificate, or a data race (-race), shows. It takes about a minute
// (several under -race), so it runs only with CERTGATE_ZLINT_CORPUS=1:
// run it when go.mod moves to another zlint (see TestAuditedZlintVersion).
// Some lints build their details by ranging over a map (the extension
// that cannot be parsed, the order of key usages or of duplicated
// extensions), so two runs of zlint itself may differ: a mismatch counts
// only when none of 50 more runs of zlint gives the Linter's findings.
func TestLinterMatchesLintCorpus(t *testing.T) {
	if os.Getenv("CERTGATE_ZLINT_CORPUS") != "1" {
		t.Skip("set CERTGATE_ZLINT_CORPUS=1 to lint zlint's test corpus (about a minute)")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/zmap/zlint/v3").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	if _, serr := os.Stat(dir); err != nil || serr != nil {
		t.Skipf("zlint's testdata not found: %v %v", err, serr)
	}
	var ders [][]byte
	var names []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".pem") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for {
			var blk *pem.Block
			if blk, b = pem.Decode(b); blk == nil {
				break
			}
			if blk.Type == "CERTIFICATE" {
				ders = append(ders, blk.Bytes)
				names = append(names, filepath.Base(path))
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ders) < 1000 {
		t.Fatalf("only %d certificates in %s", len(ders), dir)
	}
	l, err := certlint.NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	var want [][]certlint.Finding
	var idx []int
	for i, der := range ders {
		if err := l.Check(der); errors.Is(err, certlint.ErrParse) {
			continue // zcrypto cannot parse it; nothing to compare
		}
		idx = append(idx, i)
		want = append(want, zlintFindings(t, der))
	}
	check := func(k int) string {
		var got []certlint.Finding
		var le *certlint.LintError
		if err := l.Check(ders[idx[k]]); errors.As(err, &le) {
			got = le.Findings
		} else if err != nil {
			return names[idx[k]] + ": " + err.Error()
		}
		if !slices.Equal(got, want[k]) && !zlintMayGive(t, ders[idx[k]], got) {
			return fmt.Sprintf("%s: findings differ from LintCertificateEx:\n got  %v\n want %v", names[idx[k]], got, want[k])
		}
		return ""
	}
	for k := range idx {
		if msg := check(k); msg != "" {
			t.Error(msg)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 4 {
		wg.Go(func() {
			for j := range idx {
				k := (j*(2*g+1) + g*97) % len(idx)
				if msg := check(k); msg != "" {
					mu.Lock()
					t.Error("concurrent:", msg)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d certificates compared", len(idx))
}

// zlintMayGive reports whether one of 50 runs of zlint on der gives want.
func zlintMayGive(t *testing.T, der []byte, want []certlint.Finding) bool {
	for range 50 {
		if slices.Equal(zlintFindings(t, der), want) {
			return true
		}
	}
	return false
}
