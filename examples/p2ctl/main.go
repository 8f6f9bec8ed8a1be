// Command p2ctl is the operator CLI of a p2kit fleet: it creates, reads,
// lists, describes, diffs, edits, watches and deletes every entity from YAML
// or JSON files, labels nodes, scales replication controllers, starts and
// follows rolls, lists and releases failsafe holds, and reads status records
// and the audit log. Every operator write is audited under $USER (or
// --actor) in the same etcd transaction as the change.
//
//	p2ctl apply -f hello-v1.yaml          # documents carry kind: rc
//	p2ctl get rc hello-v1 -o yaml | p2ctl apply -f -   # a no-op
//	p2ctl list rc -l team=core --watch
//	p2ctl describe rc hello-v1
//	p2ctl diff -f hello-v1.yaml; p2ctl edit rc hello-v1
//	p2ctl rc scale hello-v1 5
//	p2ctl roll start hello-v2 --from hello-v1 --desired 5 --minimum 4
//	p2ctl roll status hello-v2 --follow
//	p2ctl failsafe list
//
// Every command takes --etcd (comma-separated endpoints, env P2_ETCD),
// --prefix, --log-level, -o table|json|yaml and --actor (the name written
// into audit records). A failure, an unknown command or a bad argument is
// one line on stderr and exit code 1. "p2ctl completion bash|zsh|fish"
// prints a completion script that completes ids from etcd.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
