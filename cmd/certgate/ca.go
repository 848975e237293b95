package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/spf13/cobra"
)

// newCA is `certgate ca`: the built-in CA's root, and moving the CA between
// nodes that share one database (docs/operations.md).
func newCA() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "Inspect the built-in CA, copy it to other nodes, rotate and revoke its intermediate"}
	ca.AddCommand(newCARoot(), newCAExport(), newCAImport(), newCARotate(), newCARevokeIntermediate(), newCAPruneRetired())
	return ca
}

// dataFlags adds --data and --config, which every ca subcommand reads the
// way `serve` does (flag, then CERTGATE_DATA, then the YAML file).
func dataFlags(cmd *cobra.Command, data *string) {
	cmd.Flags().StringVar(data, "data", "./certgate-data", "data directory of the server")
	cmd.Flags().String("config", "", "YAML configuration file")
}

func newCARoot() *cobra.Command {
	var data, out string
	cmd := &cobra.Command{
		Use:   "root",
		Short: "Print the root CA certificate (PEM) to stdout, or write it with --out",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Resolve(cmd.Flags()); err != nil {
				return err
			}
			pem, err := local.ReadRootPEM(server.CADir(data))
			if err != nil {
				return err
			}
			if out != "" {
				return replaceFile(out, pem, 0o644)
			}
			_, err = cmd.OutOrStdout().Write(pem)
			return err
		},
	}
	dataFlags(cmd, &data)
	cmd.Flags().StringVar(&out, "out", "", "write the root certificate to this file (created or replaced, mode 0644) instead of stdout; "+
		"nothing is written when there is no CA yet, where '> FILE' would leave an empty file")
	return cmd
}

// replaceFile writes b to path through a temporary file in the same
// directory renamed over path, so that path holds either its old content
// or all of b, never a part; the file gets mode perm.
func replaceFile(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		// Not the temporary file's name, which the user never gave: the
		// directory, which is what fails (missing, not writable).
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = fmt.Errorf("directory %s: %w", filepath.Dir(path), pe.Err)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, renameError(err))
	}
	return nil
}

func newCAExport() *cobra.Command {
	var data, out string
	var withRetired bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the CA (root and intermediate, certificates and private keys) as one PEM bundle",
		Long: `Write the built-in CA of the data directory as a PEM bundle of what it holds:
root certificate, root key, intermediate certificate, intermediate key (keys as
PKCS#8) — four blocks, or three (without the root key) when the CA was
imported without its root key (DATA/ca has no root.key); the CA certificates
of a three-tier PKI (DATA/ca/chain.crt) come between the root key and the
intermediate certificate, from the root down. Give it to 'certgate ca import'
on another node that shares the database:

    certgate ca export --data DIR | ssh node2 certgate ca import --data DIR

After 'certgate ca rotate', --with-retired adds the retired intermediates after
the intermediate key — the one created with the CA first, each certificate then
key (a pruned one, 'certgate ca prune-retired', as its certificate alone) — and
ends the bundle with the root's CRL (an X509 CRL block, which names the revoked
ones). 'certgate ca import' restores them, so that the new node signs the CRL
and OCSP responses of the certificates they signed, at the URLs those name.
Without it the bundle carries the intermediate that signs now only.

The bundle holds the CA's private keys: it goes to stdout, or with --out to a
new file created with mode 0600 (an existing file is never overwritten).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Resolve(cmd.Flags()); err != nil {
				return err
			}
			export := local.Export
			if withRetired {
				export = local.ExportWithRetired
			}
			bundle, root, withRootKey, err := export(server.CADir(data))
			if err != nil {
				return err
			}
			where := "stdout"
			if out != "" {
				where = out
				if err := writeNew(out, bundle); err != nil {
					return err
				}
			} else if _, err := cmd.OutOrStdout().Write(bundle); err != nil {
				return err
			}
			keys := "the root and intermediate private keys"
			if !withRootKey {
				keys = "the intermediate's private key but no root key"
			}
			if withRetired {
				keys += " and those of its retired intermediates"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "certgate: warning: the bundle written to %s holds %s of the CA with root SHA-256 %s; keep it secret and delete it after import\n",
				where, keys, local.Fingerprint(root))
			return nil
		},
	}
	dataFlags(cmd, &data)
	cmd.Flags().StringVar(&out, "out", "", "write the bundle to this new file (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&withRetired, "with-retired", false, "also the retired intermediates of a rotated CA (keys included) and the root's CRL")
	return cmd
}

func newCAImport() *cobra.Command {
	var data, in string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Install a CA bundle (from 'certgate ca export', or your own CA) into an empty data directory",
		Long: `Read a PEM bundle (stdin, or --in FILE) written by 'certgate ca export' or made
from your own PKI, in this order:

    root certificate, root key, intermediate certificate, intermediate key

or, keeping the root key offline, three blocks:

    root certificate, intermediate certificate, intermediate key

In a PKI of more than two tiers put the CA certificates between the root and
the intermediate (the issuing CA) before the intermediate certificate, from the
root down (root, policy CA, issuing CA); certgate sends them to ACME clients
after the intermediate. A bundle of 'certgate ca export --with-retired' carries
the retired intermediates of a rotated CA and the root's CRL after the
intermediate key: they are restored into DATA/ca/retired.

Certificates are CERTIFICATE blocks, keys unencrypted PKCS#8 PRIVATE KEY
blocks. The bundle is checked as the server checks its CA files (each key
matches its certificate, all are CA certificates, the root is self-signed and
each certificate signed the next within its path length constraint, the
intermediate key is RSA of at least 2048 bits or ECDSA P-256 or P-384, a CA
certificate with a keyUsage extension has keyCertSign, the intermediate's also
cRLSign, and all are valid now), and
written to DATA/ca with the modes the server gives a new CA (directory 0700,
keys 0600; no root.key without the root key: the server never needs it). It
refuses when DATA/ca already holds a CA, and while a server runs on the data
directory. It first removes, and names on stderr, what an interrupted import or
first start left (DATA/.ca.import-*, DATA/.ca.create-*: private keys).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Resolve(cmd.Flags()); err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			name := "stdin"
			if in != "" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				r, name = f, in
			}
			bundle, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
			if err != nil {
				return fmt.Errorf("read bundle from %s: %w", name, err)
			}
			if len(bundle) == 0 {
				return fmt.Errorf("no bundle on %s; give one from 'certgate ca export' (or --in FILE)", name)
			}
			_, statErr := os.Lstat(data)
			created := errors.Is(statErr, fs.ErrNotExist)
			unlock, err := lockData(data, "importing")
			if err != nil {
				return err
			}
			defer unlock()
			// What an import or a first start killed before its rename
			// left: temporary directories holding private keys.
			removed, err := local.RemoveLeftovers(server.CADir(data))
			for _, p := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s, the leftover of an interrupted CA import or creation\n", p)
			}
			if err != nil {
				return err
			}
			root, err := local.Import(server.CADir(data), bundle)
			if err != nil {
				if created {
					// Leave no data directory behind a refused import
					// (lockData created it and its lock file): remove
					// them while the lock is held; Remove fails, and
					// keeps the directory, if anything else is in it.
					_ = os.Remove(filepath.Join(data, server.LockFile))
					_ = os.Remove(data)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported the CA with root SHA-256 %s (%s) into %s\n",
				local.Fingerprint(root), root.Subject.CommonName, server.CADir(data))
			return nil
		},
	}
	dataFlags(cmd, &data)
	cmd.Flags().StringVar(&in, "in", "", "read the bundle from this file instead of stdin")
	return cmd
}

