package journal

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
)

// fuzzJournal is a small journal file: a checkpoint at serial 1 and
// deltas 1->2->3 that change TXT and PTR records.
func fuzzJournal(f *testing.F) []byte {
	soa := func(serial uint32) *dns.SOA {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "ports.local.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns1.ports.local.", Mbox: "hostmaster.ports.local.", Serial: serial, Refresh: 3600, Retry: 600, Expire: 604800, Minttl: 300}
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return r
	}
	hdr, err := headerFrame("ports.local.")
	if err != nil {
		f.Fatal(err)
	}
	data := append([]byte(magic), hdr...)
	data = append(data, checkpointEntry(zone.Version{Serial: 1}, 1700000000).frame...)
	for _, d := range []Delta{
		{From: soa(1), To: soa(2), Deleted: []dns.RR{rr(`_a._tcp.ports.local. 3600 IN TXT "txtvers=1" "desc=a"`)},
			Added: []dns.RR{rr(`_a._tcp.ports.local. 3600 IN TXT "txtvers=1" "desc=b"`), rr(`_6081._udp.ports.local. 3600 IN PTR _geneve._udp.ports.local.`)}},
		{From: soa(2), To: soa(3), Deleted: []dns.RR{rr(`_6081._udp.ports.local. 3600 IN PTR _geneve._udp.ports.local.`)},
			Added: []dns.RR{rr(`RETS\ x._rets._tcp.ports.local. 60 IN SRV 0 0 6103 svc.ports.local.`)}},
	} {
		e, err := deltaEntry(&d, zone.Version{Serial: d.To.Serial}, 1700000000)
		if err != nil {
			f.Fatal(err)
		}
		data = append(data, e.frame...)
	}
	return data
}

// FuzzParse feeds arbitrary bytes to the journal reader: it must never
// panic; what it accepts must be a chain of deltas each in exactly the
// form the journal writes, within the zone; and serving any range of it
// must not panic and must join the serials asked for.
func FuzzParse(f *testing.F) {
	good := fuzzJournal(f)
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add([]byte(magic))
	f.Add(append(append([]byte(nil), good...), good[len(magic):]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, maxSerial, err := parse(data, "ports.local.")
		if err != nil {
			if entries != nil {
				t.Fatal("entries returned with an error")
			}
			return
		}
		serials := map[uint32]bool{}
		for i, e := range entries {
			serials[e.from], serials[e.to] = true, true
			if e.from > maxSerial || e.to > maxSerial {
				t.Fatalf("entry %d names serial %d..%d above the reported maximum %d", i, e.from, e.to, maxSerial)
			}
			if i > 0 && e.from != entries[i-1].to {
				t.Fatalf("entry %d starts at %d, the one before ends at %d", i, e.from, entries[i-1].to)
			}
			if e.kind != kindDelta {
				continue
			}
			d, err := decodeDelta(e.body(), "ports.local.")
			if err != nil {
				t.Fatalf("accepted entry %d does not decode: %v", i, err)
			}
			again, err := deltaEntry(&d, e.version(), e.time)
			if err != nil || !bytes.Equal(again.frame, e.frame) {
				t.Fatalf("entry %d does not encode back to itself: %v", i, err)
			}
			for _, rr := range append(append([]dns.RR{d.From, d.To}, d.Deleted...), d.Added...) {
				if !dns.IsSubDomain("ports.local.", rr.Header().Name) {
					t.Fatalf("entry %d holds %v, outside the zone", i, rr)
				}
			}
		}
		for from := range serials {
			for to := range serials {
				if d, ok := changes(entries, "ports.local.", from, to); ok && (d.From.Serial != from || d.To.Serial != to) {
					t.Fatalf("changes(%d, %d) joins %d..%d", from, to, d.From.Serial, d.To.Serial)
				}
			}
		}
	})
}

// FuzzDecodeDelta feeds arbitrary delta bodies to the decoder, past the
// CRC that keeps FuzzParse's mutations out: it must never panic, and what
// it accepts must encode back to the same bytes.
func FuzzDecodeDelta(f *testing.F) {
	good := fuzzJournal(f)
	entries, _, err := parse(good, "ports.local.")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.kind == kindDelta {
			f.Add(append([]byte(nil), e.body()...))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeDelta(body, "ports.local.")
		if err != nil {
			return
		}
		e, err := deltaEntry(&d, zone.Version{Serial: d.To.Serial, Digest: [32]byte(body[17:49])}, int64(binary.BigEndian.Uint64(body[1:])))
		if err != nil || !bytes.Equal(e.body(), body) {
			t.Fatalf("accepted delta does not encode back to itself: %v", err)
		}
	})
}
