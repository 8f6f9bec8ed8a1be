package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
)

// clearSigned returns text PGP clear-signed by a new key, as `gpg --clearsign` writes it.
func clearSigned(t *testing.T, text string) string {
	t.Helper()
	e, err := openpgp.NewEntity("deployer", "", "deployer@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	require.NoError(t, err)
	_, err = w.Write([]byte(text))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.String()
}

const signedPodText = `id: thepod
launchables:
  app:
    launchable_type: hoist
    location: https://artifacts.example.com/thepod_1.tar.gz
    digest_location: https://artifacts.example.com/thepod_1.tar.gz.sha256
    env:
      THREADS: 8
status_port: 8000
`

// get -o yaml of a PGP clear-signed intent prints the manifest's fields, the signed message,
// and a comment saying who signed it and whether the signed text is the manifest shown; the
// document applies again unchanged. A manifest changed after signing is called out.
func TestGetPGPSignedIntent(t *testing.T) {
	f := newFleet(t)
	path := f.write("signed.yaml", clearSigned(t, signedPodText))
	f.ok("apply", "intent", "--node", "n1", "-f", path)
	out := f.ok("get", "intent", "n1", "thepod", "-o", "yaml")
	require.Contains(t, out, "\nstatus_port: 8000\n")
	require.Contains(t, out, "      THREADS: \"8\"\n")
	require.Regexp(t, `(?m)^# PGP clear-signed by key [0-9A-F]{40} at \S+; the signed text is this manifest; the signature is not verified here`, out)
	require.Contains(t, out, "pgp_signed: |-\n  -----BEGIN PGP SIGNED MESSAGE-----")

	again := f.write("again.yaml", out)
	f.ok("apply", "-f", again)
	require.Equal(t, out, f.ok("get", "intent", "n1", "thepod", "-o", "yaml"), "the document applies again unchanged")

	changed := f.write("changed.yaml", strings.Replace(out, `THREADS: "8"`, `THREADS: "64"`, 1))
	f.ok("apply", "-f", changed)
	require.Contains(t, f.ok("get", "intent", "n1", "thepod", "-o", "yaml"), "the signed text is NOT this manifest (changed after signing)")
}
