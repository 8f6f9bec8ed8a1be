package manifest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The types below hold fields of P2's pod manifest that p2kit keeps unchanged through decode,
// store and digest without acting on them.

// ResourceLimits are P2's pod-wide resource limits.
type ResourceLimits struct {
	Cgroup *Cgroup `json:"cgroup,omitempty"`
}

// Cgroup is P2's cgroup limit of a pod or a launchable.
type Cgroup struct {
	// CPUs is the number of logical CPUs.
	CPUs int `json:"cpus,omitempty"`
	// Memory is a byte count, as P2 wrote it: an integer (1073741824) or an integer with a
	// unit suffix ("4G"). It is kept exactly as written.
	Memory any `json:"memory,omitempty"`
}

// LaunchableVersion names an artifact in P2's artifact registry.
type LaunchableVersion struct {
	// ArtifactName overrides the launchable's name when looking the artifact up.
	ArtifactName string `json:"artifact_name,omitempty"`
	// ID is the version.
	ID string `json:"id"`
	// Tags narrow the lookup.
	Tags map[string]string `json:"tags,omitempty"`
}

// DockerImage is a P2 docker launchable's image.
type DockerImage struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// DockerCommand is a P2 docker launchable's postStart or preStop hook.
type DockerCommand struct {
	Exec DockerExec `json:"exec"`
}

// DockerExec is the command of a DockerCommand.
type DockerExec struct {
	Command []string `json:"command"`
}

// HealthCheck returns the pod's effective health check, reading P2's older status_port and
// status_http as P2 did: a non-zero status_port wins over status.port, and status_http true
// turns the HTTP check on. It returns nil when the pod has no check. The result is the
// caller's own.
func (m *Manifest) HealthCheck() *StatusCheck {
	if m.Status == nil && m.StatusPort == 0 && !m.StatusHTTP {
		return nil
	}
	var s StatusCheck
	if m.Status != nil {
		s = *m.Status
	}
	if m.StatusPort != 0 {
		s.Port = m.StatusPort
	}
	if m.StatusHTTP {
		s.HTTP = true
	}
	return &s
}

var byteCountRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?[KMGTkmgt]?$`)

// validateMemory accepts what P2's byte count accepted: a non-negative integer, or a number
// with a K, M, G or T suffix.
func validateMemory(v any) error {
	switch v := v.(type) {
	case nil:
		return nil
	case float64:
		if v < 0 || v != float64(int64(v)) {
			return fmt.Errorf("want a whole number of bytes, got %v", v)
		}
		return nil
	case string:
		if !byteCountRE.MatchString(v) {
			return fmt.Errorf("want a byte count such as 1073741824 or \"4G\", got %q", v)
		}
		return nil
	}
	return fmt.Errorf("want a byte count such as 1073741824 or \"4G\", got %T", v)
}

func (c *Cgroup) validate(field string) []error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.CPUs < 0 {
		errs = append(errs, fieldProblem(field+".cpus", fmt.Sprintf("want 0 or more, got %d", c.CPUs)))
	}
	if err := validateMemory(c.Memory); err != nil {
		errs = append(errs, fieldError(field+".memory", err))
	}
	return errs
}

// validateP2 checks the P2 fields of a launchable that p2kit keeps.
func (l Launchable) validateP2(field string) []error {
	var errs []error
	if l.RestartTimeout != "" {
		if d, err := time.ParseDuration(l.RestartTimeout); err != nil || d < 0 {
			errs = append(errs, fieldProblem(field+".restart_timeout",
				fmt.Sprintf("want a duration such as \"10s\", got %q", l.RestartTimeout)))
		}
	}
	errs = append(errs, l.Cgroup.validate(field+".cgroup")...)
	if l.Version != nil && l.Version.ID == "" {
		errs = append(errs, fieldProblem(field+".version.id", "required"))
	}
	for _, f := range []struct{ name, loc string }{
		{"digest_location", l.DigestLocation},
		{"digest_signature_location", l.DigestSignatureLocation},
	} {
		if f.loc == "" {
			continue
		}
		if err := validateLocation(f.loc); err != nil {
			errs = append(errs, fieldError(field+"."+f.name, err))
		}
	}
	if l.DigestSignatureLocation != "" && l.DigestLocation == "" {
		errs = append(errs, fieldProblem(field+".digest_signature_location", "set without digest_location"))
	}
	return errs
}

// validateSource checks where a launchable's artifact comes from: for hoist and opencontainer
// a location or a version (not both), for docker an image.
func (l Launchable) validateSource(field string) []error {
	var errs []error
	switch l.LaunchableType {
	case LaunchableTypeDocker:
		if l.Image == nil || l.Image.Name == "" {
			errs = append(errs, fieldProblem(field+".image.name", "required for a docker launchable"))
		}
		if l.Image == nil || l.Image.SHA256 == "" {
			errs = append(errs, fieldProblem(field+".image.sha256", "required for a docker launchable"))
		}
		return errs
	}
	switch {
	case l.Location == "" && l.Version == nil:
		errs = append(errs, fieldProblem(field+".location", "required (or version)"))
	case l.Location != "" && l.Version != nil:
		errs = append(errs, fieldProblem(field+".location", "set together with version; want one of them"))
	case l.Location != "":
		if err := validateLocationOrRelative(l.Location); err != nil {
			errs = append(errs, fieldError(field+".location", err))
		}
	}
	return errs
}

// validateLocationOrRelative accepts a URL validateLocation accepts, or a relative location
// without a scheme ("hello_abc.tar.gz"), which P2 resolved through its artifact registry. An
// absolute path without a scheme is refused: it is most likely a file:// URL mistyped.
func validateLocationOrRelative(loc string) error {
	err := validateLocation(loc)
	if errors.Is(err, errNoScheme) && !strings.HasPrefix(loc, "/") && !strings.ContainsAny(loc, " \x00") {
		return nil
	}
	return err
}

// LocationIsURL reports whether the launchable's location is a file://, http:// or https://
// URL, which can be fetched without an artifact registry.
func (l Launchable) LocationIsURL() bool {
	return l.Location != "" && validateLocation(l.Location) == nil
}
