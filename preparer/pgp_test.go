package preparer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// pgpSigned returns testManifest(id, version) as P2 signed manifests: YAML, PGP clear-signed.
func pgpSigned(t *testing.T, e *openpgp.Entity, id string, version int) *manifest.Manifest {
	t.Helper()
	text, err := yaml.Marshal(testManifest(id, version))
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	require.NoError(t, err)
	_, err = w.Write(text)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	m, err := manifest.Decode(buf.Bytes())
	require.NoError(t, err)
	return m
}

func TestTrustedPGPKeys(t *testing.T) {
	signer, err := openpgp.NewEntity("builder", "", "builder@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	stranger, err := openpgp.NewEntity("stranger", "", "stranger@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)

	// The key as `gpg --export --armor` writes it, in the trusted keys directory.
	dir := t.TempDir()
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, signer.Serialize(aw))
	require.NoError(t, aw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "builder.asc"), buf.Bytes(), 0o644))
	ed, err := preparer.LoadTrustedKeys(dir)
	require.NoError(t, err, "a directory of PGP keys only is not an error")
	require.Empty(t, ed)
	keys, err := preparer.LoadTrustedPGPKeys(dir)
	require.NoError(t, err)
	require.Len(t, keys, 1)

	e := newEnv(t, "web1")
	n := memory.NewNode()
	e.self()
	e.run(n, n, preparer.WithHealthChecker(n), preparer.WithTrustedPGPKeys(keys))

	good := pgpSigned(t, signer, "good", 1)
	foreign := pgpSigned(t, stranger, "foreign", 1)
	changed := pgpSigned(t, signer, "changed", 1)
	changed.RunAs = "root"
	for _, m := range []*manifest.Manifest{good, foreign, changed, testManifest("unsigned", 1)} {
		e.setIntent(m)
	}
	e.waitStatus("good", func(s status.PodStatus) bool { return s.Status == status.Launched })
	for pod, reason := range map[string]string{
		"foreign":  "PGP signature not verified",
		"changed":  "changed after signing",
		"unsigned": "not PGP clear-signed",
	} {
		st := e.waitStatus(pod, func(s status.PodStatus) bool { return s.Status == status.Failed })
		require.Contains(t, st.Error, "refused: ", pod)
		require.Contains(t, st.Error, reason, pod)
	}
	pods, err := n.Pods()
	require.NoError(t, err)
	require.Equal(t, []string{"good"}, pods, "only the PGP-signed pod is installed")
}
