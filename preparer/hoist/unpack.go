package hoist

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const (
	// maxEntries bounds the number of entries an archive may hold, so that an archive of
	// millions of empty files cannot exhaust the file system's inodes.
	maxEntries = 1 << 20
	// maxLinkHops bounds how many symbolic links resolving one link may pass through.
	maxLinkHops = 40
)

// Unpack reads a gzip-compressed tar archive from r and writes its contents under dest,
// creating dest if needed. It refuses, with an error wrapping ErrUnsafeArchive that names the
// entry:
//
//   - names that are empty, absolute, hold a NUL byte or a ".." element;
//   - entries whose parent directory is a symbolic link (nothing is written through a link);
//   - symbolic links that are absolute or that resolve, through the links around them, to a
//     place outside dest; checked when the link is unpacked and again, against the tree left
//     behind, once unpacking ends (such links are removed);
//   - hard links to anything but a regular file already unpacked under dest;
//   - devices, FIFOs and other entries that are neither files, directories nor links;
//   - more than limit bytes of file data (data carried by other entries counts too, as it
//     must be decompressed to be skipped), or more than a million entries.
//
// Regular files keep their permission bits (the executable bits among them) but never setuid,
// setgid or sticky; directories are always readable, writable and searchable by their owner, so
// that the tree can be removed. Owners and times are not restored. A later entry for the same
// name replaces an earlier file or link; a directory is never replaced. Unpack checks ctx between
// reads. On error dest may hold part of the archive, though no link leading out of it; the
// caller removes it.
func Unpack(ctx context.Context, r io.Reader, dest string, limit int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	err := unpack(ctx, r, dest, limit)
	// Links are checked even when unpacking stopped part way, so that what is left behind holds
	// no link that leads outside dest.
	if lerr := checkLinks(dest); err == nil {
		err = lerr
	}
	return err
}

func unpack(ctx context.Context, r io.Reader, dest string, limit int64) error {
	zr, err := gzip.NewReader(&ctxReader{ctx: ctx, r: r})
	if err != nil {
		return unpackReadErr(ctx, err)
	}
	defer zr.Close()
	u := &unpacker{
		ctx:   ctx,
		dest:  dest,
		limit: limit,
		tr:    tar.NewReader(zr),
		dirs:  map[string]bool{".": true},
	}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := u.tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return unpackReadErr(ctx, err)
		}
		if n >= maxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, maxEntries)
		}
		if err := u.entry(hdr); err != nil {
			return err
		}
	}
}

func unpackReadErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("read archive: %w", err)
}

type unpacker struct {
	ctx     context.Context
	dest    string
	limit   int64
	written int64
	tr      *tar.Reader
	// dirs holds the names (relative, slash-separated) known to be real directories under dest.
	// A directory is never replaced, so a name in dirs stays a directory.
	dirs map[string]bool
}

// unsafe returns an error naming the entry, wrapping ErrUnsafeArchive.
func unsafe(name, format string, args ...any) error {
	return fmt.Errorf("%w: entry %q: %s", ErrUnsafeArchive, name, fmt.Sprintf(format, args...))
}

// cleanName checks an archive name and returns it cleaned, relative to the root and
// slash-separated ("." is the root itself), or says what is wrong with it.
func cleanName(name string) (string, string) {
	switch {
	case name == "":
		return "", "empty name"
	case strings.IndexByte(name, 0) >= 0:
		return "", "name holds a NUL byte"
	case strings.HasPrefix(name, "/"):
		return "", "absolute path"
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", "path holds \"..\""
		}
	}
	return path.Clean(name), ""
}

func (u *unpacker) entry(hdr *tar.Header) error {
	if hdr.Size > u.limit-u.written {
		return fmt.Errorf("%w: entry %q: archive unpacks to more than %d bytes",
			ErrUnsafeArchive, hdr.Name, u.limit)
	}
	if hdr.Typeflag != tar.TypeReg {
		u.written += hdr.Size
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // PAX defaults for later entries; archive/tar applies what it supports
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeChar, tar.TypeBlock:
		return unsafe(hdr.Name, "device file")
	case tar.TypeFifo:
		return unsafe(hdr.Name, "FIFO")
	default:
		return unsafe(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
	name, problem := cleanName(hdr.Name)
	if problem != "" {
		return unsafe(hdr.Name, "%s", problem)
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the root itself
		}
		return unsafe(hdr.Name, "names the destination itself")
	}
	if err := u.parents(hdr.Name, name, true); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.dir(hdr, name)
	case tar.TypeReg:
		return u.file(hdr, name)
	case tar.TypeSymlink:
		return u.symlink(hdr, name)
	default:
		return u.hardlink(hdr, name)
	}
}

// parents makes sure every parent directory of name is a real directory under dest, not a
// symbolic link or a file, creating missing ones when create is set.
func (u *unpacker) parents(entry, name string, create bool) error {
	dir := path.Dir(name)
	if u.dirs[dir] {
		return nil
	}
	elems := strings.Split(dir, "/")
	for i := range elems {
		p := strings.Join(elems[:i+1], "/")
		if u.dirs[p] {
			continue
		}
		full := u.path(p)
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(full, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", entry, err)
			}
		case err != nil:
			return fmt.Errorf("entry %q: %w", entry, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return unsafe(entry, "parent %q is a symbolic link", p)
		case !fi.IsDir():
			return unsafe(entry, "parent %q is not a directory", p)
		}
		u.dirs[p] = true
	}
	return nil
}

// path returns the file system path of a cleaned archive name.
func (u *unpacker) path(name string) string {
	return filepath.Join(u.dest, filepath.FromSlash(name))
}

