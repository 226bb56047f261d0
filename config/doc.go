// Package config turns a configuration file, SVCDNS_* environment variables
// and command-line flags into one typed, validated [Config].
//
// It is the only package of svcdns that imports viper; nothing else reads raw
// configuration. The cmd layer calls [Load] once per (re)load and maps the
// result onto the zone and resolver options, so a bad file never reaches the
// running server: the caller keeps serving the old zone when Load fails.
//
// # Sources and precedence
//
// Values come from, highest precedence first:
//
//  1. flags registered by [AddFlags] (or by [AddZoneFlags] and [AddServeFlags],
//     its two halves), but only those the user changed;
//  2. environment variables SVCDNS_<KEY>, where KEY is the file key upper-cased
//     with "." and nesting replaced by "_" (ttl.srv -> SVCDNS_TTL_SRV);
//  3. the file, YAML (.yaml, .yml), TOML (.toml) or JSON (.json), chosen by
//     extension;
//  4. defaults, see [Default] and example.yaml.
//
// Within a nested group each key is resolved on its own: SVCDNS_TTL_SRV
// replaces ttl.srv and leaves the file's ttl.default alone, and the services
// map is merged per "name/proto" key.
//
// List-valued environment variables are comma-separated
// (SVCDNS_LISTEN=127.0.0.1:53,[::1]:53). The three keys whose values are lists
// of objects or a map of them (SVCDNS_NAME_SERVERS, SVCDNS_SERVICES,
// SVCDNS_TRANSFER_TSIG_KEYS) take JSON with the same keys as the file. An
// empty variable is a value, not an absence: SVCDNS_METRICS_LISTEN= disables
// metrics.
//
// # Strictness
//
// An unknown key, in the file, inside a list item, inside a JSON environment
// value, or as an SVCDNS_ variable, is an error wrapping [ErrUnknownKey]; a
// value of the wrong type or out of range is an error wrapping [ErrBadValue].
// Each error names where the value came from (the file path, the variable or
// the flag), the key and the value. Keys are case-insensitive in files.
//
// # Canonical form
//
// A Config returned by Load, or one on which Validate returned nil, is
// canonical: every domain name is lower-case and fully qualified, TTLs of 0
// hold the default TTL, addresses are in netip's canonical text form, the TSIG
// algorithm is set, and notify targets carry a port.
package config
