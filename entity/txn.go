package entity

import clientv3 "go.etcd.io/etcd/client/v3"

// txn is one guarded write under construction. probes are reads run only
// when a compare fails, so that one round trip tells which one did.
type txn struct {
	cmps   []clientv3.Cmp
	ops    []clientv3.Op
	probes []clientv3.Op
	// siblings is the index of the probe counting directory keys written
	// after the listing a uniqueness check read, or -1.
	siblings int
	hasSibs  bool
}

// probe reads key when the transaction fails.
func (t *txn) probe(key string) {
	t.probes = append(t.probes, clientv3.OpGet(key, clientv3.WithKeysOnly()))
}

// guardSiblings makes the transaction fail when any key under prefix was
// written after rev: the listing a uniqueness check judged is then stale.
// Deletes cannot make a passing check fail, so they need no guard.
func (t *txn) guardSiblings(prefix string, rev int64) {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(prefix), "<", rev+1).WithPrefix())
	t.siblings = len(t.probes)
	t.hasSibs = true
	t.probes = append(t.probes, clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(),
		clientv3.WithMinModRev(rev+1)))
}

// exists reports whether probe i found its key.
func (t *txn) exists(resp *clientv3.TxnResponse, i int) bool {
	return len(resp.Responses[i].GetResponseRange().Kvs) > 0
}

// modRevision is the ModRevision probe i found, 0 when the key is missing.
func (t *txn) modRevision(resp *clientv3.TxnResponse, i int) int64 {
	kvs := resp.Responses[i].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return 0
	}
	return kvs[0].ModRevision
}

// siblingsChanged reports whether the uniqueness guard failed.
func (t *txn) siblingsChanged(resp *clientv3.TxnResponse) bool {
	return t.hasSibs && resp.Responses[t.siblings].GetResponseRange().Count > 0
}
