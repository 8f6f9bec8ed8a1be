package hoist

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzUnpack")

// FuzzUnpack checks that Unpack never panics, never writes outside its destination, and never
// leaves a symbolic link that leads outside it, a device, a FIFO or a setuid file.
func FuzzUnpack(f *testing.F) {
	f.Fuzz(checkUnpack)
}

// FuzzUnpackTar is FuzzUnpack with the compression done for the fuzzer, so that it mutates the
// tar stream itself.
func FuzzUnpackTar(f *testing.F) {
	for _, data := range tarSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(checkUnpackTar)
}

// tarSeeds are uncompressed archives, valid and not, with links of every kind.
func tarSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, es := range [][]entry{
		{dir("bin/"), exe("bin/launch", "#!/bin/sh\n"), symlink("lib/l", "../bin/launch"), hardlink("h", "bin/launch")},
		{dir("d/a/"), symlink("d/a/s2", "../.."), symlink("d/a/e", "s2/../x")},
		{symlink("a", "b/c"), symlink("b", "."), file("c", "x")},
		{dir("x/y/"), symlink("x/y/up", "../../x"), symlink("x/l", "y/up/../y"), file("x/y/f", "f")},
	} {
		seeds = append(seeds, gunzip(t, targz(t, es...)))
	}
	return seeds
}

// TestUnpackMutatedArchives runs the checks of the fuzz targets on a fixed set of randomly
// damaged archives, so that every test run covers more than the seeds. (It found that links
// were left unchecked when an archive broke off part way.)
func TestUnpackMutatedArchives(t *testing.T) {
	t.Parallel()
	seeds := tarSeeds(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		data := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for range 1 + rng.IntN(4) {
			data[rng.IntN(len(data))] = byte(rng.IntN(256))
		}
		if rng.IntN(4) == 0 {
			data = data[:rng.IntN(len(data))]
		}
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkUnpackTar(t, data) })
	}
}

func checkUnpackTar(t *testing.T, tarData []byte) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(tarData)
	zw.Close()
	checkUnpack(t, buf.Bytes())
}

func gunzip(t testing.TB, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkUnpack unpacks data and checks that nothing unsafe is left on disk, whatever the error.
func checkUnpack(t *testing.T, data []byte) {
	base := t.TempDir()
	dest := filepath.Join(base, "a", "b", "dest")
	outside := filepath.Join(base, "a", "b", "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	sentinel := filepath.Join(outside, "sentinel")
	if err := os.WriteFile(sentinel, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := tree(t, base)

	// Refusing is fine; what is left on disk must be safe either way.
	err := Unpack(context.Background(), bytes.NewReader(data), dest, 1<<20)

	for p := range tree(t, base) {
		if p != dest && !strings.HasPrefix(p, dest+string(filepath.Separator)) && !before[p] {
			t.Fatalf("Unpack created %s outside its destination (error %v)", p, err)
		}
	}
	if b, rerr := os.ReadFile(sentinel); rerr != nil || string(b) != "untouched" {
		t.Fatalf("Unpack changed a file outside its destination (error %v)", err)
	}
	if _, serr := os.Stat(dest); serr != nil {
		return
	}
	realDest, rerr := filepath.EvalSymlinks(dest)
	if rerr != nil {
		t.Fatal(rerr)
	}
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil {
			t.Fatal(werr)
		}
		fi, ierr := d.Info()
		if ierr != nil {
			t.Fatal(ierr)
		}
		switch m := fi.Mode(); {
		case m&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0:
			t.Fatalf("Unpack made special file %s (%v)", p, m)
		case m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0:
			t.Fatalf("Unpack made %s with mode %v", p, m)
		case m&fs.ModeSymlink != 0:
			if why := leaves(realDest, p); why != "" {
				t.Fatalf("symbolic link %s %s (error %v)", p, why, err)
			}
		}
		return nil
	})
}

// tree returns every path under root, root included, without following links.
func tree(t *testing.T, root string) map[string]bool {
	paths := make(map[string]bool)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		paths[p] = true
		return nil
	})
	return paths
}

// leaves says how the symbolic link at link leads outside realRoot, or returns "". It follows
// the link through the kernel one element at a time (filepath.EvalSymlinks resolves ".." after
// the links before it), and past the first element that does not exist it goes on lexically.
// It is written independently of resolveInside, to check it.
func leaves(realRoot, link string) string {
	target, err := os.Readlink(link)
	if err != nil {
		return err.Error()
	}
	if filepath.IsAbs(target) {
		return "is absolute"
	}
	inside := func(p string) bool {
		return p == realRoot || strings.HasPrefix(p, realRoot+string(filepath.Separator))
	}
	at, err := filepath.EvalSymlinks(filepath.Dir(link))
	if err != nil {
		return err.Error()
	}
	elems := strings.Split(target, "/")
	for i := range elems {
		p := filepath.Dir(link) + "/" + strings.Join(elems[:i+1], "/")
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			// The rest, lexically from the last place reached.
			for _, e := range elems[i:] {
				at = filepath.Join(at, e)
				if !inside(at) {
					return "leads to " + at
				}
			}
			return ""
		}
		if !inside(real) {
			return "leads to " + real
		}
		at = real
	}
	return ""
}

// TestWriteFuzzCorpus rewrites the seed corpus of FuzzUnpack when run with -update-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Log("nothing to do: run with -update-corpus to rewrite testdata/fuzz/FuzzUnpack")
		return
	}
	corpus := filepath.Join("testdata", "fuzz", "FuzzUnpack")
	if err := os.MkdirAll(corpus, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{
		"valid":              targz(t, dir("bin/"), exe("bin/launch", "#!/bin/sh\necho hi\n"), file("etc/conf", "a=1\n"), symlink("lib/launch", "../bin/launch"), hardlink("bin/again", "bin/launch")),
		"empty":              targz(t),
		"dotdot":             targz(t, file("../evil", "x")),
		"absolute":           targz(t, file("/abs", "x")),
		"symlink-absolute":   targz(t, symlink("passwd", "/etc/passwd")),
		"symlink-up-through": targz(t, symlink("a", ".."), file("a/evil", "x")),
		"symlink-chain":      targz(t, dir("d/a/"), symlink("d/a/s2", "../.."), symlink("d/a/e", "s2/../../..")),
		"hardlink-escape":    targz(t, hardlink("h", "../../etc/passwd")),
		"device":             targz(t, entry{name: "tty", typ: '3', mode: 0o666}),
		"not-gzip":           []byte("not a gzip stream"),
	}
	for name, data := range seeds {
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(corpus, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
