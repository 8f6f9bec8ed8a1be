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
// etcd's transaction limit allows, all at one revision per transaction.
func (s *server) getPrefixes(ctx context.Context, prefixes []string, opts ...clientv3.OpOption) ([][]*mvccpb.KeyValue, error) {
	out := make([][]*mvccpb.KeyValue, 0, len(prefixes))
	for start := 0; start < len(prefixes); start += txnGets {
		chunk := prefixes[start:min(len(prefixes), start+txnGets)]
		ops := make([]clientv3.Op, 0, len(chunk))
		for _, p := range chunk {
			ops = append(ops, clientv3.OpGet(p, append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...))
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("read %s and %d more: %w", chunk[0], len(chunk)-1, kv.EtcdError(err))
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
