// Package dnssec signs svcdns's zone: keys (BIND key files with their
// timing metadata, or keys generated for a lab), RRSIGs over RRsets with a
// signature cache, compact denial of existence (RFC 9824) for online
// answers, a fully signed zone with an NSEC or NSEC3 chain for
// secondaries, and DS records and trust anchors for the parent and for
// validators.
//
// It depends on miekg/dns, golang-lru and the standard library only, so
// that both the zone (which publishes the keys and, per snapshot, signs
// what it stores) and the resolver (which signs what it synthesizes per
// query) can use it. The design is in docs/dnssec.md.
package dnssec
