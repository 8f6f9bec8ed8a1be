package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultPageSize is how many keys one List request asks etcd for.
const DefaultPageSize = 1000

// Store is a typed view of the keys under one etcd prefix. Names passed to
// its methods are relative to the prefix; every write is validated first
// and every read is decoded and validated, so a bad stored value surfaces as
// a *DecodeError naming its key.
type Store[T any] struct {
	client    *clientv3.Client
	prefix    string
	codec     Codec[T]
	validate  func(name string, v *T) error
	checkName func(name string) error
	filter    func(name string) bool
	pageSize  int64
	log       *zap.Logger
}

// Option configures a Store.
type Option[T any] func(*Store[T])

// WithCodec replaces the default JSON codec.
func WithCodec[T any](c Codec[T]) Option[T] { return func(s *Store[T]) { s.codec = c } }

// WithValidate checks every value written and every value read. name is
// relative to the store's prefix, so a validator can compare it with the
// value's own id.
func WithValidate[T any](fn func(name string, v *T) error) Option[T] {
	return func(s *Store[T]) { s.validate = fn }
}

// WithNameCheck replaces the default name check (non-empty segments, no
// "." or "..", no spaces or control characters). Entity packages use it to
// require valid ids and the right number of segments.
func WithNameCheck[T any](fn func(name string) error) Option[T] {
	return func(s *Store[T]) { s.checkName = fn }
}

// WithKeyFilter makes the store ignore every key under its prefix whose
// name fails keep: such keys are never listed, watched or reported as
// undecodable, and Get treats them as missing. Stores that share a prefix
// with other data (status records of several namespaces) use it.
func WithKeyFilter[T any](keep func(name string) bool) Option[T] {
	return func(s *Store[T]) { s.filter = keep }
}

// WithPageSize sets how many keys one List request fetches.
func WithPageSize[T any](n int) Option[T] {
	return func(s *Store[T]) {
		if n > 0 {
			s.pageSize = int64(n)
		}
	}
}

// WithLogger sets the logger watches use.
func WithLogger[T any](l *zap.Logger) Option[T] { return func(s *Store[T]) { s.log = l } }

// New returns a store over the keys under prefix. A prefix that does not end
// in "/" gets one, so the store for node "web1" never sees "web10".
func New[T any](client *clientv3.Client, prefix string, opts ...Option[T]) *Store[T] {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &Store[T]{
		client:    client,
		prefix:    prefix,
		codec:     JSON[T]{},
		checkName: DefaultNameCheck,
		pageSize:  DefaultPageSize,
		log:       zap.NewNop(),
	}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	return s
}

// Sub returns a store over the keys under prefix+name+"/", with the same
// codec and validation. Names in the sub-store are relative to the new
// prefix; the validator still receives the name relative to the parent, so
// it can check path-dependent ids.
func (s *Store[T]) Sub(name string) (*Store[T], error) {
	if err := DefaultNameCheck(name); err != nil {
		return nil, err
	}
	sub := *s
	parent := s
	sub.prefix = s.prefix + name + "/"
	sub.checkName = DefaultNameCheck
	if s.validate != nil {
		sub.validate = func(n string, v *T) error { return parent.validate(name+"/"+n, v) }
	}
	if s.filter != nil {
		sub.filter = func(n string) bool { return parent.filter(name + "/" + n) }
	}
	if s.checkName != nil {
		sub.checkName = func(n string) error {
			if err := DefaultNameCheck(n); err != nil {
				return err
			}
			return parent.checkName(name + "/" + n)
		}
	}
	return &sub, nil
}

// Prefix is the store's key prefix; it always ends in "/".
func (s *Store[T]) Prefix() string { return s.prefix }

// Client is the etcd client the store uses.
func (s *Store[T]) Client() *clientv3.Client { return s.client }

// Key returns the full etcd key for name, or an error naming a bad name.
func (s *Store[T]) Key(name string) (string, error) {
	if err := s.checkName(name); err != nil {
		return "", fmt.Errorf("key %q under %s: %w", name, s.prefix, err)
	}
	return s.prefix + name, nil
}

