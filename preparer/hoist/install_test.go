package hoist

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/p2kit/p2kit/manifest"
)

var helloArtifact = []entry{
	dir("bin/"),
	exe("bin/launch", "#!/bin/sh\nexec sleep 1000\n"),
	file("README", "hello\n"),
}

func TestInstallFromFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	loc, sum := artifactFile(t, targz(t, helloArtifact...))
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(loc, sum)})
	in := New(root)

	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	digest := manifestDigest(t, m)
	dir := filepath.Join(root, "hello", "installs", digest)
	require.Equal(t, &Install{
		PodID:       "hello",
		Digest:      digest,
		Dir:         dir,
		PodHome:     filepath.Join(root, "hello"),
		ConfigPath:  filepath.Join(dir, "config.json"),
		Launchables: map[string]string{"app": filepath.Join(dir, "app")},
		Manifest:    m,
	}, inst)

	fi, err := os.Stat(filepath.Join(dir, "app", "bin", "launch"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	var config map[string]any
	data, err := os.ReadFile(inst.ConfigPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &config))
	require.Equal(t, map[string]any{"port": 8080.0}, config)

	installed, err := in.Installed("hello")
	require.NoError(t, err)
	require.Equal(t, []string{digest}, installed)
	pods, err := in.Pods()
	require.NoError(t, err)
	require.Equal(t, []string{"hello"}, pods, "the cache is no pod")
	cur, err := in.Current("hello")
	require.NoError(t, err)
	require.Equal(t, inst, cur)
	looked, err := in.Lookup("hello", digest)
	require.NoError(t, err)
	require.Equal(t, inst, looked)
	require.Equal(t, []string{sum[len("sha256:"):] + ".tar.gz"}, entries(t, filepath.Join(root, ".cache")))

	_, err = in.Current("other")
	require.ErrorIs(t, err, ErrNotInstalled)
	_, err = in.Lookup("hello", manifestDigest(t, podManifest(t, "other", m.Launchables)))
	require.ErrorIs(t, err, ErrNotInstalled)
}

func TestInstallFromHTTPReusesCompleteInstall(t *testing.T) {
	t.Parallel()
	data := targz(t, helloArtifact...)
	srv := newServer(t, map[string][]byte{"/hello_1.tar.gz": data})
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(srv.URL+"/hello_1.tar.gz", digestOfBytes(data)),
	})
	root := t.TempDir()

	first, err := New(root).Install(testCtx(t), m)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(first.Launchables["app"], "bin", "launch"))
	require.EqualValues(t, 1, srv.hits.Load())

	// Again, and again from a new Installer as after a restart: nothing is fetched.
	again, err := New(root).Install(testCtx(t), m)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.EqualValues(t, 1, srv.hits.Load())

	// Another pod with the same artifact takes it from the cache.
	other := podManifest(t, "other", m.Launchables)
	_, err = New(root).Install(testCtx(t), other)
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.hits.Load())

	// A damaged cached artifact is noticed and fetched again.
	cached := filepath.Join(root, ".cache", digestOfBytes(data)[len("sha256:"):]+".tar.gz")
	require.NoError(t, os.WriteFile(cached, []byte("damaged"), 0o644))
	third := podManifest(t, "third", m.Launchables)
	_, err = New(root).Install(testCtx(t), third)
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.hits.Load())
}

// requireNothingInstalled checks that the pod has no directory at all.
func requireNothingInstalled(t *testing.T, in *Installer, podID string) {
	t.Helper()
	require.NoDirExists(t, in.PodHome(podID))
	pods, err := in.Pods()
	require.NoError(t, err)
	require.Empty(t, pods)
	installed, err := in.Installed(podID)
	require.NoError(t, err)
	require.Empty(t, installed)
}

func TestInstallWrongDigest(t *testing.T) {
	t.Parallel()
	data := targz(t, helloArtifact...)
	loc, _ := artifactFile(t, data)
	wrong := digestOfBytes([]byte("something else"))
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(loc, wrong)})
	in := New(t.TempDir())

	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrDigestMismatch)
	require.ErrorContains(t, err, "install pod hello: launchable app")
	require.ErrorContains(t, err, loc)
	require.ErrorContains(t, err, "want "+wrong)
	require.ErrorContains(t, err, "got "+digestOfBytes(data))
	requireNothingInstalled(t, in, "hello")
	require.Empty(t, entries(t, filepath.Join(in.PodRoot(), ".cache")), "nothing cached")

	// The version already installed stays as it is.
	good := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(artifactFile(t, data))})
	inst, err := in.Install(testCtx(t), good)
	require.NoError(t, err)
	_, err = in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrDigestMismatch)
	installed, err := in.Installed("hello")
	require.NoError(t, err)
	require.Equal(t, []string{inst.Digest}, installed)
	cur, err := in.Current("hello")
	require.NoError(t, err)
	require.Equal(t, inst.Digest, cur.Digest)
}

func TestInstallMissingFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.tar.gz")
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable("file://"+missing, digestOfBytes(nil)),
	})
	in := New(t.TempDir())
	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrFetch)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "install pod hello: launchable app: fetch file://"+missing)
	requireNothingInstalled(t, in, "hello")
}

func TestInstallNotFoundURL(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	url := srv.URL + "/x/y.tar.gz"
	m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(url, digestOfBytes(nil))})
	in := New(t.TempDir())
	_, err := in.Install(testCtx(t), m)
	require.ErrorIs(t, err, ErrFetch)
	require.ErrorContains(t, err, "fetch "+url+": 404 Not Found")
	requireNothingInstalled(t, in, "hello")
}

func TestInstallTooBig(t *testing.T) {
	t.Parallel()
	data := targz(t, helloArtifact...)
	srv := newServer(t, map[string][]byte{"/a.tar.gz": data})
	for _, loc := range []string{srv.URL + "/a.tar.gz", func() string { l, _ := artifactFile(t, data); return l }()} {
		m := podManifest(t, "hello", map[string]manifest.Launchable{"app": launchable(loc, digestOfBytes(data))})
		in := New(t.TempDir(), WithMaxArtifactSize(int64(len(data)-1)))
		_, err := in.Install(testCtx(t), m)
		require.ErrorIs(t, err, ErrFetch)
		require.ErrorContains(t, err, "larger than the limit")
		requireNothingInstalled(t, in, "hello")
	}
}

func TestInstallUnsafeArchive(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		entries []entry
		bad     string
	}{
		"traversal":       {[]entry{file("../evil", "x")}, "../evil"},
		"absolute":        {[]entry{file("/abs", "x")}, "/abs"},
		"symlink passwd":  {[]entry{symlink("passwd", "/etc/passwd")}, "passwd"},
		"symlink up":      {[]entry{symlink("a", ".."), file("a/evil", "x")}, "a"},
		"hard link":       {[]entry{hardlink("h", "../../../etc/passwd")}, "h"},
		"device":          {[]entry{{name: "dev/null", typ: '3', mode: 0o666}}, "dev/null"},
		"second artifact": {[]entry{dir("bin/"), file("bin/ok", "x"), file("bin/../../evil", "x")}, "bin/../../evil"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := targz(t, tc.entries...)
			good := targz(t, helloArtifact...)
			m := podManifest(t, "hello", map[string]manifest.Launchable{
				"a-good": launchable(artifactFile(t, good)),
				"b-bad":  launchable(artifactFile(t, data)),
			})
			in := New(t.TempDir())
			_, err := in.Install(testCtx(t), m)
			require.ErrorIs(t, err, ErrUnsafeArchive)
			require.ErrorContains(t, err, "install pod hello: launchable b-bad: unpack file://")
			require.ErrorContains(t, err, `entry "`+tc.bad+`"`)
			requireNothingInstalled(t, in, "hello")
		})
	}
}

func TestConcurrentInstallsOfOneArtifact(t *testing.T) {
	t.Parallel()
	data := targz(t, helloArtifact...)
	// Hold each download until both have started, so that both write the cache at once.
	var (
		arrived = make(chan struct{}, 2)
		hits    sync.WaitGroup
	)
	hits.Add(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		hits.Done()
		hits.Wait()
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	l := launchable(srv.URL+"/a.tar.gz", digestOfBytes(data))
	in := New(t.TempDir())

	pods := []string{"one", "two"}
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, id := range pods {
		wg.Go(func() {
			_, errs[i] = in.Install(testCtx(t), podManifest(t, id, map[string]manifest.Launchable{"app": l}))
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Len(t, arrived, 2)
	for _, id := range pods {
		require.FileExists(t, filepath.Join(in.PodHome(id), "current", "app", "bin", "launch"))
	}
	require.Equal(t, []string{digestOfBytes(data)[len("sha256:"):] + ".tar.gz"},
		entries(t, filepath.Join(in.PodRoot(), ".cache")), "one cached file, no temporary ones")
}

func TestHangingDownloadIsCancelledAndBlocksNoOtherPod(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	in := New(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hanging := podManifest(t, "hangs", map[string]manifest.Launchable{
		"app": launchable(srv.URL+"/a.tar.gz", digestOfBytes(nil)),
	})
	done := make(chan error, 1)
	go func() {
		_, err := in.Install(ctx, hanging)
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the download never started")
	}

	// Another pod installs while the first hangs.
	other := podManifest(t, "other", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, helloArtifact...))),
	})
	_, err := in.Install(testCtx(t), other)
	require.NoError(t, err)

	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "install pod hangs: launchable app: fetch "+srv.URL)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled install did not return")
	}
	require.NoDirExists(t, in.PodHome("hangs"))
	require.Equal(t, []string{digestOfBytes(targz(t, helloArtifact...))[len("sha256:"):] + ".tar.gz"},
		entries(t, filepath.Join(in.PodRoot(), ".cache")), "no partial download left")
}

