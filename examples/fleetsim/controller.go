package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/internal/controller"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// controllerProc is one controller process: the farms over one fleet
// view, on an etcd client of its own, with a lease of --lease-ttl.
type controllerProc struct {
	name    string
	cli     *clientv3.Client
	kill    *killSwitch
	cancel  context.CancelFunc
	done    chan struct{}
	crashed atomic.Bool // its errors are the crash's, not failures
}

// errCrashed is what the crashed controller's calls to etcd return.
var errCrashed = status.Error(codes.Unavailable, "fleetsim: the controller crashed")

// killSwitch fails every call and stream message of a client once
// flipped: a process that crashed sends nothing more, not even the
// deletes and the revocation of an orderly stop.
type killSwitch struct{ dead atomic.Bool }

func (k *killSwitch) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if k.dead.Load() {
				return errCrashed
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if k.dead.Load() {
				return nil, errCrashed
			}
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &killableStream{ClientStream: cs, k: k}, nil
		}),
	}
}

type killableStream struct {
	grpc.ClientStream
	k *killSwitch
}

func (s *killableStream) SendMsg(m any) error {
	if s.k.dead.Load() {
		return errCrashed
	}
	return s.ClientStream.SendMsg(m)
}

// startController runs the controller's farms over one fleet view, on a
// client of its own, until the simulation stops or crash is called.
func (s *sim) startController(name string) (*controllerProc, error) {
	kill := &killSwitch{}
	cli, err := s.dial(append(s.ctr[roleController].dialOptions(), kill.dialOptions()...))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &controllerProc{name: name, cli: cli, kill: kill, cancel: cancel, done: make(chan struct{})}
	s.wg.Go(func() {
		defer close(c.done)
		err := controller.Run(ctx, cli, nil,
			farm.WithPrefix(s.cfg.prefix), farm.WithLogger(s.log.Named(name)),
			farm.WithIdentity("fleetsim/"+name), farm.WithTTL(s.cfg.leaseTTL),
			farm.WithBackoff(200*time.Millisecond, 5*time.Second))
		if err != nil && !c.crashed.Load() {
			s.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
	return c, nil
}

// crash stops the controller as a crash would: from now on its client
// sends nothing, so that its lease is neither kept alive nor revoked and
// runs out after its TTL, and its locks stay until then. Its farms are
// stopped and end in the background; the simulation waits for them when
// it closes.
func (c *controllerProc) crash() {
	c.crashed.Store(true)
	c.kill.dead.Store(true)
	c.cancel()
	_ = c.cli.Close()
}
