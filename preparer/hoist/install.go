package hoist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"go.uber.org/zap"

	"github.com/p2kit/p2kit/manifest"
)

const (
	// ConfigFile is the name of the pod's config file in an install directory. It holds the
	// manifest's config as a JSON object.
	ConfigFile = "config.json"

	installsDir  = "installs"
	currentLink  = "current"
	manifestFile = ".manifest.json" // written last: its presence marks a complete install
	tmpPrefix    = ".tmp-"
)

// Install is one version of a pod on disk: a manifest's launchables unpacked and its config
// written, hooks before_install and after_install run.
type Install struct {
	// PodID is the pod's id.
	PodID string
	// Digest is the manifest's digest (64 hex digits, see manifest.Manifest.Digest), which names
	// the install directory.
	Digest string
	// Dir is the install directory, "<pod-root>/<pod-id>/installs/<digest>".
	Dir string
	// PodHome is the pod's directory, "<pod-root>/<pod-id>".
	PodHome string
	// ConfigPath is the pod's config file, "<Dir>/config.json".
	ConfigPath string
	// Launchables maps each launchable's name to the directory its artifact is unpacked in,
	// "<Dir>/<name>".
	Launchables map[string]string
	// Manifest is the manifest installed. It is the Install's own copy.
	Manifest *manifest.Manifest
}

// Install makes sure the manifest's version of its pod is installed and returns it. A complete
// install of the same manifest digest already on disk is returned as it is, without fetching
// or running hooks again. Otherwise Install fetches every launchable's artifact (or takes it from
// the cache), verifies its digest, unpacks it into a temporary directory next to the pod's
// installs along with the config file, renames that into place, runs the launchables' hooks
// before_install and then after_install, and finally marks the install complete. Whatever
// fails, nothing is left that a later call would take for a complete install; leftovers of
// an earlier, interrupted call are removed first. The install becomes the pod's current one
// (see Current).
//
// A hoist launchable is installed only when it can be verified: by its digest (the artifact's
// sha256), by its digest_location (a sha256sum listing the unpacked tree must match exactly),
// or both; without either it is refused with ErrUnverified unless the Installer was made with
// WithAllowUnverifiedArtifacts. A digest_signature_location is checked when the Installer has
// trusted PGP keys (WithTrustedPGPKeys). Launchables of other types are refused with
// ErrUnsupported.
//
// A launchable that names its artifact by version is resolved through the artifact registry,
// as P2 did: the manifest's artifact_registry, or else the Installer's (WithArtifactRegistry).
// The Installer asks GET <registry>/discover/<pod-id>?artifact_name=<launchable or
// version.artifact_name>&version=<version.id> (with version.tags, and os and os_version when
// known) and fetches the location the JSON answer names; when the launchable has neither
// digest nor digest_location, the answer's manifest_location (a build manifest whose
// artifact_sha is the artifact's sha256) verifies it, its manifest_signature_location checked
// when the Installer has trusted PGP keys. A location without a scheme is resolved against the
// registry's URL. Without a registry such launchables are refused with ErrUnsupported; a
// registry that fails or answers badly gives an error wrapping ErrRegistry.
//
// Errors name the pod and the launchable, and wrap ErrFetch, ErrDigestMismatch,
// ErrUnsafeArchive, ErrUnverified, ErrUnsupported, ErrSignature or ErrHook as fits, or the context's error.
func (in *Installer) Install(ctx context.Context, m *manifest.Manifest) (*Install, error) {
	if m == nil {
		return nil, errors.New("install: nil manifest")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("install pod %q: %w", m.ID, err)
	}
	if _, ok := m.Launchables[ConfigFile]; ok {
		return nil, fmt.Errorf("install pod %s: launchable %q has the name of the config file", m.ID, ConfigFile)
	}
	digest, err := m.Digest()
	if err != nil {
		return nil, fmt.Errorf("install pod %s: %w", m.ID, err)
	}
	in.cleanLeftovers()
	unlock, err := in.locks.lock(ctx, m.ID)
	if err != nil {
		return nil, fmt.Errorf("install pod %s: %w", m.ID, err)
	}
	defer unlock()

	log := in.log.With(zap.String("pod", m.ID), zap.String("digest", digest))
	home := in.PodHome(m.ID)
	in.cleanInstalls(log, filepath.Join(home, installsDir), "")

	inst, err := in.lookup(m.ID, digest)
	if err == nil {
		if err := in.setCurrent(home, digest); err != nil {
			return nil, fmt.Errorf("install pod %s: %w", m.ID, err)
		}
		log.Debug("install already complete")
		return inst, nil
	}
	if !errors.Is(err, ErrNotInstalled) {
		return nil, fmt.Errorf("install pod %s: %w", m.ID, err)
	}

	_, statErr := os.Lstat(home)
	created := errors.Is(statErr, fs.ErrNotExist)
	inst, err = in.install(ctx, log, m, digest)
	if err != nil {
		if created {
			// Leave no empty pod directory behind for Pods to report.
			if rerr := discard(home); rerr != nil {
				log.Warn("remove pod directory after failed install", zap.Error(rerr))
			}
		}
		log.Warn("install failed", zap.Error(err))
		return nil, fmt.Errorf("install pod %s: %w", m.ID, err)
	}
	log.Info("pod installed", zap.String("dir", inst.Dir))
	return inst, nil
}

