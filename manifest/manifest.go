package manifest

import (
	"slices"
	"strings"
	"time"
)

// LaunchableType names how a launchable's artifact is installed and run.
type LaunchableType string

const (
	// LaunchableTypeHoist is a tar.gz artifact with its entry points inside. It is the only type
	// the reference installer installs.
	LaunchableTypeHoist LaunchableType = "hoist"
	// LaunchableTypeOpenContainer is P2's OpenContainer image launchable. It is kept in intent
	// and refused at install.
	LaunchableTypeOpenContainer LaunchableType = "opencontainer"
	// LaunchableTypeDocker is P2's docker image launchable. It is kept in intent and refused at
	// install.
	LaunchableTypeDocker LaunchableType = "docker"
)

// RestartPolicy says what happens when a launchable's process exits.
type RestartPolicy string

const (
	// RestartAlways restarts the process whenever it exits. It is the default.
	RestartAlways RestartPolicy = "always"
	// RestartNever leaves the process stopped once it exits.
	RestartNever RestartPolicy = "never"
)

const (
	// DefaultEntryPoint is the entry point of a launchable that names none.
	DefaultEntryPoint = "bin/launch"
	// DefaultStatusPath is the path of an HTTP status check that names none.
	DefaultStatusPath = "/_status"
)

// Manifest is a pod manifest: the pod's id and what it runs. Field names follow P2's pod
// manifest. A Manifest read from a store is shared: use Clone before changing it.
type Manifest struct {
	// ID is the pod id. Required; see ValidateID.
	ID string `json:"id"`
	// RunAs is the user the pod's processes run as. Empty leaves the choice to the launcher.
	RunAs string `json:"run_as,omitempty"`
	// Launchables are the pod's units of installation, by name. At least one is required.
	Launchables map[string]Launchable `json:"launchables"`
	// Config is free-form configuration written to the pod's config file. Numbers decode as
	// float64, as encoding/json decodes them: integers beyond ±2^53 lose precision, so write
	// such values as strings.
	Config map[string]any `json:"config,omitempty"`
	// Status is the pod's health check; nil means the pod has none. See HealthCheck, which
	// also reads P2's older status_port and status_http.
	Status *StatusCheck `json:"status,omitempty"`
	// StatusPort is P2's older spelling of status.port; when set it wins over status.port.
	StatusPort int `json:"status_port,omitempty"`
	// StatusHTTP is P2's older spelling of status.http; true turns the HTTP check on.
	StatusHTTP bool `json:"status_http,omitempty"`
	// ResourceLimits are P2's pod-wide resource limits. Kept as written; p2kit's launcher does
	// not enforce them.
	ResourceLimits *ResourceLimits `json:"resource_limits,omitempty"`
	// ReadOnly is P2's readonly flag (unpack as root, run as run_as). Kept as written.
	ReadOnly *bool `json:"readonly,omitempty"`
	// ArtifactRegistry is the URL of P2's artifact registry, which resolves version launchables
	// and locations without a scheme. Kept as written.
	ArtifactRegistry string `json:"artifact_registry,omitempty"`
	// NodeRequirements are P2's node labels the pod requires. Kept as written.
	NodeRequirements map[string]string `json:"node_requirements,omitempty"`
	// MinHealthPercentage is the share of the pod's instances that must stay healthy during
	// changes, 0 to 100. Nil leaves the choice to the controller.
	MinHealthPercentage *int `json:"min_health_percentage,omitempty"`
	// TerminationGracePeriod is how many seconds a stopping process gets between the polite
	// signal and the kill. Zero leaves the choice to the launcher.
	TerminationGracePeriod int `json:"termination_grace_period,omitempty"`
	// Signature is an ed25519 signature over the manifest's canonical JSON
	// ("ed25519:<key-id>:<base64>", see Sign and Verify). It is not part of
	// that JSON, so it never changes the digest.
	Signature string `json:"signature,omitempty"`
	// PGPSigned is the whole PGP clear-signed message a manifest was decoded from, as P2
	// signed manifests (see Decode and VerifyPGP). Like Signature it is not part of the
	// canonical JSON.
	PGPSigned string `json:"pgp_signed,omitempty"`
}

