package hoist

import "errors"

var (
	// ErrDigestMismatch is wrapped by the error of an install whose artifact's sha256 is not the
	// digest its launchable names (the message names the location and both digests), or whose
	// unpacked tree does not match the listing at digest_location: a file changed, missing from
	// the tree or missing from the listing (the message names the file).
	ErrDigestMismatch = errors.New("artifact digest mismatch")
	// ErrUnsafeArchive is wrapped by the error of an archive that would write outside its
	// destination, holds an entry of a kind that is never unpacked (devices, FIFOs), or unpacks to
	// more than the limit. The message names the entry.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrFetch is wrapped by the error of an artifact that could not be fetched: a missing file,
	// an HTTP status other than 2xx, a broken connection, an artifact over the size limit. The
	// message names the location.
	ErrFetch = errors.New("fetch failed")
	// ErrHook is wrapped by the error of a hook that failed: it exited non-zero, timed out, or
	// could not be run. The message names the pod, the launchable and the hook.
	ErrHook = errors.New("hook failed")
	// ErrUnverified is wrapped by the error of an install refused because a hoist launchable
	// has neither a digest nor a digest_location (see WithAllowUnverifiedArtifacts).
	ErrUnverified = errors.New("artifact cannot be verified")
	// ErrUnsupported is wrapped by the error of an install refused because a launchable is of
	// a type other than hoist (opencontainer, docker), or names its artifact by version or by a
	// location without a scheme while no artifact registry is configured (neither the
	// manifest's artifact_registry nor WithArtifactRegistry). The message names the launchable
	// and the type, version or location.
	ErrUnsupported = errors.New("launchable not supported")
	// ErrSignature is wrapped by the error of an install refused because the PGP signature of
	// a digest listing is missing or does not verify (see WithTrustedPGPKeys).
	ErrSignature = errors.New("digest signature not verified")
	// ErrNotInstalled is wrapped by the error of a lookup of an install that is not on disk.
	ErrNotInstalled = errors.New("not installed")
)

// marked is an error that matches a sentinel with errors.Is without the sentinel's text
// appearing in its message.
type marked struct {
	sentinel error
	err      error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.sentinel, e.err} }

// mark returns err, made to match sentinel as well.
func mark(sentinel, err error) error {
	return &marked{sentinel: sentinel, err: err}
}