// writeNew creates path with mode 0600, failing if it exists, and writes
// data; on a failure it removes what it created.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; refusing to overwrite it (the bundle holds private keys: choose a new file)", path)
	}
	if err != nil {
		return err
	}
	if err := writeSyncClose(f, data); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// lockData takes the lock `certgate serve` holds on DATA/certgate.lock
// (server.LockDataDir), so that an import never races a server starting on
// the same directory. doing names the command's work in the refusal
// ("importing").
func lockData(data, doing string) (func(), error) {
	f, err := server.LockDataDir(data)
	if errors.Is(err, server.ErrDataDirInUse) {
		return nil, fmt.Errorf("data directory %s is in use by a running certgate process (lock %s held); stop it before %s",
			data, filepath.Join(data, server.LockFile), doing)
	}
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// lockDatabase takes the lock `certgate serve` holds beside its SQLite
// database dsn (server.LockDatabase), writing data (the command's data
// directory, "" for none) into it, so that a command that must be the
// database's only user is refused while a server on any data directory
// uses it (--db), as lockData refuses it while the server of its own data
// directory runs. doing names the command's work in the refusal. Nothing
// is locked for PostgreSQL, nor when the database's directory does not
// exist (no server can use a database there; the command says what is
// missing) or takes no new file from this user (a backup on a read-only
// volume: copied as before). remove, when set, removes the lock file while
// the lock is held, before releasing it (a command that leaves no database
// there).
func lockDatabase(dsn, data, doing string) (unlock func(remove bool), err error) {
	if dir := filepath.Dir(dsn); !fileExists(dir) {
		return func(bool) {}, nil
	}
	path, err := server.DatabaseLockFile(dsn)
	if err != nil || path == "" {
		return func(bool) {}, err
	}
	f, err := server.LockDatabase(dsn, data)
	if errors.Is(err, server.ErrDatabaseInUse) {
		return nil, fmt.Errorf("%w; stop it before %s", err, doing)
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return func(bool) {}, nil
	}
	if err != nil {
		return nil, err
	}
	return func(remove bool) {
		if remove {
			os.Remove(path)
		}
		f.Close()
	}, nil
}
