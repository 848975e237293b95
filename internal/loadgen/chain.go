package loadgen

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// chainChecker checks the certificate chains a run downloads: the leaf is
// for the flow's name, carries the CSR's public key and is signed by the
// next certificate, and every further certificate is signed by the one
// after it. A server sends the same issuer certificates with every leaf,
// so the issuer part of a chain (everything after the leaf) is parsed, and
// its own signatures checked, once per distinct byte sequence; the leaf is
// parsed and its signature checked for every flow.
type chainChecker struct {
	mu      sync.Mutex
	issuers map[string]*issuerChain // DER of chain[1:], concatenated
}

// issuerChain is the outcome of checking the issuer part of a chain.
type issuerChain struct {
	issuer *x509.Certificate // the leaf's issuer, chain[1]
	err    error             // why the issuer part is unusable, if it is
}

// maxIssuerChains bounds the distinct issuer parts a run keeps; a server
// that sends more is checked in full for the chains past the bound.
const maxIssuerChains = 16

func newChainChecker() *chainChecker {
	return &chainChecker{issuers: map[string]*issuerChain{}}
}

// check parses chain (DER certificates, leaf first) and checks it for name
// and spki (the CSR's public key, DER SubjectPublicKeyInfo).
func (c *chainChecker) check(chain [][]byte, name string, spki []byte) error {
	if len(chain) == 0 {
		return errors.New("empty certificate chain")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("certificate 0 of the chain: %w", err)
	}
	if !slices.Contains(leaf.DNSNames, name) {
		return fmt.Errorf("certificate is for %v, not %s", leaf.DNSNames, name)
	}
	if !bytes.Equal(leaf.RawSubjectPublicKeyInfo, spki) {
		return errors.New("certificate public key is not the CSR's")
	}
	if len(chain) == 1 {
		return nil
	}
	ic := c.issuerChain(chain[1:])
	if ic.err != nil {
		return ic.err
	}
	if err := leaf.CheckSignatureFrom(ic.issuer); err != nil {
		return fmt.Errorf("certificate is not signed by the next in the chain: %w", err)
	}
	return nil
}

// issuerChain returns the checked issuer part rest, from the cache when
// this run has seen the same bytes before.
func (c *chainChecker) issuerChain(rest [][]byte) *issuerChain {
	var key strings.Builder
	for _, der := range rest {
		key.Write(der) // DER is self-delimiting: the concatenation is unambiguous
	}
	c.mu.Lock()
	ic, ok := c.issuers[key.String()]
	c.mu.Unlock()
	if ok {
		return ic
	}
	ic = checkIssuers(rest)
	c.mu.Lock()
	if len(c.issuers) < maxIssuerChains {
		c.issuers[key.String()] = ic
	}
	c.mu.Unlock()
	return ic
}

// checkIssuers parses the issuer part of a chain (chain[1:]) and checks
// that each certificate in it is signed by the next.
func checkIssuers(rest [][]byte) *issuerChain {
	certs := make([]*x509.Certificate, len(rest))
	for i, der := range rest {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return &issuerChain{err: fmt.Errorf("certificate %d of the chain: %w", i+1, err)}
		}
		certs[i] = c
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return &issuerChain{err: fmt.Errorf("certificate %d of the chain is not signed by the next: %w", i+1, err)}
		}
	}
	return &issuerChain{issuer: certs[0]}
}
