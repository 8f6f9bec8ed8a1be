package process

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// inheritedEnv are the variables an app gets from the launcher's environment.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// minimalEnv returns the inherited variables that are set, with a default PATH.
func minimalEnv() map[string]string {
	env := map[string]string{"PATH": defaultPath}
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return env
}

// mergeEnv returns the variables of layers as a sorted "K=V" list, later layers winning.
func mergeEnv(layers ...map[string]string) []string {
	merged := make(map[string]string)
	for _, l := range layers {
		for k, v := range l {
			merged[k] = v
		}
	}
	env := make([]string, 0, len(merged))
	for k, v := range merged {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// lookupCredential resolves run_as. It returns nil when the name is empty or the current user,
// whose processes need no change of user.
func lookupCredential(name string) (*credential, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	if u.Uid == strconv.Itoa(os.Getuid()) {
		return nil, nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid %q: %w", u.Gid, err)
	}
	c := &credential{User: name, UID: uint32(uid), GID: uint32(gid)}
	gids, err := u.GroupIds()
	if err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
	}
	return c, nil
}
