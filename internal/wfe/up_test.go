package wfe

import (
	"encoding/pem"
	"testing"
)

// TestUpPathFollowsTheChainsIssuer: a certificate download's Link
// rel="up" names the intermediate that issued the downloaded certificate
// (the chain's second certificate), wherever it is served: /pki/intermediate.crt
// for the one created with the CA, /pki/ca/ID/intermediate.crt for one made
// by rotation. It named the current intermediate for every certificate, so
// after `certgate ca rotate` a certificate of the earlier one pointed at an
// intermediate that did not sign it. A chain whose issuer is not served
// here (an upstream CA's) or without a second certificate gets no link.
func TestUpPathFollowsTheChainsIssuer(t *testing.T) {
	original, rotated, current, upstream := []byte("original intermediate"), []byte("rotated intermediate"), []byte("current intermediate"), []byte("upstream intermediate")
	w := &WFE{upByIssuer: upByIssuer(Config{IntermediateDER: original, Intermediates: map[string]Intermediate{
		"00000000000000aa": {DER: rotated}, "00000000000000bb": {DER: current}}})}
	chain := func(ders ...[]byte) string {
		var s []byte
		for _, d := range ders {
			s = append(s, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
		}
		return string(s)
	}
	leaf := []byte("leaf")
	for _, c := range []struct {
		name  string
		chain string
		want  string
	}{
		{"issued by the original intermediate", chain(leaf, original), IntermediatePath},
		{"issued by a rotated, retired intermediate", chain(leaf, rotated), "/pki/ca/00000000000000aa/intermediate.crt"},
		{"issued by the current intermediate", chain(leaf, current, []byte("root")), "/pki/ca/00000000000000bb/intermediate.crt"},
		{"issued by an upstream CA", chain(leaf, upstream), ""},
		{"a lone leaf", chain(leaf), ""},
		{"not PEM", "junk", ""},
	} {
		got, ok := w.upPath(c.chain)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: upPath = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}
