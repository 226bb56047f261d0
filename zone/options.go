package zone

import (
	"net/netip"

	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/registry"
)

// Options is what a zone is built from besides the registry. The cmd layer
// fills it from the validated configuration.
type Options struct {
	// Origin is the zone apex, a fully qualified name ("ports.local.").
	Origin string
	TTL    TTLs
	SOA    SOA
	// NameServers are the apex NS hosts; in-zone ones get address records.
	NameServers []Host
	// Target is the SRV target used where Services names none.
	Target Host
	// Services lists per-service SRV targets, keyed by (name, protocol).
	Services map[registry.Key][]Target
	// Signer, when set, signs the zone (DNSSEC): its DNSKEY, CDS and
	// CDNSKEY records are published at the apex, and its keys and signing
	// epoch count as content, so that a key event or a new epoch moves the
	// serial as a change of records does (secondaries then transfer the
	// re-signed zone).
	Signer *dnssec.Signer
	// PortNames says which _PORT._PROTO names the zone has. They are part
	// of what secondaries receive (All, WriteMasterFile) either way, so
	// that every server of the zone answers them alike.
	PortNames PortNames
}

// PortNames selects the _PORT._PROTO.ORIGIN names of a zone.
type PortNames uint8

const (
	// PortNamesAll: every port 0-65535 of every protocol, 262,144 names;
	// an unregistered port answers with status=unassigned or dynamic.
	PortNamesAll PortNames = iota
	// PortNamesRegistered: only ports that a registry row assigns or
	// reserves; any other port name does not exist (NXDOMAIN).
	PortNamesRegistered
)

func (p PortNames) String() string {
	switch p {
	case PortNamesAll:
		return "all"
	case PortNamesRegistered:
		return "registered"
	}
	return "portnames?"
}

// TTLs are the TTLs of each kind of record.
type TTLs struct {
	SOA, NS, Address, SRV, TXT, PTR, CNAME uint32
}

// SOA holds the apex SOA fields other than the serial, which is derived.
type SOA struct {
	MName, RName                    string
	Refresh, Retry, Expire, Minimum uint32
}

// Host is a name with the addresses published for it when it is in-zone.
type Host struct {
	Name  string
	Addrs []netip.Addr
}

// Target is one SRV target of a service.
type Target struct {
	Host             Host
	Priority, Weight uint16
	// Port overrides the registered port when non-zero.
	Port uint16
}

// DefaultOptions returns options for origin with the documented defaults:
// ns1.ORIGIN and svc.ORIGIN at 127.0.0.1, TTL 3600, SOA minimum 300.
func DefaultOptions(origin string) Options {
	lo := netip.MustParseAddr("127.0.0.1")
	return Options{
		Origin:      origin,
		TTL:         TTLs{SOA: 3600, NS: 3600, Address: 3600, SRV: 3600, TXT: 3600, PTR: 3600, CNAME: 3600},
		SOA:         SOA{MName: "ns1." + origin, RName: "hostmaster." + origin, Refresh: 3600, Retry: 600, Expire: 604800, Minimum: 300},
		NameServers: []Host{{Name: "ns1." + origin, Addrs: []netip.Addr{lo}}},
		Target:      Host{Name: "svc." + origin, Addrs: []netip.Addr{lo}},
	}
}
