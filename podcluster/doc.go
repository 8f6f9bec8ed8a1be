// Package podcluster stores pod clusters at /p2/pod_clusters/<id>: a named
// group of one pod's instances in one availability zone, chosen by a label
// selector, for load balancers and service discovery. A cluster's (pod_id,
// availability_zone, name) is unique, checked in the write's own transaction.
package podcluster
