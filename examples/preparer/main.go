// Command preparer is p2kit's reference agent for one node: it converges
// the node's intent in etcd into installed, running pods (hoist artifacts,
// supervised processes) and reports what it did. Apps it launches keep
// running when it stops or restarts; on start it adopts them again.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

func main() {
	// Launched apps are supervised by this same binary in supervisor mode.
	process.MaybeSupervise()
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	err := runErr(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "preparer: %v\n", err)
		return 1
	}
	return 0
}

func runErr(args []string, stderr io.Writer) error {
	host, _ := os.Hostname()
	fs := pflag.NewFlagSet("preparer", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var d component.Daemon
	d.Register(fs, "127.0.0.1:9101")
	node := fs.String("node", host, "this node's name")
	podRoot := fs.String("pod-root", "/data/pods", "directory pods are installed in")
	selfPod := fs.String("self-pod-id", preparer.DefaultSelfPodID, "the preparer's own pod id in intent")
	workers := fs.Int("workers", 8, "pods worked on at once")
	healthHost := fs.String("health-host", "127.0.0.1", "host the pods' HTTP health checks dial")
	nodeIP := fs.String("node-ip", "", "this node's address, given to apps as P2_NODE_IP (empty: --health-host)")
	appEnvs := fs.StringArray("app-env", nil, "KEY=VALUE added to every app's environment (repeatable; the launchable's env wins)")
	nodeTTL := fs.Duration("node-ttl", preparer.DefaultNodeTTL, "TTL of the lease of this node's record (/p2/status/nodes/<node>/preparer): a dead preparer is seen gone within it")
	trustedKeys := fs.String("trusted-keys", "", "directory of ed25519 public keys (*.pub) and armored PGP public keys (*.asc): install only manifests signed by one of them (empty: no verification)")
	allowUnverified := fs.Bool("allow-unverified-artifacts", false, "install hoist launchables that have neither digest nor digest_location, logging each (development only)")
	registryURL := fs.String("artifact-registry", "", "URL of P2's artifact registry (http or https): resolves version launchables and locations without a scheme when the manifest names no artifact_registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	registry, err := artifactRegistry(*registryURL)
	if err != nil {
		return err
	}
	prefix, err := component.CheckPrefix(d.Prefix)
	if err != nil {
		return err
	}
	if *healthHost == "" {
		return fmt.Errorf("--health-host: required")
	}
	env, err := appEnv(*node, *nodeIP, *healthHost, *appEnvs)
	if err != nil {
		return err
	}
	keys, err := preparer.LoadTrustedKeys(*trustedKeys)
	if err != nil {
		return fmt.Errorf("--trusted-keys: %w", err)
	}
	pgpKeys, err := preparer.LoadTrustedPGPKeys(*trustedKeys)
	if err != nil {
		return fmt.Errorf("--trusted-keys: %w", err)
	}
	ctx, stop := component.SignalContext()
	defer stop()
	rt, err := d.Start(ctx, "preparer")
	if err != nil {
		return err
	}
	defer rt.Close()
	log, client, reg := rt.Log, rt.Client, rt.Registry

	hoistOpts := []hoist.Option{hoist.WithLogger(log), hoist.WithTrustedPGPKeys(pgpKeys)}
	if registry != nil {
		hoistOpts = append(hoistOpts, hoist.WithArtifactRegistry(registry))
	}
	if *allowUnverified {
		hoistOpts = append(hoistOpts, hoist.WithAllowUnverifiedArtifacts())
		log.Warn("unverified artifacts are allowed: hoist launchables without digest or digest_location will be installed")
	}
	p, err := preparer.New(client, *node,
		preparer.Hoist(hoist.New(*podRoot, hoistOpts...)),
		process.New(*podRoot, process.WithLogger(log), process.WithEnv(env)),
		preparer.WithPrefix(prefix),
		preparer.WithSelfPodID(*selfPod),
		preparer.WithWorkers(*workers),
		preparer.WithTrustedKeys(keys...),
		preparer.WithTrustedPGPKeys(pgpKeys),
		preparer.WithHealthChecker(preparer.DefaultHealthChecker{Host: *healthHost}),
		preparer.WithNodeTTL(*nodeTTL),
		preparer.WithLogger(log),
		preparer.WithRegistry(reg))
	if err != nil {
		return err
	}
	log.Info("preparer starting", zap.String("node", *node), zap.String("pod_root", *podRoot),
		zap.Int("trusted_keys", len(keys)), zap.Int("trusted_pgp_keys", len(pgpKeys)), zap.Bool("allow_unverified_artifacts", *allowUnverified), zap.Stringer("artifact_registry", redacted(registry)),
		zap.String("health_host", *healthHost), zap.String("node_ip", env[envNodeIP]), zap.Duration("node_ttl", *nodeTTL),
		zap.Strings("etcd", component.SplitEndpoints(d.Etcd.Endpoints)))
	if err := p.Run(ctx); err != nil {
		return err
	}
	log.Info("preparer stopped")
	return nil
}