// DefaultNameCheck accepts names made of non-empty "/"-separated segments
// other than "." and "..", without spaces or control characters.
func DefaultNameCheck(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidName, name)
		}
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q contains a space or control character", ErrInvalidName, name)
		}
	}
	return nil
}

// encode validates v and returns its stored form.
func (s *Store[T]) encode(name string, v *T) (string, string, error) {
	key, err := s.Key(name)
	if err != nil {
		return "", "", err
	}
	if v == nil {
		return "", "", fmt.Errorf("%s: nil value", key)
	}
	if s.validate != nil {
		if err := s.validate(name, v); err != nil {
			return "", "", fmt.Errorf("%s: %w", key, err)
		}
	}
	data, err := s.codec.Marshal(v)
	if err != nil {
		return "", "", fmt.Errorf("%s: encode: %w", key, err)
	}
	return key, string(data), nil
}

// keeps reports whether the store's filter keeps the key.
func (s *Store[T]) keeps(key []byte) bool {
	if s.filter == nil {
		return true
	}
	name, ok := strings.CutPrefix(string(key), s.prefix)
	return ok && s.filter(name)
}

// decode turns a stored key-value into an object, or a *DecodeError.
func (s *Store[T]) decode(kv *mvccpb.KeyValue) (*Object[T], error) {
	key := string(kv.Key)
	derr := func(err error) error { return &DecodeError{Key: key, Revision: kv.ModRevision, Err: err} }
	name, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return nil, derr(errors.New("key outside the store's prefix " + s.prefix))
	}
	if err := s.checkName(name); err != nil {
		return nil, derr(err)
	}
	obj := &Object[T]{
		Name:           name,
		Key:            key,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Version:        kv.Version,
	}
	if err := s.codec.Unmarshal(kv.Value, &obj.Value); err != nil {
		return nil, derr(err)
	}
	if s.validate != nil {
		if err := s.validate(name, &obj.Value); err != nil {
			return nil, derr(err)
		}
	}
	return obj, nil
}

// Get reads one value. A missing key is ErrNotFound; a value that cannot be
// decoded is a *DecodeError.
func (s *Store[T]) Get(ctx context.Context, name string) (*Object[T], error) {
	key, err := s.Key(name)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 || !s.keeps(resp.Kvs[0].Key) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.decode(resp.Kvs[0])
}

// Listing is the result of List: the decoded objects in key order, the keys
// whose values could not be decoded, and the revision of the listing.
type Listing[T any] struct {
	Items    []*Object[T]
	Invalid  []*DecodeError
	Revision int64
}

// List reads every key under the prefix at one revision, with linearizable
// reads in pages of the store's page size, so that no single response holds
// the whole prefix. Undecodable values do not fail the listing: they are
// reported in Invalid and the other keys are returned.
func (s *Store[T]) List(ctx context.Context) (*Listing[T], error) {
	out := &Listing[T]{}
	rev, err := s.listRaw(ctx, func(kv *mvccpb.KeyValue) {
		obj, err := s.decode(kv)
		if err != nil {
			out.Invalid = append(out.Invalid, err.(*DecodeError))
			return
		}
		out.Items = append(out.Items, obj)
	})
	if err != nil {
		return nil, err
	}
	out.Revision = rev
	return out, nil
}

// listRaw pages through the prefix at one revision and calls fn for every
// key-value in key order.
func (s *Store[T]) listRaw(ctx context.Context, fn func(*mvccpb.KeyValue)) (int64, error) {
	return s.listRawAt(ctx, 0, false, fn)
}

// listRawAt is listRaw at revision rev (0: the current one), of keys
// only (no values) when keysOnly.
func (s *Store[T]) listRawAt(ctx context.Context, rev int64, keysOnly bool, fn func(*mvccpb.KeyValue)) (int64, error) {
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	from := s.prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(s.pageSize)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, from, opts...)
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", s.prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if s.keeps(kv.Key) {
				fn(kv)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Create writes a new key; it fails with ErrExists when the key is there.
