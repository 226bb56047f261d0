package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// zoneOptions maps the validated configuration onto the options of the
// zone at origin (one of c.AllOrigins()): the names configured inside
// c.Origin are mirrored below origin (ns1.ports.local. is
// ns1.ports.home.arpa. there), the others kept.
func zoneOptions(c config.Config, origin string) (zone.Options, error) {
	mv := func(name string) string { return mirror(name, c.Origin, origin) }
	// config.Load has already put TTL.Default into every unset TTL.
	o := zone.Options{
		Origin: origin,
		TTL: zone.TTLs{SOA: c.TTL.SOA, NS: c.TTL.NS, Address: c.TTL.Address,
			SRV: c.TTL.SRV, TXT: c.TTL.TXT, PTR: c.TTL.PTR, CNAME: c.TTL.CNAME},
		SOA: zone.SOA{MName: mv(c.SOA.MName), RName: mv(c.SOA.RName), Refresh: c.SOA.Refresh,
			Retry: c.SOA.Retry, Expire: c.SOA.Expire, Minimum: c.SOA.Minimum},
		Services: map[registry.Key][]zone.Target{},
	}
	if c.PortNames == "registered" {
		o.PortNames = zone.PortNamesRegistered
	}
	var err error
	for i, ns := range c.NameServers {
		h, e := host(mv(ns.Name), ns.Addresses)
		if e != nil {
			return o, fmt.Errorf("name_servers[%d]: %w", i, e)
		}
		o.NameServers = append(o.NameServers, h)
	}
	if o.Target, err = host(mv(c.Target.Name), c.Target.Addresses); err != nil {
		return o, fmt.Errorf("target: %w", err)
	}
	for key, targets := range c.Services {
		name, protoName, _ := strings.Cut(key, "/")
		proto, err := registry.ParseProtocol(protoName)
		if err != nil {
			return o, fmt.Errorf("services.%s: %w", key, err)
		}
		k := registry.KeyOf(name, proto)
		for i, t := range targets {
			h, err := host(mv(t.Host), t.Addresses)
			if err != nil {
				return o, fmt.Errorf("services.%s[%d]: %w", key, i, err)
			}
			o.Services[k] = append(o.Services[k], zone.Target{Host: h, Priority: t.Priority, Weight: t.Weight, Port: t.Port})
		}
	}
	return o, nil
}

// mirror moves a name at or below from to the same place below to; any
// other name is returned as it is.
func mirror(name, from, to string) string {
	switch {
	case from == to:
		return name
	case name == from:
		return to
	case strings.HasSuffix(name, "."+from):
		return strings.TrimSuffix(name, from) + to
	}
	return name
}

func host(name string, addrs []string) (zone.Host, error) {
	h := zone.Host{Name: name}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return h, fmt.Errorf("address %q: %w", a, err)
		}
		h.Addrs = append(h.Addrs, ip)
	}
	return h, nil
}

// registryPath is the registry file serve reads: the configured one, else
// the cache `registry update` fills when it exists, else "" (embedded).
func registryPath(c config.Config) string {
	if c.Registry != "" {
		return c.Registry
	}
	if p, err := registry.DefaultCachePath(); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// loadRegistry reads the registry file at path, or the embedded default.
func loadRegistry(path string) (*registry.Registry, error) {
	if path == "" {
		return registry.Default()
	}
	return registry.ParseFile(path)
}

// buildZones loads the registry c names and builds one zone per origin,
// the primary origin's first, each signed with the keys zs finds for it
// when c enables DNSSEC. prev holds, by origin, the version each zone
// follows (the zone being replaced, or the one its journal ends at after
// a restart), so that each serial moves on from its own.
func buildZones(c config.Config, prev map[string]zone.Version, zs *zoneSigning) ([]*zone.Snapshot, error) {
	reg, err := loadRegistry(registryPath(c))
	if err != nil {
		return nil, err
	}
	var out []*zone.Snapshot
	origins := c.AllOrigins()
	for i, origin := range origins {
		opts, err := zoneOptions(c, origin)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if opts.Signer, err = zs.signer(c, origin); err != nil {
			return nil, err
		}
		r := reg
		if i == len(origins)-1 {
			// The parsed registry is a third of the heap while the last
			// zone is compiled, which needs none of it: Build lets go of
			// it once read, and so does this loop.
			reg = nil
		}
		snap, err := zone.BuildAfter(r, opts, prev[origin])
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	return out, nil
}

// versions returns the version of each zone, by origin.
func versions(snaps []*zone.Snapshot) map[string]zone.Version {
	out := make(map[string]zone.Version, len(snaps))
	for _, s := range snaps {
		out[s.Origin()] = s.Version()
	}
	return out
}

// snapshotOf returns the zone of origin among snaps, or nil.
func snapshotOf(snaps []*zone.Snapshot, origin string) *zone.Snapshot {
	for _, s := range snaps {
		if s.Origin() == origin {
			return s
		}
	}
	return nil
}
