package hoist

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnpack(t *testing.T) {
	t.Parallel()
	data := targz(t,
		dir("./"),
		dir("bin/"),
		exe("bin/launch", "#!/bin/sh\necho hi\n"),
		entry{name: "bin/suid", typ: tar.TypeReg, body: "x", mode: 0o4755},
		file("./etc/app.conf", "a=1\n"), // parent made without its own entry
		entry{name: "private", typ: tar.TypeDir, mode: 0o500},
		file("private/secret", "s"),
		symlink("lib/launch", "../bin/launch"),
		symlink("self", "."),
		symlink("dangling", "not/there"),
		hardlink("bin/again", "bin/launch"),
		file("etc/app.conf", "a=2\n"), // a later entry replaces an earlier one
		symlink("etc/link", "app.conf"),
		file("etc/link", "no longer a link"), // and a file replaces a link without following it
	)
	dest := filepath.Join(t.TempDir(), "dest")
	require.NoError(t, Unpack(context.Background(), bytes.NewReader(data), dest, 1<<20))

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dest, name))
		require.NoError(t, err)
		return string(b)
	}
	mode := func(name string) os.FileMode {
		fi, err := os.Lstat(filepath.Join(dest, name))
		require.NoError(t, err)
		return fi.Mode()
	}
	require.Equal(t, "#!/bin/sh\necho hi\n", read("bin/launch"))
	require.Equal(t, os.FileMode(0o755), mode("bin/launch"))
	require.Equal(t, os.FileMode(0o755), mode("bin/suid"), "setuid bit dropped")
	require.Equal(t, "a=2\n", read("etc/app.conf"))
	require.Equal(t, "no longer a link", read("etc/link"))
	require.Equal(t, os.FileMode(0o700)|os.ModeDir, mode("private"), "owner keeps rwx on directories")
	require.Equal(t, "s", read("private/secret"))
	require.Equal(t, "#!/bin/sh\necho hi\n", read("lib/launch"))
	require.Equal(t, "#!/bin/sh\necho hi\n", read("bin/again"))
	target, err := os.Readlink(filepath.Join(dest, "dangling"))
	require.NoError(t, err)
	require.Equal(t, "not/there", target)

	a, err := os.Stat(filepath.Join(dest, "bin/launch"))
	require.NoError(t, err)
	b, err := os.Stat(filepath.Join(dest, "bin/again"))
	require.NoError(t, err)
	require.True(t, os.SameFile(a, b), "hard link")
}

func TestUnpackRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		entries []entry
		limit   int64
		bad     string // the entry the error must name
		why     string
	}{
		{name: "dot dot", entries: []entry{file("../evil", "x")}, bad: "../evil", why: `".."`},
		{name: "dot dot inside", entries: []entry{file("a/../../evil", "x")}, bad: "a/../../evil", why: `".."`},
		{name: "harmless dot dot", entries: []entry{file("a/../b", "x")}, bad: "a/../b", why: `".."`},
		{name: "absolute", entries: []entry{file("/abs", "x")}, bad: "/abs", why: "absolute"},
		{name: "symlink absolute", entries: []entry{symlink("passwd", "/etc/passwd")}, bad: "passwd", why: "absolute"},
		{
			name:    "symlink up then through",
			entries: []entry{symlink("a", ".."), file("a/evil", "x")},
			bad:     "a", why: "leaves the destination",
		},
		{
			name:    "symlink deep escape",
			entries: []entry{symlink("x/y/up", "../../../outside")},
			bad:     "x/y/up", why: "leaves the destination",
		},
		{
			// Lexically d/a/s2/../../.. is the root, but s2 is a link to the root, so the
			// kernel would go three levels above it.
			name: "symlink escape through another link",
			entries: []entry{
				dir("d/a/"), symlink("d/a/s2", "../.."), symlink("d/a/e", "s2/../../.."),
			},
			bad: "d/a/e", why: "leaves the destination",
		},
		{
			name: "symlink made to escape by a later entry",
			entries: []entry{
				dir("d/"), symlink("d/e", "s/../.."), symlink("d/s", "."),
			},
			bad: "d/e", why: "leaves the destination",
		},
		{
			name:    "write through a link inside",
			entries: []entry{dir("sub/"), symlink("s", "sub"), file("s/x", "x")},
			bad:     "s/x", why: "symbolic link",
		},
		{name: "hard link up", entries: []entry{hardlink("h", "../../etc/passwd")}, bad: "h", why: `".."`},
		{name: "hard link absolute", entries: []entry{hardlink("h", "/etc/passwd")}, bad: "h", why: "absolute"},
		{name: "hard link missing", entries: []entry{hardlink("h", "nothing")}, bad: "h", why: "not in the archive"},
		{
			name:    "hard link to a link",
			entries: []entry{file("f", "x"), symlink("s", "f"), hardlink("h", "s")},
			bad:     "h", why: "not a regular file",
		},
		{
			name:    "hard link through a link",
			entries: []entry{file("sub/f", "x"), symlink("s", "sub"), hardlink("h", "s/f")},
			bad:     "h", why: "symbolic link",
		},
		{name: "char device", entries: []entry{{name: "tty", typ: tar.TypeChar, mode: 0o666}}, bad: "tty", why: "device"},
		{name: "block device", entries: []entry{{name: "sda", typ: tar.TypeBlock, mode: 0o660}}, bad: "sda", why: "device"},
		{name: "fifo", entries: []entry{{name: "pipe", typ: tar.TypeFifo, mode: 0o644}}, bad: "pipe", why: "FIFO"},
		{name: "too big", entries: []entry{file("a", "12345"), file("b", "678901")}, limit: 10, bad: "b", why: "more than 10 bytes"},
		{name: "file over dir", entries: []entry{dir("d/"), file("d", "x")}, bad: "d", why: "directory"},
		{name: "dir as parent of file", entries: []entry{file("f", "x"), file("f/g", "y")}, bad: "f/g", why: "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 20
			}
			base := t.TempDir()
			dest := filepath.Join(base, "a", "b", "dest")
			err := Unpack(context.Background(), bytes.NewReader(targz(t, tc.entries...)), dest, limit)
			require.ErrorIs(t, err, ErrUnsafeArchive)
			require.ErrorContains(t, err, `entry "`+tc.bad+`"`)
			require.ErrorContains(t, err, tc.why)
			require.NoFileExists(t, filepath.Join(base, "evil"))
			require.NoFileExists(t, filepath.Join(base, "a", "evil"))
			require.NoFileExists(t, filepath.Join(base, "a", "b", "evil"))
		})
	}
}

func TestCleanName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"a":       "a",
		"./a/b/":  "a/b",
		"a//b":    "a/b",
		"./":      ".",
		"a\x00b":  "NUL",
		"":        "empty",
		"/a":      "absolute",
		"a/../b":  `".."`,
		"..":      `".."`,
		"a/b/..":  `".."`,
		"...":     "...",
		"a/..b/c": "a/..b/c",
	} {
		got, problem := cleanName(name)
		if problem != "" {
			require.Contains(t, problem, want, "%q", name)
		} else {
			require.Equal(t, want, got, "%q", name)
		}
	}
}

func TestUnpackNotAnArchive(t *testing.T) {
	t.Parallel()
	dest := t.TempDir()
	err := Unpack(context.Background(), strings.NewReader("not gzip"), dest, 1<<20)
	require.ErrorContains(t, err, "read archive")
	require.NotErrorIs(t, err, ErrUnsafeArchive)

	data := targz(t, file("a", strings.Repeat("x", 4096)))
	err = Unpack(context.Background(), bytes.NewReader(data[:len(data)/2]), dest, 1<<20)
	require.Error(t, err)
}

func TestUnpackCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := targz(t, file("a", "x"))
	err := Unpack(ctx, bytes.NewReader(data), t.TempDir(), 1<<20)
	require.ErrorIs(t, err, context.Canceled)
}
