package zone

import (
	"strings"

	"github.com/svcdns/svcdns/registry"
)

// portTable is what the synthesized _PORT._PROTO names need of the
// registry, kept with the snapshot in place of the registry itself: the
// rows with a port, each cut to the fields those answers report, with
// strings copied out of the parsed registry so that it can be collected
// once the zone is built. Values are kept with their white space folded,
// as the TXT record carries them, so that answering only copies.
type portTable struct {
	rows  []portRow
	index [len(registry.Protocols) + 1]registry.PortIndex // by Protocol
}

type portRow struct {
	ports  registry.PortRange
	proto  registry.Protocol // ProtoNone: the row holds its ports on every transport
	status registry.Status
	name   string // as registered; "" for reserved and unassigned rows
	unauth string
	facts  *portFacts // unnamed rows only
	// label is the first label of the service's owner name in wire form
	// ("\x07_geneve"), for the PTR to it; served says the zone has that
	// owner under the row's protocol.
	label  string
	served bool
}

// portFacts is what a port's TXT reports of a row without a name.
type portFacts struct {
	desc, mod, refs, notes string
}

func newPortTable(reg *registry.Registry) *portTable {
	t := &portTable{}
	n := 0
	for i := range reg.Records {
		if reg.Records[i].HasPort {
			n++
		}
	}
	t.rows = make([]portRow, 0, n)
	for i := range reg.Records {
		r := &reg.Records[i]
		if !r.HasPort {
			continue
		}
		row := portRow{ports: r.Ports, proto: r.Proto, status: r.Status,
			name: strings.Clone(r.Name), unauth: strings.Clone(foldSpace(r.Unauthorized))}
		if r.Name == "" {
			row.facts = &portFacts{desc: strings.Clone(foldSpace(r.Description)), mod: foldSpace(r.Modified.String()),
				refs: strings.Clone(foldSpace(strings.Join(r.References, ", "))), notes: strings.Clone(foldSpace(r.Notes))}
		}
		t.rows = append(t.rows, row)
	}
	for _, p := range registry.Protocols {
		t.index[p] = registry.NewPortIndex(len(t.rows), func(i int) (registry.PortRange, bool) {
			r := &t.rows[i]
			return r.ports, r.proto == p || r.proto == registry.ProtoNone
		})
	}
	return t
}

// markServed notes, for each named row with a protocol, the label of its
// service's owner name and whether the zone holds that name.
func (t *portTable) markServed(b *builder, origin string) {
	for i := range t.rows {
		r := &t.rows[i]
		if r.name == "" || r.proto == registry.ProtoNone {
			continue
		}
		owner, err := serviceWire(r.name, r.proto, origin)
		if err != nil {
			continue
		}
		r.label = owner[:1+int(owner[0])]
		n := b.nodes[owner]
		r.served = n != nil && !n.ent
	}
}

// lookup returns the rows covering port on proto, in registry order.
func (t *portTable) lookup(port uint16, proto registry.Protocol) []int32 {
	if proto == registry.ProtoNone || int(proto) >= len(t.index) {
		return nil
	}
	return t.index[proto].Lookup(port)
}

// registered reports whether a row assigns port on proto to a name or
// reserves it: the ports PortNamesRegistered keeps.
func (t *portTable) registered(port uint16, proto registry.Protocol) bool {
	for _, i := range t.lookup(port, proto) {
		if r := &t.rows[i]; r.name != "" || r.status == registry.Reserved {
			return true
		}
	}
	return false
}

// anyRegistered reports whether some port of proto is registered.
func (t *portTable) anyRegistered(proto registry.Protocol) bool {
	for i := range t.rows {
		r := &t.rows[i]
		if (r.proto == proto || r.proto == registry.ProtoNone) && (r.name != "" || r.status == registry.Reserved) {
			return true
		}
	}
	return false
}

// equal compares two rows by content, whether the zone serves the
// service it names included.
func (r *portRow) equal(o *portRow) bool {
	if r.ports != o.ports || r.proto != o.proto || r.status != o.status || r.name != o.name || r.unauth != o.unauth ||
		r.label != o.label || r.served != o.served {
		return false
	}
	if r.facts == nil || o.facts == nil {
		return r.facts == o.facts
	}
	return *r.facts == *o.facts
}
