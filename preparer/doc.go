// Package preparer is the per-node agent that converges a node's intent into
// its reality: it installs, launches, upgrades and removes pods, reports
// their health, and records what it did.
//
// Every intent batch passes the failsafe chain first: the preparer acts
// only while it can see its own pod in intent, and holds a change that
// would uninstall more than half of the node's pods (and more than two).
// Installing and launching are pluggable (Installer, Launcher,
// HealthChecker); the reference parts are preparer/hoist and
// preparer/process.
package preparer
