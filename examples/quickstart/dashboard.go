package main

import (
	"context"
	"os/user"

	"github.com/p2kit/p2kit/dashboard"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// startDashboard serves the web UI on a free loopback port until ctx
// ends and returns its URL. With keep, releases are allowed, audited with
// the name of the user who runs the demo: the hold left in place is theirs
// to release.
func (d *demoEnv) startDashboard(ctx context.Context, keep bool) (string, <-chan error, error) {
	opts := []dashboard.Option{dashboard.WithPrefix("/p2"), dashboard.WithLogger(d.log.Named("dashboard"))}
	if keep {
		opts = append(opts, dashboard.AllowWrites(operatorName()))
	}
	h, err := dashboard.New(d.cli, opts...)
	if err != nil {
		return "", nil, err
	}
	addr, done, err := dashboard.Serve(ctx, "127.0.0.1:0", h, d.log.Named("dashboard"))
	if err != nil {
		return "", nil, err
	}
	return "http://" + addr + "/", done, nil
}

// operatorName is the name of the user running the demo, for the audit.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "quickstart-operator"
}

// leaveHold wipes the last node's intent again and leaves the hold in
// place, for the dashboard to show and release.
func (d *demoEnv) leaveHold(ctx context.Context, url string) error {
	n := d.nodes[len(d.nodes)-1]
	if _, err := d.cli.Delete(ctx, "/p2/intent/"+n.name+"/", clientv3.WithPrefix()); err != nil {
		return err
	}
	hold, err := d.waitHold(ctx, n.name)
	if err != nil {
		return errStep("wait for the hold left in place", err)
	}
	d.tl.say("wiped %s's intent again and left the hold %s in place for the dashboard", n.name, hold.ID)
	d.tl.say("  see it at %sholds; releasing it there (as %s) delivers the wipe: %s's pods are uninstalled", url, operatorName(), n.name)
	return nil
}
