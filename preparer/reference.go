package preparer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/hoist"
)

// Hoist adapts the reference installer (tar.gz artifacts with hooks) to
// Installer.
func Hoist(in *hoist.Installer) Installer { return hoistInstaller{in} }

type hoistInstaller struct{ in *hoist.Installer }

func (h hoistInstaller) Install(ctx context.Context, m *manifest.Manifest) (string, error) {
	inst, err := h.in.Install(ctx, m)
	if err != nil {
		return "", err
	}
	return inst.Dir, nil
}

func (h hoistInstaller) Hook(ctx context.Context, m *manifest.Manifest, dir, hook string) error {
	inst, err := h.in.Lookup(m.ID, filepath.Base(dir))
	if err != nil {
		return fmt.Errorf("hook %s of pod %s: %w", hook, m.ID, err)
	}
	return h.in.RunHook(ctx, inst, hook)
}

func (h hoistInstaller) Uninstall(ctx context.Context, podID string) error {
	return h.in.Uninstall(ctx, podID)
}

func (h hoistInstaller) Prune(_ context.Context, podID, keepDigest string) error {
	return h.in.Prune(podID, keepDigest)
}

func (h hoistInstaller) Pods() ([]string, error) { return h.in.Pods() }
