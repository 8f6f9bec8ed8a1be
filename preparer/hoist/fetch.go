package hoist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/p2kit/p2kit/manifest"
)

const digestPrefix = "sha256:"

// cachePath returns where the artifact with the given digest ("sha256:<hex>") is cached.
func (in *Installer) cachePath(digest string) string {
	return filepath.Join(in.cacheDir, strings.TrimPrefix(digest, digestPrefix)+".tar.gz")
}

// artifact returns the launchable's artifact, verified against its digest, open and positioned
// at its start. A cached copy is verified again before use and fetched anew when it does not
// match. A fetched artifact is written to a temporary file in the cache and renamed into place
// only once it matches, so a wrong or partial download never enters the cache. The caller
// closes the file.
//
// A launchable without a digest (verified after unpacking, by its digest_location, or allowed
// unverified) is always fetched anew, and cached under the digest it turns out to have.
func (in *Installer) artifact(ctx context.Context, l manifest.Launchable) (*os.File, error) {
	want := l.Digest
	loc := redact(l.Location)
	cached := in.cachePath(want)
	if want == "" {
		cached = ""
	} else if f, err := os.Open(cached); err == nil {
		got, err := sum(ctx, f)
		if err == nil && got == want {
			if _, err = f.Seek(0, io.SeekStart); err == nil {
				in.log.Debug("artifact from cache", zap.String("location", loc), zap.String("digest", want))
				return f, nil
			}
		}
		f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		in.log.Warn("cached artifact is damaged; fetching it again", zap.String("path", cached),
			zap.String("digest", want), zap.String("actual", got), zap.Error(err))
		if err := os.Remove(cached); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove damaged cached artifact: %w", err)
		}
	}

	if err := os.MkdirAll(in.cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	tmp, err := os.CreateTemp(in.cacheDir, ".tmp-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	src, err := in.open(ctx, l.Location, loc)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), &ctxReader{ctx: ctx, r: io.LimitReader(src, in.maxArtifact+1)})
	src.Close()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("fetch %s: %w", loc, ctx.Err())
	case err != nil:
		return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
	case n > in.maxArtifact:
		return nil, mark(ErrFetch, fmt.Errorf("fetch %s: artifact is larger than the limit of %d bytes", loc, in.maxArtifact))
	}
	got := digestOf(h)
	if want != "" && got != want {
		return nil, fmt.Errorf("%w: %s: want %s, got %s", ErrDigestMismatch, loc, want, got)
	}
	if cached == "" {
		cached = in.cachePath(got)
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	keep = true
	in.log.Info("artifact fetched", zap.String("location", loc), zap.String("digest", want), zap.Int64("bytes", n))
	return tmp, nil
}

// open starts reading the artifact at location; loc is the location as errors show it.
func (in *Installer) open(ctx context.Context, location, loc string) (io.ReadCloser, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
	}
	switch u.Scheme {
	case "file":
		f, err := os.Open(filepath.FromSlash(u.Path))
		if err != nil {
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
		}
		fi, err := f.Stat()
		switch {
		case err != nil:
			f.Close()
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
		case !fi.Mode().IsRegular():
			f.Close()
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %s is not a regular file", loc, u.Path))
		case fi.Size() > in.maxArtifact:
			f.Close()
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: artifact of %d bytes is larger than the limit of %d bytes",
				loc, fi.Size(), in.maxArtifact))
		}
		return f, nil
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
		}
		resp, err := in.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("fetch %s: %w", loc, ctx.Err())
			}
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // its message repeats the URL, unredacted
			}
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %w", loc, err))
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
			resp.Body.Close()
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: %s", loc, resp.Status))
		}
		if resp.ContentLength > in.maxArtifact {
			resp.Body.Close()
			return nil, mark(ErrFetch, fmt.Errorf("fetch %s: artifact of %d bytes is larger than the limit of %d bytes",
				loc, resp.ContentLength, in.maxArtifact))
		}
		return resp.Body, nil
	}
	return nil, mark(ErrFetch, fmt.Errorf("fetch %s: unsupported scheme %q", loc, u.Scheme))
}

// sum returns the "sha256:<hex>" digest of what r holds.
func sum(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: r}); err != nil {
		return "", err
	}
	return digestOf(h), nil
}

func digestOf(h hash.Hash) string {
	return digestPrefix + hex.EncodeToString(h.Sum(nil))
}

// redact returns location with any password replaced, for logs and errors.
func redact(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return location
	}
	return u.Redacted()
}
