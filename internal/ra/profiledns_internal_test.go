package ra

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/va/mpic"
)

// TestValidatorForProfile: a profile's own DNS settings give a validator
// with its resolver (also inside a perspective-corroborating validator,
// for the primary's own check); a profile without them, and authorizations
// without a profile, use the RA's validator; a deleted profile is refused.
func TestValidatorForProfile(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now().UTC()
	for _, p := range []policy.Profile{
		{Name: "alt", Validity: policy.Duration(time.Hour), Validation: &policy.Validation{DNSResolvers: []string{"127.0.0.9:5353"}}},
		{Name: "plain", Validity: policy.Duration(time.Hour)},
	} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(p)
		if err := st.PutProfile(ctx, &store.Profile{Name: p.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := policy.NewRegistry(st, DefaultProfile(24*time.Hour, 0, false, false), time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := va.New(va.Config{DNSResolver: "127.0.0.1:53"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	resolverOf := func(v any) string { return fmt.Sprintf("%+v", v.(*va.VA).Resolver()) }

	r := New(Config{Profiles: reg}, st, base, nil, time.Now, log)
	for _, name := range []string{"", "plain", policy.DefaultName} {
		if v, err := r.validatorFor(ctx, name); err != nil || v != Validator(base) {
			t.Errorf("validatorFor(%q) = %v, %v; want the RA's validator", name, v, err)
		}
	}
	v, err := r.validatorFor(ctx, "alt")
	if err != nil {
		t.Fatal(err)
	}
	if got := resolverOf(v); !strings.Contains(got, "127.0.0.9:5353") || strings.Contains(got, "127.0.0.1:53") {
		t.Errorf("alt resolver %s, want 127.0.0.9:5353 only", got)
	}
	if got := resolverOf(base); !strings.Contains(got, "127.0.0.1:53") {
		t.Errorf("the RA's own resolver changed: %s", got)
	}
	_, err = r.validatorFor(ctx, "gone")
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Unauthorized || !strings.Contains(p.Detail, "gone") {
		t.Errorf("deleted profile: %v", err)
	}

	pv := &mpic.PrimaryValidator{Validator: base, Corroborator: &mpic.Corroborator{Primary: mpic.Local{Perspective: mpic.PrimaryName, VA: base}}}
	r = New(Config{Profiles: reg}, st, pv, nil, time.Now, log)
	v, err = r.validatorFor(ctx, "alt")
	if err != nil {
		t.Fatal(err)
	}
	spv, ok := v.(*mpic.PrimaryValidator)
	if !ok {
		t.Fatalf("alt validator %T, want *mpic.PrimaryValidator", v)
	}
	local := spv.Primary.(mpic.Local)
	if !strings.Contains(resolverOf(spv.Validator), "127.0.0.9:5353") || local.VA != spv.Validator || local.Perspective != mpic.PrimaryName {
		t.Errorf("alt primary validator %+v / %+v", spv.Validator, local)
	}
	if pv.Validator != Validator(base) || pv.Primary.(mpic.Local).VA != mpic.Validator(base) {
		t.Error("the RA's perspective validator was modified")
	}
}