func TestLeftoversOfAnInterruptedInstallAreCleaned(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, targz(t, helloArtifact...))),
	})
	digest := manifestDigest(t, m)
	installs := filepath.Join(root, "hello", "installs")
	// A killed install leaves a temporary directory, or an install renamed into place whose
	// hooks never finished (no .manifest.json).
	require.NoError(t, os.MkdirAll(filepath.Join(installs, ".tmp-123", "app", "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(installs, ".tmp-123", "app", "bin", "launch"), []byte("half"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(installs, digest, "app"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(installs, digest, "app", "partial"), nil, 0o644))
	readOnly := filepath.Join(installs, digest, "app", "ro")
	require.NoError(t, os.MkdirAll(filepath.Join(readOnly, "x"), 0o755))
	require.NoError(t, os.Chmod(readOnly, 0o500))
	// And a download that never finished.
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".cache"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, ".cache", ".tmp-456.tar.gz"), []byte("half"), 0o644))
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(root, ".cache", ".tmp-456.tar.gz"), past, past))

	in := New(root)
	installed, err := in.Installed("hello")
	require.NoError(t, err)
	require.Empty(t, installed, "an install without its manifest is not complete")

	inst, err := in.Install(testCtx(t), m)
	require.NoError(t, err)
	require.Equal(t, []string{digest}, entries(t, installs))
	require.NoFileExists(t, filepath.Join(inst.Launchables["app"], "partial"))
	require.FileExists(t, filepath.Join(inst.Launchables["app"], "bin", "launch"))
	require.Len(t, entries(t, filepath.Join(root, ".cache")), 1)
}

func TestPrune(t *testing.T) {
	t.Parallel()
	in := New(t.TempDir())
	l := map[string]manifest.Launchable{"app": launchable(artifactFile(t, targz(t, helloArtifact...)))}
	var digests []string
	for _, port := range []float64{1, 2, 3} {
		m := podManifest(t, "hello", l)
		m.Config["port"] = port
		inst, err := in.Install(testCtx(t), m)
		require.NoError(t, err)
		digests = append(digests, inst.Digest)
	}
	installed, err := in.Installed("hello")
	require.NoError(t, err)
	require.ElementsMatch(t, digests, installed)

	require.NoError(t, in.Prune("hello", digests[2]))
	installed, err = in.Installed("hello")
	require.NoError(t, err)
	require.Equal(t, digests[2:], installed)
	cur, err := in.Current("hello")
	require.NoError(t, err)
	require.Equal(t, digests[2], cur.Digest)
	require.Equal(t, []string{digests[2]}, entries(t, filepath.Join(in.PodHome("hello"), "installs")))

	require.ErrorContains(t, in.Prune("hello", "sha256:"+digests[2]), "invalid manifest digest")
	require.NoError(t, in.Prune("absent", digests[2]))
}

func TestInstallRefusesBadInput(t *testing.T) {
	t.Parallel()
	in := New(t.TempDir())
	_, err := in.Install(testCtx(t), nil)
	require.Error(t, err)
	_, err = in.Install(testCtx(t), &manifest.Manifest{ID: "../x"})
	require.ErrorIs(t, err, manifest.ErrInvalid)
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"config.json": launchable(artifactFile(t, targz(t, helloArtifact...))),
	})
	_, err = in.Install(testCtx(t), m)
	require.ErrorContains(t, err, "config file")
	_, err = in.Installed("../x")
	require.ErrorIs(t, err, manifest.ErrInvalidID)
	require.ErrorIs(t, in.Uninstall(testCtx(t), "../x"), manifest.ErrInvalidID)
}

func TestConcurrentInstallsOfOnePodTakeTurns(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "order")
	m := podManifest(t, "hello", map[string]manifest.Launchable{
		"app": launchable(artifactFile(t, hookArtifact(t, log, HookAfterInstall))),
	})
	in := New(t.TempDir())
	insts := make([]*Install, 4)
	var wg sync.WaitGroup
	for i := range insts {
		wg.Go(func() {
			inst, err := in.Install(testCtx(t), m)
			if err != nil {
				t.Error(err)
			}
			insts[i] = inst
		})
	}
	wg.Wait()
	for _, inst := range insts {
		require.Equal(t, insts[0], inst)
	}
	require.Equal(t, []string{"app after_install"}, readLines(t, log), "installed once, then reused")
}

func TestUninstallWaitsForTheInstallOfItsPod(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	in := New(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := in.Install(ctx, podManifest(t, "hangs", map[string]manifest.Launchable{
			"app": launchable(srv.URL+"/a.tar.gz", digestOfBytes(nil)),
		}))
		done <- err
	}()
	<-arrived

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	require.ErrorIs(t, in.Uninstall(short, "hangs"), context.DeadlineExceeded)

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, in.Uninstall(testCtx(t), "hangs"))
}