// install does the work of Install for a version that is not on disk yet.
func (in *Installer) install(ctx context.Context, log *zap.Logger, m *manifest.Manifest, digest string) (*Install, error) {
	names := launchableNames(m)
	resolved := make(map[string]manifest.Launchable, len(names))
	for _, name := range names {
		l, err := in.resolve(ctx, log, m, name, m.Launchables[name])
		if err != nil {
			return nil, fmt.Errorf("launchable %s: %w", name, err)
		}
		if err := in.checkInstallable(log, name, l); err != nil {
			return nil, err
		}
		resolved[name] = l
	}

	// Fetch and verify everything before creating anything, so that a bad artifact leaves the
	// pod's directory as it was.
	files := make([]*os.File, 0, len(names))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, name := range names {
		f, err := in.artifact(ctx, resolved[name])
		if err != nil {
			return nil, fmt.Errorf("launchable %s: %w", name, err)
		}
		files = append(files, f)
	}

	home := in.PodHome(m.ID)
	installs := filepath.Join(home, installsDir)
	if err := os.MkdirAll(installs, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(installs, tmpPrefix)
	if err != nil {
		return nil, err
	}
	renamed := false
	defer func() {
		if !renamed {
			if err := forceRemoveAll(tmp); err != nil {
				log.Warn("remove temporary install directory", zap.String("dir", tmp), zap.Error(err))
			}
		}
	}()
	for i, name := range names {
		l := resolved[name]
		dest := filepath.Join(tmp, name)
		if err := Unpack(ctx, files[i], dest, in.maxUnpacked); err != nil {
			return nil, fmt.Errorf("launchable %s: unpack %s (%s): %w", name, redact(l.Location), l.Digest, err)
		}
		if l.DigestLocation != "" {
			listing, err := in.fetchListing(ctx, l)
			if err != nil {
				return nil, fmt.Errorf("launchable %s: %w", name, err)
			}
			if err := VerifyTree(ctx, dest, listing); err != nil {
				return nil, fmt.Errorf("launchable %s: verify %s against %s: %w", name, redact(l.Location), redact(l.DigestLocation), err)
			}
			log.Info("artifact verified against its digest listing", zap.String("launchable", name),
				zap.String("digest_location", redact(l.DigestLocation)), zap.Int("files", len(listing)))
		}
	}
	if err := writeConfig(filepath.Join(tmp, ConfigFile), m.Config); err != nil {
		return nil, err
	}

	dir := filepath.Join(installs, digest)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	renamed = true
	inst := newInstall(m.Clone(), home, dir, digest)
	complete := false
	defer func() {
		if !complete {
			if err := discard(dir); err != nil {
				log.Warn("remove failed install", zap.String("dir", dir), zap.Error(err))
			}
		}
	}()
	for _, hook := range []string{HookBeforeInstall, HookAfterInstall} {
		if err := in.runHook(ctx, inst, hook); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(filepath.Join(dir, manifestFile), m); err != nil {
		return nil, err
	}
	complete = true
	if err := in.setCurrent(home, digest); err != nil {
		return nil, err
	}
	return inst, nil
}

func newInstall(m *manifest.Manifest, home, dir, digest string) *Install {
	inst := &Install{
		PodID:       m.ID,
		Digest:      digest,
		Dir:         dir,
		PodHome:     home,
		ConfigPath:  filepath.Join(dir, ConfigFile),
		Launchables: make(map[string]string, len(m.Launchables)),
		Manifest:    m,
	}
	for name := range m.Launchables {
		inst.Launchables[name] = filepath.Join(dir, name)
	}
	return inst
}

func launchableNames(m *manifest.Manifest) []string {
	names := make([]string, 0, len(m.Launchables))
	for name := range m.Launchables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func writeConfig(file string, config map[string]any) error {
	if config == nil {
		config = map[string]any{}
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// writeManifest writes the manifest to file through a temporary file, so that file either does
// not exist or holds all of it.
func writeManifest(file string, m *manifest.Manifest) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
