// Package authz creates the etcd roles and users of a p2kit fleet and turns
// etcd authentication on: one user per preparer, confined to its own node's
// keys, and one for the controllers. Bootstrap is idempotent, so re-running
// it with more nodes adds only what is missing.
package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/p2kit/p2kit/failsafe"
	"slices"
	"strings"

	"github.com/p2kit/p2kit/manifest"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The users Bootstrap makes besides the preparers'.
const (
	// ControllerUser is the user of the controller farms: it may read and
	// write every key under the prefix.
	ControllerUser = "p2-controller"
	// RootUser is etcd's administrator. Bootstrap creates it only when
	// authentication is not enabled yet; etcd requires it before enabling.
	RootUser = "root"
)

// PreparerUser is the user (and role) of the preparer of node.
func PreparerUser(node string) string { return "preparer-" + node }

// Grant is one permission of a role: Type on every key that starts with
// Prefix.
type Grant struct {
	Prefix string
	Type   authpb.Permission_Type // clientv3.PermRead, PermWrite or PermReadWrite
}

// PreparerGrants is what the preparer of node may do: read its intent, read
// and write its reality, its pods' status records and its node record, and
// read and write its own failsafe holds and their releases (hold ids begin
// with the component, "preparer/<node>"). Nothing else: not another node's
// keys, not intent.
func PreparerGrants(prefix, node string) []Grant {
	prefix = strings.TrimRight(prefix, "/")
	own := failsafe.IDPrefix("preparer/" + node)
	return []Grant{
		{prefix + "/intent/" + node + "/", clientv3.PermRead},
		{prefix + "/reality/" + node + "/", clientv3.PermReadWrite},
		{prefix + "/status/pods/" + node + "/", clientv3.PermReadWrite},
		{prefix + "/status/nodes/" + node + "/", clientv3.PermReadWrite},
		{failsafe.HoldKey(prefix, own), clientv3.PermReadWrite},
		{failsafe.ReleaseKey(prefix, own), clientv3.PermReadWrite},
	}
}

// ControllerGrants is what the controllers may do: read and write every key
// under the prefix.
func ControllerGrants(prefix string) []Grant {
	return []Grant{{strings.TrimRight(prefix, "/") + "/", clientv3.PermReadWrite}}
}

// Option configures Bootstrap.
type Option func(*options)

type options struct {
	passwords map[string]string
}

// WithPasswords gives the passwords of users Bootstrap creates, by user
// name; a user created without one gets a random password.
func WithPasswords(pw map[string]string) Option {
	return func(o *options) { o.passwords = pw }
}

// Bootstrap makes the roles and users of a fleet under prefix for nodes and
// enables authentication: a role and user PreparerUser(node) per node with
// PreparerGrants, ControllerUser with ControllerGrants, and RootUser when
// authentication is still off. Each role gets exactly its grants (others
// are revoked) and each user exactly its role.
//
// It is idempotent: users and roles that exist are kept (a user's password
// is never changed), missing ones are added. It returns the users it
// created with their passwords, which are not stored anywhere else. Once
// authentication is on, client must be authenticated as root.
func Bootstrap(ctx context.Context, client *clientv3.Client, prefix string, nodes []string, opts ...Option) (map[string]string, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !strings.HasPrefix(prefix, "/") || strings.TrimRight(prefix, "/") == "" {
		return nil, fmt.Errorf("auth bootstrap: prefix %q: want an absolute key prefix such as /p2", prefix)
	}
	if len(nodes) == 0 {
		return nil, errors.New("auth bootstrap: no nodes")
	}
	users := map[string][]Grant{ControllerUser: ControllerGrants(prefix)}
	for _, n := range nodes {
		if err := manifest.ValidateID(n); err != nil {
			return nil, fmt.Errorf("auth bootstrap: node: %w", err)
		}
		users[PreparerUser(n)] = PreparerGrants(prefix, n)
	}
	enabled, err := authEnabled(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("auth bootstrap: %w", err)
	}

	created := map[string]string{}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	for _, u := range names {
		if err := ensureRole(ctx, client, u, users[u]); err != nil {
			return created, wrap(enabled, err)
		}
		pw, err := ensureUser(ctx, client, u, u, o.passwords[u])
		if err != nil {
			return created, wrap(enabled, err)
		}
		if pw != "" {
			created[u] = pw
		}
	}
	if enabled {
		return created, nil
	}
	pw, err := ensureUser(ctx, client, RootUser, "root", o.passwords[RootUser])
	if err != nil {
		return created, wrap(false, err)
	}
	if pw != "" {
		created[RootUser] = pw
	}
	if _, err := client.AuthEnable(ctx); err != nil {
		return created, fmt.Errorf("auth bootstrap: enable authentication: %w", err)
	}
	return created, nil
}

