package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// CanonicalJSON returns the bytes a manifest's digest (and its signature) covers: the
// manifest as JSON with object keys sorted at every level, no insignificant space, defaults
// written out (entry points, restart policy, status path) and the signatures left out. Writing a
// default explicitly or leaving it out, in YAML or in JSON, in any key order, gives the same
// bytes.
func (m *Manifest) CanonicalJSON() ([]byte, error) {
	if m == nil {
		return nil, errors.New("manifest: canonical JSON of a nil manifest")
	}
	raw, err := json.Marshal(m.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("manifest %q: %w", m.ID, err)
	}
	// encoding/json writes struct fields in declaration order and map keys sorted; going through
	// a generic value sorts the struct fields too. UseNumber keeps large integers exact.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", m.ID, err)
	}
	return json.Marshal(v)
}

// Digest returns the SHA-256 of the manifest's CanonicalJSON as 64 lowercase hex digits, with
// no "sha256:" prefix. Two manifests are the same version exactly when their digests are equal.
func (m *Manifest) Digest() (string, error) {
	b, err := m.CanonicalJSON()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// SameVersion reports whether a and b have equal digests. Two nil manifests are the same
// version; a nil and a non-nil one are not, nor are manifests whose digest cannot be computed.
func SameVersion(a, b *Manifest) bool {
	if a == nil || b == nil {
		return a == b
	}
	da, err := a.Digest()
	if err != nil {
		return false
	}
	db, err := b.Digest()
	return err == nil && da == db
}

// withDefaults returns a shallow copy of m with defaults written out and no signature. It shares
// Config and Env with m, and must only be read.
func (m *Manifest) withDefaults() *Manifest {
	c := *m
	c.Signature = ""
	c.PGPSigned = ""
	if m.Launchables != nil {
		c.Launchables = make(map[string]Launchable, len(m.Launchables))
		for name, l := range m.Launchables {
			l.EntryPoints = l.EntryPointsOrDefault()
			l.RestartPolicy = l.RestartPolicyOrDefault()
			c.Launchables[name] = l
		}
	}
	if m.Status != nil {
		s := *m.Status
		s.Path = s.PathOrDefault()
		c.Status = &s
	}
	return &c
}