// Launchable is one installable, runnable artifact of a pod.
type Launchable struct {
	// LaunchableType says how the artifact is installed; see LaunchableTypeHoist.
	LaunchableType LaunchableType `json:"launchable_type"`
	// LaunchableID is P2's older, redundant launchable id (the map key names the launchable).
	// Kept as written.
	LaunchableID string `json:"launchable_id,omitempty"`
	// Location is the artifact's URL: file://, http:// or https://. P2 also allowed a location
	// without a scheme, resolved through its artifact registry; such a location is kept in
	// intent and refused at install. A launchable has a location or a version, not both.
	Location string `json:"location,omitempty"`
	// Version names the artifact for P2's artifact registry instead of a location. Kept in
	// intent and refused at install.
	Version *LaunchableVersion `json:"version,omitempty"`
	// Digest is the SHA-256 of the artifact, "sha256:" followed by 64 lowercase hex digits.
	// Installation is refused when the fetched artifact does not match it. Optional: see
	// DigestLocation.
	Digest string `json:"digest,omitempty"`
	// DigestLocation is the URL of P2's digest: a sha256sum listing of every file of the
	// unpacked artifact. The installer refuses an unpacked tree with a file missing from the
	// listing, missing from the tree, or with another hash.
	DigestLocation string `json:"digest_location,omitempty"`
	// DigestSignatureLocation is the URL of a detached PGP signature of the digest listing.
	DigestSignatureLocation string `json:"digest_signature_location,omitempty"`
	// RestartTimeout is P2's restart timeout, a Go duration string ("10s"). Kept as written.
	RestartTimeout string `json:"restart_timeout,omitempty"`
	// Cgroup is P2's per-launchable resource limits. Kept as written.
	Cgroup *Cgroup `json:"cgroup,omitempty"`
	// NoHaltOnUpdate is P2's flag to keep processes running through an update. Kept as written.
	NoHaltOnUpdate bool `json:"no_halt_on_update,omitempty"`
	// Image, Entrypoint, PostStart and PreStop are P2's docker launchable fields, kept as
	// written.
	Image      *DockerImage   `json:"image,omitempty"`
	Entrypoint []string       `json:"entrypoint,omitempty"`
	PostStart  *DockerCommand `json:"postStart,omitempty"`
	PreStop    *DockerCommand `json:"preStop,omitempty"`
	// EntryPoints are the executables to run, relative to the unpacked artifact. Empty means
	// DefaultEntryPoint; see EntryPointsOrDefault.
	EntryPoints []string `json:"entry_points,omitempty"`
	// RestartPolicy says whether an exited process is restarted. Empty means RestartAlways;
	// see RestartPolicyOrDefault.
	RestartPolicy RestartPolicy `json:"restart_policy,omitempty"`
	// Env is added to the environment of the launchable's processes.
	Env map[string]string `json:"env,omitempty"`
}

// StatusCheck is a pod's health check.
type StatusCheck struct {
	// HTTP turns on an HTTP GET of Path on Port; a 2xx answer is healthy.
	HTTP bool `json:"http"`
	// Port is the local port the pod serves its status on, 1 to 65535.
	Port int `json:"port"`
	// Path is the status URL path. Empty means DefaultStatusPath; see PathOrDefault.
	Path string `json:"path,omitempty"`
	// LocalhostOnly is P2's flag that the status port listens on localhost only. Kept as
	// written; checks are made on the local host in any case.
	LocalhostOnly bool `json:"localhost_only,omitempty"`
}

// EntryPointsOrDefault returns the launchable's entry points, or DefaultEntryPoint alone when it
// names none. The returned slice is the caller's own.
func (l Launchable) EntryPointsOrDefault() []string {
	if len(l.EntryPoints) == 0 {
		return []string{DefaultEntryPoint}
	}
	return slices.Clone(l.EntryPoints)
}

// RestartPolicyOrDefault returns the launchable's restart policy, or RestartAlways when it
// names none.
func (l Launchable) RestartPolicyOrDefault() RestartPolicy {
	if l.RestartPolicy == "" {
		return RestartAlways
	}
	return l.RestartPolicy
}

// PathOrDefault returns the status check's path, or DefaultStatusPath when it names none. A
// path without a leading "/" (which P2 allowed) gets one.
func (s StatusCheck) PathOrDefault() string {
	switch {
	case s.Path == "":
		return DefaultStatusPath
	case !strings.HasPrefix(s.Path, "/"):
		return "/" + s.Path
	}
	return s.Path
}

// GracePeriod returns TerminationGracePeriod as a duration.
func (m *Manifest) GracePeriod() time.Duration {
	return time.Duration(m.TerminationGracePeriod) * time.Second
}
