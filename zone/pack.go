package zone

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// maxPointerTarget is the first offset a compression pointer cannot reach
// as miekg/dns writes them (it keeps offsets below 2^14 only).
const maxPointerTarget = 1 << 14

// packer writes DNS messages at build time the way miekg/dns packs a
// dns.Msg with compression on, byte for byte, so that a reply written from
// compiled bytes equals the one the dns.Msg path packs. miekg/dns keys its
// compression map on the presentation form of every suffix of every name
// it writes, case kept: a name is compressed onto the longest suffix
// written before, and a name written in full (an SRV target, RFC 2782)
// still offers its suffixes to later names. Names here are canonical wire
// form, so a wire suffix stands for its presentation form.
type packer struct {
	buf []byte
	// dict maps suffixes to the offset they were written at; small
	// messages scan it, larger ones also index it in big.
	dict []suffixAt
	big  map[string]int
	// ptrs, when tracking, collects the offsets of the compression
	// pointers written (for templates whose pointers move per query).
	ptrs  []int
	track bool
}

type suffixAt struct {
	suffix string
	off    int
}

// dictScan is the dictionary size beyond which lookups use a map.
const dictScan = 24

// start begins a message with a zeroed header and a question for qname
// (wire form), whose type and class do not matter to the sections.
func (p *packer) start(qname string) {
	p.buf = append(p.buf[:0], make([]byte, 12)...)
	p.dict = p.dict[:0]
	if len(p.big) > 0 {
		p.big = nil
	}
	p.ptrs = p.ptrs[:0]
	p.name(qname, true)
	p.buf = append(p.buf, 0, 0, 0, 1)
}

func (p *packer) find(s string) (int, bool) {
	if p.big != nil {
		off, ok := p.big[s]
		return off, ok
	}
	for _, e := range p.dict {
		if e.suffix == s {
			return e.off, true
		}
	}
	return 0, false
}

func (p *packer) insert(s string, off int) {
	p.dict = append(p.dict, suffixAt{s, off})
	if p.big == nil && len(p.dict) > dictScan {
		p.big = make(map[string]int, 4*dictScan)
		for _, e := range p.dict {
			p.big[e.suffix] = e.off
		}
	} else if p.big != nil {
		p.big[s] = off
	}
}

// name writes a wire name; compress says whether it may end in a pointer
// (RFC 3597 §4: only in the types RFC 1035 defined).
func (p *packer) name(n string, compress bool) {
	for i := 0; i < len(n) && n[i] != 0; i += 1 + int(n[i]) {
		suffix := n[i:]
		if off, ok := p.find(suffix); ok {
			if compress {
				if p.track {
					p.ptrs = append(p.ptrs, len(p.buf))
				}
				p.buf = binary.BigEndian.AppendUint16(p.buf, 0xC000|uint16(off))
				return
			}
		} else if len(p.buf) < maxPointerTarget {
			p.insert(suffix, len(p.buf))
		}
		p.buf = append(p.buf, n[i:i+1+int(n[i])]...)
	}
	p.buf = append(p.buf, 0)
}

// rr writes one record; rdata is in wire form with its names uncompressed.
func (p *packer) rr(owner string, typ uint16, ttl uint32, rdata string) {
	p.name(owner, true)
	p.buf = binary.BigEndian.AppendUint16(p.buf, typ)
	p.buf = binary.BigEndian.AppendUint16(p.buf, dns.ClassINET)
	p.buf = binary.BigEndian.AppendUint32(p.buf, ttl)
	p.buf = append(p.buf, 0, 0)
	start := len(p.buf)
	switch typ {
	case dns.TypeNS, dns.TypeCNAME, dns.TypePTR:
		p.name(rdata, true)
	case dns.TypeSOA:
		m := nameLen(rdata)
		r := nameLen(rdata[m:])
		p.name(rdata[:m], true)
		p.name(rdata[m:m+r], true)
		p.buf = append(p.buf, rdata[m+r:]...)
	case dns.TypeSRV:
		p.buf = append(p.buf, rdata[:6]...)
		p.name(rdata[6:], false)
	case dns.TypeRRSIG:
		// The signer's name is never compressed but, as miekg/dns writes
		// it, offers its suffixes to later names (RFC 4034 §3.1.7).
		m := nameLen(rdata[18:])
		p.buf = append(p.buf, rdata[:18]...)
		p.name(rdata[18:18+m], false)
		p.buf = append(p.buf, rdata[18+m:]...)
	case dns.TypeNSEC:
		m := nameLen(rdata)
		p.name(rdata[:m], false)
		p.buf = append(p.buf, rdata[m:]...)
	default:
		p.buf = append(p.buf, rdata...)
	}
	binary.BigEndian.PutUint16(p.buf[start-2:], uint16(len(p.buf)-start))
}
