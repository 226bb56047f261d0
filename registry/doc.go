// Package registry reads the IANA Service Name and Transport Protocol Port
// Number Registry (RFC 6335) from its CSV, XML and text-table forms into
// one record model, validates service names against RFC 6335 §5.1,
// resolves historic aliases to their replacements, and indexes records by
// (name, protocol) and by (port, protocol).
//
// The package imports no DNS library: it knows the registry, not the zone.
package registry
