package discovery_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/discovery"
)

// TestExpand: target specifications expand to the endpoints documented in
// docs/discovery.md, and bad ones are refused with ErrInvalidTarget and a
// message naming the problem.
func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		ports []int
		sni   []string
		want  string // endpoints as host:port/sni, space-separated
	}{
		{[]string{"example.test"}, nil, nil, "example.test:443/example.test"},
		{[]string{"Example.TEST.:8443"}, nil, nil, "example.test:8443/example.test"},
		{[]string{"127.0.0.1"}, []int{443, 8443}, nil, "127.0.0.1:443/ 127.0.0.1:8443/"},
		{[]string{"127.0.0.1:443@a.test,B.test"}, nil, nil, "127.0.0.1:443/a.test 127.0.0.1:443/b.test"},
		{[]string{"127.0.0.1:443"}, nil, []string{"x.test"}, "127.0.0.1:443/x.test"},
		{[]string{"127.0.0.0/30:443,8000-8001"}, nil, nil, "127.0.0.1:443/ 127.0.0.1:8000/ 127.0.0.1:8001/ 127.0.0.2:443/ 127.0.0.2:8000/ 127.0.0.2:8001/"},
		{[]string{"127.0.0.8/31:1"}, nil, nil, "127.0.0.8:1/ 127.0.0.9:1/"},
		{[]string{"[::1]:443", "::1"}, nil, nil, "[::1]:443/"},
		{[]string{"[::/127]:5"}, nil, nil, "[::]:5/ [::1]:5/"},
	} {
		var ts []discovery.Target
		for _, s := range tc.specs {
			tg, err := discovery.ParseTarget(s)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			ts = append(ts, tg)
		}
		eps, err := discovery.Expand(ts, tc.ports, tc.sni, 100)
		if err != nil {
			t.Fatalf("%v: %v", tc.specs, err)
		}
		var got []string
		for _, e := range eps {
			got = append(got, e.Addr()+"/"+e.SNI)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%v: got %s, want %s", tc.specs, g, tc.want)
		}
	}
	for spec, want := range map[string]string{
		"":                "empty",
		"bad host":        "not a host name",
		"10.0.0.1:0":      "not a number from 1 to 65535",
		"10.0.0.1:70000":  "not a number from 1 to 65535",
		"10.0.0.1:9-8":    "runs backwards",
		"10.0.0.1:":       "no port",
		"10.0.0.0/33":     "not a CIDR range",
		"999.1.1.1":       "not a host name",
		"[::1":            "missing ]",
		"h.test@bad name": "is not a DNS name",
	} {
		_, err := discovery.ParseTarget(spec)
		if !errors.Is(err, discovery.ErrInvalidTarget) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrInvalidTarget saying %q", spec, err, want)
		}
	}
	// The limit is checked before the addresses are enumerated.
	big, _ := discovery.ParseTarget("10.0.0.0/8:443,8443")
	_, err := discovery.Expand([]discovery.Target{big}, nil, nil, discovery.DefaultMaxEndpoints)
	want := fmt.Sprintf("expand to %d endpoints", 2*(1<<24-2))
	if !errors.Is(err, discovery.ErrInvalidTarget) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "limit of 4096") {
		t.Fatalf("a /8 on two ports: %v", err)
	}
	// The message names no setting: only a caller with one (scan run
	// --max-endpoints) can say how to raise the limit; serve's scheduled
	// scan cannot.
	var tooMany *discovery.TooManyEndpointsError
	if !errors.As(err, &tooMany) || tooMany.Max != discovery.DefaultMaxEndpoints || strings.Contains(err.Error(), "raise") ||
		!strings.HasSuffix(err.Error(), "per scan: scan fewer or smaller ranges") {
		t.Fatalf("a /8 on two ports: %v, want a TooManyEndpointsError that says to scan less", err)
	}
}
