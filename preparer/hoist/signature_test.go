package hoist

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"

	"github.com/p2kit/p2kit/manifest"
)

func pgpKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	return e
}

// detachSign writes an armored detached signature of data by e and returns its file:// URL.
func detachSign(t *testing.T, e *openpgp.Entity, data string) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, openpgp.ArmoredDetachSign(&buf, e, strings.NewReader(data), nil))
	p := filepath.Join(t.TempDir(), "listing.sha256.asc")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return "file://" + p
}

func TestInstallChecksTheListingSignatureWithTrustedKeys(t *testing.T) {
	t.Parallel()
	builder, stranger := pgpKey(t, "builder"), pgpKey(t, "stranger")
	listing := sha256sum(listedArtifact...) + sha256sum(file("lib/current", "puts 1\n"))
	install := func(l manifest.Launchable) error {
		in := New(t.TempDir(), WithTrustedPGPKeys(openpgp.EntityList{builder}))
		_, err := in.Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
		return err
	}

	l := listed(t, listing, listedArtifact...)
	l.DigestSignatureLocation = detachSign(t, builder, listing)
	require.NoError(t, install(l))

	l.DigestSignatureLocation = detachSign(t, stranger, listing)
	require.ErrorIs(t, install(l), ErrSignature)

	l.DigestSignatureLocation = detachSign(t, builder, listing+"ab  extra\n")
	require.ErrorIs(t, install(l), ErrSignature)

	l.DigestSignatureLocation = ""
	err := install(l)
	require.ErrorIs(t, err, ErrSignature)
	require.ErrorContains(t, err, "no digest_signature_location")

	// Without trusted keys the signature is not checked, as in P2.
	l.DigestSignatureLocation = detachSign(t, stranger, listing)
	_, err = New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.NoError(t, err)
}
