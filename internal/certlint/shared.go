package certlint

import (
	"fmt"
	"reflect"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3/lint"
	"github.com/zmap/zlint/v3/util"
)

// auditedZlintVersion is the zlint release whose lints were read for
// auditedLints; TestAuditedZlintVersion fails when go.mod requires
// another, so that the list is read again before it is trusted.
const auditedZlintVersion = "v3.7.3"

// auditedLints names the lints whose implementations have fields and
// which were read in zlint auditedZlintVersion and found to only read
// those fields in CheckApplies and Execute: the fields are set by the
// constructor (a compiled regexp, maps, a big.Int bound, defaults) or by
// Configure, which a Linter calls once before the instance is shared.
// The value is the implementation's Go type as reflect prints it: when a
// later zlint changes the type, the lint is built per certificate again.
func auditedLints() map[string]string {
	return map[string]string{
		"e_ca_common_name_missing":                               "*cabf_br.caCommonNameMissing",                                   // TlsBrConfig, read in CheckApplies
		"e_ca_country_name_invalid":                              "*cabf_br.caCountryNameInvalid",                                  // TlsBrConfig, read in CheckApplies
		"e_ca_country_name_missing":                              "*cabf_br.caCountryNameMissing",                                  // TlsBrConfig, read in CheckApplies
		"e_ca_organization_name_missing":                         "*cabf_br.caOrganizationNameMissing",                             // TlsBrConfig, read in CheckApplies
		"e_ca_multiple_reserved_policy_oids":                     "*cabf_br.CAMultipleReservedPolicyOIDs",                          // CrossCert, read in CheckApplies
		"e_subj_orgunit_in_ca_cert":                              "*cabf_br.subjectOrgUnitInCACert",                                // CrossCert, read in Execute
		"e_dnsname_bad_character_in_label":                       "*cabf_br.DNSNameProperCharacters",                               // *regexp.Regexp (safe for concurrent use), MatchString only
		"w_rsa_public_exponent_not_in_range":                     "*cabf_br.rsaParsedTestsExpInRange",                              // *big.Int bound, Cmp only
		"e_mailbox_validated_enforce_subject_field_restrictions": "*cabf_smime_br.mailboxValidatedEnforceSubjectFieldRestrictions", // two maps, lookups only
		"e_ecdsa_small_private_key":                              "*community.ecdsaSmallPrivateKey",                                // Bits, read in Execute (its table cache is zlint's own, behind a mutex and sync.Once)
		"e_rsa_fermat_factorization":                             "*community.fermatFactorization",                                 // Rounds, read in Execute
		"e_subj_contains_html_entities":                          "*community.subjectContainsHTMLEntities",                         // Skip, read in Execute
	}
}

// shareLint returns one instance of cl's implementation, configured with
// cfg, that may serve every certificate and every goroutine; nil when cl
// must keep being built per certificate (by zlint's Execute). An
// instance is shared when its type has no fields (nothing can change
// between certificates), or when the lint is in auditedLints with the
// audited type. A constructor that panics or a configuration that fails
// leaves the lint to zlint, which reports it as Fatal on every
// certificate, as before.
func shareLint(cl *lint.CertificateLint, cfg lint.Configuration, audited map[string]string) (inst lint.CertificateLintInterface) {
	defer func() {
		if recover() != nil {
			inst = nil
		}
	}()
	inst = cl.Lint()
	t := reflect.TypeOf(inst)
	if t == nil {
		return nil
	}
	_, configurable := inst.(lint.Configurable)
	stateless := t.Kind() == reflect.Pointer && t.Elem().Size() == 0 && !configurable
	if !stateless && audited[cl.Name] != t.String() {
		return nil
	}
	if err := cfg.MaybeConfigure(inst, cl.Name); err != nil {
		return nil
	}
	return inst
}

// certFacts caches, for one certificate, the framework filter zlint's
// CertificateLint.Execute evaluates before every CA/B Forum lint. Each
// fact is computed on first use inside the lint's panic recovery, as in
// zlint, so a certificate that makes one panic gets the same Fatal
// results.
type certFacts struct {
	c                              *zx509.Certificate
	serverAuth, email, codeSigning int8 // 0: not yet known, 1: true, -1: false
}

func (f *certFacts) fact(v *int8, eval func() bool) bool {
	if *v == 0 {
		// Set only once eval returned: a panic leaves it unknown.
		if eval() {
			*v = 1
		} else {
			*v = -1
		}
	}
	return *v == 1
}

// applicable is zlint's framework filter (lint.CertificateLint.execute):
// CA/B Forum TLS BR lints only for server-auth certificates, S/MIME BR
// lints only for e-mail protection certificates, code-signing BR lints
// only for code-signing certificates.
func (f *certFacts) applicable(md *lint.LintMetadata) bool {
	if md.OverrideFrameworkFilter {
		return true
	}
	switch md.Source {
	case lint.CABFBaselineRequirements:
		return f.fact(&f.serverAuth, func() bool { return util.IsServerAuthCert(f.c) })
	case lint.CABFSMIMEBaselineRequirements:
		return f.fact(&f.email, func() bool { return util.IsEmailProtectionCert(f.c) })
	case lint.CABFCSBaselineRequirements:
		return f.fact(&f.codeSigning, func() bool { return util.IsCodeSigning(f.c.PolicyIdentifiers) })
	}
	return true
}

// runShared is zlint's CertificateLint.Execute for a shared instance:
// the framework filter, CheckApplies, CheckEffective and Execute in that
// order, a panic reported as Fatal with zlint's wording. It returns nil
// for NA and NE, which a Linter drops anyway.
func runShared(cl *lint.CertificateLint, inst lint.CertificateLintInterface, f *certFacts) (res *lint.LintResult) {
	defer func() {
		if err := recover(); err != nil {
			res = &lint.LintResult{Status: lint.Fatal, Details: fmt.Sprintf("'%s' panicked. Error: %v", cl.Name, err)}
		}
	}()
	if !f.applicable(&cl.LintMetadata) || !inst.CheckApplies(f.c) || !cl.CheckEffective(f.c) {
		return nil
	}
	return inst.Execute(f.c)
}
