package zone

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"

	"github.com/miekg/dns"
)

// The compiled zone (docs/answer-path.md). For every stored name, every
// answer the name can give is written once at build time as the bytes of
// its answer, authority and additional sections, packed as if after a
// question for the name itself at offset 12 (the header's end). The
// question's length does not depend on its spelling, so the same bytes
// follow any client's spelling of it: a reply is the header, the client's
// own question, and a copy of these bytes.
//
// A name's answers are:
//   - one per RRset it holds (its "own" answers, from which RRs and the
//     export read the records back);
//   - for ANY, the first RRset's answer again (RFC 8482 §4.1), sharing
//     its bytes;
//   - at an alias (a CNAME), the CNAME and, per type the chain's end
//     holds, the chain with that type's answer, and one more for every
//     other type (the chain with a NODATA).
//
// Any other question at a stored name is NODATA, and a name not stored is
// NXDOMAIN (or a port name, ports.go): those are written from a packed SOA
// template (negatives).

// Each stored name (an owner name or an empty non-terminal) is a record
// in Snapshot.names: flags, the name's length, its number of answers, the
// name (its labels above the origin, case as published), then each
// answer: QTYPE, flags and blob offset (answerSize bytes). The index
// points at records, so a query reads its name's index slot, record and
// answer blob: three places in memory.
type nameRec []byte

const (
	nodeENT uint8 = 1 << iota // empty non-terminal (RFC 8020)
	nodeInstance
)

const (
	recHeader  = 3
	answerSize = 7
)

func (n nameRec) flags() uint8 { return n[0] }
func (n nameRec) key() []byte  { return n[recHeader : recHeader+int(n[1])] }
func (n nameRec) count() int   { return int(n[2]) }
func (n nameRec) size() int    { return recHeader + int(n[1]) + answerSize*int(n[2]) }
func (n nameRec) answer(i int) answer {
	p := n[recHeader+int(n[1])+answerSize*i:]
	return answer{qtype: binary.BigEndian.Uint16(p), flags: p[2], off: binary.BigEndian.Uint32(p[3:])}
}

// answer is one compiled answer of a name. off locates its blob in
// Snapshot.blobs (blobAt): a blobHeader-byte header (section length, where
// the additional section starts, and the three record counts, all
// uint16) and the section bytes.
//
// DNSSEC (#14) attaches a second blob here, the same sections with their
// RRSIGs, chosen when the query has DO=1 (docs/answer-path.md).
type answer struct {
	qtype uint16
	flags uint8
	off   uint32
}

// Answer flags; the low two bits are the Outcome.
const (
	answerOutcome uint8 = 3
	answerOwn     uint8 = 1 << 2 // the name's own RRset (RRs reads it)
	answerOther   uint8 = 1 << 3 // answers every type without an answer of its own
)

const blobHeader = 10

// Blobs are written into chunks of blobChunk bytes, never moved once
// written (a growing slice would copy the whole zone over and over, and
// fault in fresh pages each time); a blob's offset is its chunk's index
// and its offset in the chunk. A chunk holds the largest blob a DNS
// message can carry.
const (
	blobChunkBits = 18
	blobChunk     = 1 << blobChunkBits
)

// blobAt returns the blob at off.
func (s *Snapshot) blobAt(off uint32) []byte {
	c := s.blobs[off>>blobChunkBits]
	off &= blobChunk - 1
	n := uint32(binary.BigEndian.Uint16(c[off:]))
	return c[off : off+blobHeader+n]
}

// nameIndex finds a name's record by its labels above the origin, lower
// case. It is an open-addressed table of slots holding the high half of
// the name's hash and the record's offset + 1 (0: empty), seeded per
// snapshot so that no query stream can be crafted to collide.
type nameIndex struct {
	seed  maphash.Seed
	slots []uint64
}

// find returns the record of the name whose labels above the origin are
// rel (wire form, lower case), or nil.
func (s *Snapshot) find(rel []byte) nameRec {
	n, _ := s.findSlot(rel)
	return n
}

