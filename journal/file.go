package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
)

// The journal file is an 8-byte magic followed by frames, only ever
// appended to (or replaced whole, atomically). A frame is
//
//	length uint32 | CRC-32C uint32 | body (length bytes)
//
// where the CRC covers the body, and a body is a kind byte and its fields,
// big-endian:
//
//	'H' header      version u8 | origin (wire name)
//	'C' checkpoint  time i64 | serial u32 | digest [32]
//	'D' delta       time i64 | from u32 | to u32 | digest [32] |
//	                deleted u32 | added u32 | SOA(from) | SOA(to) |
//	                deleted records | added records
//
// Records are in uncompressed wire form. The header is the first frame; a
// checkpoint (a version with no delta, written when the journal starts
// over) can only be the second; every delta starts at the serial where the
// frame before it ends. The digest is the content digest of the version a
// frame ends at (zone.Version), which is how a restart tells whether the
// journal leads to the zone it is about to serve.
const (
	magic         = "SVCJRNL\x01"
	formatVersion = 1
	frameHeader   = 8
	// maxFrame bounds one frame; a length above it is damage, not a
	// reason to allocate.
	maxFrame = 1 << 30

	kindHeader     = 'H'
	kindCheckpoint = 'C'
	kindDelta      = 'D'

	checkpointBody = 1 + 8 + 4 + 32
	deltaFixed     = 1 + 8 + 4 + 4 + 32 + 4 + 4
	// minRR is the smallest record: root owner, type, class, TTL, length.
	minRR = 1 + 2 + 2 + 4 + 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// entry is one checkpoint or delta frame as it is on disk.
type entry struct {
	kind     byte
	time     int64 // unix seconds when it was written
	from, to uint32
	digest   [32]byte // of version to
	frame    []byte   // the whole frame, header included
}

func (e *entry) version() zone.Version { return zone.Version{Serial: e.to, Digest: e.digest} }

// body is the frame without its length and CRC.
func (e *entry) body() []byte { return e.frame[frameHeader:] }

func frame(body []byte) []byte {
	f := make([]byte, frameHeader, frameHeader+len(body))
	binary.BigEndian.PutUint32(f, uint32(len(body)))
	binary.BigEndian.PutUint32(f[4:], crc32.Checksum(body, crcTable))
	return append(f, body...)
}

func headerFrame(origin string) ([]byte, error) {
	name := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(strings.ToLower(origin)), name, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %w", origin, err)
	}
	return frame(append([]byte{kindHeader, formatVersion}, name[:n]...)), nil
}

func checkpointEntry(v zone.Version, now int64) entry {
	b := make([]byte, 0, checkpointBody)
	b = append(b, kindCheckpoint)
	b = binary.BigEndian.AppendUint64(b, uint64(now))
	b = binary.BigEndian.AppendUint32(b, v.Serial)
	b = append(b, v.Digest[:]...)
	return entry{kind: kindCheckpoint, time: now, from: v.Serial, to: v.Serial, digest: v.Digest, frame: frame(b)}
}

// deltaEntry encodes d, which ends at version to.
func deltaEntry(d *Delta, to zone.Version, now int64) (entry, error) {
	if d.To.Serial != to.Serial {
		return entry{}, fmt.Errorf("delta ends at serial %d, the version at %d", d.To.Serial, to.Serial)
	}
	b := make([]byte, 0, deltaFixed+64*(d.Len()+2))
	b = append(b, kindDelta)
	b = binary.BigEndian.AppendUint64(b, uint64(now))
	b = binary.BigEndian.AppendUint32(b, d.From.Serial)
	b = binary.BigEndian.AppendUint32(b, d.To.Serial)
	b = append(b, to.Digest[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Deleted)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Added)))
	var err error
	for _, rrs := range [][]dns.RR{{d.From, d.To}, d.Deleted, d.Added} {
		for _, rr := range rrs {
			if b, err = appendRR(b, rr); err != nil {
				return entry{}, err
			}
		}
	}
	return entry{kind: kindDelta, time: now, from: d.From.Serial, to: d.To.Serial, digest: to.Digest, frame: frame(b)}, nil
}

func appendRR(b []byte, rr dns.RR) ([]byte, error) {
	start := len(b)
	need := dns.Len(rr) + 16
	b = slices.Grow(b, need)[:start+need]
	n, err := dns.PackRR(rr, b, start, nil, false)
	if err != nil {
		return nil, fmt.Errorf("pack %v: %w", rr, err)
	}
	return b[:n], nil
}

