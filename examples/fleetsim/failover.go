package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/roll"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// takeoverGrace is how much later than the lease TTL after the crash the
// standby may take the roll over: etcd looks for expired leases every
// 500ms, and the revocation, the lock's release and the standby's claim
// each take a round trip.
const takeoverGrace = 3 * time.Second

// expiryJitter is how much sooner than etcd said a lease may be seen
// gone: the crash's time is taken before etcd is asked.
const expiryJitter = 200 * time.Millisecond

// failover rolls the RC of from to the RC of to and crashes the controller
// as soon as the roll has taken its first step. A standby controller,
// started with the phase, takes over the farms once the crashed one's
// lease runs out, and finishes the roll. etcd's history of the intent
// between the roll's start and its end then shows that no pod was
// scheduled twice.
type failover struct {
	s        *sim
	from, to *manifest.Manifest

	lease     int64 // the crashed controller's
	fromRev   int64
	crashedAt time.Time
	remaining time.Duration // the crashed lease's TTL left, as etcd said right after the crash
	expired   time.Duration // crash to the last of the crashed lease's locks gone
	takeover  time.Duration // crash to the standby holding the roll's lock
}

func (fo *failover) rollID() string { return rcID(fo.to) }

func (fo *failover) locksDir() string { return fo.s.cfg.prefix + "/locks/" }

func (fo *failover) rollLockDir() string {
	return fo.locksDir() + roll.FarmKind + "/" + fo.rollID() + "/"
}

// act starts the standby, the roll, and crashes the controller mid-roll.
func (fo *failover) act(ctx context.Context) error {
	s := fo.s
	// Before the standby starts, every lock is the controller's.
	resp, err := s.obs.cli.Get(ctx, fo.locksDir(), clientv3.WithPrefix())
	if err != nil {
		return err
	}
	leases := map[int64]bool{}
	for _, kv := range resp.Kvs {
		leases[kv.Lease] = true
	}
	if len(leases) != 1 {
		return fmt.Errorf("%d leases hold the farms' locks before the failover, want the controller's only", len(leases))
	}
	for l := range leases {
		fo.lease = l
	}
	fo.fromRev = resp.Header.Revision + 1
	s.compact.keep(resp.Header.Revision) // check reads the history from here

	// The roll starts paused, so that the controller claims it before
	// the standby runs: the standby only gets it by taking over.
	if err := s.startRoll(fo.from, fo.to, true)(ctx); err != nil {
		return err
	}
	rollDir := fo.rollLockDir()
	err = poll(ctx, 5*time.Millisecond, func() (bool, error) {
		resp, err := s.obs.cli.Get(ctx, rollDir, clientv3.WithFirstCreate()...)
		return err == nil && len(resp.Kvs) > 0 && resp.Kvs[0].Lease == fo.lease, err
	})
	if err != nil {
		return fmt.Errorf("wait for the controller to claim roll %s: %w", fo.rollID(), err)
	}
	standby, err := s.startController("standby")
	if err != nil {
		return err
	}
	if _, err := roll.NewStore(s.drv, keyspace.WithPrefix(s.cfg.prefix)).SetPaused(ctx, actor, fo.rollID(), false); err != nil {
		return err
	}
	// Crash once the roll has moved replicas and before it is done.
	err = poll(ctx, 5*time.Millisecond, func() (bool, error) {
		st, err := s.rollStatus(ctx, fo.rollID())
		if err != nil || st == nil {
			return false, err
		}
		switch st.Phase {
		case roll.Done, roll.Failed, roll.Halted:
			return false, fmt.Errorf("roll %s is %s before the controller could be crashed mid-roll", fo.rollID(), st.Phase)
		}
		return st.Phase == roll.Running && st.NewReplicas > 0, nil
	})
	if err != nil {
		return err
	}
	s.ctl.crash()
	fo.crashedAt = time.Now()
	s.ctl = standby
	// A crash leaves the lease to run out; a graceful stop revokes it.
	ttl, err := s.obs.cli.TimeToLive(ctx, clientv3.LeaseID(fo.lease), clientv3.WithAttachedKeys())
	if err != nil {
		return err
	}
	if ttl.TTL <= 0 {
		return fmt.Errorf("the crashed controller's lease %x is gone already: it was revoked, not left to expire", fo.lease)
	}
	fo.remaining = time.Duration(ttl.TTL) * time.Second
	if len(ttl.Keys) == 0 {
		return fmt.Errorf("the crashed controller's lease %x held no lock when it crashed", fo.lease)
	}
	return nil
}

