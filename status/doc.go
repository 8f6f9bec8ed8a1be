// Package status stores status records of any resource at
// /p2/status/<type>/<id>/<namespace>, one namespace per writer and schema.
// The preparer's record of each pod (PodStatus, namespace "preparer") is the
// one every deployer reads.
package status
