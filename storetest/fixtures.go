package storetest

import (
	"strings"

	"github.com/p2kit/p2kit/manifest"
)

// ArtifactDigest is a well-formed artifact digest for test manifests.
var ArtifactDigest = "sha256:" + strings.Repeat("ab", 32)

// Manifest returns a small valid manifest of pod id.
func Manifest(id string) *manifest.Manifest {
	return &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{
			"app": {
				LaunchableType: manifest.LaunchableTypeHoist,
				Location:       "https://artifacts.example.com/" + id + ".tar.gz",
				Digest:         ArtifactDigest,
			},
		},
	}
}

// ManifestJSON is Manifest(id) as stored JSON.
func ManifestJSON(id string) string {
	b, err := Manifest(id).Marshal()
	if err != nil {
		panic(err)
	}
	return string(b)
}

// MutateManifest returns a changed copy of m: a longer grace period.
func MutateManifest(m *manifest.Manifest) *manifest.Manifest {
	c := m.Clone()
	c.TerminationGracePeriod++
	return c
}
