package hoist

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/zap"

	"github.com/p2kit/p2kit/manifest"
)

// maxListing bounds the size of a digest listing (digest_location) the Installer reads.
const maxListing = 64 << 20

// WithAllowUnverifiedArtifacts lets the Installer install a hoist launchable that has neither
// a digest nor a digest_location, which it otherwise refuses with ErrUnverified. Each such
// install is logged at warning level. Meant for development fleets only.
func WithAllowUnverifiedArtifacts() Option {
	return func(in *Installer) { in.allowUnverified = true }
}

// WithTrustedPGPKeys makes the Installer check, for every launchable verified by a
// digest_location, the detached PGP signature of the listing at its digest_signature_location
// (armored or binary) against keys, as P2 did with a keyring configured. A launchable with a
// digest_location and no digest_signature_location is then refused, and so is one whose
// signature does not verify; both errors wrap ErrSignature.
func WithTrustedPGPKeys(keys openpgp.EntityList) Option {
	return func(in *Installer) { in.pgpKeys = append(in.pgpKeys, keys...) }
}

// checkInstallable refuses, before anything is fetched, a launchable the Installer cannot
// install or cannot verify.
func (in *Installer) checkInstallable(log *zap.Logger, name string, l manifest.Launchable) error {
	if l.LaunchableType != manifest.LaunchableTypeHoist {
		return mark(ErrUnsupported, fmt.Errorf("launchable %s: type %q cannot be installed; only %q launchables can",
			name, l.LaunchableType, manifest.LaunchableTypeHoist))
	}
	if !l.LocationIsURL() {
		what := fmt.Sprintf("location %q has no scheme", l.Location)
		if l.Version != nil {
			what = fmt.Sprintf("version %q", l.Version.ID)
		}
		return mark(ErrUnsupported, fmt.Errorf("launchable %s: %s and was not resolved through an artifact registry", name, what))
	}
	if l.Digest == "" && l.DigestLocation == "" {
		if !in.allowUnverified {
			return fmt.Errorf("launchable %s: %w: neither digest nor digest_location is set for %s",
				name, ErrUnverified, redact(l.Location))
		}
		log.Warn("installing an unverified artifact (allowed by --allow-unverified-artifacts)",
			zap.String("launchable", name), zap.String("location", redact(l.Location)))
	}
	return nil
}

// fetchListing reads and parses the sha256sum listing at the launchable's digest_location.
func (in *Installer) fetchListing(ctx context.Context, l manifest.Launchable) (map[string]string, error) {
	loc := redact(l.DigestLocation)
	r, err := in.open(ctx, l.DigestLocation, loc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(&ctxReader{ctx: ctx, r: io.LimitReader(r, maxListing+1)})
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("fetch %s: %w", loc, ctx.Err())
	case err != nil:
		return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
	case len(data) > maxListing:
		return nil, mark(ErrFetch, fmt.Errorf("fetch %s: digest listing is larger than %d bytes", loc, maxListing))
	}
	if err := in.checkListingSignature(ctx, l, data); err != nil {
		return nil, err
	}
	listing, err := ParseDigestListing(data)
	if err != nil {
		return nil, fmt.Errorf("digest_location %s: %w", loc, err)
	}
	return listing, nil
}

// checkListingSignature verifies the detached signature of a digest listing when the Installer
// has trusted PGP keys.
func (in *Installer) checkListingSignature(ctx context.Context, l manifest.Launchable, listing []byte) error {
	if len(in.pgpKeys) == 0 {
		return nil
	}
	if l.DigestSignatureLocation == "" {
		return fmt.Errorf("%w: digest_location %s has no digest_signature_location, and trusted PGP keys are configured",
			ErrSignature, redact(l.DigestLocation))
	}
	if err := in.checkDetached(ctx, l.DigestSignatureLocation, listing); err != nil {
		return fmt.Errorf("digest listing %s: %w", redact(l.DigestLocation), err)
	}
	return nil
}

// checkDetached verifies the detached PGP signature (armored or binary) at sigLocation of
// signed against the trusted PGP keys; the error wraps ErrSignature or ErrFetch.
func (in *Installer) checkDetached(ctx context.Context, sigLocation string, signed []byte) error {
	loc := redact(sigLocation)
	r, err := in.open(ctx, sigLocation, loc)
	if err != nil {
		return err
	}
	defer r.Close()
	sig, err := io.ReadAll(&ctxReader{ctx: ctx, r: io.LimitReader(r, 1<<20)})
	if err != nil {
		return mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
	}
	if bytes.Contains(sig, []byte("-----BEGIN PGP SIGNATURE-----")) {
		_, err = openpgp.CheckArmoredDetachedSignature(in.pgpKeys, bytes.NewReader(signed), bytes.NewReader(sig), nil)
	} else {
		_, err = openpgp.CheckDetachedSignature(in.pgpKeys, bytes.NewReader(signed), bytes.NewReader(sig), nil)
	}
	if err != nil {
		return fmt.Errorf("%w: %s does not verify: %w", ErrSignature, loc, err)
	}
	return nil
}

// ParseDigestListing parses a sha256sum listing, P2's digest_location format: one line per
// file, 64 lowercase hex digits, a space, a mode character (' ' or '*'), and the file's path
// relative to the unpacked artifact. Blank lines are skipped. It returns the hashes by clean
// path; a malformed line or a path listed twice is an error.
func ParseDigestListing(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if len(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') || !isHex(line[:64]) {
			return nil, fmt.Errorf("line %d: want \"<sha256 hex>  <path>\", got %q", n, line)
		}
		name := filepath.Clean(filepath.FromSlash(line[66:]))
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", n, name)
		}
		out[name] = line[:64]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func isHex(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

// VerifyTree checks the unpacked tree at root against a listing from ParseDigestListing, as P2
// did: every regular file (and every link to one, read through the link) must be listed with
// its sha256, and every listed file must be present. Directories and links to directories are
// not listed. The error wraps ErrDigestMismatch and names the first file at fault, in path
// order.
func VerifyTree(ctx context.Context, root string, listing map[string]string) error {
	seen := make(map[string]bool, len(listing))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrDigestMismatch, rel(root, p), err)
			}
			if fi.IsDir() {
				return nil
			}
		}
		name := rel(root, p)
		want, ok := listing[name]
		if !ok {
			return fmt.Errorf("%w: file %s is not in the digest listing", ErrDigestMismatch, name)
		}
		seen[name] = true
		got, err := fileSum(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if got != want {
			return fmt.Errorf("%w: file %s has sha256 %s, the listing says %s", ErrDigestMismatch, name, got, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(seen) != len(listing) {
		var missing []string
		for name := range listing {
			if !seen[name] {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		return fmt.Errorf("%w: file %s is in the digest listing but not in the artifact (%d missing)",
			ErrDigestMismatch, missing[0], len(missing))
	}
	return nil
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

func fileSum(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
