package hoist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/p2kit/p2kit/manifest"
)

// ErrRegistry is wrapped by the error of an install whose launchable could not be resolved
// through the artifact registry: the registry did not answer, answered an HTTP status other
// than 2xx, or answered something other than P2's discover response. The message names the
// launchable and the registry.
var ErrRegistry = errors.New("artifact registry lookup failed")

// WithArtifactRegistry sets the artifact registry (http:// or https://) the Installer resolves
// launchables through when their manifest names none in artifact_registry, as P2's preparer
// did with its configured registry. See Installer.Install for what is resolved and how.
func WithArtifactRegistry(u *url.URL) Option {
	return func(in *Installer) { in.registry = u }
}

// WithRegistryOS sets the os and os_version the Installer sends to the artifact registry. The
// default is what P2's preparer detected: "CentOS" and its version from /etc/redhat-release
// on CentOS, and neither elsewhere.
func WithRegistryOS(os, version string) Option {
	return func(in *Installer) { in.regOS, in.regOSVersion, in.regOSSet = os, version, true }
}

// RegistryResponse is the artifact registry's answer to a discover request, as P2 defined it.
type RegistryResponse struct {
	// Location is the artifact's URL. Required.
	Location string `json:"location"`
	// ManifestLocation is the URL of the build manifest, a YAML document whose artifact_sha is
	// the hex sha256 of the artifact.
	ManifestLocation string `json:"manifest_location,omitempty"`
	// ManifestSignatureLocation is the URL of a detached PGP signature of the build manifest.
	ManifestSignatureLocation string `json:"manifest_signature_location,omitempty"`
	// SignatureLocation is the URL of a detached PGP signature of the artifact itself. p2kit
	// does not use it.
	SignatureLocation string `json:"signature_location,omitempty"`
}

// maxRegistryAnswer bounds what the Installer reads of a registry's answer or a build manifest.
const maxRegistryAnswer = 1 << 20

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// registryFor returns the registry of m: its artifact_registry, or the Installer's. A bad
// artifact_registry falls back to the Installer's registry with a warning, as in P2.
func (in *Installer) registryFor(log *zap.Logger, m *manifest.Manifest) *url.URL {
	if m.ArtifactRegistry == "" {
		return in.registry
	}
	u, err := url.Parse(m.ArtifactRegistry)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return u
	}
	log.Warn("the manifest's artifact_registry is not an http or https URL; using the installer's registry",
		zap.String("artifact_registry", redact(m.ArtifactRegistry)))
	return in.registry
}

// resolve returns the launchable as it is fetched: a version launchable resolved through
// the artifact registry (P2's discover request) to the location it answers, with the digest
// of its build manifest when the launchable has no digest of its own; a location without a
// scheme resolved against the registry's URL. Other launchables are returned unchanged.
func (in *Installer) resolve(ctx context.Context, log *zap.Logger, m *manifest.Manifest, name string, l manifest.Launchable) (manifest.Launchable, error) {
	if l.LaunchableType != manifest.LaunchableTypeHoist || (l.Version == nil && (l.Location == "" || l.LocationIsURL())) {
		return l, nil
	}
	reg := in.registryFor(log, m)
	if reg == nil {
		what := fmt.Sprintf("location %q has no scheme", l.Location)
		if l.Version != nil {
			what = fmt.Sprintf("version %q", l.Version.ID)
		}
		return l, mark(ErrUnsupported, fmt.Errorf("%s and needs an artifact registry: the manifest has no artifact_registry and the installer has none (--artifact-registry)", what))
	}
	regName := redact(reg.String())
	if l.Version == nil {
		ref, err := url.Parse(l.Location)
		if err != nil {
			return l, fmt.Errorf("location %q: %w", l.Location, err)
		}
		l.Location = reg.ResolveReference(ref).String()
		log.Info("location resolved against the artifact registry", zap.String("launchable", name), zap.String("location", redact(l.Location)))
		return l, nil
	}
	resp, err := in.discover(ctx, reg, m.ID, name, l.Version)
	if err != nil {
		return l, mark(ErrRegistry, fmt.Errorf("artifact registry %s, version %q: %w", regName, l.Version.ID, err))
	}
	if !(manifest.Launchable{Location: resp.Location}).LocationIsURL() {
		return l, mark(ErrRegistry, fmt.Errorf("artifact registry %s, version %q: location %q is not a file, http or https URL",
			regName, l.Version.ID, resp.Location))
	}
	l.Location, l.Version = resp.Location, nil
	if l.Digest == "" && l.DigestLocation == "" && resp.ManifestLocation != "" {
		d, err := in.buildManifestDigest(ctx, resp)
		if err != nil {
			return l, err
		}
		l.Digest = d
	}
	log.Info("version resolved through the artifact registry", zap.String("launchable", name),
		zap.String("registry", regName), zap.String("location", redact(l.Location)), zap.String("digest", l.Digest))
	return l, nil
}