func (s *Store[T]) Create(ctx context.Context, name string, v *T) (*Object[T], error) {
	cmp, op, err := s.CreateOp(name, v)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(op).Commit()
	if err != nil {
		return nil, fmt.Errorf("create %s%s: %w", s.prefix, name, EtcdError(err))
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("create %s%s: %w", s.prefix, name, ErrExists)
	}
	return s.written(name, v, resp.Header.Revision, resp.Header.Revision, 1), nil
}

// Put writes a key whatever it holds now.
func (s *Store[T]) Put(ctx context.Context, name string, v *T) (*Object[T], error) {
	key, data, err := s.encode(name, v)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Put(ctx, key, data, clientv3.WithPrevKV())
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, EtcdError(err))
	}
	rev := resp.Header.Revision
	if prev := resp.PrevKv; prev != nil {
		return s.written(name, v, prev.CreateRevision, rev, prev.Version+1), nil
	}
	return s.written(name, v, rev, rev, 1), nil
}

// Update writes v over prev if the key has not changed since prev was read
// (compare-and-swap on prev.ModRevision); otherwise ErrConflict.
func (s *Store[T]) Update(ctx context.Context, prev *Object[T], v *T) (*Object[T], error) {
	cmp, op, err := s.UpdateOp(prev, v)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(op).Commit()
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", prev.Key, EtcdError(err))
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("update %s at revision %d: %w", prev.Key, prev.ModRevision, ErrConflict)
	}
	return s.written(prev.Name, v, prev.CreateRevision, resp.Header.Revision, prev.Version+1), nil
}

// Modify reads name, lets fn change the freshly decoded value, and writes
// it back with compare-and-swap, retrying on conflict. fn may be called more
// than once; an error from fn stops and is returned as is.
func (s *Store[T]) Modify(ctx context.Context, name string, fn func(v *T) error) (*Object[T], error) {
	for {
		cur, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		v := cur.Value
		if err := fn(&v); err != nil {
			return nil, err
		}
		obj, err := s.Update(ctx, cur, &v)
		if errors.Is(err, ErrConflict) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return obj, err
	}
}

// DeleteOption makes a Delete conditional.
type DeleteOption func(*deleteOptions)

type deleteOptions struct{ rev int64 }

// IfModRevision deletes only if the key's ModRevision is still rev.
func IfModRevision(rev int64) DeleteOption { return func(o *deleteOptions) { o.rev = rev } }

// Delete removes one key. A missing key is ErrNotFound, with IfModRevision
// too (what was read is gone either way); a key written since the revision
// is ErrConflict.
func (s *Store[T]) Delete(ctx context.Context, name string, opts ...DeleteOption) error {
	var o deleteOptions
	for _, fn := range opts {
		fn(&o)
	}
	key, err := s.Key(name)
	if err != nil {
		return err
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if o.rev != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", o.rev)
	}
	txn := s.client.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key))
	if o.rev != 0 {
		// A failed revision compare is either a key written since or a
		// key gone: the count tells them apart, in the same transaction.
		txn = txn.Else(clientv3.OpGet(key, clientv3.WithCountOnly()))
	}
	resp, err := txn.Commit()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, EtcdError(err))
	}
	if !resp.Succeeded {
		if o.rev != 0 && !missing(resp) {
			return fmt.Errorf("delete %s at revision %d: %w", key, o.rev, ErrConflict)
		}
		return fmt.Errorf("delete %s: %w", key, ErrNotFound)
	}
	return nil
}

// missing reports whether the else branch's count says the key is gone.
func missing(resp *clientv3.TxnResponse) bool {
	if len(resp.Responses) == 0 {
		return false
	}
	r := resp.Responses[0].GetResponseRange()
	return r != nil && r.Count == 0
}

func (s *Store[T]) written(name string, v *T, createRev, modRev, version int64) *Object[T] {
	return &Object[T]{
		Name:           name,
		Key:            s.prefix + name,
		Value:          *v,
		CreateRevision: createRev,
		ModRevision:    modRev,
		Version:        version,
	}
}
