package main

import (
	"fmt"
	"net"
	"strings"
)

// Variables every app gets from the preparer's flags.
const (
	envNode   = "P2_NODE"
	envNodeIP = "P2_NODE_IP"
)

// appEnv is the environment the preparer adds to every app: the --app-env
// pairs, P2_NODE (the node's name) and P2_NODE_IP (its address: --node-ip,
// or --health-host when that is empty). A launchable's own env wins over
// all of them.
func appEnv(node, nodeIP, healthHost string, pairs []string) (map[string]string, error) {
	if nodeIP == "" {
		nodeIP = healthHost
	} else if net.ParseIP(nodeIP) == nil {
		return nil, fmt.Errorf("--node-ip %q: not an IP address", nodeIP)
	}
	env := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("--app-env %q: want KEY=VALUE", p)
		case strings.ContainsAny(k, " \t\n\x00"):
			return nil, fmt.Errorf("--app-env %q: the key has a space or control character", p)
		case k == envNode || k == envNodeIP:
			return nil, fmt.Errorf("--app-env %q: %s is set by --node/--node-ip", p, k)
		}
		if _, dup := env[k]; dup {
			return nil, fmt.Errorf("--app-env %q: %s given twice", p, k)
		}
		env[k] = v
	}
	env[envNode] = node
	env[envNodeIP] = nodeIP
	return env, nil
}
