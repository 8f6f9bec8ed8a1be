package hoist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/p2kit/p2kit/manifest"
)

// sha256sum returns the listing sha256sum would print for the regular files among entries.
func sha256sum(entries ...entry) string {
	var b strings.Builder
	for _, e := range entries {
		if e.typ == 0 || e.typ == '0' {
			s := sha256.Sum256([]byte(e.body))
			fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(s[:]), e.name)
		}
	}
	return b.String()
}

var listedArtifact = []entry{
	dir("bin/"),
	exe("bin/launch", "#!/bin/sh\nexec sleep 1000\n"),
	file("lib/app.rb", "puts 1\n"),
	symlink("lib/current", "app.rb"),
}

// listed returns a hoist launchable of an artifact made of entries, with no inline digest and
// a digest_location serving listing.
func listed(t *testing.T, listing string, entries ...entry) manifest.Launchable {
	t.Helper()
	loc, _ := artifactFile(t, targz(t, entries...))
	p := filepath.Join(t.TempDir(), "artifact.sha256")
	require.NoError(t, os.WriteFile(p, []byte(listing), 0o644))
	return manifest.Launchable{LaunchableType: manifest.LaunchableTypeHoist, Location: loc, DigestLocation: "file://" + p}
}

func TestInstallVerifiesTheDigestListing(t *testing.T) {
	t.Parallel()
	// The link is hashed through, as sha256sum reads it.
	listing := sha256sum(listedArtifact...) + sha256sum(file("lib/current", "puts 1\n"))
	l := listed(t, listing, listedArtifact...)
	in := New(t.TempDir())
	inst, err := in.Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(inst.Launchables["app"], "bin", "launch"))
	require.NoError(t, err)

	// The same listing written by `sha256sum -b` with ./ paths and a blank line.
	binary := strings.ReplaceAll(listing, "  ", " *./") + "\n"
	l = listed(t, binary, listedArtifact...)
	_, err = New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.NoError(t, err)
}

func TestInstallRefusesATreeThatDoesNotMatchItsListing(t *testing.T) {
	t.Parallel()
	good := sha256sum(listedArtifact...) + sha256sum(file("lib/current", "puts 1\n"))
	tampered := append([]entry{}, listedArtifact...)
	tampered[2] = file("lib/app.rb", "system('rm -rf /')\n")
	for name, tc := range map[string]struct {
		listing string
		entries []entry
		file    string
	}{
		"changed file": {good, tampered, "lib/app.rb has sha256"},
		"extra file":   {good, append(append([]entry{}, listedArtifact...), file("bin/backdoor", "x")), "bin/backdoor is not in the digest listing"},
		"missing file": {good + sha256sum(file("etc/app.conf", "a=1")), listedArtifact, "etc/app.conf is in the digest listing but not in the artifact"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			l := listed(t, tc.listing, tc.entries...)
			_, err := New(root).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
			require.ErrorIs(t, err, ErrDigestMismatch)
			require.Contains(t, err.Error(), "file "+tc.file)
			require.NoDirExists(t, filepath.Join(root, "hello"), "nothing of a refused install is left")
		})
	}
}

func TestInstallRefusesABadListing(t *testing.T) {
	t.Parallel()
	l := listed(t, "not a sha256sum listing\n", listedArtifact...)
	_, err := New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.ErrorContains(t, err, "line 1")

	l.DigestLocation = "file:///nonexistent/listing.sha256"
	_, err = New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.ErrorIs(t, err, ErrFetch)
	require.ErrorContains(t, err, "listing.sha256")
}

func TestInstallWithBothDigestsChecksBoth(t *testing.T) {
	t.Parallel()
	l := listed(t, sha256sum(file("other", "x")), listedArtifact...)
	_, l.Digest = artifactFile(t, targz(t, listedArtifact...))
	_, err := New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
	require.ErrorIs(t, err, ErrDigestMismatch)
}

func TestInstallRefusesUnverifiedUnlessAllowed(t *testing.T) {
	t.Parallel()
	loc, _ := artifactFile(t, targz(t, helloArtifact...))
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(loc, "")})
	root := t.TempDir()
	_, err := New(root).Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrUnverified)
	require.ErrorContains(t, err, "neither digest nor digest_location")
	require.NoDirExists(t, filepath.Join(root, "hello"))

	core, logs := observer.New(zap.WarnLevel)
	_, err = New(root, WithAllowUnverifiedArtifacts(), WithLogger(zap.New(core))).Install(testCtx(t), m)
	require.NoError(t, err)
	require.Equal(t, 1, logs.FilterMessageSnippet("unverified").Len(), "each use is logged")
}

func TestInstallRefusesWhatItCannotInstall(t *testing.T) {
	t.Parallel()
	loc, sum := artifactFile(t, targz(t, helloArtifact...))
	oci := launchable(loc, sum)
	oci.LaunchableType = manifest.LaunchableTypeOpenContainer
	versioned := manifest.Launchable{LaunchableType: manifest.LaunchableTypeHoist, Version: &manifest.LaunchableVersion{ID: "abc"}, Digest: sum}
	relative := launchable("hello_abc.tar.gz", sum)
	for want, l := range map[string]manifest.Launchable{
		`type "opencontainer" cannot be installed`:            oci,
		`version "abc" and needs an artifact registry`:        versioned,
		`location "hello_abc.tar.gz" has no scheme and needs`: relative,
	} {
		_, err := New(t.TempDir()).Install(testCtx(t), podManifest(t, "hello", map[string]manifest.Launchable{"app": l}))
		require.ErrorIs(t, err, ErrUnsupported)
		require.ErrorContains(t, err, "launchable app: "+want)
	}
}

func TestParseDigestListing(t *testing.T) {
	h := strings.Repeat("ab", 32)
	got, err := ParseDigestListing([]byte(h + "  bin/launch\r\n\n" + h + " *./lib/x\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"bin/launch": h, "lib/x": h}, got)
	for _, bad := range []string{
		h + "  a\n" + h + "  ./a\n",
		strings.ToUpper(h) + "  a\n",
		h + "a\n",
		h[:60] + "  a\n",
	} {
		_, err := ParseDigestListing([]byte(bad))
		require.Error(t, err, bad)
	}
}
