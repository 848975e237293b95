package adminapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRevokeSaysInventoryOnly: the answer to the revocation of an imported
// certificate of another CA says that it is recorded in the inventory only
// ("inventory_only": true), as certgate cert revoke's last line does; it
// answered as for a certificate certgate revoked. A certificate issued here
// answers "inventory_only": false. (That an imported certificate signed by
// this CA's intermediate is this CA's: TestImportedCertificateOfThisCARevoked
// in internal/ra.)
func TestRevokeSaysInventoryOnly(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	admin := f.tokens[auth.RoleAdmin]
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := f.importedWithKey(key)
	issued := f.certificate()
	for _, tc := range []struct {
		name, serial string
		want         bool
	}{{"another CA's", foreign.Serial, true}, {"issued here", issued.Serial, false}} {
		r := f.do("POST", Prefix+"/certificates/"+tc.serial+"/revoke", admin, map[string]string{"reason": "superseded"})
		var got map[string]any
		if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		if v, ok := got["inventory_only"].(bool); !ok || v != tc.want {
			t.Errorf("%s: inventory_only %v (present %v), want %v: %s", tc.name, got["inventory_only"], ok, tc.want, r.body)
		}
	}
}
