package hoist

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/zap"
)

const (
	// DefaultMaxArtifactSize is the largest artifact an Installer fetches unless told otherwise.
	DefaultMaxArtifactSize int64 = 2 << 30
	// DefaultMaxUnpackedSize is the most file data one artifact may unpack to unless told
	// otherwise.
	DefaultMaxUnpackedSize int64 = 8 << 30
	// DefaultHookTimeout is how long a hook may run unless told otherwise.
	DefaultHookTimeout = 5 * time.Minute
)

// Installer installs pods' hoist launchables under a pod root. It is safe for concurrent use:
// calls for different pods never wait for each other, and calls for one pod take turns. Only
// one Installer (one process) should use a pod root at a time.
type Installer struct {
	root        string
	cacheDir    string
	client      *http.Client
	log         *zap.Logger
	hookTimeout time.Duration
	maxArtifact int64
	maxUnpacked int64
	started     time.Time

	allowUnverified bool               // see WithAllowUnverifiedArtifacts
	pgpKeys         openpgp.EntityList // see WithTrustedPGPKeys

	registry     *url.URL // see WithArtifactRegistry
	regOS        string   // see WithRegistryOS
	regOSVersion string
	regOSSet     bool

	locks     podLocks
	cleanOnce sync.Once
}

// Option configures an Installer.
type Option func(*Installer)

// WithCacheDir sets the directory verified artifacts are kept in, by digest. The default is
// "<pod-root>/.cache". Downloads are written to temporary files in dir and renamed into place,
// so concurrent installs of one artifact never see a partial file.
func WithCacheDir(dir string) Option {
	return func(in *Installer) { in.cacheDir = dir }
}

// WithHTTPClient sets the client that fetches http:// and https:// artifacts. The default is a
// client with no overall timeout: the context of each call bounds it.
func WithHTTPClient(c *http.Client) Option {
	return func(in *Installer) {
		if c != nil {
			in.client = c
		}
	}
}

// WithLogger sets the logger. The default logs nothing.
func WithLogger(l *zap.Logger) Option {
	return func(in *Installer) {
		if l != nil {
			in.log = l
		}
	}
}

// WithHookTimeout sets how long one hook of one launchable may run before it is killed and
// counted as failed. The default is DefaultHookTimeout.
func WithHookTimeout(d time.Duration) Option {
	return func(in *Installer) {
		if d > 0 {
			in.hookTimeout = d
		}
	}
}

// WithMaxArtifactSize sets the size of the largest artifact the Installer fetches; a bigger one
// is refused. The default is DefaultMaxArtifactSize.
func WithMaxArtifactSize(n int64) Option {
	return func(in *Installer) {
		if n > 0 {
			in.maxArtifact = n
		}
	}
}

// WithMaxUnpackedSize sets the most file data one artifact may unpack to; an artifact that
// unpacks to more is refused as unsafe. The default is DefaultMaxUnpackedSize.
func WithMaxUnpackedSize(n int64) Option {
	return func(in *Installer) {
		if n > 0 {
			in.maxUnpacked = n
		}
	}
}

// New returns an Installer that installs pods under podRoot. It touches no files until used.
func New(podRoot string, opts ...Option) *Installer {
	in := &Installer{
		root:        filepath.Clean(podRoot),
		client:      &http.Client{},
		log:         zap.NewNop(),
		hookTimeout: DefaultHookTimeout,
		maxArtifact: DefaultMaxArtifactSize,
		maxUnpacked: DefaultMaxUnpackedSize,
		started:     time.Now(),
	}
	in.cacheDir = filepath.Join(in.root, ".cache")
	for _, opt := range opts {
		opt(in)
	}
	return in
}

// PodRoot returns the directory pods are installed under.
func (in *Installer) PodRoot() string { return in.root }

// PodHome returns the directory of the pod with the given id: "<pod-root>/<pod-id>".
func (in *Installer) PodHome(podID string) string { return filepath.Join(in.root, podID) }

// podLocks hands out one lock per pod, so calls for one pod take turns while calls for
// different pods run side by side. A lock is a channel so that waiting for it can be cancelled.
type podLocks struct {
	mu    sync.Mutex
	locks map[string]*podLock
}

type podLock struct {
	ch   chan struct{}
	refs int
}

// lock waits for the pod's lock or for ctx, and returns the function that releases the lock.
func (p *podLocks) lock(ctx context.Context, podID string) (func(), error) {
	p.mu.Lock()
	if p.locks == nil {
		p.locks = make(map[string]*podLock)
	}
	l := p.locks[podID]
	if l == nil {
		l = &podLock{ch: make(chan struct{}, 1)}
		p.locks[podID] = l
	}
	l.refs++
	p.mu.Unlock()

	select {
	case l.ch <- struct{}{}:
		return func() {
			<-l.ch
			p.done(podID, l)
		}, nil
	case <-ctx.Done():
		p.done(podID, l)
		return nil, ctx.Err()
	}
}

func (p *podLocks) done(podID string, l *podLock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(p.locks, podID)
	}
}
