package preparer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// WithTrustedKeys makes the preparer install only manifests signed by one
// of keys (see manifest.Sign). An unsigned, tampered or foreign-signed
// manifest is refused: nothing of it is installed, whatever version of the
// pod already runs keeps running, and the pod's status is failed with the
// reason. No keys (the default) means no verification. The preparer's own
// pod is never installed and needs no signature.
func WithTrustedKeys(keys ...ed25519.PublicKey) Option {
	return func(pr *Preparer) { pr.trusted = append(pr.trusted, keys...) }
}

// WithTrustedPGPKeys makes the preparer install only manifests PGP
// clear-signed, as P2 signed them, by one of keys (or, with WithTrustedKeys
// too, signed by one of those ed25519 keys). A manifest whose signed text
// differs from its fields is refused like one whose signature fails.
func WithTrustedPGPKeys(keys openpgp.EntityList) Option {
	return func(pr *Preparer) { pr.trustedPGP = append(pr.trustedPGP, keys...) }
}

// LoadTrustedKeys reads every *.pub file in dir as a PEM ed25519 public key
// (as `p2ctl keygen` or `openssl pkey -pubout` write them). An empty dir
// argument means no keys; a directory without any *.pub or *.asc file is
// an error, so a mistyped path does not turn verification off (*.asc files
// are PGP keys, see LoadTrustedPGPKeys).
func LoadTrustedKeys(dir string) ([]ed25519.PublicKey, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, fmt.Errorf("trusted keys %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	if len(files) == 0 {
		if asc, _ := filepath.Glob(filepath.Join(dir, "*.asc")); len(asc) > 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("trusted keys %s: no *.pub file or *.asc file", dir)
	}
	sort.Strings(files)
	keys := make([]ed25519.PublicKey, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted keys: %w", err)
		}
		k, err := manifest.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("trusted key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// LoadTrustedPGPKeys reads every *.asc file in dir as armored OpenPGP public
// keys (`gpg --export --armor`). An empty dir argument, or a directory
// without *.asc files, means no PGP keys.
func LoadTrustedPGPKeys(dir string) (openpgp.EntityList, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.asc"))
	if err != nil {
		return nil, fmt.Errorf("trusted PGP keys %s: %w", dir, err)
	}
	sort.Strings(files)
	var keys openpgp.EntityList
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trusted PGP keys: %w", err)
		}
		k, err := manifest.ReadPGPKeys(data)
		if err != nil {
			return nil, fmt.Errorf("trusted PGP key %s: %w", f, err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// checkSignature accepts m when one of the configured kinds of trusted keys
// verifies it.
func (p *Preparer) checkSignature(m *manifest.Manifest) error {
	var errs []error
	if len(p.trusted) > 0 {
		err := manifest.Verify(m, p.trusted)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(p.trustedPGP) > 0 && (m.PGPSigned != "" || len(p.trusted) == 0) {
		err := manifest.VerifyPGP(m, p.trustedPGP)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// verify refuses want when trusted keys are set and it is not signed by one
// of them. It reports the refusal in the pod's status and returns the error
// of writing that status, if any: retrying a refused manifest cannot help,
// and a new intent queues the pod again.
func (p *Preparer) verify(ctx context.Context, want *manifest.Manifest) (refused bool, err error) {
	if len(p.trusted) == 0 && len(p.trustedPGP) == 0 {
		return false, nil
	}
	verr := p.checkSignature(want)
	if verr == nil {
		return false, nil
	}
	p.log.Error("manifest refused: not signed by a trusted key", zap.String("pod", want.ID), zap.Error(verr))
	st := status.PodStatus{Status: status.Failed, Health: status.Unknown,
		Error: "refused: " + verr.Error()}
	st.ManifestDigest, _ = want.Digest()
	if procs, perr := p.launch.Processes(want.ID); perr == nil {
		st.Processes = procs
	}
	return true, p.setStatus(ctx, want.ID, st)
}
