package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// backupPage is how many keys the backup reads at a time, and
// restorePage how many the restore writes a transaction (etcd's limit of
// operations in one).
const (
	backupPage  = 1000
	restorePage = kv.MaxTxnOps
)

// backup writes every key under prefix, read at one revision a page at a
// time, to a new temporary file: the operator's copy of what the mass
// deletion removes. An operator keeps it on disk, so it costs the
// simulation's heap a page, not the fleet's intent.
func backup(ctx context.Context, cli *clientv3.Client, prefix string) (path string, err error) {
	f, err := os.CreateTemp("", "fleetsim-backup-")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	key, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(backupPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			return "", err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		var buf []byte
		for _, kv := range resp.Kvs {
			buf = binary.AppendUvarint(buf[:0], uint64(len(kv.Key)))
			buf = append(buf, kv.Key...)
			buf = binary.AppendUvarint(buf, uint64(len(kv.Value)))
			buf = append(buf, kv.Value...)
			if _, err := w.Write(buf); err != nil {
				return "", err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return f.Name(), w.Flush()
}

// readBackup calls put with the backup's keys a page of puts at a time.
func readBackup(path string, put func([]clientv3.Op) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	next := func() (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b), nil
	}
	var ops []clientv3.Op
	for {
		k, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("backup %s: %w", path, err)
		}
		v, err := next()
		if err != nil {
			return fmt.Errorf("backup %s: the value of %s: %w", path, k, err)
		}
		if ops = append(ops, clientv3.OpPut(k, v)); len(ops) == restorePage {
			if err := put(ops); err != nil {
				return err
			}
			ops = ops[:0]
		}
	}
	if len(ops) > 0 {
		return put(ops)
	}
	return nil
}