// clear removes what is at name, unless it is a directory, so that a new entry can take its
// place without following a link left there.
func (u *unpacker) clear(entry, name string) error {
	if u.dirs[name] {
		return unsafe(entry, "would replace a directory")
	}
	full := u.path(name)
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", entry, err)
	}
	if fi.IsDir() {
		return unsafe(entry, "would replace a directory")
	}
	if err := os.Remove(full); err != nil {
		return fmt.Errorf("entry %q: %w", entry, err)
	}
	return nil
}

func (u *unpacker) dir(hdr *tar.Header, name string) error {
	full := u.path(name)
	if !u.dirs[name] {
		if err := u.clear(hdr.Name, name); err != nil {
			return err
		}
		if err := os.Mkdir(full, 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		u.dirs[name] = true
	}
	if err := os.Chmod(full, fs.FileMode(hdr.Mode)&fs.ModePerm|0o700); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

func (u *unpacker) file(hdr *tar.Header, name string) error {
	if err := u.clear(hdr.Name, name); err != nil {
		return err
	}
	// O_EXCL: the name was cleared above, and must not have become a link since.
	f, err := os.OpenFile(u.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	n, err := io.Copy(f, &ctxReader{ctx: u.ctx, r: io.LimitReader(u.tr, hdr.Size)})
	u.written += n
	if err == nil && n < hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Chmod(fs.FileMode(hdr.Mode) & fs.ModePerm) // no setuid, setgid or sticky bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if u.ctx.Err() != nil {
			return u.ctx.Err()
		}
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

func (u *unpacker) symlink(hdr *tar.Header, name string) error {
	target := hdr.Linkname
	switch {
	case target == "":
		return unsafe(hdr.Name, "symbolic link with an empty target")
	case strings.IndexByte(target, 0) >= 0:
		return unsafe(hdr.Name, "symbolic link target holds a NUL byte")
	case strings.HasPrefix(target, "/"):
		return unsafe(hdr.Name, "symbolic link to absolute path %q", target)
	}
	// A first, lexical check gives a clear error early; checkLinks resolves every link against
	// the finished tree.
	if t := path.Join(path.Dir(name), target); t == ".." || strings.HasPrefix(t, "../") {
		return unsafe(hdr.Name, "symbolic link to %q leaves the destination", target)
	}
	if err := u.clear(hdr.Name, name); err != nil {
		return err
	}
	if err := os.Symlink(target, u.path(name)); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

func (u *unpacker) hardlink(hdr *tar.Header, name string) error {
	if hdr.Linkname == "" {
		return unsafe(hdr.Name, "hard link with an empty target")
	}
	target, problem := cleanName(hdr.Linkname)
	if problem != "" {
		return unsafe(hdr.Name, "hard link to %q: %s", hdr.Linkname, problem)
	}
	if target == "." {
		return unsafe(hdr.Name, "hard link to the destination itself")
	}
	if target == name {
		return unsafe(hdr.Name, "hard link to itself")
	}
	if err := u.parents(hdr.Name, target, false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return unsafe(hdr.Name, "hard link to %q, which is not in the archive before it", hdr.Linkname)
		}
		return err
	}
	fi, err := os.Lstat(u.path(target))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return unsafe(hdr.Name, "hard link to %q, which is not in the archive before it", hdr.Linkname)
	case err != nil:
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	case !fi.Mode().IsRegular():
		return unsafe(hdr.Name, "hard link to %q, which is not a regular file", hdr.Linkname)
	}
	if err := u.clear(hdr.Name, name); err != nil {
		return err
	}
	if err := os.Link(u.path(target), u.path(name)); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

// checkLinks resolves every symbolic link under root against the tree as it is and refuses one
// that leads outside root. It removes every such link, so that even a caller that ignores the
// error is not left with one; as removing a link changes how others resolve, it looks again
// until a pass removes nothing.
func checkLinks(root string) error {
	var first error
	for {
		removed := false
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if err := resolveInside(root, rel); err != nil {
				if err := os.Remove(p); err != nil {
					return err
				}
				removed = true
				if first == nil {
					first = unsafe(rel, "%v", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !removed {
			return first
		}
	}
}

// resolveInside follows the symbolic link at name (relative to root, slash-separated) the way
// the kernel would, through any other links on the way, and reports an error if the path ever
// leaves root. Past a name that does not exist the rest of the path is followed lexically, as
// if directories were made there later; that errs on the side of refusing.
func resolveInside(root, name string) error {
	target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	var (
		cur     = strings.Split(path.Dir(name), "/") // the directory resolved so far, no links in it
		missing = -1                                 // index in cur of the first name not on disk
		todo    = strings.Split(target, "/")
		hops    = 1
	)
	if cur[0] == "." {
		cur = cur[:0]
	}
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return fmt.Errorf("symbolic link to %q leaves the destination", target)
			}
			cur = cur[:len(cur)-1]
			if missing >= len(cur) {
				missing = -1
			}
			continue
		}
		if missing >= 0 {
			cur = append(cur, elem)
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(strings.Join(append(cur, elem), "/")))
		fi, err := os.Lstat(full)
		switch {
		case err != nil:
			missing = len(cur)
		case fi.Mode()&fs.ModeSymlink != 0:
			if hops++; hops > maxLinkHops {
				return fmt.Errorf("symbolic link to %q: too many levels of links", target)
			}
			next, err := os.Readlink(full)
			if err != nil {
				return err
			}
			if strings.HasPrefix(next, "/") {
				return fmt.Errorf("symbolic link to %q passes through a link to absolute path %q", target, next)
			}
			todo = append(strings.Split(next, "/"), todo...)
			continue
		case !fi.IsDir():
			missing = len(cur) // a file in the middle of a path: the kernel stops there
		}
		cur = append(cur, elem)
	}
	return nil
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
