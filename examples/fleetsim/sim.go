package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/internal/embedded"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
)

// sim is one simulated fleet: the etcd it runs against, the counted
// clients, the nodes and what runs on them.
type sim struct {
	cfg *config
	out io.Writer
	log *zap.Logger

	dir string           // temporary directory of the embedded member
	srv *embedded.Server // nil with --etcd
	ctr [numRoles]*counter
	cls []*clientv3.Client // every client, to close

	prepClients []*clientv3.Client // shared by the preparers, round robin
	ctl         *controllerProc    // the controller in charge
	drv         *clientv3.Client   // the simulator's own writes
	obs         *observer          // on an uncounted client
	compact     *compactor         // nil with --compact-every 0

	nodes []string
	mem   []*simNode

	ctx    context.Context // ends when the simulation stops
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	errs   []error  // components that stopped with an error
	files  []string // removed on close
}

// newSim starts etcd (unless --etcd) and connects the clients.
func newSim(cfg *config, out io.Writer) (s *sim, err error) {
	s = &sim{cfg: cfg, out: out}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	started := s // the returns below set s to nil
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	if s.log, err = newLogger(cfg); err != nil {
		return nil, err
	}
	if !cfg.external {
		if s.dir, err = os.MkdirTemp("", "fleetsim-"); err != nil {
			return nil, err
		}
		s.srv, err = embedded.Start(filepath.Join(s.dir, "etcd"), s.log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.ErrorLevel)))
		if err != nil {
			return nil, err
		}
	}
	for i := range s.ctr {
		s.ctr[i] = &counter{}
	}
	for range cfg.clients {
		c, err := s.dial(s.ctr[rolePreparers].dialOptions())
		if err != nil {
			return nil, err
		}
		s.prepClients = append(s.prepClients, c)
	}
	if s.drv, err = s.dial(s.ctr[roleDriver].dialOptions()); err != nil {
		return nil, err
	}
	oc, err := s.dial(nil)
	if err != nil {
		return nil, err
	}
	// An etcd given with --etcd may hold an earlier run's keys, which
	// this run's creates would trip over.
	resp, err := oc.Get(s.ctx, cfg.prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if resp.Count > 0 {
		return nil, fmt.Errorf("--prefix %s: etcd holds %d keys under it already (an earlier run?): give another --prefix or empty it", cfg.prefix, resp.Count)
	}
	s.obs = newObserver(oc, cfg.prefix)
	if err := s.obs.start(s.ctx, s.fail); err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	if cfg.compactEvery > 0 {
		s.compact = &compactor{cli: oc, every: cfg.compactEvery}
		s.wg.Go(func() {
			s.compact.run(s.ctx, func(err error) { s.log.Warn("etcd compaction", zap.Error(err)) })
		})
	}
	for i := range cfg.nodes {
		s.nodes = append(s.nodes, fmt.Sprintf("node%05d", i))
		n := memory.NewNode()
		n.HealthyAfter = cfg.healthAfter
		s.mem = append(s.mem, newSimNode(n))
	}
	return s, nil
}

func newLogger(cfg *config) (*zap.Logger, error) {
	if cfg.logFile == "" {
		return zap.NewNop(), nil
	}
	lvl, err := zapcore.ParseLevel(cfg.logLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.logLevel)
	}
	f, err := os.Create(cfg.logFile)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(f), lvl)), nil
}

// dial connects one client with extra gRPC options.
func (s *sim) dial(opts []grpc.DialOption) (*clientv3.Client, error) {
	var c *clientv3.Client
	var err error
	if s.cfg.external {
		e := s.cfg.etcd
		e.DialOptions = opts
		c, err = e.Dial(s.ctx, zap.NewNop())
	} else {
		// The retries component.Dial sets, as the binaries have.
		c, err = clientv3.New(clientv3.Config{Endpoints: []string{s.srv.Endpoint}, DialTimeout: 5 * time.Second,
			Logger: zap.NewNop(), DialOptions: opts,
			MaxUnaryRetries: component.MaxUnaryRetries, BackoffWaitBetween: component.RetryWait})
	}
	if err != nil {
		return nil, err
	}
	s.cls = append(s.cls, c)
	return c, nil
}

// startPreparers runs one preparer per node: all at once, or with
// --start-rate that many a second, as a fleet's nodes boot, from a
// goroutine of its own so that the phase measures them as they come.
func (s *sim) startPreparers() error {
	ps := make([]*preparer.Preparer, 0, len(s.nodes))
	for i, node := range s.nodes {
		mem := s.mem[i]
		p, err := preparer.New(s.prepClients[i%len(s.prepClients)], node, mem, mem,
			preparer.WithPrefix(s.cfg.prefix),
			preparer.WithLogger(s.log),
			preparer.WithWorkers(s.cfg.workers),
			preparer.WithHealthChecker(mem),
			preparer.WithHealthInterval(s.cfg.healthEvery),
			preparer.WithNodeTTL(s.cfg.nodeTTL),
			preparer.WithRemovedTTL(s.cfg.removedTTL),
			preparer.WithBackoff(s.cfg.retryMin, s.cfg.retryMax))
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	runOne := func(p *preparer.Preparer) {
		s.wg.Go(func() {
			if err := p.Run(s.ctx); err != nil {
				s.fail(err)
			}
		})
	}
	if s.cfg.startRate == 0 {
		for _, p := range ps {
			runOne(p)
		}
		return nil
	}
	lim := rate.NewLimiter(rate.Limit(s.cfg.startRate), max(1, int(s.cfg.startRate/10)))
	s.wg.Go(func() {
		for _, p := range ps {
			if err := lim.Wait(s.ctx); err != nil {
				return // the simulation stops
			}
			runOne(p)
		}
	})
	return nil
}

func (s *sim) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.errs = append(s.errs, err)
}

// failed returns the first component that stopped with an error.
func (s *sim) failed() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return nil
}

// uninstalls counts the pods uninstalled on every node so far.
func (s *sim) uninstalls() int64 {
	var n int64
	for _, m := range s.mem {
		n += m.Removes()
	}
	return n
}

// installs counts the versions installed on every node so far.
func (s *sim) installs() int64 {
	var n int64
	for _, m := range s.mem {
		n += m.Installs()
	}
	return n
}

// bare counts the nodes with no pod installed.
func (s *sim) bare() int {
	n := 0
	for _, m := range s.mem {
		if pods, err := m.Pods(); err == nil && len(pods) == 0 {
			n++
		}
	}
	return n
}

// removeOnClose removes the file when the simulation closes.
func (s *sim) removeOnClose(path string) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.files = append(s.files, path)
}

// close stops everything the simulation started.
func (s *sim) close() {
	s.cancel()
	s.wg.Wait()
	for _, c := range s.cls {
		_ = c.Close()
	}
	if s.srv != nil {
		s.srv.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	for _, f := range s.files {
		_ = os.Remove(f) // gone already once restored
	}
	if s.log != nil {
		_ = s.log.Sync()
	}
}
