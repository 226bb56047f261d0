package resolver_test

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
)

// variant is one way a client may ask: transport and EDNS settings.
type variant struct {
	name    string
	tcp     bool
	edns    bool
	do      bool
	udpSize uint16
}

var variants = []variant{
	{"udp-noedns", false, false, false, 0},
	{"udp-1232", false, true, false, 1232},
	{"udp-4096-do", false, true, true, 4096},
	{"udp-512", false, true, false, 512},
	{"tcp", true, true, false, 65535},
	{"tcp-noedns", true, false, false, 0},
}

func pack(t testing.TB, q querymix.Query, v variant, id uint16, rd bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.Id = id
	m.RecursionDesired = rd
	if v.edns {
		m.SetEdns0(v.udpSize, v.do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCachedRepliesEqualComputed sends the whole query mix, each query
// twice with different IDs and flags, to a caching handler and to one
// without a cache: the replies must be identical byte for byte.
func TestCachedRepliesEqualComputed(t *testing.T) {
	snap := zonetest.Full(t)
	cached := resolver.NewHandler(snap, 0, nil)
	plain := resolver.NewHandler(snap, 0, nil)
	plain.SetCacheSize(0)
	mix := querymix.Generate(zonetest.FullRegistry(t), zonetest.Origin, 3000, 1)
	out1, out2 := make([]byte, 0, 65535), make([]byte, 0, 65535)
	n := 0
	for i, q := range mix {
		for _, v := range variants {
			for round, id := range []uint16{uint16(i), uint16(i) ^ 0xBEEF} {
				in := pack(t, q, v, id, round == 1)
				got := cached.AnswerWire(in, v.tcp, out1)
				want := plain.AnswerWire(in, v.tcp, out2)
				if !bytes.Equal(got, want) {
					g, w := new(dns.Msg), new(dns.Msg)
					g.Unpack(got)
					w.Unpack(want)
					t.Fatalf("%s %s round %d: cached reply differs:\n%v\nwant\n%v", q, v.name, round, g, w)
				}
				n++
			}
		}
	}
	t.Logf("%d replies compared", n)
}

// TestCachedReplyFollowsClient checks that a cache hit carries the
// client's ID, RD bit and spelling, not those of the query that filled it.
func TestCachedReplyFollowsClient(t *testing.T) {
	h := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	v := variants[1]
	first := pack(t, querymix.Query{Name: "_rets._tcp.ports.local.", Type: dns.TypeSRV}, v, 1, false)
	h.AnswerWire(first, false, make([]byte, 0, 4096))
	second := pack(t, querymix.Query{Name: "_ReTs._TCP.ports.LOCAL.", Type: dns.TypeSRV}, v, 4242, true)
	m := new(dns.Msg)
	if err := m.Unpack(h.AnswerWire(second, false, make([]byte, 0, 4096))); err != nil {
		t.Fatal(err)
	}
	if m.Id != 4242 || !m.RecursionDesired || m.Question[0].Name != "_ReTs._TCP.ports.LOCAL." {
		t.Errorf("hit reply: id %d rd %v question %q", m.Id, m.RecursionDesired, m.Question[0].Name)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.SRV).Port != 6103 || m.Answer[0].Header().Name != "_ReTs._TCP.ports.LOCAL." {
		t.Errorf("hit answer %v", m.Answer)
	}
}

// A new snapshot must never be answered from the old one's cache.
func TestSwapEmptiesCache(t *testing.T) {
	ex := zonetest.Excerpt(t)
	h := resolver.NewHandler(ex, 0, nil)
	in := pack(t, querymix.Query{Name: "_x11._tcp.ports.local.", Type: dns.TypeSRV}, variants[4], 7, false)
	m := new(dns.Msg)
	m.Unpack(h.AnswerWire(in, true, nil))
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("excerpt has no x11: %v", m)
	}
	h.Swap(zonetest.Full(t))
	m.Unpack(h.AnswerWire(in, true, nil))
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 64 {
		t.Errorf("after swap: rcode %s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
	}
}
