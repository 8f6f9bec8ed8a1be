package dashboard

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// txnGets is how many prefix reads one transaction carries (etcd allows
// 128 operations a transaction by default).
const txnGets = 100

// getPrefixes reads every key under each prefix, in as few round trips as
// etcd's transaction limit allows.
func (s *server) getPrefixes(ctx context.Context, prefixes []string, opts ...clientv3.OpOption) ([][]*mvccpb.KeyValue, error) {
	ops := make([]clientv3.Op, 0, len(prefixes))
	for _, p := range prefixes {
		ops = append(ops, clientv3.OpGet(p, append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...))
	}
	return s.getOps(ctx, ops)
}

// getOps runs read operations in transactions of at most txnGets, all at
// one revision per transaction, and returns each one's keys.
func (s *server) getOps(ctx context.Context, ops []clientv3.Op) ([][]*mvccpb.KeyValue, error) {
	out := make([][]*mvccpb.KeyValue, 0, len(ops))
	for start := 0; start < len(ops); start += txnGets {
		chunk := ops[start:min(len(ops), start+txnGets)]
		resp, err := s.cli.Txn(ctx).Then(chunk...).Commit()
		if err != nil {
			return nil, fmt.Errorf("read %s and %d more: %w", chunk[0].KeyBytes(), len(chunk)-1, kv.EtcdError(err))
		}
		for _, r := range resp.Responses {
			out = append(out, r.GetResponseRange().Kvs)
		}
	}
	return out, nil
}

// dir is the key directory <prefix>/<parts...>/.
func (s *server) dir(parts ...string) string {
	d := s.cfg.prefix
	for _, p := range parts {
		d += "/" + p
	}
	return d + "/"
}
