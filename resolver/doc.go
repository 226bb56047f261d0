// Package resolver is the DNS side of svcdns: the query handler that
// answers from a zone snapshot (authoritative only, RFC 1034/2308/6891/
// 7766/8020/8482/8914), and the UDP and TCP listeners.
package resolver
