package p2import

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Result is what Apply wrote.
type Result struct {
	// Written are the records written, in the order they were.
	Written []Record
	// Unchanged counts the records etcd already held.
	Unchanged int
}

// Apply writes the records of a plan made by Plan. While the plan has a
// blocking problem it writes nothing and returns ErrBlocked, unless partial
// is set: then it writes every record and leaves the problems out.
//
// Labels, intent and reality are written first, in transactions of the
// chunk size, each record with its audit record and guarded by its key
// still being absent; then the controllers, each through its store's Create
// (one transaction with its audit record, the store's own rules checked:
// a roll's RCs exist, pod clusters are distinct). Chunks are not atomic
// together: on a failure Apply returns what it wrote so far, and running
// the import again skips the records already written.
func (im *Importer) Apply(ctx context.Context, p *Plan, partial bool) (*Result, error) {
	if b := p.Blocking(); len(b) > 0 && !partial {
		return &Result{}, fmt.Errorf("%w: %d problem(s), the first: %s; nothing written", ErrBlocked, len(b), b[0])
	}
	res := &Result{}
	var bulk, controllers []Record
	for _, r := range p.Records {
		switch {
		case r.Action == Unchanged:
			res.Unchanged++
		case r.Action != Create || r.Key == "":
			return res, fmt.Errorf("%s %s: the record has no action: make the plan with Importer.Plan", r.Kind, r.ID)
		case r.Kind == Labels || r.Kind == Intent || r.Kind == Reality:
			bulk = append(bulk, r)
		default:
			controllers = append(controllers, r)
		}
	}
	for start := 0; start < len(bulk); start += im.chunk {
		chunk := bulk[start:min(start+im.chunk, len(bulk))]
		if err := im.writeChunk(ctx, chunk); err != nil {
			return res, fmt.Errorf("after %d of %d records: %w", len(res.Written), len(bulk)+len(controllers), err)
		}
		res.Written = append(res.Written, chunk...)
		im.log.Info("imported a chunk", zap.Int("records", len(chunk)), zap.Int("written", len(res.Written)))
	}
	for _, r := range controllers {
		if err := im.createController(ctx, r); err != nil {
			return res, fmt.Errorf("after %d of %d records: %s (from %s): %w",
				len(res.Written), len(bulk)+len(controllers), r.Key, r.Source, err)
		}
		res.Written = append(res.Written, r)
		im.log.Info("imported", zap.String("kind", string(r.Kind)), zap.String("id", r.ID), zap.String("source", r.Source))
	}
	return res, nil
}

// writeChunk writes records and their audit records in one transaction,
// guarded by every key still being absent.
func (im *Importer) writeChunk(ctx context.Context, recs []Record) error {
	cmps := make([]clientv3.Cmp, 0, len(recs))
	ops := make([]clientv3.Op, 0, 2*len(recs))
	for _, r := range recs {
		rec, err := im.audit.Op(audit.Created, string(r.Kind), r.ID, im.actor, r.Value)
		if err != nil {
			return err
		}
		cmps = append(cmps, r.cmp)
		ops = append(ops, r.op, rec)
	}
	if _, err := kv.Commit(ctx, im.client, cmps, ops...); err != nil {
		return fmt.Errorf("chunk from %s to %s (a key was written meanwhile?): %w", recs[0].Key, recs[len(recs)-1].Key, err)
	}
	return nil
}

// createController writes one controller through its store.
func (im *Importer) createController(ctx context.Context, r Record) error {
	var err error
	switch v := r.Value.(type) {
	case *rc.RC:
		_, err = im.rcs.Create(ctx, im.actor, v)
	case *daemonset.DaemonSet:
		_, err = im.dss.Create(ctx, im.actor, v)
	case *podcluster.PodCluster:
		_, err = im.pcs.Create(ctx, im.actor, v)
	case *roll.Roll:
		_, err = im.rolls.Create(ctx, im.actor, v)
	default:
		err = fmt.Errorf("value of type %T is not a controller", r.Value)
	}
	return err
}
