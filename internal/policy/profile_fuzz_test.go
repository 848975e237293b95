package policy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// FuzzProfile checks the profile JSON the admin API and the CLI accept
// (Parse), and its duration fields (Duration), on arbitrary input: neither
// panics; a duration UnmarshalText accepts matches DurationPattern (the
// API's schema check) and round-trips through MarshalText; a profile
// Parse accepts is written back (json.Marshal) as one that Parse accepts
// with the same durations.
func FuzzProfile(f *testing.F) {
	for _, s := range []string{"90d", "1d12h", "0", "+0", "-0", "0s", "0d", "+5d", "007d", "36h", "1.5h", ".5h",
		"5.h", "1h30m", "300ms", "2us", "2µs", "2μs", "10ns", "1d-5h", "-5h", "1d0", "", "x", "1.5d",
		"5h1d", "90 d", "1w", "106751d", "106752d", "-1d"} {
		f.Add([]byte(`{"name":"web","validity":"`+s+`"}`), s)
	}
	for _, p := range []string{
		`{"name":"web","validity":"90d","maxValidity":"199d","authzReuse":"7d","identifierTypes":["dns","ip"],"keyTypes":["ecdsa-p256"],"ekus":["serverAuth"],"wildcard":true}`,
		`{"name":"internal","validity":"30d","allow":["*.corp.test","10.0.0.0/8"],"deny":["secret.corp.test"],"approval":{"always":false,"identifiers":["*.pay.corp.test"],"escalateAfter":"2h"}}`,
		`{"name":"mtls","validity":"24h","ekus":["clientAuth"],"subjectFields":["O","C"],"attributes":[{"name":"team","required":true,"enum":["a","b"]},{"name":"cost","regex":"[0-9]+"}]}`,
		`{"name":"short","validity":"1d","renewalWindow":{"start":"50%","end":"75%"},"challenges":["dns-01"],"validation":{"resolvers":["127.0.0.1:53"]}}`,
		`{"name":"x","validity":"-24h"}`, `{"name":"x","validity":"0"}`, `{"name":"x","validity":"1d","authzReuse":"-1d"}`,
		`{"name":"directory","validity":"90d"}`, `[]`, `null`, `{`,
	} {
		f.Add([]byte(p), "90d")
	}
	re := regexp.MustCompile(DurationPattern)
	f.Fuzz(func(t *testing.T, data []byte, s string) {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err == nil {
			if !re.MatchString(s) {
				t.Fatalf("duration %q accepted, but DurationPattern refuses it", s)
			}
			out, err := d.MarshalText()
			var back Duration
			if err != nil || back.UnmarshalText(out) != nil || back != d {
				t.Fatalf("duration %q = %d written as %q, read back as %d", s, d, out, back)
			}
		}
		p, err := Parse(data)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error of several lines %q", msg)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("accepted profile %s does not marshal: %v", data, err)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("accepted profile %s written as %s, which is refused: %v", data, out, err)
		}
		if q.Validity != p.Validity || q.MaxValidity != p.MaxValidity || (q.AuthzReuse == nil) != (p.AuthzReuse == nil) ||
			q.AuthzReuse != nil && *q.AuthzReuse != *p.AuthzReuse {
			t.Fatalf("profile %s written as %s reads back with other durations", data, out)
		}
	})
}
