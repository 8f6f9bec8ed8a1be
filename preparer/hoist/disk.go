package hoist

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/p2kit/p2kit/manifest"
)

// Lookup returns the pod's complete install of the manifest with the given digest (64 hex
// digits), or an error wrapping ErrNotInstalled.
func (in *Installer) Lookup(podID, digest string) (*Install, error) {
	if err := manifest.ValidateID(podID); err != nil {
		return nil, err
	}
	if !isDigest(digest) {
		return nil, fmt.Errorf("pod %s: invalid manifest digest %q: want 64 lowercase hex digits", podID, digest)
	}
	return in.lookup(podID, digest)
}

// Current returns the pod's install that Install returned last, or an error wrapping
// ErrNotInstalled if there is none on disk. After a restart it tells which version the pod
// was at.
func (in *Installer) Current(podID string) (*Install, error) {
	if err := manifest.ValidateID(podID); err != nil {
		return nil, err
	}
	target, err := os.Readlink(filepath.Join(in.PodHome(podID), currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pod %s: %w", podID, ErrNotInstalled)
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", podID, err)
	}
	digest := filepath.Base(target)
	if !isDigest(digest) {
		return nil, fmt.Errorf("pod %s: current install %q: %w", podID, target, ErrNotInstalled)
	}
	return in.lookup(podID, digest)
}

// lookup returns the complete install of the digest, or an error wrapping ErrNotInstalled.
func (in *Installer) lookup(podID, digest string) (*Install, error) {
	home := in.PodHome(podID)
	dir := filepath.Join(home, installsDir, digest)
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pod %s: install %s: %w", podID, digest, ErrNotInstalled)
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s: install %s: %w", podID, digest, err)
	}
	m, err := manifest.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("pod %s: install %s: %w: %w", podID, digest, ErrNotInstalled, err)
	}
	if got, err := m.Digest(); err != nil || got != digest || m.ID != podID {
		return nil, fmt.Errorf("pod %s: install %s holds the manifest of another version: %w", podID, digest, ErrNotInstalled)
	}
	inst := newInstall(m, home, dir, digest)
	for name, ldir := range inst.Launchables {
		if fi, err := os.Lstat(ldir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("pod %s: install %s: launchable %s is missing: %w", podID, digest, name, ErrNotInstalled)
		}
	}
	return inst, nil
}

// Installed returns the manifest digests of the pod's complete installs on disk, sorted. A pod
// with nothing on disk has none.
func (in *Installer) Installed(podID string) ([]string, error) {
	if err := manifest.ValidateID(podID); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(in.PodHome(podID), installsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", podID, err)
	}
	var digests []string
	for _, e := range entries {
		if !e.IsDir() || !isDigest(e.Name()) {
			continue
		}
		if _, err := in.lookup(podID, e.Name()); err == nil {
			digests = append(digests, e.Name())
		}
	}
	return digests, nil
}