// wrap explains a refusal when authentication is already on.
func wrap(enabled bool, err error) error {
	if enabled && IsRefusal(err) {
		return fmt.Errorf("auth bootstrap: %w: %w", ErrAuthEnabled, err)
	}
	return fmt.Errorf("auth bootstrap: %w", err)
}

// ensureRole makes role exist with exactly grants.
func ensureRole(ctx context.Context, client *clientv3.Client, role string, grants []Grant) error {
	if _, err := client.RoleAdd(ctx, role); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("role %s: %w", role, err)
	}
	cur, err := client.RoleGet(ctx, role)
	if err != nil {
		return fmt.Errorf("role %s: %w", role, err)
	}
	type rng struct{ key, end string }
	want := map[rng]authpb.Permission_Type{}
	for _, g := range grants {
		want[rng{g.Prefix, clientv3.GetPrefixRangeEnd(g.Prefix)}] = g.Type
	}
	have := map[rng]authpb.Permission_Type{}
	for _, p := range cur.Perm {
		r := rng{string(p.Key), string(p.RangeEnd)}
		have[r] = p.PermType
		if _, ok := want[r]; !ok {
			if _, err := client.RoleRevokePermission(ctx, role, r.key, r.end); err != nil {
				return fmt.Errorf("role %s: revoke %s: %w", role, r.key, err)
			}
		}
	}
	for _, g := range grants {
		r := rng{g.Prefix, clientv3.GetPrefixRangeEnd(g.Prefix)}
		if t, ok := have[r]; ok && t == g.Type {
			continue
		}
		if _, err := client.RoleGrantPermission(ctx, role, r.key, r.end, clientv3.PermissionType(g.Type)); err != nil {
			return fmt.Errorf("role %s: grant %s %s: %w", role, g.Type, g.Prefix, err)
		}
	}
	return nil
}

// ensureUser makes user exist with exactly role and returns its password
// when it creates the user ("" when the user existed).
func ensureUser(ctx context.Context, client *clientv3.Client, user, role, password string) (string, error) {
	created := ""
	cur, err := client.UserGet(ctx, user)
	switch {
	case errors.Is(err, rpctypes.ErrUserNotFound):
		if password == "" {
			if password, err = NewPassword(); err != nil {
				return "", err
			}
		}
		if _, err := client.UserAdd(ctx, user, password); err != nil {
			return "", fmt.Errorf("user %s: %w", user, err)
		}
		created = password
	case err != nil:
		return "", fmt.Errorf("user %s: %w", user, err)
	default:
		for _, r := range cur.Roles {
			if r == role {
				continue
			}
			if _, err := client.UserRevokeRole(ctx, user, r); err != nil {
				return "", fmt.Errorf("user %s: revoke role %s: %w", user, r, err)
			}
		}
	}
	if cur == nil || !slices.Contains(cur.Roles, role) {
		if _, err := client.UserGrantRole(ctx, user, role); err != nil {
			return "", fmt.Errorf("user %s: grant role %s: %w", user, role, err)
		}
	}
	return created, nil
}

// NewPassword returns a random password: 24 bytes from crypto/rand in
// URL-safe base64 (32 characters, no ':').
func NewPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
