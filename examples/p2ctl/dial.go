package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// tlsFlags are the etcd TLS and authentication settings.
type tlsFlags struct {
	cert, key, ca  string
	user, password string
}

func (t *tlsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "etcd-cert", "", "client certificate file for etcd TLS")
	f.StringVar(&t.key, "etcd-key", "", "client key file for etcd TLS")
	f.StringVar(&t.ca, "etcd-ca", "", "CA file that signed etcd's server certificate")
	f.StringVar(&t.user, "etcd-user", "", "etcd user name (password from --etcd-password or P2_ETCD_PASSWORD)")
	f.StringVar(&t.password, "etcd-password", envOr("P2_ETCD_PASSWORD", ""), "etcd password (env P2_ETCD_PASSWORD)")
}

// config returns the TLS configuration, or nil when no TLS flag is set.
func (t *tlsFlags) config() (*tls.Config, error) {
	if t.cert == "" && t.key == "" && t.ca == "" {
		return nil, nil
	}
	if (t.cert == "") != (t.key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together")
	}
	info := transport.TLSInfo{CertFile: t.cert, KeyFile: t.key, TrustedCAFile: t.ca}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w", err)
	}
	return cfg, nil
}

// dialOptions is everything dial needs.
type dialOptions struct {
	endpoints []string
	timeout   time.Duration
	tls       tlsFlags
	log       *zap.Logger
}

func (a *app) dialOptions() dialOptions {
	return dialOptions{endpoints: splitEndpoints(a.endpoints), timeout: a.dialTimeout, tls: a.tls, log: a.log}
}

// splitEndpoints splits a comma-separated endpoint list, dropping blanks.
func splitEndpoints(s string) []string {
	var eps []string
	for _, ep := range strings.Split(s, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// dial connects to etcd and fails fast: clientv3.New does not notice an
// unreachable cluster by itself, so dial asks every endpoint for its status
// and returns once one answers, or fails when none has within the timeout.
func dial(ctx context.Context, o dialOptions) (*clientv3.Client, error) {
	if len(o.endpoints) == 0 {
		return nil, errors.New("--etcd: no endpoints")
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("--dial-timeout %s: want more than 0", o.timeout)
	}
	tlsCfg, err := o.tls.config()
	if err != nil {
		return nil, err
	}
	log := o.log
	if log == nil {
		log = zap.NewNop()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.endpoints,
		DialTimeout: o.timeout,
		TLS:         tlsCfg,
		Username:    o.tls.user,
		Password:    o.tls.password,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(o.endpoints, ","), err)
	}
	if err := probe(ctx, cli, o.endpoints, o.timeout); err != nil {
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

// newLogger returns the logger of the etcd client at level, writing to w.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}
