package manifest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
)

func pgpEntity(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	return e
}

// clearSign returns text PGP clear-signed by e, as `gpg --clearsign` writes it.
func clearSign(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	require.NoError(t, err)
	_, err = w.Write([]byte(text))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

const p2SignedText = `id: thepod
launchables:
  my-app:
    launchable_type: hoist
    location: https://artifacts.example.com/foo/bar/baz.tar.gz
    digest_location: https://artifacts.example.com/foo/bar/baz.tar.gz.sha256
    env:
      THREADS: 8
status_port: 8000
config:
  ENVIRONMENT: staging
`

func TestPGPClearSignedManifests(t *testing.T) {
	signer, stranger := pgpEntity(t, "builder"), pgpEntity(t, "stranger")
	keys, err := ReadPGPKeys(armoredPublic(t, signer))
	require.NoError(t, err)
	strangers, err := ReadPGPKeys(armoredPublic(t, stranger))
	require.NoError(t, err)

	signed := clearSign(t, signer, p2SignedText)
	m, err := Decode(signed)
	require.NoError(t, err)
	require.Equal(t, 8000, m.StatusPort)
	require.Equal(t, "8", m.Launchables["my-app"].Env["THREADS"])
	require.Equal(t, string(signed), m.PGPSigned)
	require.Equal(t, mustDigest(t, mustDecode(t, p2SignedText)), mustDigest(t, m), "the signature is not part of the digest")
	require.NoError(t, VerifyPGP(m, keys))

	// Stored as JSON and read back, it still verifies.
	js, err := m.Marshal()
	require.NoError(t, err)
	back, err := Decode(js)
	require.NoError(t, err)
	require.NoError(t, VerifyPGP(back, keys))

	require.ErrorIs(t, VerifyPGP(m, strangers), ErrPGPSignature)
	require.ErrorIs(t, VerifyPGP(mustDecode(t, p2SignedText), keys), ErrPGPSignature)

	changed := m.Clone()
	changed.StatusPort = 9000
	err = VerifyPGP(changed, keys)
	require.ErrorIs(t, err, ErrPGPSignature)
	require.ErrorContains(t, err, "changed after signing")

	forged := []byte(strings.Replace(string(signed), "status_port: 8000", "status_port: 9000", 1))
	fm, err := Decode(forged)
	require.NoError(t, err)
	require.ErrorIs(t, VerifyPGP(fm, keys), ErrPGPSignature)

	_, err = Decode([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nid: a\n"))
	require.ErrorIs(t, err, ErrInvalid)
}
