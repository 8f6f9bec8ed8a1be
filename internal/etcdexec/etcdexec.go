// Package etcdexec runs real etcd server processes of other versions than
// the embedded one (3.7) for tests, so that p2kit's compatibility with the
// etcd servers operators run is tested, not claimed. Each server is one
// member on free loopback ports with a temporary data directory, stopped
// when the test ends.
//
// etcd 3.4 is Debian's etcd-server package (/usr/bin/etcd, which .ci/run
// installs with apt-get); 3.5 and 3.6 are built once per machine from the
// nested modules etcd35 and etcd36 into the user cache directory.
package etcdexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startTimeout bounds how long a server may take to answer.
const startTimeout = 30 * time.Second

// stopTimeout bounds how long a server may take to exit on SIGTERM.
const stopTimeout = 10 * time.Second

// Versions lists the external etcd versions to test against, oldest first.
// The fourth supported version, 3.7, is the embedded one (etcdtest).
func Versions() []string { return []string{"3.4", "3.5", "3.6"} }

// Server is one running etcd server process.
type Server struct {
	version  string
	binary   string
	endpoint string
	cmd      *exec.Cmd
	out      *syncBuffer
	done     chan struct{} // closed when the process has exited
	waitErr  error
	stopOnce sync.Once
}

// Start starts an etcd server of version ("3.4", "3.5" or "3.6") and waits
// until it answers. It is stopped by t.Cleanup. When version 3.4 is not
// installed the test fails under CI=true and is skipped otherwise.
func Start(t testing.TB, version string) *Server {
	t.Helper()
	bin := Binary(t, version)
	var lastErr error
	// A port picked free may be taken before etcd binds it: try again.
	for range 3 {
		s, err := start(t, version, bin)
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("etcdexec: etcd %s: %v", version, lastErr)
	return nil
}

func start(t testing.TB, version, bin string) (*Server, error) {
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	s := &Server{version: version, binary: bin, endpoint: clientURL, out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--name", "default",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--initial-cluster-state", "new",
		"--log-level", "warn",
	)
	// Debian's package reads ETCD_* settings from the environment too:
	// keep the test's own settings out of the machine's.
	// Older servers refuse to run on some architectures (arm64 for 3.4)
	// unless told this one is meant.
	s.cmd.Env = append(cleanEnv(os.Environ()), "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.out.String())
	}
	return s, nil
}

// waitReady polls the server's status until it answers, the process
// exits, or startTimeout passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.endpoint}, DialTimeout: time.Second, Logger: nopLogger()})
	if err != nil {
		return fmt.Errorf("client for %s: %w", s.endpoint, err)
	}
	defer cli.Close()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		_, err := cli.Status(attempt, s.endpoint)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before answering: %v", s.binary, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer at %s within %s: %v", s.binary, s.endpoint, startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Version is the version the server was started as ("3.4").
func (s *Server) Version() string { return s.version }

// Endpoint is the server's client URL (http://127.0.0.1:port).
func (s *Server) Endpoint() string { return s.endpoint }

// Endpoints is Endpoint as a list, for clientv3.Config.
func (s *Server) Endpoints() []string { return []string{s.endpoint} }

// Output is what the server has logged so far.
func (s *Server) Output() string { return s.out.String() }

// Stop stops the server with SIGTERM (SIGKILL after stopTimeout) and
// waits for it to exit. It may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// EachVersion runs fn as a subtest ("etcd-3.4", ...) with a client of a
// fresh server of each external version, then ("etcd-embedded") with one of
// embedded, which starts an embedded member and returns its client (the
// etcdtest package, which this one does not import).
func EachVersion(t *testing.T, embedded func(t *testing.T) *clientv3.Client, fn func(t *testing.T, cli *clientv3.Client)) {
	for _, v := range Versions() {
		t.Run("etcd-"+v, func(t *testing.T) { fn(t, Start(t, v).Client(t)) })
	}
	t.Run("etcd-embedded", func(t *testing.T) { fn(t, embedded(t)) })
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: nopLogger()})
	if err != nil {
		t.Fatalf("etcdexec: client of etcd %s: %v", s.version, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// ClientAs returns a client authenticated as user, closed when the test
// ends.
func (s *Server) ClientAs(t testing.TB, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: nopLogger(),
		Username: user, Password: password})
	if err != nil {
		t.Fatalf("etcdexec: client of etcd %s as %s: %v", s.version, user, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv drops ETCD_* variables, which etcd reads as flags.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var errUnknownVersion = errors.New("unknown etcd version")

// nopLogger keeps the client's retry chatter out of test output.
func nopLogger() *zap.Logger { return zap.NewNop() }
