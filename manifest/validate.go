package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Validate checks the manifest against the rules of the contract and returns every problem it
// finds, joined, each a *FieldError naming its field. The error wraps ErrInvalid, and
// ErrInvalidID when an id is at fault. A nil error means the manifest can be installed.
func (m *Manifest) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil manifest", ErrInvalid)
	}
	var errs []error
	if m.ID == "" {
		errs = append(errs, fieldProblem("id", "required"))
	} else if err := ValidateID(m.ID); err != nil {
		errs = append(errs, fieldError("id", err))
	}
	if err := validateRunAs(m.RunAs); err != nil {
		errs = append(errs, fieldError("run_as", err))
	}
	if len(m.Launchables) == 0 {
		errs = append(errs, fieldProblem("launchables", "at least one launchable is required"))
	}
	names := make([]string, 0, len(m.Launchables))
	for name := range m.Launchables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ValidateID(name); err != nil {
			errs = append(errs, fieldError("launchables", err))
			continue
		}
		errs = append(errs, m.Launchables[name].validate("launchables."+name)...)
	}
	if m.Status != nil {
		errs = append(errs, m.Status.validate("status")...)
	}
	if m.StatusPort < 0 || m.StatusPort > 65535 {
		errs = append(errs, fieldProblem("status_port", fmt.Sprintf("want 1 to 65535, got %d", m.StatusPort)))
	} else if m.StatusHTTP && m.HealthCheck().Port == 0 {
		errs = append(errs, fieldProblem("status_http", "needs status_port or status.port"))
	}
	if m.ResourceLimits != nil {
		errs = append(errs, m.ResourceLimits.Cgroup.validate("resource_limits.cgroup")...)
	}
	if m.ArtifactRegistry != "" {
		if err := validateLocation(m.ArtifactRegistry); err != nil {
			errs = append(errs, fieldError("artifact_registry", err))
		}
	}
	if p := m.MinHealthPercentage; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, fieldProblem("min_health_percentage", fmt.Sprintf("want 0 to 100, got %d", *p)))
	}
	if m.TerminationGracePeriod < 0 {
		errs = append(errs, fieldProblem("termination_grace_period",
			fmt.Sprintf("want 0 or more seconds, got %d", m.TerminationGracePeriod)))
	}
	return errors.Join(errs...)
}

// validateRunAs refuses user names that could not be a user or that a command line would
// misread; it does not look the user up.
func validateRunAs(user string) error {
	switch {
	case user == "":
		return nil
	case len(user) > 256:
		return fmt.Errorf("user name of %d bytes is too long", len(user))
	case strings.HasPrefix(user, "-"):
		return fmt.Errorf("user name %q starts with '-'", user)
	case strings.ContainsFunc(user, func(r rune) bool { return r <= ' ' || r == '/' || r == ':' || r == 0x7f }):
		return fmt.Errorf("user name %q holds a space, control character, '/' or ':'", user)
	}
	return nil
}

func (l Launchable) validate(field string) []error {
	var errs []error
	switch l.LaunchableType {
	case "":
		errs = append(errs, fieldProblem(field+".launchable_type", "required"))
	case LaunchableTypeHoist, LaunchableTypeOpenContainer, LaunchableTypeDocker:
	default:
		errs = append(errs, fieldProblem(field+".launchable_type",
			fmt.Sprintf("unsupported type %q (want %q, %q or %q)", l.LaunchableType,
				LaunchableTypeHoist, LaunchableTypeOpenContainer, LaunchableTypeDocker)))
	}
	errs = append(errs, l.validateSource(field)...)
	if l.Digest != "" {
		if err := validateArtifactDigest(l.Digest); err != nil {
			errs = append(errs, fieldError(field+".digest", err))
		}
	}
	errs = append(errs, l.validateP2(field)...)
	seen := make(map[string]bool, len(l.EntryPoints))
	for i, ep := range l.EntryPoints {
		f := field + ".entry_points[" + strconv.Itoa(i) + "]"
		if err := validateEntryPoint(ep); err != nil {
			errs = append(errs, fieldError(f, err))
		} else if seen[ep] {
			errs = append(errs, fieldProblem(f, fmt.Sprintf("duplicate entry point %q", ep)))
		}
		seen[ep] = true
	}
	switch l.RestartPolicy {
	case "", RestartAlways, RestartNever:
	default:
		errs = append(errs, fieldProblem(field+".restart_policy",
			fmt.Sprintf("unsupported policy %q (want %q or %q)", l.RestartPolicy, RestartAlways, RestartNever)))
	}
	keys := make([]string, 0, len(l.Env))
	for k := range l.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			errs = append(errs, fieldProblem(field+".env", fmt.Sprintf("invalid variable name %q", k)))
		case strings.ContainsRune(l.Env[k], 0):
			errs = append(errs, fieldProblem(field+".env."+k, "value holds a NUL byte"))
		}
	}
	return errs
}

// errNoScheme is wrapped by validateLocation's error for a location without a scheme.
var errNoScheme = errors.New("has no scheme")

func validateLocation(loc string) error {
	if loc == "" {
		return errors.New("required")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("not a URL: %q", loc)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("file URL %q names host %q; only local files are supported", loc, u.Host)
		}
		if !path.IsAbs(u.Path) {
			return fmt.Errorf("file URL %q has no absolute path", loc)
		}
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("URL %q has no host", loc)
		}
	case "":
		return fmt.Errorf("URL %q %w (want file, http or https)", loc, errNoScheme)
	default:
		return fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	return nil
}

// validateArtifactDigest checks the form "sha256:" followed by 64 lowercase hex digits.
func validateArtifactDigest(d string) error {
	if d == "" {
		return errors.New("required")
	}
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || strings.ContainsFunc(hex, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f')
	}) {
		return fmt.Errorf("want \"sha256:\" and 64 lowercase hex digits, got %q", d)
	}
	return nil
}

// validateEntryPoint accepts clean relative paths that stay inside the unpacked artifact.
func validateEntryPoint(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("path %q holds a NUL byte", p)
	case path.IsAbs(p):
		return fmt.Errorf("path %q is absolute; want a path relative to the launchable", p)
	case p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q leaves the launchable", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, path.Clean(p))
	}
	return nil
}

func (s StatusCheck) validate(field string) []error {
	var errs []error
	switch {
	case s.Port < 0 || s.Port > 65535:
		errs = append(errs, fieldProblem(field+".port", fmt.Sprintf("want 1 to 65535, got %d", s.Port)))
	case s.HTTP && s.Port == 0:
		errs = append(errs, fieldProblem(field+".port", "required when http is true"))
	}
	if strings.ContainsFunc(s.Path, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }) {
		errs = append(errs, fieldProblem(field+".path", fmt.Sprintf("holds a space, control character, '?' or '#': %q", s.Path)))
	}
	return errs
}