// discover asks the registry where version of the launchable is: GET
// /discover/<pod-id>?artifact_name=...&version=... with the version's tags and, when known,
// os and os_version, as P2 did. Like P2, the path replaces any path of the registry URL.
func (in *Installer) discover(ctx context.Context, reg *url.URL, podID, name string, v *manifest.LaunchableVersion) (*RegistryResponse, error) {
	q := url.Values{}
	for k, val := range v.Tags {
		q.Add(k, val)
	}
	artifact := name
	if v.ArtifactName != "" {
		artifact = v.ArtifactName
	}
	q.Add("artifact_name", artifact)
	osName, osVersion := in.registryOS()
	if osName != "" {
		q.Add("os", osName)
		q.Add("os_version", osVersion)
	}
	q.Add("version", v.ID)
	u := reg.ResolveReference(&url.URL{Path: "/discover/" + podID, RawQuery: q.Encode()})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	res, err := in.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message repeats the URL, unredacted
		}
		return nil, fmt.Errorf("GET %s: %w", u.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxRegistryAnswer))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: %s: %q", u.Path, res.Status, clip(body))
	}
	var out RegistryResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("GET %s: bad response: %w: %q", u.Path, err, clip(body))
	}
	if out.Location == "" {
		return nil, fmt.Errorf("GET %s: the response has no location: %q", u.Path, clip(body))
	}
	return &out, nil
}

// buildManifestDigest reads the artifact's sha256 from its build manifest, checking the
// manifest's detached signature when the Installer has trusted PGP keys.
func (in *Installer) buildManifestDigest(ctx context.Context, resp *RegistryResponse) (string, error) {
	loc := redact(resp.ManifestLocation)
	r, err := in.open(ctx, resp.ManifestLocation, loc)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(&ctxReader{ctx: ctx, r: io.LimitReader(r, maxRegistryAnswer)})
	r.Close()
	if err != nil {
		return "", mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
	}
	if len(in.pgpKeys) > 0 {
		if resp.ManifestSignatureLocation == "" {
			return "", fmt.Errorf("%w: build manifest %s has no manifest_signature_location, and trusted PGP keys are configured", ErrSignature, loc)
		}
		if err := in.checkDetached(ctx, resp.ManifestSignatureLocation, data); err != nil {
			return "", fmt.Errorf("build manifest %s: %w", loc, err)
		}
	}
	var bm struct {
		ArtifactSHA string `json:"artifact_sha"`
	}
	if err := yaml.Unmarshal(data, &bm); err != nil {
		return "", mark(ErrRegistry, fmt.Errorf("build manifest %s: %w", loc, err))
	}
	sha := strings.ToLower(strings.TrimSpace(bm.ArtifactSHA))
	if !hexSHA256.MatchString(sha) {
		return "", mark(ErrRegistry, fmt.Errorf("build manifest %s: artifact_sha %q is not a hex sha256", loc, bm.ArtifactSHA))
	}
	return digestPrefix + sha, nil
}

// registryOS is the os and os_version sent to the registry.
func (in *Installer) registryOS() (string, string) {
	if in.regOSSet {
		return in.regOS, in.regOSVersion
	}
	return detectCentOS("/etc/redhat-release")
}

var osVersionRE = regexp.MustCompile(`^\d[\d.]*$`)

// detectCentOS reads P2's os and os_version from a redhat-release file: "CentOS" and the
// second-to-last word, on CentOS only.
func detectCentOS(file string) (string, string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", ""
	}
	words := strings.Fields(string(data))
	if len(words) < 2 || words[0] != "CentOS" || !osVersionRE.MatchString(words[len(words)-2]) {
		return "", ""
	}
	return "CentOS", words[len(words)-2]
}

// clip is at most the first 80 bytes of an answer, for error messages.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
