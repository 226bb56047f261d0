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

// zoneOptions maps the validated configuration onto the zone's options.
func zoneOptions(c config.Config) (zone.Options, error) {
	// config.Load has already put TTL.Default into every unset TTL.
	o := zone.Options{
		Origin: c.Origin,
		TTL: zone.TTLs{SOA: c.TTL.SOA, NS: c.TTL.NS, Address: c.TTL.Address,
			SRV: c.TTL.SRV, TXT: c.TTL.TXT, PTR: c.TTL.PTR, CNAME: c.TTL.CNAME},
		SOA: zone.SOA{MName: c.SOA.MName, RName: c.SOA.RName, Refresh: c.SOA.Refresh,
			Retry: c.SOA.Retry, Expire: c.SOA.Expire, Minimum: c.SOA.Minimum},
		Services: map[registry.Key][]zone.Target{},
	}
	if c.PortNames == "registered" {
		o.PortNames = zone.PortNamesRegistered
	}
	var err error
	for i, ns := range c.NameServers {
		h, e := host(ns.Name, ns.Addresses)
		if e != nil {
			return o, fmt.Errorf("name_servers[%d]: %w", i, e)
		}
		o.NameServers = append(o.NameServers, h)
	}
	if o.Target, err = host(c.Target.Name, c.Target.Addresses); err != nil {
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
			h, err := host(t.Host, t.Addresses)
			if err != nil {
				return o, fmt.Errorf("services.%s[%d]: %w", key, i, err)
			}
			o.Services[k] = append(o.Services[k], zone.Target{Host: h, Priority: t.Priority, Weight: t.Weight, Port: t.Port})
		}
	}
	return o, nil
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

// buildZone loads the registry c names and builds its zone, after prev.
func buildZone(c config.Config, prev *zone.Snapshot) (*zone.Snapshot, error) {
	var v zone.Version
	if prev != nil {
		v = prev.Version()
	}
	return buildZoneAfter(c, v)
}

// buildZoneAfter is buildZone after a version known by the journal only.
func buildZoneAfter(c config.Config, prev zone.Version) (*zone.Snapshot, error) {
	reg, err := loadRegistry(registryPath(c))
	if err != nil {
		return nil, err
	}
	opts, err := zoneOptions(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return zone.BuildAfter(reg, opts, prev)
}
