package manifest_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/stretchr/testify/require"
)

const signYAML = `
id: hello
launchables:
  app:
    launchable_type: hoist
    location: https://artifacts.example.com/hello_1.tar.gz
    digest: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    env: {GREETING: hi}
config: {port: 8080}
`

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub, priv
}

func signed(t *testing.T, priv ed25519.PrivateKey) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Decode([]byte(signYAML))
	require.NoError(t, err)
	require.NoError(t, manifest.Sign(m, priv))
	return m
}

func TestSignRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	m, err := manifest.Decode([]byte(signYAML))
	require.NoError(t, err)
	before, err := m.Digest()
	require.NoError(t, err)

	require.NoError(t, manifest.Sign(m, priv))
	require.True(t, strings.HasPrefix(m.Signature, "ed25519:"+manifest.KeyID(pub)+":"), m.Signature)
	require.Len(t, manifest.KeyID(pub), 16)
	after, err := m.Digest()
	require.NoError(t, err)
	require.Equal(t, before, after, "the signature is not part of the digest")
	require.NoError(t, manifest.Verify(m, []ed25519.PublicKey{other, pub}))

	// Stored as JSON and read back, the signature still verifies.
	data, err := m.Marshal()
	require.NoError(t, err)
	back, err := manifest.Decode(data)
	require.NoError(t, err)
	require.NoError(t, manifest.Verify(back, []ed25519.PublicKey{pub}))

	// Signing again replaces the signature.
	_, priv2 := newKey(t)
	require.NoError(t, manifest.Sign(back, priv2))
	require.ErrorIs(t, manifest.Verify(back, []ed25519.PublicKey{pub}), manifest.ErrUnknownKey)
}

func TestVerifyRefuses(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	keys := []ed25519.PublicKey{pub}

	t.Run("tampered", func(t *testing.T) {
		m := signed(t, priv)
		app := m.Launchables["app"]
		app.Env = map[string]string{"GREETING": "pwned"}
		m.Launchables["app"] = app
		err := manifest.Verify(m, keys)
		require.ErrorIs(t, err, manifest.ErrBadSignature)
		require.ErrorContains(t, err, "manifest hello")
		require.ErrorContains(t, err, manifest.KeyID(pub))
	})
	t.Run("unknown key", func(t *testing.T) {
		err := manifest.Verify(signed(t, priv), []ed25519.PublicKey{other})
		require.ErrorIs(t, err, manifest.ErrUnknownKey)
		require.ErrorContains(t, err, manifest.KeyID(pub))
	})
	t.Run("no keys", func(t *testing.T) {
		require.ErrorIs(t, manifest.Verify(signed(t, priv), nil), manifest.ErrUnknownKey)
	})
	t.Run("unsigned", func(t *testing.T) {
		m, err := manifest.Decode([]byte(signYAML))
		require.NoError(t, err)
		require.ErrorIs(t, manifest.Verify(m, keys), manifest.ErrUnsigned)
	})
	t.Run("signature of another manifest", func(t *testing.T) {
		m := signed(t, priv)
		o := m.Clone()
		o.ID = "other"
		require.NoError(t, manifest.Sign(o, priv))
		m.Signature = o.Signature
		require.ErrorIs(t, manifest.Verify(m, keys), manifest.ErrBadSignature)
	})
	for _, sig := range []string{
		"garbage",
		"rsa:" + manifest.KeyID(pub) + ":AAAA",
		"ed25519::AAAA",
		"ed25519:" + manifest.KeyID(pub),
		"ed25519:" + manifest.KeyID(pub) + ":not base64!",
		"ed25519:" + manifest.KeyID(pub) + ":AAAA",
	} {
		t.Run("malformed "+sig, func(t *testing.T) {
			m := signed(t, priv)
			m.Signature = sig
			require.ErrorIs(t, manifest.Verify(m, keys), manifest.ErrBadSignature)
		})
	}
}

func TestKeyPEM(t *testing.T) {
	pub, priv := newKey(t)
	privPEM, err := manifest.MarshalPrivateKey(priv)
	require.NoError(t, err)
	pubPEM, err := manifest.MarshalPublicKey(pub)
	require.NoError(t, err)
	require.Contains(t, string(privPEM), "BEGIN PRIVATE KEY")
	require.Contains(t, string(pubPEM), "BEGIN PUBLIC KEY")

	priv2, err := manifest.ParsePrivateKey(privPEM)
	require.NoError(t, err)
	require.True(t, priv.Equal(priv2))
	pub2, err := manifest.ParsePublicKey(pubPEM)
	require.NoError(t, err)
	require.True(t, pub.Equal(pub2))

	_, err = manifest.ParsePublicKey(privPEM)
	require.ErrorContains(t, err, `PEM block is "PRIVATE KEY"`)
	_, err = manifest.ParsePrivateKey([]byte("not pem"))
	require.ErrorContains(t, err, "no PEM block")
	require.Error(t, manifest.Sign(&manifest.Manifest{ID: "x"}, priv[:10]))
}

func ExampleSign() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	m, err := manifest.Decode([]byte(signYAML))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := manifest.Sign(m, priv); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(manifest.Verify(m, []ed25519.PublicKey{pub}))

	m.Config["port"] = 9090 // changed after signing
	fmt.Println(errors.Is(manifest.Verify(m, []ed25519.PublicKey{pub}), manifest.ErrBadSignature))
	// Output:
	// <nil>
	// true
}
