package kv

import (
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

// ErrNoSpace is etcd refusing a write because its backend database reached
// its quota (--quota-backend-bytes) and the NOSPACE alarm is raised. Until
// an operator compacts, defragments and disarms the alarm, etcd serves reads
// and deletes but refuses every put and every new lease. Test for it with
// errors.Is; EtcdError turns etcd's own error into it.
var ErrNoSpace = errors.New("etcd is out of space (NOSPACE alarm: etcd refuses writes until an operator " +
	"compacts, defragments and runs `etcdctl alarm disarm`; see docs/OPERATIONS.md)")

// noSpace is ErrNoSpace with etcd's own error as its cause.
type noSpace struct{ cause error }

func (e *noSpace) Error() string        { return ErrNoSpace.Error() + ": " + e.cause.Error() }
func (e *noSpace) Unwrap() error        { return e.cause }
func (e *noSpace) Is(target error) bool { return target == ErrNoSpace }

// EtcdError maps an error of the etcd client to p2kit's sentinels: a
// NOSPACE refusal (rpctypes.ErrNoSpace, rpctypes.ErrGRPCNoSpace, or a gRPC
// status carrying its message) becomes an error that says "etcd is out of
// space" and is errors.Is ErrNoSpace, with etcd's error still as its cause.
// Every other error, nil included, is returned unchanged. It is the one
// place where p2kit recognises NOSPACE; every write of this package goes
// through it, and binaries apply it to the errors they print.
func EtcdError(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !isNoSpace(err) {
		return err
	}
	return &noSpace{cause: err}
}

func isNoSpace(err error) bool {
	if errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace) {
		return true
	}
	if s, ok := status.FromError(err); ok && s.Message() == rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace) {
		return true
	}
	// Some callers flatten the error to text before it reaches us.
	return strings.Contains(err.Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace))
}