// Pods returns the ids of the pods that have a directory under the pod root, complete install
// or not, sorted. The cache and the installer's temporary directories are not pods.
func (in *Installer) Pods() ([]string, error) {
	entries, err := os.ReadDir(in.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pods []string
	for _, e := range entries {
		if e.IsDir() && manifest.ValidateID(e.Name()) == nil {
			pods = append(pods, e.Name())
		}
	}
	return pods, nil
}

// Prune removes the pod's installs other than keepDigest (64 hex digits), with any leftovers of
// interrupted installs: the old versions after an upgrade. It waits for a call on the same pod
// that is in progress.
func (in *Installer) Prune(podID, keepDigest string) error {
	if err := manifest.ValidateID(podID); err != nil {
		return err
	}
	if !isDigest(keepDigest) {
		return fmt.Errorf("prune pod %s: invalid manifest digest %q: want 64 lowercase hex digits", podID, keepDigest)
	}
	unlock, err := in.locks.lock(context.Background(), podID)
	if err != nil {
		return err
	}
	defer unlock()
	log := in.log.With(zap.String("pod", podID))
	home := in.PodHome(podID)
	if err := in.cleanInstalls(log, filepath.Join(home, installsDir), keepDigest); err != nil {
		return fmt.Errorf("prune pod %s: %w", podID, err)
	}
	// A current link to a version just removed would only mislead.
	if target, err := os.Readlink(filepath.Join(home, currentLink)); err == nil && filepath.Base(target) != keepDigest {
		if err := os.Remove(filepath.Join(home, currentLink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("prune pod %s: %w", podID, err)
		}
	}
	return nil
}

// Uninstall runs the before_uninstall hooks of the pod's current install, if there is one, and
// then removes the pod's directory with everything in it. A failing hook is logged and does not
// stop the removal. Uninstalling a pod that is not on disk does nothing. It waits for a call on
// the same pod that is in progress, or for ctx.
func (in *Installer) Uninstall(ctx context.Context, podID string) error {
	if err := manifest.ValidateID(podID); err != nil {
		return err
	}
	in.cleanLeftovers()
	unlock, err := in.locks.lock(ctx, podID)
	if err != nil {
		return fmt.Errorf("uninstall pod %s: %w", podID, err)
	}
	defer unlock()
	log := in.log.With(zap.String("pod", podID))
	home := in.PodHome(podID)
	if _, err := os.Lstat(home); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if inst, err := in.Current(podID); err == nil {
		if err := in.RunHook(ctx, inst, HookBeforeUninstall); err != nil {
			log.Warn("before_uninstall hook failed; removing the pod anyway", zap.Error(err))
		}
	} else {
		log.Debug("no current install; no before_uninstall hook to run", zap.Error(err))
	}
	if err := discard(home); err != nil {
		return fmt.Errorf("uninstall pod %s: %w", podID, err)
	}
	log.Info("pod uninstalled")
	return nil
}

// cleanInstalls removes from a pod's installs directory every temporary directory and every
// install that is not complete, and every complete one too unless its digest is keep. The
// caller holds the pod's lock, so none of these belongs to a call in progress. An empty keep
// keeps every complete install. Problems are logged, and the last one returned.
func (in *Installer) cleanInstalls(log *zap.Logger, installs, keep string) error {
	entries, err := os.ReadDir(installs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	podID := filepath.Base(filepath.Dir(installs))
	var last error
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == keep:
			continue
		case strings.HasPrefix(name, tmpPrefix):
			log.Info("removing leftover of an interrupted install", zap.String("dir", name))
		case isDigest(name):
			if keep == "" {
				if _, err := in.lookup(podID, name); err == nil {
					continue
				}
				log.Info("removing incomplete install", zap.String("dir", name))
			} else {
				log.Info("removing old install", zap.String("dir", name))
			}
		default:
			continue
		}
		if err := discard(filepath.Join(installs, name)); err != nil {
			log.Warn("remove install directory", zap.String("dir", name), zap.Error(err))
			last = err
		}
	}
	return last
}

// cleanLeftovers removes, once per Installer, the temporary files and directories in the pod
// root and the cache that were made before the Installer was: they belong to a process that
// is gone.
func (in *Installer) cleanLeftovers() {
	in.cleanOnce.Do(func() {
		for _, dir := range []string{in.root, in.cacheDir} {
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), tmpPrefix) {
					continue
				}
				fi, err := e.Info()
				if err != nil || !fi.ModTime().Before(in.started) {
					continue
				}
				p := filepath.Join(dir, e.Name())
				if err := forceRemoveAll(p); err != nil {
					in.log.Warn("remove leftover temporary file", zap.String("path", p), zap.Error(err))
				} else {
					in.log.Info("removed leftover temporary file", zap.String("path", p))
				}
			}
		}
	})
}

// setCurrent points the pod's current link at the install of digest, replacing the link in
// one rename.
func (in *Installer) setCurrent(home, digest string) error {
	link := filepath.Join(home, currentLink)
	target := filepath.Join(installsDir, digest)
	if t, err := os.Readlink(link); err == nil && t == target {
		return nil
	}
	tmp := filepath.Join(home, tmpPrefix+"current-"+rand.Text())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// discard removes dir and everything in it. It first renames dir to a temporary name beside
// it, so that a crash part way through leaves a temporary directory, never a damaged install
// under its real name. A missing dir is not an error.
func discard(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !strings.HasPrefix(filepath.Base(dir), tmpPrefix) {
		trash, err := os.MkdirTemp(filepath.Dir(dir), tmpPrefix)
		if err == nil {
			if err = os.Rename(dir, filepath.Join(trash, "x")); err == nil {
				dir = trash
			} else {
				os.Remove(trash)
			}
		}
	}
	return forceRemoveAll(dir)
}

// forceRemoveAll is os.RemoveAll, which also removes what is in directories whose owner has
// taken away their own write permission.
func forceRemoveAll(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// isDigest reports whether s is 64 lowercase hex digits, the form of a manifest digest.
func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
