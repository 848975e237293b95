package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// adminToken creates an admin API token of role in the data directory of
// env's server with `certgate token create` and returns it.
func adminToken(t *testing.T, env *testenv.Env, role string) string {
	t.Helper()
	out, _, err := runCLI(t, nil, "token", "create", "--role", role, "--name", "t-"+role, "--data", env.Config.Data)
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(out)
}

// apiPEM GETs the certificate's PEM from the admin API (query: "" or
// "?chain=false").
func apiPEM(t *testing.T, env *testenv.Env, token, serial, query string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.BaseURL+"/api/v1/certificates/"+serial+"/pem"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := env.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET pem%s: %s %v\n%s", query, res.Status, err, b)
	}
	return string(b)
}

// TestCertExportChainByDefault: `certgate cert export` prints what the
// admin API's GET /certificates/{serial}/pem answers by default, the
// certificate followed by its intermediate (a server's certificate file,
// verifying to the root), and with --leaf or --chain=false what the API's
// ?chain=false answers, the certificate alone. The CLI printed the
// certificate alone unless given --chain.
func TestCertExportChainByDefault(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	serial := cert.SerialNumber.Text(16)
	data := env.Config.Data
	token := adminToken(t, env, "auditor")

	full, _, err := runCLI(t, nil, "cert", "export", serial, "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if api := apiPEM(t, env, token, serial, ""); full != api {
		t.Errorf("cert export:\n%s\nGET .../pem:\n%s", full, api)
	}
	var blocks []*x509.Certificate
	for rest := []byte(full); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, c)
	}
	if len(blocks) != 2 || !bytes.Equal(blocks[0].Raw, cert.Raw) {
		t.Fatalf("cert export printed %d certificates, want the leaf then its intermediate:\n%s", len(blocks), full)
	}
	inter := x509.NewCertPool()
	inter.AddCert(blocks[1])
	if _, err := blocks[0].Verify(x509.VerifyOptions{Roots: env.Roots, Intermediates: inter}); err != nil {
		t.Errorf("the exported chain does not verify to the root: %v", err)
	}

	leafPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	api := apiPEM(t, env, token, serial, "?chain=false")
	if api != leafPEM {
		t.Errorf("GET .../pem?chain=false:\n%s\nwant the leaf alone", api)
	}
	for _, args := range [][]string{{"--leaf"}, {"--chain=false"}} {
		out, _, err := runCLI(t, nil, append([]string{"cert", "export", serial, "--data", data}, args...)...)
		if err != nil || out != api {
			t.Errorf("cert export %v: %v\n%s\nwant what ?chain=false answers", args, err, out)
		}
	}
	if out, _, err := runCLI(t, nil, "cert", "export", serial, "--data", data, "--chain"); err != nil || out != full {
		t.Errorf("cert export --chain: %v\n%s", err, out)
	}
	_, _, err = runCLI(t, nil, "cert", "export", serial, "--data", data, "--leaf", "--chain")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not both") {
		t.Errorf("cert export --leaf --chain: %v, want one line refusing", err)
	}
}
