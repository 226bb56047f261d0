package e2e_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
)

// TestFullRegistry serves the full IANA registry (XML) from one process
// and checks it over the wire: truncation and TCP retry with three
// clients, a DNS-SD walk that reaches every service type, the ports of
// every service and every historic alias.
func TestFullRegistry(t *testing.T) {
	t.Parallel()
	reg, path := fullRegistry(t)
	srv := startServer(t, "--registry", path)

	t.Run("TruncatedUDPRetriedOverTCP", func(t *testing.T) {
		t.Parallel()
		testTruncation(t, srv.Addr)
	})
	t.Run("DNSSDWalkReachesEveryType", func(t *testing.T) {
		t.Parallel()
		testWalk(t, srv.Addr, reg)
	})
	t.Run("EveryServiceSRVPorts", func(t *testing.T) {
		t.Parallel()
		testEverySRV(t, srv.Addr, reg)
	})
	t.Run("EveryAliasCNAMEAndReplacement", func(t *testing.T) {
		t.Parallel()
		testAliases(t, srv.Addr, reg)
	})
}

// x11Ports is what _x11._tcp holds: 64 SRV records, 6000..6063, more than
// fit 1232 bytes.
func x11Ports() []uint16 {
	var p []uint16
	for i := uint16(6000); i <= 6063; i++ {
		p = append(p, i)
	}
	return p
}

func srvPorts(t *testing.T, rrs []dns.RR, owner string) []uint16 {
	t.Helper()
	var out []uint16
	for _, rr := range rrs {
		s, ok := rr.(*dns.SRV)
		if !ok || !strings.EqualFold(s.Hdr.Name, owner) {
			t.Errorf("answer %v is not an SRV of %s", rr, owner)
			continue
		}
		out = append(out, s.Port)
	}
	slices.Sort(out)
	return out
}

