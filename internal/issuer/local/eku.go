package local

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// EKURefusal is one CA certificate of the chain whose extended key usage
// extension leaves out EKUs a leaf asks for.
type EKURefusal struct {
	// Cert names the certificate: "intermediate", "root", or "CA
	// certificate" and its subject for one between them (ChainFile).
	Cert string
	// Allowed are the certificate's EKUs by name (EKUName), the OIDs of
	// those crypto/x509 does not know included.
	Allowed []string
	// Refused are the leaf's EKUs the certificate does not allow.
	Refused []x509.ExtKeyUsage
}

// EKUError reports that the CA's chain does not allow EKUs its leaves
// would carry: a verifier that checks the EKU along the chain (crypto/x509,
// `openssl verify -purpose`, Windows' CryptoAPI) refuses such a leaf for
// those purposes, although it is signed correctly. CA.CheckExtKeyUsages
// returns it.
type EKUError struct {
	// Requested are the leaf's EKUs.
	Requested []x509.ExtKeyUsage
	// Refusals are the certificates refusing some of Requested, from the
	// intermediate up.
	Refusals []EKURefusal
}

// Refused returns the requested EKUs some certificate of the chain
// refuses, in the order requested.
func (e *EKUError) Refused() []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	for _, u := range e.Requested {
		for _, r := range e.Refusals {
			if slices.Contains(r.Refused, u) && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// Error is e.g. "the built-in CA's intermediate allows only serverAuth,
// clientAuth (EKU); leaf certificates with emailProtection would not
// verify for that purpose".
func (e *EKUError) Error() string {
	var parts []string
	for _, r := range e.Refusals {
		parts = append(parts, fmt.Sprintf("the built-in CA's %s allows only %s (EKU)", r.Cert, strings.Join(r.Allowed, ", ")))
	}
	refused := e.Refused()
	purpose := "that purpose"
	if len(refused) > 1 {
		purpose = "those purposes"
	}
	return fmt.Sprintf("%s; leaf certificates with %s would not verify for %s", strings.Join(parts, "; "), ekuNames(refused), purpose)
}

// CheckExtKeyUsages reports, as an *EKUError, whether a leaf with the EKUs
// ekus, signed by the current intermediate, would fail to verify for any
// of them because a CA certificate of its chain (the intermediate, the
// certificates of ChainFile, the root) has an EKU extension that lacks it
// (Chain.CheckExtKeyUsages). It signs nothing.
func (ca *CA) CheckExtKeyUsages(ekus []x509.ExtKeyUsage) error {
	return Chain(append(append([]*x509.Certificate{ca.inter}, ca.upper...), ca.root)).CheckExtKeyUsages(ekus)
}

// Chain is a CA's certification path from its intermediate (first) up to
// its root (last), as CA.CheckExtKeyUsages sees it; Rotate's new
// intermediate and the root are one.
type Chain []*x509.Certificate

// CheckExtKeyUsages reports, as an *EKUError, whether a leaf with the EKUs
// ekus, signed by the chain's first certificate, would fail to verify for
// any of them because a certificate of the chain has an EKU extension that
// lacks it. A CA certificate without the extension, or with
// anyExtendedKeyUsage, allows every EKU: this is how crypto/x509's Verify
// with KeyUsages reads the chain (RFC 5280 §4.2.1.12).
func (path Chain) CheckExtKeyUsages(ekus []x509.ExtKeyUsage) error {
	e := &EKUError{Requested: slices.Clone(ekus)}
	for i, c := range path {
		if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
			continue // no extension: any purpose
		}
		if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			continue
		}
		var refused []x509.ExtKeyUsage
		for _, u := range ekus {
			if !slices.Contains(c.ExtKeyUsage, u) && !slices.Contains(refused, u) {
				refused = append(refused, u)
			}
		}
		if len(refused) == 0 {
			continue
		}
		name := "intermediate"
		switch {
		case i == len(path)-1 && i > 0:
			name = "root"
		case i > 0:
			name = fmt.Sprintf("CA certificate %q", c.Subject.String())
		}
		allowed := make([]string, 0, len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage))
		for _, u := range c.ExtKeyUsage {
			allowed = append(allowed, EKUName(u))
		}
		for _, oid := range c.UnknownExtKeyUsage {
			allowed = append(allowed, oid.String())
		}
		e.Refusals = append(e.Refusals, EKURefusal{Cert: name, Allowed: allowed, Refused: refused})
	}
	if len(e.Refusals) == 0 {
		return nil
	}
	return e
}

// ekuNameOf names crypto/x509's EKUs as RFC 5280 §4.2.1.12 and its
// successors name their OIDs (id-kp-serverAuth is "serverAuth").
var ekuNameOf = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                            "anyExtendedKeyUsage",
	x509.ExtKeyUsageServerAuth:                     "serverAuth",
	x509.ExtKeyUsageClientAuth:                     "clientAuth",
	x509.ExtKeyUsageCodeSigning:                    "codeSigning",
	x509.ExtKeyUsageEmailProtection:                "emailProtection",
	x509.ExtKeyUsageIPSECEndSystem:                 "ipsecEndSystem",
	x509.ExtKeyUsageIPSECTunnel:                    "ipsecTunnel",
	x509.ExtKeyUsageIPSECUser:                      "ipsecUser",
	x509.ExtKeyUsageTimeStamping:                   "timeStamping",
	x509.ExtKeyUsageOCSPSigning:                    "OCSPSigning",
	x509.ExtKeyUsageMicrosoftServerGatedCrypto:     "msSGC",
	x509.ExtKeyUsageNetscapeServerGatedCrypto:      "nsSGC",
	x509.ExtKeyUsageMicrosoftCommercialCodeSigning: "msCodeCom",
	x509.ExtKeyUsageMicrosoftKernelCodeSigning:     "msKernelCodeSigning",
}

// EKUName names an EKU as profiles and RFC 5280 do ("serverAuth",
// "emailProtection"); one crypto/x509 adds later is "EKU N".
func EKUName(u x509.ExtKeyUsage) string {
	if n, ok := ekuNameOf[u]; ok {
		return n
	}
	return fmt.Sprintf("EKU %d", int(u))
}

// ekuNames joins the names of us with ", ".
func ekuNames(us []x509.ExtKeyUsage) string {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = EKUName(u)
	}
	return strings.Join(names, ", ")
}
