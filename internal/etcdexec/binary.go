package etcdexec

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Debian34 is where Debian's etcd-server package installs etcd 3.4.
const Debian34 = "/usr/bin/etcd"

// buildTimeout bounds one build of a server (a cold build takes minutes on
// an idle two-core machine, and over fifteen on a busy one).
const buildTimeout = 25 * time.Minute

// modules maps a version built from source to its nested module directory.
var modules = map[string]string{"3.5": "etcd35", "3.6": "etcd36"}

// Binary returns the path of the etcd server binary of version, building
// it first if needed. A missing etcd 3.4 fails the test under CI=true and
// skips it otherwise.
func Binary(t testing.TB, version string) string {
	t.Helper()
	if version == "3.4" {
		return debian34(t, Debian34)
	}
	dir, ok := modules[version]
	if !ok {
		t.Fatalf("etcdexec: %v %q: want one of %v", errUnknownVersion, version, Versions())
	}
	bin, err := built(version, dir)
	if err != nil {
		t.Fatalf("etcdexec: etcd %s: %v", version, err)
	}
	return bin
}

// debian34 checks that path is etcd 3.4 and returns it.
func debian34(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("etcdexec: etcd 3.4: %s is missing (%v); it is Debian's etcd-server package, which .ci/run installs with apt-get (apt-get install etcd-server)", path, err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s", msg)
		}
		t.Skipf("%s; skipped because CI is not true", msg)
	}
	if err := checkVersion(path, "3.4."); err != nil {
		t.Fatalf("etcdexec: etcd 3.4: %v", err)
	}
	return path
}

// builds holds one build per version per process; the file lock in build
// keeps concurrent test processes from building the same version twice.
var builds sync.Map // version → func() (string, error)

func built(version, dir string) (string, error) {
	f, _ := builds.LoadOrStore(version, sync.OnceValues(func() (string, error) { return build(version, dir) }))
	return f.(func() (string, error))()
}

// build builds the server of the nested module dir into
// <user cache>/p2kit-etcd/<module version>/etcd unless it is there.
func build(version, dir string) (string, error) {
	src, err := sourceDir(dir)
	if err != nil {
		return "", err
	}
	modVersion, err := serverVersion(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(modVersion, "v"+version+".") {
		return "", fmt.Errorf("%s/go.mod requires etcd server %s, not %s.x", dir, modVersion, version)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("user cache directory: %w", err)
	}
	out := filepath.Join(cache, "p2kit-etcd", strings.TrimPrefix(modVersion, "v"), "etcd")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %w\n%s", src, err, b)
	}
	if err := checkVersion(tmp, strings.TrimPrefix(modVersion, "v")); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// sourceDir is the nested module directory dir beside this file.
func sourceDir(dir string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("source of %s: no caller information", dir)
	}
	src := filepath.Join(filepath.Dir(file), dir)
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("module %s: %w (tests must run from a p2kit source tree)", dir, err)
	}
	return src, nil
}

// serverVersion reads the go.etcd.io/etcd/server/v3 version go.mod requires.
func serverVersion(gomod string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && f[0] == "go.etcd.io/etcd/server/v3" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s: no require of go.etcd.io/etcd/server/v3", gomod)
}

// checkVersion runs bin --version and checks it reports want (a prefix
// such as "3.4." or a full version).
func checkVersion(bin, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	if !strings.Contains(string(out), "etcd Version: "+want) {
		return fmt.Errorf("%s --version says %q, want etcd %s", bin, strings.SplitN(string(out), "\n", 2)[0], want)
	}
	return nil
}
