// Package process is the preparer's reference launcher: it runs every entry point of an
// installed pod as a supervised process that restarts by its launchable's policy and keeps
// running when the preparer stops, restarts or crashes.
// A new Launcher over the same pod root adopts those processes from their state on disk, so
// launching the version a pod already runs changes nothing.
//
// # Supervisors
//
// Each entry point gets a small supervisor process that is not a child of the preparer: the
// Launcher re-executes the current program in supervisor mode, and that process detaches into
// its own session before it starts the app. A program that uses a Launcher must therefore call
// MaybeSupervise first thing in main (and in TestMain of tests that launch):
//
//	func main() {
//		process.MaybeSupervise()
//		// ... the program proper
//	}
//
// The supervisor starts the entry point in its own process group with the launchable's
// environment, appends its output to the pod's log files, restarts it with exponential backoff
// under restart_policy always, and on SIGTERM stops the whole group: SIGTERM, then SIGKILL after
// the grace period. It is a child subreaper, so it also reaps what the app leaves behind.
//
// # State on disk
//
// Under <pod-root>/<pod-id>/:
//
//	processes/pod.json                      the launched manifest digest and entry points
//	processes/<launchable>__<entry>/        one directory per entry point ('/' in the entry
//	                                         point becomes '_'):
//	    spec.json                           what the supervisor runs
//	    supervisor.pid, app.pid             "<pid> <start time>", the start time in clock
//	                                         ticks after boot (/proc/<pid>/stat field 22)
//	    restarts, last_exit, done           restart count, how the app last ended, and a
//	                                         marker that a restart_policy never app has ended
//	    supervisor.log                      the supervisor's own log
//	logs/<launchable>-<entry>.stdout.log    the app's output, appended
//	logs/<launchable>-<entry>.stderr.log
//
// A pid read from disk is signalled only while /proc/<pid>/stat shows the recorded start time,
// so a pid the kernel has since given to another process is never signalled.
package process