// decodeDelta reads a delta body back. It accepts only what deltaEntry
// writes for this origin: after decoding, the records are encoded again
// and must give the same bytes, so that no odd form (a compression
// pointer, a name outside the zone, a SOA among the changes) ever reaches
// a secondary.
func decodeDelta(body []byte, origin string) (Delta, error) {
	if len(body) < deltaFixed || body[0] != kindDelta {
		return Delta{}, errors.New("delta frame too short")
	}
	from := binary.BigEndian.Uint32(body[9:])
	to := binary.BigEndian.Uint32(body[13:])
	nDel := binary.BigEndian.Uint32(body[49:])
	nAdd := binary.BigEndian.Uint32(body[53:])
	off := deltaFixed
	if uint64(nDel)+uint64(nAdd)+2 > uint64(len(body)-off)/minRR {
		return Delta{}, fmt.Errorf("delta claims %d+%d records in %d bytes", nDel, nAdd, len(body)-off)
	}
	read := func() (dns.RR, error) {
		rr, next, err := dns.UnpackRR(body, off)
		if err != nil {
			return nil, fmt.Errorf("record at byte %d: %w", off, err)
		}
		if rr == nil || !dns.IsSubDomain(origin, rr.Header().Name) || rr.Header().Class != dns.ClassINET {
			return nil, fmt.Errorf("record at byte %d is not of zone %s: %v", off, origin, rr)
		}
		off = next
		return rr, nil
	}
	d := Delta{}
	for i, p := range []**dns.SOA{&d.From, &d.To} {
		rr, err := read()
		if err != nil {
			return Delta{}, err
		}
		soa, ok := rr.(*dns.SOA)
		if !ok || !strings.EqualFold(soa.Hdr.Name, origin) || soa.Serial != [...]uint32{from, to}[i] {
			return Delta{}, fmt.Errorf("delta %d->%d: record %d is %v, want the SOA at serial %d", from, to, i, rr, [...]uint32{from, to}[i])
		}
		*p = soa
	}
	for _, l := range []struct {
		n   uint32
		dst *[]dns.RR
	}{{nDel, &d.Deleted}, {nAdd, &d.Added}} {
		if l.n > 0 {
			*l.dst = make([]dns.RR, 0, l.n)
		}
		for range l.n {
			rr, err := read()
			if err != nil {
				return Delta{}, err
			}
			if rr.Header().Rrtype == dns.TypeSOA {
				return Delta{}, fmt.Errorf("delta %d->%d: a SOA among the changes", from, to)
			}
			*l.dst = append(*l.dst, rr)
		}
	}
	if off != len(body) {
		return Delta{}, fmt.Errorf("delta %d->%d: %d bytes after the last record", from, to, len(body)-off)
	}
	again, err := deltaEntry(&d, zone.Version{Serial: to, Digest: [32]byte(body[17:49])}, int64(binary.BigEndian.Uint64(body[1:])))
	if err != nil || !bytes.Equal(again.body(), body) {
		return Delta{}, fmt.Errorf("delta %d->%d is not in the form the journal writes", from, to)
	}
	return d, nil
}

// parse reads a whole journal file of origin. It returns its checkpoint
// and delta entries, or the first problem with its byte offset; either
// way, maxSerial is the highest serial that an intact frame names, so
// that a zone served after damage can still move past every serial
// secondaries may have seen.
func parse(data []byte, origin string) (entries []entry, maxSerial uint32, err error) {
	origin = dns.Fqdn(strings.ToLower(origin))
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		return nil, 0, errors.New("not a journal file (bad magic)")
	}
	off := len(magic)
	header := false
	for off < len(data) {
		at := off
		if len(data)-off < frameHeader {
			return nil, maxSerial, fmt.Errorf("byte %d: cut short in a frame header", at)
		}
		n := binary.BigEndian.Uint32(data[off:])
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n == 0 || n > maxFrame || uint64(n) > uint64(len(data)-off-frameHeader) {
			return nil, maxSerial, fmt.Errorf("byte %d: frame of %d bytes, %d left: cut short or corrupted", at, n, len(data)-off-frameHeader)
		}
		body := data[off+frameHeader : off+frameHeader+int(n)]
		if crc32.Checksum(body, crcTable) != sum {
			return nil, maxSerial, fmt.Errorf("byte %d: checksum mismatch", at)
		}
		off += frameHeader + int(n)
		if !header {
			if body[0] != kindHeader || len(body) < 3 || body[1] != formatVersion {
				return nil, 0, fmt.Errorf("byte %d: no header of format %d", at, formatVersion)
			}
			name, end, err := dns.UnpackDomainName(body, 2)
			if err != nil || end != len(body) {
				return nil, 0, fmt.Errorf("byte %d: header origin unreadable", at)
			}
			if !strings.EqualFold(name, origin) {
				return nil, 0, fmt.Errorf("journal of zone %s, not %s", name, origin)
			}
			header = true
			continue
		}
		e := entry{kind: body[0], frame: data[at:off]}
		switch e.kind {
		case kindCheckpoint:
			if len(body) != checkpointBody {
				return nil, maxSerial, fmt.Errorf("byte %d: checkpoint of %d bytes", at, len(body))
			}
			if len(entries) > 0 {
				return nil, maxSerial, fmt.Errorf("byte %d: checkpoint after other entries", at)
			}
			e.time = int64(binary.BigEndian.Uint64(body[1:]))
			e.from = binary.BigEndian.Uint32(body[9:])
			e.to = e.from
			e.digest = [32]byte(body[13:45])
		case kindDelta:
			d, err := decodeDelta(body, origin)
			if err != nil {
				return nil, maxSerial, fmt.Errorf("byte %d: %w", at, err)
			}
			e.time = int64(binary.BigEndian.Uint64(body[1:]))
			e.from, e.to = d.From.Serial, d.To.Serial
			e.digest = [32]byte(body[17:49])
			if e.from == e.to {
				return nil, maxSerial, fmt.Errorf("byte %d: delta from serial %d to itself", at, e.from)
			}
			if len(entries) > 0 && entries[len(entries)-1].to != e.from {
				return nil, maxSerial, fmt.Errorf("byte %d: delta from serial %d follows serial %d", at, e.from, entries[len(entries)-1].to)
			}
		default:
			return nil, maxSerial, fmt.Errorf("byte %d: unknown frame kind %q", at, e.kind)
		}
		maxSerial = max(maxSerial, e.from, e.to)
		entries = append(entries, e)
	}
	if !header {
		return nil, 0, errors.New("no header")
	}
	return entries, maxSerial, nil
}
