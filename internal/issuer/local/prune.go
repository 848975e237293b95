package local

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrPrune means PruneRetired refused: the intermediate named is not a
// retired one whose key is still there. Nothing was changed.
var ErrPrune = errors.New("local CA: cannot prune")

// RetiredIntermediate is a retired intermediate of a CA directory as
// RetiredIntermediates lists it, without its key.
type RetiredIntermediate struct {
	Cert    *x509.Certificate // the intermediate's certificate
	Pruned  bool              // PruneRetired removed its key: it signs nothing any more
	Revoked bool              // revoked (CA.RevokedIntermediates): the root's CRL lists it
}

// RetiredIntermediates returns the retired intermediates of the CA in dir
// (RetiredDir), oldest notBefore first, checked as LoadOrCreate checks
// them; none is no error. It serves `certgate ca prune-retired`: when dir
// holds no CA, the error wraps ErrPrune and fs.ErrNotExist.
func RetiredIntermediates(dir string) ([]RetiredIntermediate, error) {
	ca, err := open(dir, time.Now, ErrPrune)
	if err != nil {
		return nil, err
	}
	var out []RetiredIntermediate
	for _, r := range ca.retired {
		out = append(out, RetiredIntermediate{Cert: r.inter})
	}
	for _, c := range ca.pruned {
		out = append(out, RetiredIntermediate{Cert: c, Pruned: true})
	}
	revoked := ca.RevokedIntermediates()
	for i := range out {
		out[i].Revoked = slices.ContainsFunc(revoked, func(r RevokedIntermediate) bool { return r.Cert.Equal(out[i].Cert) })
	}
	slices.SortFunc(out, func(a, b RetiredIntermediate) int { return a.Cert.NotBefore.Compare(b.Cert.NotBefore) })
	return out, nil
}

// Pruned returns the retired intermediates whose key PruneRetired removed:
// they sign nothing, but the certificates they signed are still this
// CA's. The caller must not modify them.
func (ca *CA) Pruned() []*x509.Certificate { return slices.Clone(ca.pruned) }

// PruneRetired removes the private key of the retired intermediate of the
// CA in dir whose IntermediateID is id (or whose serial, in hex, it is),
// at now: it writes RetiredDir/ID/PrunedFile, synced, then removes the
// key. Its certificate stays (the certificates it signed are still told
// as this CA's), but it signs no CRL or OCSP response any more: the
// caller checks first that every certificate it signed has expired and
// that its last CRL is past its nextUpdate. The intermediate that signs
// now, an unknown one and one pruned already are refused (ErrPrune), as is
// a dir without a CA (ErrPrune and fs.ErrNotExist). The caller holds the
// data directory's lock. It returns the intermediate.
func PruneRetired(dir, id string, now time.Time) (*x509.Certificate, error) {
	ca, err := open(dir, func() time.Time { return now }, ErrPrune)
	if err != nil {
		return nil, err
	}
	match := intermediateMatcher(id)
	if match(ca.inter) {
		return nil, fmt.Errorf("%w: %s is the intermediate that signs now; only a retired one can be pruned", ErrPrune, id)
	}
	for _, c := range ca.pruned {
		if match(c) {
			return nil, fmt.Errorf("%w: the key of the intermediate %s was pruned already", ErrPrune, IntermediateID(c))
		}
	}
	i := slices.IndexFunc(ca.retired, func(r *CA) bool { return match(r.inter) })
	if i < 0 {
		return nil, fmt.Errorf("%w: no retired intermediate %s in %s", ErrPrune, id, filepath.Join(dir, RetiredDir))
	}
	c := ca.retired[i].inter
	sub := filepath.Join(dir, RetiredDir, IntermediateID(c))
	// The record first: with it and the key both there (a crash between),
	// the intermediate is still a retired one that signs, and pruning it
	// again finishes.
	if err := writeReplace(filepath.Join(sub, PrunedFile), []byte(now.UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(sub, IntermediateKeyFile)); err != nil {
		return nil, fmt.Errorf("local CA: remove the key of the intermediate %s: %w", IntermediateID(c), err)
	}
	syncDir(sub)
	return c, nil
}

// MatchIntermediate reports whether the intermediate c is the one id names
// (as `certgate ca revoke-intermediate` and `prune-retired` take it): its
// IntermediateID, or its serial number in hex (colons and leading zeros
// allowed), case-insensitive.
func MatchIntermediate(c *x509.Certificate, id string) bool { return intermediateMatcher(id)(c) }

// intermediateMatcher is MatchIntermediate for one id.
func intermediateMatcher(id string) func(*x509.Certificate) bool {
	id = strings.ToLower(strings.ReplaceAll(id, ":", ""))
	return func(c *x509.Certificate) bool {
		return IntermediateID(c) == id || strings.TrimLeft(c.SerialNumber.Text(16), "0") == strings.TrimLeft(id, "0")
	}
}
