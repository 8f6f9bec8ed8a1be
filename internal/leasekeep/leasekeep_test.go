package leasekeep_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/internal/leasekeep"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
)

const waitFor = 20 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// counted is a client that counts the keep-alive streams it opens and the
// renewals it sends.
type counted struct {
	*clientv3.Client
	streams, renewals atomic.Int64
	mute              atomic.Int64 // how many keep-alive streams to mute, from the first
}

func newCounted(t *testing.T, endpoint string) *counted {
	c := &counted{}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(c.intercept)},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	c.Client = cli
	return c
}

func (c *counted) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	muted := false
	if method == "/etcdserverpb.Lease/LeaseKeepAlive" {
		muted = c.streams.Add(1) <= c.mute.Load()
	}
	return &countedStream{ClientStream: s, c: c, muted: muted}, nil
}

type countedStream struct {
	grpc.ClientStream
	c     *counted
	muted bool // the stream's renewals are dropped and it never answers
}

func (s *countedStream) SendMsg(m any) error {
	if _, ok := m.(*etcdserverpb.LeaseKeepAliveRequest); ok {
		s.c.renewals.Add(1)
		if s.muted {
			return nil
		}
	}
	return s.ClientStream.SendMsg(m)
}

func (s *countedStream) RecvMsg(m any) error {
	if s.muted {
		<-s.Context().Done()
		return s.Context().Err()
	}
	return s.ClientStream.RecvMsg(m)
}

func grant(t *testing.T, cli *clientv3.Client, ttl time.Duration) clientv3.LeaseID {
	t.Helper()
	l, err := cli.Grant(ctxT(t), int64(ttl/time.Second))
	require.NoError(t, err)
	return l.ID
}

// livesFor checks, every 100ms for d, that etcd has lease id with time
// left.
func livesFor(t *testing.T, cli *clientv3.Client, id clientv3.LeaseID, d time.Duration) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		r, err := cli.TimeToLive(ctxT(t), id)
		require.NoError(t, err)
		require.Positive(t, r.TTL, "lease %x is no longer renewed", id)
	}
}

// renewMeanwhile renews id on cli, a client of the test's own, until stop:
// the lease lives whatever the keeper's renewals become.
func renewMeanwhile(t *testing.T, cli *clientv3.Client, id clientv3.LeaseID) (stop func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	_, err := cli.KeepAlive(ctx, id)
	require.NoError(t, err)
	return stop
}

// waitLogged waits until a message containing snippet was logged.
func waitLogged(t *testing.T, logs *observer.ObservedLogs, snippet, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet(snippet).Len() > 0 }, waitFor, 20*time.Millisecond, msg)
}

// notLost fails the test if l was reported lost.
func notLost(t *testing.T, l *leasekeep.Lease) {
	t.Helper()
	select {
	case <-l.Lost():
		t.Fatal("lease reported lost")
	default:
	}
}

// Every lease of a client is renewed on one stream, and a lease outlives
// several TTLs while kept.
func TestLeasesOfAClientShareOneStream(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	kc := newCounted(t, c.Endpoints()[0])
	k, release := leasekeep.For(kc.Client)
	defer release()
	k2, release2 := leasekeep.For(kc.Client)
	require.Same(t, k, k2, "one keeper per client")
	release2()

	const ttl = 2 * time.Second
	var ids []clientv3.LeaseID
	for range 20 {
		id := grant(t, cli, ttl)
		ids = append(ids, id)
		defer k.Keep(id, ttl, zap.NewNop()).Stop()
	}
	livesFor(t, cli, ids[0], 3*ttl)
	for _, id := range ids {
		r, err := cli.TimeToLive(ctxT(t), id)
		require.NoError(t, err)
		require.Positive(t, r.TTL)
	}
	require.Equal(t, int64(1), kc.streams.Load(), "keep-alive streams opened")
}

// A revoked lease is reported lost at its next renewal; a stopped one is
// no longer renewed and expires.
func TestLostAndStopped(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	k, release := leasekeep.For(cli)
	defer release()
	const ttl = 2 * time.Second

	revoked := grant(t, cli, ttl)
	l := k.Keep(revoked, ttl, zap.NewNop())
	ran, undone := make(chan struct{}), make(chan struct{}, 1)
	l.AfterLost(func() { close(ran) })
	require.True(t, l.AfterLost(func() { undone <- struct{}{} })(), "AfterLost's stop before the loss")
	_, err := cli.Revoke(ctxT(t), revoked)
	require.NoError(t, err)
	select {
	case <-l.Lost():
	case <-time.After(waitFor):
		t.Fatal("revoked lease not reported lost")
	}
	select {
	case <-ran:
	case <-time.After(waitFor):
		t.Fatal("AfterLost's function did not run once the lease was lost")
	}
	late := make(chan struct{})
	stop := l.AfterLost(func() { close(late) })
	select {
	case <-late:
	case <-time.After(waitFor):
		t.Fatal("AfterLost on a lost lease did not run its function")
	}
	require.False(t, stop(), "stop after the function ran")
	require.Empty(t, undone, "a stopped AfterLost ran")

	stopped := grant(t, cli, ttl)
	s := k.Keep(stopped, ttl, zap.NewNop())
	livesFor(t, cli, stopped, 2*ttl)
	s.Stop()
	require.Eventually(t, func() bool {
		r, err := cli.TimeToLive(ctxT(t), stopped)
		require.NoError(t, err)
		return r.TTL <= 0
	}, waitFor, 50*time.Millisecond, "stopped lease still renewed")
	notLost(t, s)
}