func testTruncation(t *testing.T, addr string) {
	const owner = "_x11._tcp.ports.local."
	cases := []struct {
		client toolQuery
		udp    []string // UDP only, no retry: must show TC and no answer
		full   [][]string
		retry  string // what the client prints when it retries over TCP
	}{
		{clients[0], []string{"+ignore", "+bufsize=1232"}, [][]string{{"+bufsize=1232"}, {"+tcp"}}, "Truncated, retrying in TCP mode"},
		{clients[1], []string{"+ignore", "+bufsize=1232"}, [][]string{{"+bufsize=1232"}, {"+tcp"}}, "retrying over TCP"},
		// drill does not retry by itself: -t asks over TCP.
		{clients[2], nil, [][]string{{"-t"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.client.name, func(t *testing.T) {
			t.Parallel()
			r, out := tc.client.ask(t, addr, owner, "SRV", tc.udp...)
			if !r.Flags["tc"] || len(r.Answer) != 0 || r.Rcode != "NOERROR" {
				t.Errorf("over UDP: rcode %s flags %v, %d answers; want NOERROR, tc and no answer\n%s", r.Rcode, r.Flags, len(r.Answer), out)
			}
			for _, extra := range tc.full {
				r, out := tc.client.ask(t, addr, owner, "SRV", extra...)
				if r.Flags["tc"] || r.Rcode != "NOERROR" || !r.Flags["aa"] {
					t.Errorf("%v: rcode %s flags %v; want NOERROR, aa, no tc", extra, r.Rcode, r.Flags)
				}
				if got := srvPorts(t, r.Answer, owner); !slices.Equal(got, x11Ports()) {
					t.Errorf("%v: %d SRV ports %v, want 6000..6063", extra, len(got), got)
				}
				if tc.retry != "" && !slices.Contains(extra, "+tcp") && !strings.Contains(out, tc.retry) {
					t.Errorf("%v: no %q in the output: the answer did not come from a retry over TCP\n%s", extra, tc.retry, out)
				}
			}
		})
	}
}

// testWalk browses the served zone over TCP as a DNS-SD client would,
// following the §9 names from browse domain to type to instance. Each
// instance's SRV has the first port of each registered row (a range such
// as x11's 6000-6063 publishes 6000; the TXT's port= has the range).
func testWalk(t *testing.T, addr string, reg *registry.Registry) {
	ex := dialTCP(t, addr)
	insts, err := zonetest.Walk(ex.Exchange, origin)
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	pairs := validPairs(reg)
	want := map[string]registry.Key{}
	for k := range pairs {
		if k.Proto == registry.TCP || k.Proto == registry.UDP { // RFC 6763 §7
			want[strings.TrimSuffix(serviceOwner(k.Name, k.Proto), "."+origin)] = k
		}
	}
	firstPorts := map[registry.Key][]uint16{}
	for i := range reg.Records {
		if r := &reg.Records[i]; r.HasPort && r.Status == registry.Assigned {
			firstPorts[r.Key()] = append(firstPorts[r.Key()], r.Ports.Lo)
		}
	}
	var missing, extra []string
	for svc := range want {
		if _, ok := insts[svc]; !ok {
			missing = append(missing, svc)
		}
	}
	for svc := range insts {
		if _, ok := want[svc]; !ok {
			extra = append(extra, svc)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("walk reached %d types, registry has %d valid tcp/udp pairs; %d missing %.20q; %d extra %.20q",
			len(insts), len(want), len(missing), missing, len(extra), extra)
	}
	for svc, in := range insts {
		if len(in.TXT) == 0 || in.TXT[0] != "txtvers=1" {
			t.Errorf("%s: TXT %.3q, want txtvers=1 first", in.Instance, in.TXT)
		}
		k, ok := want[svc]
		if !ok {
			continue
		}
		wantPorts := slices.Sorted(slices.Values(firstPorts[k]))
		var gotPorts []uint16
		for _, s := range in.SRV {
			gotPorts = append(gotPorts, s.Port)
		}
		slices.Sort(gotPorts)
		if !slices.Equal(gotPorts, wantPorts) {
			t.Errorf("%s: instance SRV ports %v, want %v", in.Instance, gotPorts, wantPorts)
		}
	}
	// Over the wire: each type costs at least PTR, SRV and TXT, and every
	// one of those was answered on the TCP connection to the process.
	if n := ex.Count(); n < 3*len(insts) || len(insts) < 10000 {
		t.Errorf("%d queries over TCP for %d types: the walk did not go over the wire", n, len(insts))
	}
	t.Logf("walk: %d types, %d queries over one TCP connection", len(insts), ex.Count())
}

// sweep runs check for every item on a few TCP connections in parallel.
func sweep[T any](t *testing.T, addr string, items []T, check func(ex *exchanger, item T) error) {
	const workers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for w := range workers {
		ex := dialTCP(t, addr)
		wg.Go(func() {
			for i := w; i < len(items); i += workers {
				if err := check(ex, items[i]); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(errs)
	for i, e := range errs {
		if i == 20 {
			t.Errorf("... and %d more", len(errs)-i)
			break
		}
		t.Error(e)
	}
}

func testEverySRV(t *testing.T, addr string, reg *registry.Registry) {
	pairs := validPairs(reg)
	keys := slices.SortedFunc(maps.Keys(pairs), func(a, b registry.Key) int {
		return strings.Compare(a.Name+"/"+a.Proto.String(), b.Name+"/"+b.Proto.String())
	})
	withPort := 0
	for _, k := range keys {
		if len(pairs[k]) > 0 {
			withPort++
		}
	}
	sweep(t, addr, keys, func(ex *exchanger, k registry.Key) error {
		owner := serviceOwner(k.Name, k.Proto)
		m, err := ex.Exchange(owner, dns.TypeSRV)
		if err != nil {
			return err
		}
		want := sortedPorts(pairs[k])
		if m.Rcode != dns.RcodeSuccess || !m.Authoritative || m.Truncated {
			return fmt.Errorf("%s SRV: rcode %s aa=%v tc=%v, want NOERROR aa", owner, dns.RcodeToString[m.Rcode], m.Authoritative, m.Truncated)
		}
		var got []uint16
		for _, rr := range m.Answer {
			s, ok := rr.(*dns.SRV)
			if !ok || !strings.EqualFold(s.Hdr.Name, owner) {
				return fmt.Errorf("%s SRV: answer %v", owner, rr)
			}
			got = append(got, s.Port)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s SRV: ports %v, want %v", owner, got, want)
		}
		if len(want) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
			return fmt.Errorf("%s SRV: NODATA without the SOA: %v", owner, m.Ns)
		}
		return nil
	})
	if withPort < 10000 {
		t.Errorf("only %d services with a port in %d pairs: not the full registry", withPort, len(keys))
	}
	t.Logf("%d services checked over TCP, %d with ports", len(keys), withPort)
}

func testAliases(t *testing.T, addr string, reg *registry.Registry) {
	var rows []*registry.Record
	for i := range reg.Records {
		if r := &reg.Records[i]; r.Status == registry.Alias {
			rows = append(rows, r)
		}
	}
	if len(rows) != 184 {
		t.Errorf("%d alias rows in the registry, want 184", len(rows))
	}
	sweep(t, addr, rows, func(ex *exchanger, r *registry.Record) error {
		owner := serviceOwner(r.Name, r.Proto)
		target := serviceOwner(r.AliasOf, r.Proto)
		m, err := ex.Exchange(owner, dns.TypeSRV)
		if err != nil {
			return err
		}
		if m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) < 2 {
			return fmt.Errorf("%s SRV (line %d): rcode %s aa=%v answer %v, want CNAME + SRV", owner, r.Line, dns.RcodeToString[m.Rcode], m.Authoritative, m.Answer)
		}
		c, ok := m.Answer[0].(*dns.CNAME)
		if !ok || !strings.EqualFold(c.Hdr.Name, owner) || !strings.EqualFold(c.Target, target) {
			return fmt.Errorf("%s SRV: answer[0] %v, want CNAME to %s", owner, m.Answer[0], target)
		}
		// The replacement may hold more ports than the alias row (sql-net
		// is on 66 and 150); the alias's own ports must be among them.
		ports := map[uint16]bool{}
		for _, rr := range m.Answer[1:] {
			s, ok := rr.(*dns.SRV)
			if !ok || !strings.EqualFold(s.Hdr.Name, c.Target) {
				return fmt.Errorf("%s SRV: %v is not an SRV of %s", owner, rr, c.Target)
			}
			ports[s.Port] = true
		}
		if r.HasPort {
			for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
				if !ports[uint16(p)] {
					return fmt.Errorf("%s SRV: replacement %s has ports %v, not the alias's port %d", owner, target, sortedPorts(ports), p)
				}
			}
		}
		return nil
	})
}
