// Package zone turns a registry and options into an immutable, queryable
// zone: the apex (SOA, NS, addresses), SRV and TXT records for every valid
// service name and protocol, CNAMEs for historic aliases, and the names in
// between, which exist with no records (RFC 8020).
//
// A Snapshot is built once per registry/config version and never changed;
// Lookup maps a query to an Outcome and the records of each section.
package zone
