// Package p2import migrates a P2 fleet to p2kit: it reads a Consul KV export
// (`consul kv export`) of P2's tree and writes the same intent, reality,
// controllers and labels as p2kit records, through the stores, audited.
//
// Convert turns an export into records offline; an Importer checks them
// against etcd (Plan) and writes them (Apply). Entries that cannot be
// converted, or whose meaning is not clear, are reported as Problems, and
// Apply writes nothing while any blocking problem remains unless told to
// write the rest.
package p2import