// findSlot is find, also returning the name's slot in the index.
func (s *Snapshot) findSlot(rel []byte) (nameRec, int) {
	h := maphash.Bytes(s.index.seed, rel)
	tag := h >> 32
	mask := uint64(len(s.index.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.index.slots[i]
		if v == 0 {
			return nil, -1
		}
		if v>>32 != tag {
			continue
		}
		n := nameRec(s.names[uint32(v)-1:])
		if key := n.key(); len(key) == len(rel) && equalFold(key, rel) {
			return n, int(i)
		}
	}
}

// equalFold compares a stored name (case as published) with a lower-case
// one.
func equalFold[S ~string | ~[]byte](stored, lower S) bool {
	for i := 0; i < len(stored); i++ {
		if lowerByte(stored[i]) != lower[i] {
			return false
		}
	}
	return true
}

// wrr is a record being compiled: wire owner, type, TTL, wire rdata.
type wrr struct {
	owner string
	typ   uint16
	ttl   uint32
	rdata string
}

// compiler compiles the answers of a range of nodes into its own blobs.
type compiler struct {
	s             *Snapshot
	p             packer
	blobs         [][]byte // chunks
	answers       []answer
	ans, auth, ad []wrr
	// host is the node of the last SRV or NS target looked up: most
	// services share one.
	hostName string
	host     *bnode
	err      error
	// same finds a blob already written with the same bytes, by their
	// hash: a third of the full zone's compiled bytes repeat (the NODATA
	// answers of names of one length, services' records alike under
	// their aliases' and instances' names), and such blobs are written
	// once. A blob's bytes are all its answer depends on: the names in
	// it point into the question, whichever name that is.
	same     map[uint64]uint32
	sameSeed maphash.Seed
}

// compile turns the build nodes into the compiled zone, on every CPU.
func (s *Snapshot) compile() error {
	order := s.b.order
	workers := min(runtime.GOMAXPROCS(0), 8, max(len(order)/256, 1))
	cs := make([]compiler, workers)
	firsts := make([]uint32, len(order))
	counts := make([]uint8, len(order))
	chunk := (len(order) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range cs {
		c := &cs[w]
		c.s = s
		c.answers = make([]answer, 0, 4*chunk) // a service's name has 4, its instance 3
		c.same, c.sameSeed = make(map[uint64]uint32, 2*chunk), maphash.MakeSeed()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * chunk; i < min((w+1)*chunk, len(order)) && c.err == nil; i++ {
				firsts[i] = uint32(len(c.answers))
				c.node(order[i])
				counts[i] = uint8(uint32(len(c.answers)) - firsts[i])
			}
		}()
	}
	wg.Wait()
	for i := range cs {
		if cs[i].err != nil {
			return cs[i].err
		}
	}
	// The zone is a few large objects (the names, the index, the blobs in
	// a few chunks), which the collector scans little and which sit
	// together in memory.
	chunk0 := make([]uint32, len(cs)) // each compiler's first chunk
	for i := range cs {
		chunk0[i] = uint32(len(s.blobs))
		s.blobs = append(s.blobs, cs[i].blobs...)
	}
	size := 0
	for i, b := range order {
		size += recHeader + len(b.owner) - len(s.originWire) + answerSize*int(counts[i])
	}
	s.names = make([]byte, 0, size)
	s.nameCount = len(order)
	for i, b := range order {
		rel := b.owner[:len(b.owner)-len(s.originWire)]
		var flags uint8
		if b.ent {
			flags |= nodeENT
		}
		if b.instance {
			flags |= nodeInstance
		}
		s.names = append(s.names, flags, byte(len(rel)), counts[i])
		s.names = append(s.names, rel...)
		c := &cs[i/chunk]
		for _, a := range c.answers[firsts[i] : firsts[i]+uint32(counts[i])] {
			s.names = binary.BigEndian.AppendUint16(s.names, a.qtype)
			s.names = append(s.names, a.flags)
			s.names = binary.BigEndian.AppendUint32(s.names, a.off+chunk0[i/chunk]<<blobChunkBits)
		}
	}
	s.buildIndex()
	s.initSigned()
	return s.compileNegatives()
}

// eachName calls f with the offset and record of every stored name.
func (s *Snapshot) eachName(f func(off int, n nameRec)) {
	for off := 0; off < len(s.names); {
		n := nameRec(s.names[off:])
		f(off, n)
		off += n.size()
	}
}

func (s *Snapshot) buildIndex() {
	size := 1
	for size < 2*s.nameCount {
		size <<= 1
	}
	s.index = nameIndex{seed: maphash.MakeSeed(), slots: make([]uint64, size)}
	mask := uint64(size - 1)
	var lower [255]byte
	s.eachName(func(off int, n nameRec) {
		rel := lower[:len(n.key())]
		for i, c := range n.key() {
			rel[i] = lowerByte(c)
		}
		h := maphash.Bytes(s.index.seed, rel)
		i := h & mask
		for s.index.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.index.slots[i] = h>>32<<32 | uint64(off+1)
	})
}

// node compiles the answers of one build node.
func (c *compiler) node(n *bnode) {
	if n.ent {
		return
	}
	if n.cname != "" {
		c.compileAnswer(n, dns.TypeCNAME, answerOwn)
		end := c.chainEnd(n)
		if end != nil {
			for _, set := range end.sets {
				c.compileAnswer(n, set.typ, 0)
			}
		}
		c.compileAnswer(n, dns.TypeANY, 0)
		// Type 0 is held by no name: its answer is every missing type's.
		c.compileAnswer(n, 0, answerOther)
		return
	}
	for _, set := range n.sets {
		c.compileAnswer(n, set.typ, answerOwn)
	}
	if len(n.sets) > 0 {
		first := c.answers[len(c.answers)-len(n.sets)]
		c.answers = append(c.answers, answer{qtype: dns.TypeANY, flags: first.flags &^ answerOwn, off: first.off})
	}
}

// chainEnd follows a CNAME chain in the zone to the node it ends at, or
// nil when it leaves the zone, ends nowhere or loops.
func (c *compiler) chainEnd(n *bnode) *bnode {
	for range maxChain {
		if n.cname == "" {
			return n
		}
		n = c.s.b.lookup(n.cname)
		if n == nil || n.ent {
			return nil
		}
	}
	return nil
}

// compileAnswer compiles the answer to a node's name for qtype and
// appends it to the compiler's answers.
func (c *compiler) compileAnswer(n *bnode, qtype uint16, flags uint8) {
	qname := n.key
	out := c.resolve(n, qtype)
	p := &c.p
	p.start(qname)
	sections := len(p.buf)
	var prev string // the previous record's owner, and whether it is the question
	prevIsQ := false
	for _, r := range c.ans {
		if r.owner != prev {
			prev, prevIsQ = r.owner, len(r.owner) == len(qname) && equalFold(r.owner, qname)
		}
		owner := r.owner
		if prevIsQ {
			// The answer repeats the question's spelling (0x20); written
			// as a pointer to it, it follows whatever the client sent.
			owner = qname
		}
		p.rr(owner, r.typ, r.ttl, r.rdata)
	}
	for _, r := range c.auth {
		p.rr(r.owner, r.typ, r.ttl, r.rdata)
	}
	additional := len(p.buf) - sections
	for _, r := range c.ad {
		p.rr(r.owner, r.typ, r.ttl, r.rdata)
	}
	body := p.buf[sections:]
	if len(p.buf) > dns.MaxMsgSize {
		c.err = fmt.Errorf("the answer to %s %s is %d bytes, more than a DNS message holds",
			presentationName(qname), dns.TypeToString[qtype], len(p.buf))
		return
	}
	var h [blobHeader]byte
	binary.BigEndian.PutUint16(h[0:], uint16(len(body)))
	binary.BigEndian.PutUint16(h[2:], uint16(additional))
	binary.BigEndian.PutUint16(h[4:], uint16(len(c.ans)))
	binary.BigEndian.PutUint16(h[6:], uint16(len(c.auth)))
	binary.BigEndian.PutUint16(h[8:], uint16(len(c.ad)))
	var mh maphash.Hash
	mh.SetSeed(c.sameSeed)
	mh.Write(h[:])
	mh.Write(body)
	sum := mh.Sum64()
	if off, ok := c.same[sum]; ok {
		if b := c.blobs[off>>blobChunkBits][off&(blobChunk-1):]; len(b) >= blobHeader+len(body) &&
			string(b[:blobHeader]) == string(h[:]) && string(b[blobHeader:blobHeader+len(body)]) == string(body) {
			c.answers = append(c.answers, answer{qtype: qtype, flags: flags | uint8(out), off: off})
			return
		}
	}
	last := len(c.blobs) - 1
	if last < 0 || len(c.blobs[last])+blobHeader+len(body) > blobChunk {
		c.blobs = append(c.blobs, make([]byte, 0, blobChunk))
		last++
	}
	off := uint32(last)<<blobChunkBits | uint32(len(c.blobs[last]))
	c.answers = append(c.answers, answer{qtype: qtype, flags: flags | uint8(out), off: off})
	c.blobs[last] = append(append(c.blobs[last], h[:]...), body...)
	c.same[sum] = off
}

// resolve finds the records answering a node's name for qtype in the
// build nodes, in the sections and order the reply carries them (RFC 1034
// §4.3.2).
func (c *compiler) resolve(n *bnode, qtype uint16) Outcome {
	c.ans, c.auth, c.ad = c.ans[:0], c.auth[:0], c.ad[:0]
	for range maxChain {
		if n == nil || n.ent {
			o := NameError
			if n != nil {
				o = NoData
			}
			c.auth = append(c.auth, c.negativeSOA())
			return o
		}
		if n.cname != "" && qtype != dns.TypeCNAME {
			c.ans = append(c.ans, wrr{n.owner, dns.TypeCNAME, n.cnameTTL, n.cname})
			if !hasSuffixName(lowerWire(n.cname), c.s.originWire) {
				return Success // RFC 1034 §4.3.2: the resolver continues out of zone
			}
			n = c.s.b.lookup(n.cname)
			continue
		}
		if qtype == dns.TypeCNAME && n.cname != "" {
			c.ans = append(c.ans, wrr{n.owner, dns.TypeCNAME, n.cnameTTL, n.cname})
			return Success
		}
		var set *bset
		if qtype == dns.TypeANY {
			// RFC 8482 §4.1: answer ANY with one RRset, the node's first.
			if len(n.sets) > 0 {
				set = &n.sets[0]
			}
		} else {
			set = n.get(qtype)
		}
		if set == nil {
			c.auth = append(c.auth, c.negativeSOA())
			return NoData
		}
		for _, rd := range set.rdata {
			c.ans = append(c.ans, wrr{n.owner, set.typ, set.ttl, rd})
		}
		c.additional(n, set)
		return Success
	}
	// A chain longer than any the zone builds: answer what was found.
	return Success
}

// negativeSOA is the SOA of a negative answer; RFC 2308 §3 puts it in the
// authority section with TTL min(SOA TTL, SOA MINIMUM).
func (c *compiler) negativeSOA() wrr {
	apex := c.s.b.nodes[c.s.originWire].get(dns.TypeSOA)
	return wrr{c.s.originWire, dns.TypeSOA, c.s.negTTL, apex.rdata[0]}
}

// additional adds the in-zone addresses of the hosts that SRV and NS
// records of owner name (RFC 2782, RFC 1035 §3.3.11) and, for a PTR to a
// DNS-SD instance, the instance's SRV, TXT and addresses (RFC 6763 §12.1).
func (c *compiler) additional(owner *bnode, set *bset) {
	b := c.s.b
	var seenArr [4]string
	seen := seenArr[:0]
	for _, rd := range set.rdata {
		var target string
		switch set.typ {
		case dns.TypeSRV:
			target = rd[6:]
		case dns.TypeNS:
			target = rd
		case dns.TypePTR:
			n := owner.ptrInstance
			if n == nil || n.owner != rd {
				n = b.lookup(rd)
			}
			if n != nil && n.instance {
				srv, txt := n.get(dns.TypeSRV), n.get(dns.TypeTXT)
				for _, s := range []*bset{srv, txt} {
					if s != nil {
						for _, r := range s.rdata {
							c.ad = append(c.ad, wrr{n.owner, s.typ, s.ttl, r})
						}
					}
				}
				if srv != nil {
					c.additional(n, srv)
				}
			}
			continue
		default:
			continue
		}
		dup := false
		for _, t := range seen {
			if t == target {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		seen = append(seen, target)
		if c.hostName != target {
			c.hostName, c.host = target, b.lookup(target)
		}
		if n := c.host; n != nil {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if s := n.get(t); s != nil {
					for _, r := range s.rdata {
						c.ad = append(c.ad, wrr{n.owner, t, s.ttl, r})
					}
				}
			}
		}
	}
}

// negatives writes the SOA of NXDOMAIN and NODATA answers for any name in
// the zone. miekg/dns compresses the SOA's names onto the question, so
// their bytes depend on which suffixes the query name shares with them:
// with the origin, always, at an offset that moves with the name's
// length; with MNAME or RNAME below the origin, only for names at or
// under those. Each such case is a template, packed once for a reference
// name of the case; a query's name picks its case and shifts the
// template's pointers by how much longer it is than the reference.
type negatives struct {
	// mname and rname are the suffixes of the SOA's MNAME and RNAME
	// strictly below the origin, longest first.
	mname, rname []string
	tmpl         []negTemplate // by case: im*(len(rname)+1) + ir
	soa          string        // the SOA's RDATA
}

type negTemplate struct {
	refLen int      // length of the reference name
	rr     []byte   // the SOA record as packed after the reference question
	ptrs   []uint16 // offsets in rr of the pointers that move
}

// belowOrigin returns the suffixes of a wire name strictly below the
// origin, longest first.
func (s *Snapshot) belowOrigin(name string) []string {
	var out []string
	for n := name; len(n) > len(s.originWire) && hasSuffixName(n, s.originWire); n = parentName(n) {
		out = append(out, n)
	}
	return out
}

// negCase returns the index of the longest of suffixes that name ends
// with, or len(suffixes).
func negCase(name []byte, suffixes []string) int {
	for i, x := range suffixes {
		if hasSuffixName(name, x) {
			return i
		}
	}
	return len(suffixes)
}

func (s *Snapshot) compileNegatives() error {
	rd := s.b.nodes[s.originWire].get(dns.TypeSOA).rdata[0]
	s.neg.soa = rd
	m := nameLen(rd)
	s.neg.mname = s.belowOrigin(lowerWire(rd[:m]))
	s.neg.rname = s.belowOrigin(lowerWire(rd[m : m+nameLen(rd[m:])]))
	nm, nr := len(s.neg.mname), len(s.neg.rname)
	s.neg.tmpl = make([]negTemplate, (nm+1)*(nr+1))
	var p packer
	p.track = true
	for im := 0; im <= nm; im++ {
		for ir := 0; ir <= nr; ir++ {
			ref := s.originWire
			if im < nm && len(s.neg.mname[im]) > len(ref) {
				ref = s.neg.mname[im]
			}
			if ir < nr && len(s.neg.rname[ir]) > len(ref) {
				ref = s.neg.rname[ir]
			}
			if negCase([]byte(ref), s.neg.mname) != im || negCase([]byte(ref), s.neg.rname) != ir {
				continue // no name has both suffixes
			}
			p.start(ref)
			at := len(p.buf)
			p.rr(s.originWire, dns.TypeSOA, s.negTTL, rd)
			t := negTemplate{refLen: len(ref), rr: append([]byte(nil), p.buf[at:]...)}
			for _, off := range p.ptrs {
				if off >= at {
					t.ptrs = append(t.ptrs, uint16(off-at))
				}
			}
			s.neg.tmpl[im*(nr+1)+ir] = t
		}
	}
	return nil
}
