package zonetest

import (
	"slices"
	"testing"

	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// Edit returns a copy of reg with its rows changed by f.
func Edit(reg *registry.Registry, f func(rs []registry.Record) []registry.Record) *registry.Registry {
	c := *reg
	c.Records = f(slices.Clone(reg.Records))
	return &c
}

// Row returns the index of the row name/p.
func Row(t testing.TB, rs []registry.Record, name string, p registry.Protocol) int {
	t.Helper()
	i := slices.IndexFunc(rs, func(r registry.Record) bool { return r.Name == name && r.Proto == p })
	if i < 0 {
		t.Fatalf("no row %s/%s", name, p)
	}
	return i
}

// Versions builds four consecutive versions of the excerpt's zone, each
// from the one before (so serials increase): v2 changes rows
// (descriptions, a row gone, a row new, an unassigned range's notes, so
// port names change too); v3 reverts one of those, changes the case of an
// instance name and every SRV TTL; v4 changes one reserved port's
// description, a delta of two records that fits a UDP reply.
func Versions(t testing.TB, mode zone.PortNames) []*zone.Snapshot {
	t.Helper()
	reg := ExcerptRegistry(t)
	opts := zone.DefaultOptions(Origin)
	opts.PortNames = mode
	build := func(reg *registry.Registry, prev *zone.Snapshot) *zone.Snapshot {
		t.Helper()
		s, err := zone.Build(reg, opts, prev)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v1 := build(reg, nil)
	reg2 := Edit(reg, func(rs []registry.Record) []registry.Record {
		rs[Row(t, rs, "rets", registry.TCP)].Description = "RETS (v2)"
		rs[Row(t, rs, "geneve", registry.UDP)].Description = "Generic Network Virtualization Encapsulation (v2)"
		gone := Row(t, rs, "gue", registry.UDP)
		i := slices.IndexFunc(rs, func(r registry.Record) bool { return r.Name == "" && r.Status == registry.Unassigned && r.HasPort })
		if i < 0 {
			t.Fatal("no unassigned row")
		}
		rs[i].Notes = "changed in v2"
		rs = slices.Delete(rs, gone, gone+1)
		return append(rs, registry.Record{Name: "zz-journal", Proto: registry.TCP, HasPort: true,
			Ports: registry.PortRange{Lo: 6399, Hi: 6399}, Description: "added in v2", Status: registry.Assigned})
	})
	v2 := build(reg2, v1)
	reg3 := Edit(reg2, func(rs []registry.Record) []registry.Record {
		rs[Row(t, rs, "geneve", registry.UDP)].Description = reg.Records[Row(t, reg.Records, "geneve", registry.UDP)].Description
		rs[Row(t, rs, "rets", registry.TCP)].Description = "rets (v3)"
		return rs
	})
	opts.TTL.SRV = 60
	v3 := build(reg3, v2)
	reg4 := Edit(reg3, func(rs []registry.Record) []registry.Record {
		i := slices.IndexFunc(rs, func(r registry.Record) bool { return r.Name == "" && r.Status == registry.Reserved && r.HasPort })
		if i < 0 {
			t.Fatal("no reserved row")
		}
		rs[i].Description = "Reserved (v4)"
		return rs
	})
	v4 := build(reg4, v3)
	vs := []*zone.Snapshot{v1, v2, v3, v4}
	for i := 1; i < len(vs); i++ {
		if vs[i].Serial() <= vs[i-1].Serial() {
			t.Fatalf("serials %d then %d do not increase", vs[i-1].Serial(), vs[i].Serial())
		}
	}
	return vs
}