// A renewal etcd does not answer is sent again a third of the TTL later,
// no sooner; the etcd client's own keep-alive sends one every half second.
// Renewals lost to a broken connection are sent again, and the first
// answer after the TTL says the lease lives: it is logged, not lost.
func TestUnansweredRenewals(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	px := c.Members[0].Proxy(t)
	kc := newCounted(t, px.Endpoint())
	_, err := kc.Get(ctxT(t), "/") // connected before anything is dropped
	require.NoError(t, err)
	k, release := leasekeep.For(kc.Client)
	defer release()
	core, logs := observer.New(zapcore.InfoLevel)

	const ttl = 3 * time.Second
	id := grant(t, cli, ttl)
	l := k.Keep(id, ttl, zap.New(core))
	// Another client renews the lease while the keeper's get lost.
	stopRenewing := renewMeanwhile(t, cli, id)

	px.Blackhole()
	start, before := time.Now(), kc.renewals.Load()
	waitLogged(t, logs, "renewals unanswered", "renewals never unanswered for the TTL")
	sent, elapsed := kc.renewals.Load()-before, time.Since(start)
	px.Unblackhole()
	t.Logf("%d renewals sent in %s with no answer", sent, elapsed)
	require.LessOrEqual(t, sent, int64(elapsed/(ttl/3))+1, "renewals sent more often than a third of the TTL")

	waitLogged(t, logs, "answered late", "the keeper's renewals were never answered again")
	t.Logf("%d keep-alive streams opened", kc.streams.Load())
	stopRenewing()
	livesFor(t, cli, id, 2*ttl)
	notLost(t, l)
}

// A stream that stays up but carries nothing (a connection damaged by a
// network fault that healed) is given up once etcd answered nothing on it
// for the TTL of a lease waiting for an answer; the renewals go on a new
// stream and the first answer says the lease lives.
func TestSilentStreamIsReplaced(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	kc := newCounted(t, c.Endpoints()[0])
	kc.mute.Store(1)
	k, release := leasekeep.For(kc.Client)
	defer release()
	core, logs := observer.New(zapcore.InfoLevel)

	const ttl = 2 * time.Second
	id := grant(t, cli, ttl)
	l := k.Keep(id, ttl, zap.New(core))
	// Another client renews the lease until the keeper's renewals are
	// answered.
	stopRenewing := renewMeanwhile(t, cli, id)
	waitLogged(t, logs, "answered late", "the keeper's renewals were never answered")
	require.Equal(t, int64(2), kc.streams.Load(), "keep-alive streams opened")
	stopRenewing()
	livesFor(t, cli, id, 2*ttl)
	notLost(t, l)
}

// A stream etcd ends (here by restarting) is opened again and the
// renewals go on: the next answer after the restart reaches the lease.
func TestStreamEndedByEtcdIsOpenedAgain(t *testing.T) {
	c := etcdtest.New(t)
	cli := c.Client(t)
	kc := newCounted(t, c.Endpoints()[0])
	k, release := leasekeep.For(kc.Client)
	defer release()

	const ttl = 3 * time.Second
	id := grant(t, cli, ttl)
	l := k.Keep(id, ttl, zap.NewNop())
	livesFor(t, cli, id, ttl)
	c.Members[0].Stop(t)
	c.Members[0].Restart(t)
	require.Eventually(t, func() bool { return kc.streams.Load() >= 2 }, waitFor, 20*time.Millisecond,
		"the keep-alive stream was not opened again")
	// Whether the lease outlived the restart depends on how soon the
	// client connects again; either way etcd's next answer must reach it.
	_, err := cli.Revoke(ctxT(t), id)
	if err != nil {
		require.ErrorIs(t, err, rpctypes.ErrLeaseNotFound)
	}
	select {
	case <-l.Lost():
	case <-time.After(waitFor):
		t.Fatal("no renewal answered after the restart")
	}
}