// done is true once the standby holds the roll's lock and the roll is
// done with every new replica healthy.
func (fo *failover) done(ctx context.Context, n int) (bool, error) {
	s := fo.s
	if fo.takeover == 0 {
		if err := fo.watchLocks(ctx); err != nil {
			return false, err
		}
	}
	if fo.takeover == 0 {
		return false, nil
	}
	return s.rollDone(fo.rollID())(ctx, n)
}

// watchLocks notes when the crashed lease's locks are all gone and when
// the roll's lock is held by another lease (or the roll is over: a done
// roll is deleted with its lock).
func (fo *failover) watchLocks(ctx context.Context) error {
	s := fo.s
	resp, err := s.obs.cli.Get(ctx, fo.locksDir(), clientv3.WithPrefix())
	if err != nil {
		return err
	}
	since := time.Since(fo.crashedAt)
	mine := 0
	var owner *mvccpb.KeyValue // of the roll's lock: the oldest key
	rollDir := fo.rollLockDir()
	for _, kv := range resp.Kvs {
		if kv.Lease == fo.lease {
			mine++
		}
		if strings.HasPrefix(string(kv.Key), rollDir) && (owner == nil || kv.CreateRevision < owner.CreateRevision) {
			owner = kv
		}
	}
	if mine == 0 && fo.expired == 0 {
		fo.expired = since
	}
	if owner != nil && owner.Lease != fo.lease {
		fo.takeover = since
		return nil
	}
	if st, err := s.rollStatus(ctx, fo.rollID()); err == nil && st != nil && st.Phase == roll.Done {
		fo.takeover = since
	}
	return err
}

// check judges the takeover time and etcd's history of the roll.
func (fo *failover) check(ctx context.Context, r *result) error {
	s := fo.s
	defer s.compact.keep(0)
	r.takeover = fo.takeover.Seconds()
	ttl := time.Duration(s.cfg.leaseTTL) * time.Second
	resp, err := s.obs.cli.Get(ctx, s.cfg.prefix+"/intent/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	h, err := rollHistory(ctx, s.obs.cli, s.cfg.prefix, fo.to.ID, fo.fromRev, resp.Header.Revision)
	if err != nil {
		return err
	}
	within := "within"
	if fo.takeover > ttl {
		within = "more than"
	}
	r.notes = append(r.notes,
		fmt.Sprintf("controller crashed mid-roll with %s left on its lease; its locks gone after %.1fs, the standby held the roll after %.1fs: %s the lease TTL of %s",
			fo.remaining, fo.expired.Seconds(), fo.takeover.Seconds(), within, ttl),
		h.String())
	var errs []error
	// A lease left to expire lasts at least the whole seconds etcd said
	// it had left right after the crash. One gone sooner was revoked: a
	// graceful stop, not a crash. (On a loaded machine a lease may be
	// close to expiring at the crash, its keep-alives late: then etcd
	// says 0 seconds and nothing is checked.)
	if fo.expired < fo.remaining-expiryJitter {
		errs = append(errs, fmt.Errorf("the crashed controller's locks were gone %.1fs after the crash, when etcd said its lease had %s left: it was revoked, not left to expire",
			fo.expired.Seconds(), fo.remaining))
	}
	if fo.takeover > ttl+takeoverGrace {
		errs = append(errs, fmt.Errorf("the standby took the roll over %.1fs after the crash, more than the lease TTL %s and %s",
			fo.takeover.Seconds(), ttl, takeoverGrace))
	}
	errs = append(errs, h.check(s.cfg.replicas, rollStep(s.cfg.replicas), digest(fo.to)))
	return errors.Join(errs...)
}
