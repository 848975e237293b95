package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/wfe"
	"github.com/spf13/cobra"
)

// intermediateView is an intermediate as the audit log records it.
type intermediateView = audit.Intermediate

func viewIntermediate(c *x509.Certificate, status string) intermediateView {
	return audit.IntermediateOf(c, local.IntermediateID(c), status)
}

// newCARotate is `certgate ca rotate`: a new intermediate signs from now on.
func newCARotate() *cobra.Command {
	var o storeOpts
	var keyType, pkiURL string
	var noDB bool
	var checkPKCS11 func() (*config.PKCS11, error)
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new intermediate, signed by the root key, the one that signs from now on",
		Long: `Make a new intermediate CA certificate, signed by the root key (DATA/ca/root.key must be
there), and make it the one that signs certificates from the next start on. Its key is of
the current intermediate's type unless --key-type says otherwise; its profile, AIA and CRL
distribution point are the current one's, or name the root certificate and root CRL under
--pki-url (needed when the current intermediate names neither: one made before certgate
published a root CRL). Its EKUs are serverAuth and clientAuth, as of every intermediate
certgate makes: a stored profile of the built-in CA with other EKUs (emailProtection,
codeSigning; allowed by an imported intermediate) is named in a warning on stderr.

The current intermediate is retired to DATA/ca/retired/ID: it signs no certificate any
more, but keeps signing the CRL and the OCSP responses about the certificates it signed,
at the URLs they name, until they expire. Certificates of the new intermediate name
/pki/ca/ID/intermediate.crt and /pki/ca/ID/crl. Run it with the server on this data
directory stopped (before the first successful start, when there is no database yet, e.g.
for an imported intermediate that expired meanwhile, give --no-db); then copy DATA/ca to every
other node sharing the database (docs/pki.md#rotating-the-intermediate). Refused, changing
nothing, when the database (--db) records another CA than DATA/ca's: another root, or
another intermediate as the one the nodes sign with (DATA/ca is stale: rotate on the node
that rotated last, or copy its CA here). Recorded in the audit log (intermediate.rotate).

With --pkcs11-module (and --pkcs11-token-label or --pkcs11-slot, --pkcs11-key-label
and/or --pkcs11-key-id, and the PIN in CERTGATE_PKCS11_PIN, the config file or
--pkcs11-pin-file) the new intermediate's key is made in that PKCS#11 token (an HSM),
never on disk, and DATA/ca keeps no intermediate.key: start certgate serve with the
same pkcs11-* settings (docs/pki.md#keys-in-an-hsm-pkcs11). Needs a cgo build.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyType != "" && !slices.Contains(local.KeyTypes, keyType) {
				return fmt.Errorf("--key-type %q is not one of %s", keyType, strings.Join(local.KeyTypes, ", "))
			}
			unlock, err := lockData(o.data, "rotating the intermediate")
			if err != nil {
				return err
			}
			defer unlock()
			ropts := local.RotateOptions{KeyType: keyType}
			if pkiURL != "" {
				base, err := parsePKIURL(pkiURL)
				if err != nil {
					return err
				}
				ropts.RootIssuerURL, ropts.RootCRLURL = base+wfe.RootCertPath, base+wfe.RootCRLPath
			} else if inter, err := local.ReadIntermediate(server.CADir(o.data)); err == nil && len(inter.CRLDistributionPoints) == 0 {
				return fmt.Errorf("the current intermediate names no CRL distribution point (it was made before certgate published a root CRL): give --pki-url http://HOST:PORT, where certgate serve publishes /pki (http:// with its --hostname and listen port), so that the new one names the root CRL and certificate")
			}
			p11, err := checkPKCS11()
			if err != nil {
				return err
			}
			// --no-db: no database yet (the first certgate serve never
			// got far, e.g. refusing an expired intermediate): the
			// rotation is only DATA/ca's, and that first start records
			// the new intermediate. Only when asked for: a database not
			// found (a mistyped --db, a cluster node's --db left out)
			// must not let a stale DATA/ca rotate unchecked.
			var st *store.Store
			if noDB {
				if err := checkNoDatabase(cmd.Context(), &o); err != nil {
					return err
				}
			} else if st, err = openStore(cmd.Context(), cmd, &o); err != nil {
				return fmt.Errorf("%w (before the first successful start, when there is no database yet, give --no-db to rotate %s alone)", err, server.CADir(o.data))
			}
			if st != nil {
				defer st.Close()
				if err := checkCADatabase(cmd.Context(), st, o.data, "rotate", "nothing rotated"); err != nil {
					return err
				}
			}
			var tokenKey hsm.Signer
			var keyName string
			if p11.Module != "" {
				var tok *hsm.Token
				if tok, tokenKey, keyName, err = newTokenKey(p11, keyType, server.CADir(o.data)); err != nil {
					return err
				}
				defer tok.Close()
				ropts.Key = tokenKey
			}
			old, cur, err := local.Rotate(server.CADir(o.data), ropts)
			if err != nil {
				if tokenKey != nil {
					// Nothing signs with it: not left in the token.
					if derr := tokenKey.Delete(); derr != nil {
						return fmt.Errorf("%w (and deleting the new key %s failed: %v)", err, keyName, derr)
					}
				}
				return err
			}
			id := local.IntermediateID(cur)
			if st == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "the intermediate %s (%s) signs from the first start on; %s (%s) is retired to %s (there is no database yet: certgate serve records the new intermediate when it creates it)\n",
					id, cur.Subject.CommonName, local.IntermediateID(old), old.Subject.CommonName, server.CADir(o.data)+"/"+local.RetiredDir+"/"+local.IntermediateID(old))
				return nil
			}
			// The database names the new intermediate: a node started with
			// the old one (its DATA/ca not copied yet) is refused.
			moved, err := st.ReplaceSetting(cmd.Context(), server.IntermediateSetting, local.IntermediateID(old), id)
			if err != nil {
				return fmt.Errorf("rotated the intermediate to %s in %s, but recording it in the database failed (do not rotate again: "+
					"the next certgate serve records it and its audit event): %w", id, server.CADir(o.data), err)
			}
			if !moved {
				if err := lostRotation(cmd.Context(), st, o.data, id); err != nil {
					return err
				}
			}
			if err := audit.New(st, nil).Record(cmd.Context(), audit.Event{Actor: cliActor(), Action: audit.ActionIntermediateRotate,
				ObjectType: audit.ObjectIntermediate, ObjectID: id,
				Before: viewIntermediate(old, "retired"), After: viewIntermediate(cur, "signing")}); err != nil {
				return fmt.Errorf("rotated the intermediate, but recording it in the audit log failed: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "the intermediate %s (%s) signs from the next start on; %s (%s) is retired to %s and still signs the CRL and OCSP responses of its certificates\n",
				id, cur.Subject.CommonName, local.IntermediateID(old), old.Subject.CommonName, server.CADir(o.data)+"/"+local.RetiredDir+"/"+local.IntermediateID(old))
			if tokenKey != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "its key is %s (%s), not on disk: start certgate serve with the same pkcs11-* settings\n",
					keyName, local.KeyTypeOf(tokenKey.Public()))
			}
			warnProfileEKUs(cmd.Context(), st, server.CADir(o.data), cur, cmd.ErrOrStderr())
			return nil
		},
	}
	storeFlags(cmd, &o)
	checkPKCS11 = config.PKCS11Flags(cmd.Flags())
	cmd.Flags().StringVar(&keyType, "key-type", "", "key of the new intermediate: "+strings.Join(local.KeyTypes, ", ")+" (default: the current intermediate's type)")
	cmd.Flags().BoolVar(&noDB, "no-db", false, "rotate DATA/ca alone, before the first successful start, when there is no database yet (the first start records the new intermediate); refused when the database exists")
	cmd.Flags().StringVar(&pkiURL, "pki-url", "", "http://HOST:PORT where certgate serve publishes /pki: the new intermediate names the root certificate and root CRL there (default: the URLs the current intermediate names)")
	return cmd
}

// warnProfileEKUs writes a warning to w for each stored profile of the
// built-in CA whose EKUs the chain of cur, the new intermediate in caDir,
// does not allow (server.CheckProfileEKUs): an intermediate certgate
// makes allows serverAuth and clientAuth only, so a rotation of an
// imported CA whose intermediate allowed more (or any) leaves such a
// profile with certificates that do not verify for those EKUs. The
// rotation is done by then; what cannot be read is only a warning too.
func warnProfileEKUs(ctx context.Context, st *store.Store, caDir string, cur *x509.Certificate, w io.Writer) {
	rootPEM, err := local.ReadRootPEM(caDir)
	if err != nil {
		fmt.Fprintf(w, "certgate: warning: the stored profiles' EKUs were not checked against the new intermediate: %v\n", err)
		return
	}
	roots, err := issuer.ParsePEMCertificates(rootPEM)
	if err != nil || len(roots) == 0 {
		fmt.Fprintf(w, "certgate: warning: the stored profiles' EKUs were not checked against the new intermediate: root certificate: %v\n", err)
		return
	}
	profiles, err := loadProfiles(ctx, st)
	if err != nil {
		fmt.Fprintf(w, "certgate: warning: the stored profiles' EKUs were not checked against the new intermediate: %v\n", err)
		return
	}
	for _, p := range profiles {
		if p.Issuer != "" && p.Issuer != issuer.LocalName {
			continue
		}
		if err := server.CheckProfileEKUs(local.Chain{cur, roots[0]}, p); err != nil {
			fmt.Fprintf(w, "certgate: warning: from the next start on, %v\n", err)
		}
	}
}

// newTokenKey makes the new intermediate's key in the PKCS#11 token p
// names, of keyType or, when that is "", of the type of the current
// intermediate in caDir (`ca rotate`; `init` gives its --ca-key-type). It returns the open token (the caller closes
// it), the key and its name for messages.
func newTokenKey(p *config.PKCS11, keyType, caDir string) (*hsm.Token, hsm.Signer, string, error) {
	if keyType == "" {
		cur, err := local.ReadIntermediate(caDir)
		if err != nil {
			return nil, nil, "", err
		}
		keyType = local.KeyTypeOf(cur.PublicKey)
	}
	cfg := hsm.Config{Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot, PIN: p.PIN, PINSetting: p.PINSetting(),
		KeyLabel: p.KeyLabel, KeyID: p.KeyID}
	tok, err := hsm.Open(cfg)
	if err != nil {
		return nil, nil, "", err
	}
	key, err := tok.GenerateKey(keyType)
	if err != nil {
		tok.Close()
		return nil, nil, "", err
	}
	return tok, key, cfg.KeyName(), nil
}

// parsePKIURL checks `ca rotate --pki-url`: an http URL with a host and no
// path (beyond "/"), query, fragment or user; it returns it without a
// trailing "/". AIA and CRL distribution points are http URLs (RFC 5280
// §4.2.1.13, §4.2.2.1: a client fetching a CRL over https could need
// that CRL to check the server's certificate).
func parsePKIURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("--pki-url %q: want http://HOST or http://HOST:PORT, where certgate serve publishes /pki", s)
	}
	return "http://" + u.Host, nil
}

// newCARevokeIntermediate is `certgate ca revoke-intermediate ID`.
func newCARevokeIntermediate() *cobra.Command {
	var o storeOpts
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke-intermediate ID",
		Short: "Revoke a retired intermediate: the root's CRL lists it",
		Long: `Revoke a retired intermediate (one that 'certgate ca rotate' replaced; pruned or not: its
certificate stays valid until its notAfter), named by its ID
(the directory name in DATA/ca/retired) or its serial number in hex: the root's CRL
(/pki/root.crl), signed anew with the root key (DATA/ca/root.key must be there), lists it
from now on, so relying parties that check it no longer accept the certificates it signed.
The intermediate that signs now cannot be revoked: rotate first. Run it with the server on
this data directory stopped. The new root CRL is published in the database (--db), from which
the other nodes of a cluster serve it; copy DATA/ca to them all the same, as after a rotation.
Refused, changing nothing, when the database records another CA than DATA/ca's (as ca rotate).
Recorded in the audit log (intermediate.revoke).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := intermediateReason(reason)
			if err != nil {
				return err
			}
			unlock, err := lockData(o.data, "revoking an intermediate")
			if err != nil {
				return err
			}
			defer unlock()
			st, err := openStore(cmd.Context(), cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			caDir := server.CADir(o.data)
			if err := checkCADatabase(cmd.Context(), st, o.data, "revoke-intermediate", "nothing revoked"); err != nil {
				return err
			}
			// The root CRL the database publishes first (that of the
			// cluster, which another node may have signed since this
			// one's): the CRL signed now keeps every revocation it lists.
			if ok, err := local.Exists(caDir); err == nil && ok {
				if err := server.SyncRootCRL(cmd.Context(), st, caDir, time.Now); err != nil {
					return fmt.Errorf("nothing revoked: the root's CRL of the database: %w", err)
				}
			}
			c, err := local.RevokeIntermediate(caDir, args[0], code, time.Now())
			if err != nil {
				return err
			}
			id := local.IntermediateID(c)
			status := "retired"
			if _, err := os.Stat(filepath.Join(caDir, local.RetiredDir, id, local.PrunedFile)); err == nil {
				status = "pruned"
			}
			// The new root CRL in the database, so that every node of a
			// cluster serves it (as serve publishes the CRLs it signs).
			var pubErr error
			if err := server.SyncRootCRL(cmd.Context(), st, caDir, time.Now); err != nil {
				pubErr = fmt.Errorf("revoked the intermediate %s, but publishing the root's CRL in the database failed (certgate serve on %s publishes it at its start): %w", id, o.data, err)
			}
			after := viewIntermediate(c, "revoked")
			after.Reason = acme.RevocationReasonName(code)
			if err := audit.New(st, nil).Record(cmd.Context(), audit.Event{Actor: cliActor(), Action: audit.ActionIntermediateRevoke,
				ObjectType: audit.ObjectIntermediate, ObjectID: id, Before: viewIntermediate(c, status), After: after}); err != nil {
				if pubErr != nil {
					return fmt.Errorf("revoked the intermediate, but recording it in the audit log failed: %w; %w", err, pubErr)
				}
				return fmt.Errorf("revoked the intermediate, but recording it in the audit log failed: %w", err)
			}
			if pubErr != nil {
				return pubErr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked the intermediate %s (%s, serial %s) for %s: the root's CRL lists it\n",
				id, c.Subject.CommonName, c.SerialNumber.Text(16), acme.RevocationReasonName(code))
			return nil
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().StringVar(&reason, "reason", "superseded", "RFC 5280 revocation reason: keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, or its code (not unspecified: a CA certificate's CRL entry gives a reason, CA/B Forum BR §7.2.2)")
	return cmd
}

// intermediateReason parses an RFC 5280 §5.3.1 reason for a CA
// certificate: a name (case-insensitive) or a code that
// local.IntermediateReasonAllowed allows.
func intermediateReason(s string) (int, error) {
	code, err := strconv.Atoi(s)
	if err != nil {
		code = -1
		for c := 0; c <= 10; c++ {
			if c != 7 && c != 6 && strings.EqualFold(acme.RevocationReasonName(c), s) {
				code = c
			}
		}
	}
	if code == 0 {
		return 0, fmt.Errorf("--reason %q: a CA certificate's CRL entry must give a reason (CA/B Forum BR §7.2.2); use cACompromise, keyCompromise, superseded, cessationOfOperation, affiliationChanged or privilegeWithdrawn", s)
	}
	if !local.IntermediateReasonAllowed(code) {
		return 0, fmt.Errorf("--reason %q is not a revocation reason for a CA certificate; use cACompromise, keyCompromise, superseded, cessationOfOperation, affiliationChanged or privilegeWithdrawn (RFC 5280 §5.3.1)", s)
	}
	return code, nil
}

// newCAPruneRetired is `certgate ca prune-retired [ID...]`.
func newCAPruneRetired() *cobra.Command {
	var o storeOpts
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune-retired [ID...]",
		Short: "Remove the keys of retired intermediates whose certificates have all expired and whose last CRL is past",
		Long: `Remove the private key of each retired intermediate (DATA/ca/retired/ID, one that 'certgate ca
rotate' replaced), or of those named by ID or serial, once nothing needs it to sign any more:
every certificate it signed (issued here or imported into the inventory) has expired, and the
last CRL that lists one of them is past its nextUpdate — an expired certificate stays on its
CRL for one CRL validity (` + config.FormatDuration(ra.DefaultCRLValidity) + `) after its notAfter, and that CRL is current for one
more, so the key goes ` + config.FormatDuration(2*ra.DefaultCRLValidity) + ` after the last notAfter. Its certificate stays: the
certificates it signed are still this CA's, but its CRL and OCSP are no longer served.
One line per intermediate: pruned, or kept with how many certificates it signed are
unexpired and until when. A named intermediate that cannot be pruned is an error (the
error alone says why, on one line; no "kept" line). --dry-run
says what would be pruned and changes nothing (it also runs beside a server). Run it with
the server on this data directory stopped; then copy DATA/ca to the other nodes as after a
rotation. Recorded in the audit log (intermediate.prune).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !dryRun {
				unlock, err := lockData(o.data, "pruning retired intermediates")
				if err != nil {
					return err
				}
				defer unlock()
			}
			dir := server.CADir(o.data)
			retired, err := local.RetiredIntermediates(dir)
			if err != nil {
				return err
			}
			targets, err := pruneTargets(retired, args)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := checkPruneDatabase(cmd.Context(), st, dir); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(targets) == 0 {
				fmt.Fprintln(out, "no retired intermediate with a key to prune")
				return nil
			}
			now := time.Now()
			// A named intermediate that cannot be pruned is an error, said
			// once (on stderr), not also as a "kept" line.
			var refused []string
			for _, r := range targets {
				c := r.Cert
				id := local.IntermediateID(c)
				if why, err := pruneBlocker(cmd.Context(), st, c, now); err != nil {
					return err
				} else if why != "" {
					if len(args) > 0 {
						refused = append(refused, fmt.Sprintf("cannot prune the intermediate %s: %s", id, why))
					} else {
						fmt.Fprintf(out, "kept %s (%s): %s\n", id, c.Subject.CommonName, why)
					}
					continue
				}
				if dryRun {
					fmt.Fprintf(out, "would prune %s (%s): every certificate it signed has expired and its last CRL is past\n", id, c.Subject.CommonName)
					continue
				}
				if _, err := local.PruneRetired(dir, id, now); err != nil {
					return err
				}
				if err := audit.New(st, nil).Record(cmd.Context(), audit.Event{Actor: cliActor(), Action: audit.ActionIntermediatePrune,
					ObjectType: audit.ObjectIntermediate, ObjectID: id, Before: viewIntermediate(c, "retired"), After: viewIntermediate(c, "pruned")}); err != nil {
					return fmt.Errorf("pruned the intermediate %s, but recording it in the audit log failed: %w", id, err)
				}
				fmt.Fprintf(out, "pruned %s (%s): its key is removed, its certificate stays in %s\n", id, c.Subject.CommonName, filepath.Join(dir, local.RetiredDir, id))
			}
			if len(refused) > 0 {
				return errors.New(strings.Join(refused, "; "))
			}
			return nil
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be pruned, change nothing")
	return cmd
}

// checkCADatabase refuses, before `certgate ca NAME` (name) changes the
// CA in data's CA directory, a database that records another CA than that
// directory holds, as certgate serve refuses it: another root
// (server.CARootSetting: another CA's database, or a directory holding
// another CA) or another intermediate as the one the nodes sign with
// (server.IntermediateSetting: the directory is stale, another node having
// rotated since it was copied; or the database is behind, a rotation of
// the directory not recorded in it). The error is one line starting with
// nothing ("nothing rotated"), saying what to do. A database that records
// neither (no server has used it with a CA yet), or a directory without a
// CA (the command then says so itself), is accepted.
func checkCADatabase(ctx context.Context, st *store.Store, data, name, nothing string) error {
	dir := server.CADir(data)
	if ok, err := local.Exists(dir); err != nil || !ok {
		return err
	}
	root, err := st.GetSetting(ctx, server.CARootSetting)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", nothing, err)
	}
	if root != "" {
		rootPEM, err := local.ReadRootPEM(dir)
		if err != nil {
			return err
		}
		certs, err := issuer.ParsePEMCertificates(rootPEM)
		if err != nil || len(certs) == 0 {
			return fmt.Errorf("%s: %s: %w", nothing, filepath.Join(dir, local.RootCertFile), err)
		}
		if ours := local.Fingerprint(certs[0]); ours != root {
			return fmt.Errorf("%s: the database belongs to the CA with root SHA-256 %s, but %s holds another CA (root SHA-256 %s): "+
				"run certgate ca %s with the database of this CA's servers (--db, CERTGATE_DB or --config), or on a node whose CA is the database's", nothing, root, dir, ours, name)
		}
	}
	ours, got, err := signingIntermediates(ctx, st, dir)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", nothing, err)
	case got == ours:
		return nil
	}
	inters, err := local.ReadIntermediates(dir)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(inters[1:], func(c *x509.Certificate) bool { return local.IntermediateID(c) == got }) {
		return fmt.Errorf("%s: the database records the intermediate %s as the one the nodes sign with, which %s has retired (a rotation the database did not record: "+
			"its write failed or was interrupted): start certgate serve on %s once, which records it, then run certgate ca %s again", nothing, got, dir, data, name)
	}
	return fmt.Errorf("%s: the nodes of the database sign with the intermediate %s (certgate ca rotate), but %s signs with %s, so it is stale: "+
		"run certgate ca %s on the node whose CA signs with %s, or move %s aside and copy that node's CA directory here, its retired/ directory included "+
		"(certgate ca export --with-retired --data DIR | certgate ca import --data %s; docs/pki.md#rotating-the-intermediate)", nothing, got, dir, ours, name, got, dir, data)
}

// signingIntermediates returns the ID of the intermediate that signs in
// the CA directory dir (ours) and the one the database records as the
// nodes' (recorded, server.IntermediateSetting). Errors: reading dir's
// intermediate, or the setting's (store.ErrNotFound when the database
// records none: no server has used it with a CA yet).
func signingIntermediates(ctx context.Context, st *store.Store, dir string) (ours, recorded string, err error) {
	cur, err := local.ReadIntermediate(dir)
	if err != nil {
		return "", "", err
	}
	recorded, err = st.GetSetting(ctx, server.IntermediateSetting)
	return local.IntermediateID(cur), recorded, err
}

// lostRotation is called when `certgate ca rotate` rotated the CA in data's
// CA directory to the intermediate id but its compare-and-set of
// server.IntermediateSetting moved nothing. When the database records no
// intermediate (no server has used it with the CA yet), the next start
// records id: nil. Otherwise another node rotated, or started with
// another CA directory, between checkCADatabase and the compare-and-set:
// the error says that this rotation is not the cluster's and what to do.
func lostRotation(ctx context.Context, st *store.Store, data, id string) error {
	dir := server.CADir(data)
	got, err := st.GetSetting(ctx, server.IntermediateSetting)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("rotated the intermediate to %s in %s, but the database did not take it (setting %s) and reading it failed (do not rotate again; "+
			"the next certgate serve on %s says whether the database names it): %w", id, dir, server.IntermediateSetting, data, err)
	}
	return fmt.Errorf("rotated the intermediate to %s in %s, but the database changed meanwhile: it names %s as the one the nodes sign with (another node rotated or started at the same time), "+
		"so this rotation is not recorded, has no audit event, and certgate serve on %s refuses it: do not rotate again here; "+
		"move %s aside and copy the CA directory of the node that signs with %s here, its retired/ directory included "+
		"(certgate ca export --with-retired --data DIR | certgate ca import --data %s; docs/pki.md#rotating-the-intermediate)", id, dir, got, data, dir, got, data)
}

// checkPruneDatabase refuses to judge the retired intermediates of the CA
// in dir by a database that the CA's servers do not use: prune-retired
// counts the certificates an intermediate signed in the database, so a
// database that lacks some (the SQLite file a move to PostgreSQL left
// behind, another cluster's) would let it remove a key that still signs
// CRLs for valid certificates. The database must record (the
// server.IntermediateSetting that every server start checks) the
// intermediate that signs in dir; the error says which database to name.
func checkPruneDatabase(ctx context.Context, st *store.Store, dir string) error {
	ours, got, err := signingIntermediates(ctx, st, dir)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("this database has never been used by a server with the CA in %s (no signing intermediate recorded): "+
			"run prune-retired with the database the servers use (--db, CERTGATE_DB or --config)", dir)
	case err != nil:
		return err
	case got != ours:
		return fmt.Errorf("this database records the intermediate %s as the one that signs, but %s signs with %s: "+
			"run prune-retired with the database the servers use (--db, CERTGATE_DB or --config), after they started with this CA directory", got, dir, ours)
	}
	return nil
}

// pruneTargets are the retired intermediates prune-retired considers: those
// ids names (by ID or serial; an unknown one, or one pruned already, is an
// error), or every one with a key when ids is empty.
func pruneTargets(retired []local.RetiredIntermediate, ids []string) ([]local.RetiredIntermediate, error) {
	if len(ids) == 0 {
		return slices.DeleteFunc(slices.Clone(retired), func(r local.RetiredIntermediate) bool { return r.Pruned }), nil
	}
	var out []local.RetiredIntermediate
	for _, id := range ids {
		i := slices.IndexFunc(retired, func(r local.RetiredIntermediate) bool { return local.MatchIntermediate(r.Cert, id) })
		switch {
		case i < 0:
			return nil, fmt.Errorf("no retired intermediate %s (the intermediate that signs now is never pruned; 'ls DATA/ca/%s' lists the retired ones)", id, local.RetiredDir)
		case retired[i].Pruned:
			return nil, fmt.Errorf("the key of the intermediate %s was pruned already", local.IntermediateID(retired[i].Cert))
		}
		out = append(out, retired[i])
	}
	return out, nil
}

// pruneBlocker says why the retired intermediate inter cannot be pruned at
// now ("" when it can): certificates it signed (issued here, or imported
// under its subject) that have not expired, or the last CRL that lists an
// expired one (ra.DefaultCRLValidity after its notAfter) still current.
func pruneBlocker(ctx context.Context, st *store.Store, inter *x509.Certificate, now time.Time) (string, error) {
	v := ra.DefaultCRLValidity
	var unexpired int
	var latest time.Time
	err := st.EachCertificateEndingAfter(ctx, []string{(&local.Issuer{}).Name(), inter.Subject.String()}, now.Add(-2*v), func(der []byte, notAfter time.Time) error {
		if issuer.SignedSerial(der, inter) == nil {
			return nil // another intermediate's
		}
		if notAfter.After(now) {
			unexpired++
		}
		if notAfter.After(latest) {
			latest = notAfter
		}
		return nil
	})
	switch {
	case err != nil:
		return "", err
	case unexpired > 0:
		return fmt.Sprintf("%d certificate(s) it signed are unexpired, the last until %s", unexpired, latest.UTC().Format(time.RFC3339)), nil
	case !latest.IsZero():
		return fmt.Sprintf("the last certificate it signed expired %s and its CRL lists it until the CRL of %s, current until %s",
			latest.UTC().Format(time.RFC3339), latest.Add(v).UTC().Format(time.RFC3339), latest.Add(2*v).UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}

// checkNoDatabase is `ca rotate --no-db`'s check that the server's
// database does not exist yet: no SQLite file at server.DSN, or a
// PostgreSQL database without certgate's schema. Errors: one naming the
// database that exists (leave out --no-db), or openStore's.
func checkNoDatabase(ctx context.Context, o *storeOpts) error {
	dsn := server.DSN(o.data, o.db)
	if store.IsConninfo(dsn) {
		return store.ErrConninfo
	}
	if !store.IsPostgresDSN(dsn) {
		if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	st, err := store.OpenExisting(ctx, dsn)
	if errors.Is(err, store.ErrNoSchema) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--no-db: open database: %w", err)
	}
	st.Close()
	return fmt.Errorf("--no-db: %s holds the certgate database: rotate with it (leave out --no-db), so that the rotation is checked against it and recorded", store.DescribeDSN(dsn))
}
