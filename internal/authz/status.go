package authz

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrAuthEnabled is returned when authentication is on and the client may
// not administer it: Bootstrap must then run as RootUser.
var ErrAuthEnabled = errors.New("authentication is enabled, so it must run as " + RootUser + " (--etcd-user " + RootUser + ")")

// authEnabled reports whether authentication is on.
//
// etcd 3.5 and later answer AuthStatus; etcd 3.4 has no such RPC, so
// there it asks etcd to authenticate a user that cannot exist: etcd
// answers "authentication is not enabled" or "authentication failed".
// etcd 3.6 refuses AuthStatus to a client that is not an administrator
// once authentication is on: that refusal is ErrAuthEnabled.
func authEnabled(ctx context.Context, client *clientv3.Client) (bool, error) {
	st, err := client.AuthStatus(ctx)
	switch {
	case err == nil:
		return st.Enabled, nil
	case IsRefusal(err):
		return true, fmt.Errorf("%w: %w", ErrAuthEnabled, err)
	case status.Code(err) != codes.Unimplemented:
		return false, fmt.Errorf("auth status: %w", err)
	}
	// The name "" is no user's, and no password is checked before etcd
	// knows whether authentication is on.
	_, err = client.Authenticate(ctx, "", "")
	switch {
	case errors.Is(err, rpctypes.ErrAuthNotEnabled):
		return false, nil
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return true, nil
	case err == nil:
		return false, errors.New("auth status: etcd authenticated the empty user name")
	default:
		return false, fmt.Errorf("auth status (by authenticating, as etcd 3.4 has no AuthStatus): %w", err)
	}
}

// IsRefusal tells whether err is etcd refusing a request for want of a
// user or of permission: it happens only when authentication is on. A
// client without a user, or with a TLS certificate whose common name is no
// user, gets ErrUserEmpty or ErrUserNotFound. etcd 3.6 refuses even a
// status request of a client without a user.
func IsRefusal(err error) bool {
	return errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrUserEmpty) ||
		errors.Is(err, rpctypes.ErrUserNotFound) || errors.Is(err, rpctypes.ErrInvalidAuthToken)
}
