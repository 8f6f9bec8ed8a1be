// Command p2ctl is the operator CLI of a p2kit fleet: it creates, reads,
// lists, watches and deletes every entity from YAML or JSON files, labels
// nodes, scales replication controllers, starts and follows rolls, lists and
// releases failsafe holds, and reads status records and the audit log.
//
//	p2ctl apply rc -f hello-v1.yaml
//	p2ctl list rc
//	p2ctl rc scale hello-v1 5
//	p2ctl roll start hello-v2 --from hello-v1 --desired 5 --minimum 4
//	p2ctl roll status hello-v2 --follow
//	p2ctl failsafe list
//
// Every command takes --etcd (comma-separated endpoints, env P2_ETCD),
// --prefix, --log-level, -o table|json|yaml and --actor (the name written
// into audit records). A failure is one line on stderr and exit code 1.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
