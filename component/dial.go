// Package component holds what every p2kit binary shares, and a binary of
// your own can use: the etcd flags (with
// TLS and authentication), a dial that fails fast, loggers, signal
// handling and the metrics endpoint.
package component

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
)

// DefaultEndpoints is the etcd a binary talks to without --etcd or P2_ETCD.
const DefaultEndpoints = "127.0.0.1:2379"

// Etcd is the etcd connection settings every binary takes: --etcd (env
// P2_ETCD), --dial-timeout, and TLS and authentication.
type Etcd struct {
	Endpoints   string
	DialTimeout time.Duration
	Cert, Key   string
	CA          string
	User        string
	Password    string
	// DialOptions are extra gRPC dial options (not a flag), such as the
	// fleet simulator's request-counting interceptors.
	DialOptions []grpc.DialOption
}

// Register declares the flags on f.
func (t *Etcd) Register(f *pflag.FlagSet) {
	f.StringVar(&t.Endpoints, "etcd", EnvOr("P2_ETCD", DefaultEndpoints), "comma-separated etcd endpoints (env P2_ETCD)")
	f.DurationVar(&t.DialTimeout, "dial-timeout", 5*time.Second, "how long to wait for etcd to answer before giving up")
	f.StringVar(&t.Cert, "etcd-cert", "", "client certificate file for etcd TLS")
	f.StringVar(&t.Key, "etcd-key", "", "client key file for etcd TLS")
	f.StringVar(&t.CA, "etcd-ca", "", "CA file that signed etcd's server certificate")
	f.StringVar(&t.User, "etcd-user", "", "etcd user name (password from --etcd-password or P2_ETCD_PASSWORD)")
	f.StringVar(&t.Password, "etcd-password", EnvOr("P2_ETCD_PASSWORD", ""), "etcd password (env P2_ETCD_PASSWORD)")
}

// tlsConfig returns the TLS configuration, or nil when no TLS flag is set.
func (t *Etcd) tlsConfig() (*tls.Config, error) {
	if t.Cert == "" && t.Key == "" && t.CA == "" {
		return nil, nil
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together")
	}
	info := transport.TLSInfo{CertFile: t.Cert, KeyFile: t.Key, TrustedCAFile: t.CA}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w", err)
	}
	return cfg, nil
}

// SplitEndpoints splits a comma-separated endpoint list, dropping blanks.
func SplitEndpoints(s string) []string {
	var eps []string
	for _, ep := range strings.Split(s, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// The etcd client sends a request again when etcd answers that it is
// unavailable (a request timeout, a leader change, an apply that lags): by
// default up to 100 times, 25 ms apart, so an etcd that is behind is asked
// a lease lookup or a read forty times a second by every caller, which
// keeps it behind (542,005 lease lookups in three minutes of 30,000
// simulated preparers). p2kit's callers back off on their own; Dial lets
// the client try MaxUnaryRetries times in all, RetryWait apart (with 10%
// jitter), long enough to reach another member. Set them in your own
// clientv3.Config likewise.
const (
	MaxUnaryRetries = 5
	RetryWait       = 250 * time.Millisecond
)

// Dial connects to etcd and fails fast: clientv3.New does not notice an
// unreachable cluster by itself, so Dial asks every endpoint for its status
// and returns once one answers, or fails when none has within the dial
// timeout. log is the client's logger (nil: none).
func (t *Etcd) Dial(ctx context.Context, log *zap.Logger) (*clientv3.Client, error) {
	endpoints := SplitEndpoints(t.Endpoints)
	if len(endpoints) == 0 {
		return nil, errors.New("--etcd: no endpoints")
	}
	if t.DialTimeout <= 0 {
		return nil, fmt.Errorf("--dial-timeout %s: want more than 0", t.DialTimeout)
	}
	tlsCfg, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        t.DialTimeout,
		TLS:                tlsCfg,
		Username:           t.User,
		Password:           t.Password,
		Logger:             log,
		DialOptions:        t.DialOptions,
		MaxUnaryRetries:    MaxUnaryRetries,
		BackoffWaitBetween: RetryWait,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	if err := probe(ctx, cli, endpoints, t.DialTimeout); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return cli, nil
}

// probe asks every endpoint for its status at once and returns when the
// first answers.
func probe(ctx context.Context, cli *clientv3.Client, endpoints []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			_, err := cli.Status(ctx, ep)
			errc <- err
		}()
	}
	var last error
	for range endpoints {
		if last = <-errc; last == nil {
			return nil
		}
	}
	return fmt.Errorf("etcd %s unreachable (--dial-timeout %s): %w", strings.Join(endpoints, ","), timeout, last)
}

// NewLogger returns a console logger at level writing to w.
func NewLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}

// EnvOr returns the environment variable key, or def when it is unset or
// empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
