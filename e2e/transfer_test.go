package e2e_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// xfrTimeout bounds one whole zone transfer of the full registry.
const xfrTimeout = 30 * time.Second

// xfrKey is a TSIG key as a client holds it.
type xfrKey struct{ name, secret string }

func xfrNewSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// xfrResult is what came back for one transfer request, message by
// message, as sent on the wire.
type xfrResult struct {
	wires [][]byte
	msgs  []*dns.Msg
}

// records is the answer sections of all messages in order.
func (x *xfrResult) records() []dns.RR {
	var out []dns.RR
	for _, m := range x.msgs {
		out = append(out, m.Answer...)
	}
	return out
}

// xfrRaw sends a transfer request for the zone (qtype AXFR or IXFR)
// over TCP from local (an IP of the loopback net) to addr, signed with key
// when it is set, and reads replies until the closing SOA, an error rcode,
// or the end of the stream. It verifies nothing: the caller does. The
// request's MAC is returned for the verification of the first reply.
func xfrRaw(t testing.TB, local, addr string, qtype uint16, key *xfrKey) (*xfrResult, string, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(xfrTimeout)); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if qtype == dns.TypeIXFR {
		m.SetIxfr(origin, 1, "ns1."+origin, "hostmaster."+origin)
	} else {
		m.SetAxfr(origin)
	}
	var wire []byte
	var mac string
	if key != nil {
		m.SetTsig(key.name, dns.HmacSHA256, 300, time.Now().Unix())
		wire, mac, err = dns.TsigGenerate(m, key.secret, "", false)
	} else {
		wire, err = m.Pack()
	}
	if err != nil {
		t.Fatal(err)
	}
	buf := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	if _, err := c.Write(append(buf, wire...)); err != nil {
		t.Fatalf("write: %v", err)
	}
	res := &xfrResult{}
	soas := 0
	for {
		var lb [2]byte
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			return res, mac, fmt.Errorf("after %d messages: %w", len(res.msgs), err)
		}
		b := make([]byte, binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			return res, mac, fmt.Errorf("after %d messages: %w", len(res.msgs), err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(b); err != nil {
			return res, mac, fmt.Errorf("message %d: %w", len(res.msgs), err)
		}
		if r.Id != m.Id {
			return res, mac, fmt.Errorf("message %d has id %d, want %d", len(res.msgs), r.Id, m.Id)
		}
		res.wires, res.msgs = append(res.wires, b), append(res.msgs, r)
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == dns.TypeSOA {
				soas++
			}
		}
		if r.Rcode != dns.RcodeSuccess || soas >= 2 || len(r.Answer) == 0 {
			return res, mac, nil
		}
	}
}

// TestTransferACL checks who may transfer the zone (RFC 5936 §6) against
// a server that allows 127.0.0.1/32 and one TSIG key (RFC 8945): the
// source address, the key and the transport decide, and a signed transfer
// of the full zone (many messages) verifies end to end.
func TestTransferACL(t *testing.T) {
	t.Parallel()
	full := testenv.FullXML(t)
	dir := t.TempDir()
	key := xfrKey{name: "xfr.ports.local.", secret: xfrNewSecret(t)}
	conf := filepath.Join(dir, "svcdns.yaml")
	opsWriteFile(t, conf, fmt.Appendf(nil, `transfer:
  allow_networks: ["127.0.0.1/32"]
  tsig_keys:
    - name: %s
      algorithm: hmac-sha256
      secret: %s
`, key.name, key.secret))
	srv := startServer(t, "--config", conf, "--registry", full)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	// The reference: the zone as exported by the same configuration,
	// parsed by miekg/dns.
	exported := opsRRTexts(opsZoneRecords(t, opsExportZone(t, dir, "--config", conf, "--registry", full)))
	dig := testenv.Tool(t, "dig")

	t.Run("UnsignedFromOtherSourceRefused", func(t *testing.T) {
		t.Parallel()
		out, _ := runTool(t, dig, "-b", "127.0.0.2", "@"+host, "-p", port, "+time=10", "+tries=1", "ports.local", "AXFR")
		if !strings.Contains(out, "; Transfer failed.") || strings.Contains(out, "XFR size") {
			t.Errorf("dig -b 127.0.0.2 AXFR: want \"; Transfer failed.\"\n%s", out)
		}
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			res, _, err := xfrRaw(t, "127.0.0.2", srv.Addr, qtype, nil)
			if err != nil {
				t.Fatalf("%s from 127.0.0.2: %v", dns.TypeToString[qtype], err)
			}
			if len(res.msgs) != 1 || res.msgs[0].Rcode != dns.RcodeRefused || len(res.msgs[0].Answer) != 0 {
				t.Errorf("%s from 127.0.0.2: %d messages, first %v; want one REFUSED", dns.TypeToString[qtype], len(res.msgs), res.msgs[0])
			}
		}
	})

	t.Run("UnsignedFromAllowedSource", func(t *testing.T) {
		t.Parallel()
		res, _, err := xfrRaw(t, "127.0.0.1", srv.Addr, dns.TypeAXFR, nil)
		if err != nil {
			t.Fatalf("AXFR from 127.0.0.1: %v", err)
		}
		xfrCheckFull(t, res, exported)
		for i, m := range res.msgs {
			if m.IsTsig() != nil {
				t.Fatalf("message %d of an unsigned request is signed", i)
			}
		}
		t.Logf("AXFR from 127.0.0.1: %d records in %d messages", len(res.records()), len(res.msgs))
	})

	t.Run("SignedFromOtherSource", func(t *testing.T) {
		t.Parallel()
		res, mac, err := xfrRaw(t, "127.0.0.2", srv.Addr, dns.TypeAXFR, &key)
		if err != nil {
			t.Fatalf("signed AXFR from 127.0.0.2: %v", err)
		}
		xfrCheckFull(t, res, exported)
		// RFC 8945 §5.3.1: the first reply's MAC covers the request's
		// MAC; each later one covers the previous reply's, with timers
		// only.
		prev := mac
		for i, w := range res.wires {
			ts := res.msgs[i].IsTsig()
			if ts == nil {
				t.Fatalf("message %d of %d is not signed", i, len(res.wires))
			}
			if err := dns.TsigVerify(w, key.secret, prev, i > 0); err != nil {
				t.Fatalf("message %d of %d: TSIG does not verify: %v", i, len(res.wires), err)
			}
			if ts.Error != dns.RcodeSuccess || !strings.EqualFold(ts.Hdr.Name, key.name) {
				t.Fatalf("message %d: TSIG %v", i, ts)
			}
			prev = ts.MAC
		}
		t.Logf("signed AXFR from 127.0.0.2: %d messages, each signed and verified", len(res.wires))
	})

	t.Run("SignedFromOtherSourceDig", func(t *testing.T) {
		t.Parallel()
		// BIND's TSIG code, not miekg/dns's, verifies every message.
		out, _ := runTool(t, dig, "-b", "127.0.0.2", "-y", "hmac-sha256:"+strings.TrimSuffix(key.name, ".")+":"+key.secret,
			"@"+host, "-p", port, "+time=20", "+tries=1", "ports.local", "AXFR")
		m := regexp.MustCompile(`(?m)^;; XFR size: (\d+) records \(messages (\d+),`).FindStringSubmatch(out)
		if m == nil || strings.Contains(out, "Transfer failed") || strings.Contains(strings.ToLower(out), "verify") {
			t.Fatalf("dig -y AXFR from 127.0.0.2 did not complete with verified signatures:\n%s", tail(out, 4<<10))
		}
		records, _ := strconv.Atoi(m[1])
		msgs, _ := strconv.Atoi(m[2])
		// dig counts the closing SOA.
		if records != len(exported)+1 {
			t.Errorf("dig: %d records, want %d (the exported zone and the closing SOA)", records, len(exported)+1)
		}
		if n := len(regexp.MustCompile(`(?m)^xfr\.ports\.local\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\.`).FindAllString(out, -1)); n != msgs {
			t.Errorf("dig printed %d TSIG records for %d messages", n, msgs)
		}
	})

	t.Run("WrongSecretNOTAUTH", func(t *testing.T) {
		t.Parallel()
		for _, local := range []string{"127.0.0.2", "127.0.0.1"} {
			wrong := xfrKey{name: key.name, secret: xfrNewSecret(t)}
			res, _, err := xfrRaw(t, local, srv.Addr, dns.TypeAXFR, &wrong)
			if err != nil {
				t.Fatalf("AXFR with a wrong secret from %s: %v", local, err)
			}
			m := res.msgs[0]
			if len(res.msgs) != 1 || m.Rcode != dns.RcodeNotAuth || len(m.Answer) != 0 {
				t.Fatalf("wrong secret from %s: %d messages, first %v; want one NOTAUTH (9)", local, len(res.msgs), m)
			}
			if ts := m.IsTsig(); ts == nil || ts.Error != dns.RcodeBadSig {
				t.Errorf("wrong secret from %s: TSIG %v, want error BADSIG (RFC 8945 §5.2.2)", local, ts)
			}
		}
	})

	t.Run("UnknownKeyNOTAUTH", func(t *testing.T) {
		t.Parallel()
		res, _, err := xfrRaw(t, "127.0.0.2", srv.Addr, dns.TypeAXFR, &xfrKey{name: "other.ports.local.", secret: key.secret})
		if err != nil {
			t.Fatal(err)
		}
		m := res.msgs[0]
		if m.Rcode != dns.RcodeNotAuth {
			t.Fatalf("unknown key: %v; want NOTAUTH", m)
		}
		if ts := m.IsTsig(); ts == nil || ts.Error != dns.RcodeBadKey {
			t.Errorf("unknown key: TSIG %v, want error BADKEY", ts)
		}
	})

	t.Run("OverUDPRefused", func(t *testing.T) {
		t.Parallel()
		for _, local := range []string{"127.0.0.1", "127.0.0.2"} {
			for _, signed := range []bool{false, true} {
				c := &dns.Client{Net: "udp", Timeout: 5 * time.Second,
					Dialer: &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.UDPAddr{IP: net.ParseIP(local)}}}
				m := new(dns.Msg)
				m.SetAxfr(origin)
				if signed {
					c.TsigSecret = map[string]string{key.name: key.secret}
					m.SetTsig(key.name, dns.HmacSHA256, 300, time.Now().Unix())
				}
				r, _, err := c.Exchange(m, srv.Addr)
				if err != nil {
					t.Fatalf("AXFR over UDP from %s (signed %v): %v", local, signed, err)
				}
				if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
					t.Errorf("AXFR over UDP from %s (signed %v): rcode %s, %d answers; want REFUSED",
						local, signed, dns.RcodeToString[r.Rcode], len(r.Answer))
				}
			}
		}
	})
}

// xfrCheckFull requires RFC 5936 §2.2's shape, SOA first and last,
// and exactly the records of the exported zone in between.
func xfrCheckFull(t *testing.T, res *xfrResult, exported []string) {
	t.Helper()
	for i, m := range res.msgs {
		if m.Rcode != dns.RcodeSuccess || !m.Response || !m.Authoritative {
			t.Fatalf("message %d: rcode %s qr=%v aa=%v", i, dns.RcodeToString[m.Rcode], m.Response, m.Authoritative)
		}
	}
	rrs := res.records()
	if len(rrs) < 2 {
		t.Fatalf("%d records in %d messages", len(rrs), len(res.msgs))
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 || first.String() != last.String() {
		t.Fatalf("transfer starts with %v and ends with %v; want the same SOA", rrs[0], rrs[len(rrs)-1])
	}
	got := opsRRTexts(rrs[:len(rrs)-1])
	if len(got) != len(exported) {
		t.Errorf("%d records transferred (closing SOA aside), the exported zone has %d", len(got), len(exported))
	}
	if !slices.Equal(got, exported) {
		var missing, extra []string
		for _, s := range exported {
			if _, ok := slices.BinarySearch(got, s); !ok {
				missing = append(missing, s)
			}
		}
		for _, s := range got {
			if _, ok := slices.BinarySearch(exported, s); !ok {
				extra = append(extra, s)
			}
		}
		t.Errorf("transferred records differ from the exported zone: %d missing %.5q, %d extra %.5q", len(missing), missing, len(extra), extra)
	}
}

// TestIXFRClients asks svcdns for IXFR with the clients of BIND (dig) and
// Knot (kdig), over TCP and over UDP (RFC 1995 §2): after a change, a
// client at the old serial gets the incremental form (the new SOA, the
// old one, the deletions, the new one, the additions, the new one), a
// client at the current serial the SOA alone; and a server whose journal
// is off (transfer.journal.max_size 0) answers with the whole zone.
func TestIXFRClients(t *testing.T) {
	t.Parallel()
	dig, kdig := testenv.Tool(t, "dig"), testenv.Tool(t, "kdig")
	dir := t.TempDir()
	conf := filepath.Join(dir, "svcdns.yaml")
	offConf := filepath.Join(dir, "off.yaml")
	opsWriteFile(t, conf, []byte("soa:\n  retry: 600\n"))
	opsWriteFile(t, offConf, []byte("port_names: registered\ntransfer:\n  journal: {max_size: 0}\n"))
	srv := startServer(t, "--config", conf)
	off := startServer(t, "--config", offConf)
	before, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	opsReplaceByRename(t, conf, []byte("soa:\n  retry: 601\n"))
	var after uint32
	if !opsWaitFor(15*time.Second, 20*time.Millisecond, func() bool {
		after, _ = opsSOASerial(srv.Addr)
		return after > before
	}) {
		t.Fatalf("serial still %d after the config changed", before)
	}
	soaSerials := func(out string) []string {
		var serials []string
		for _, m := range regexp.MustCompile(`(?m)^ports\.local\.\s+\d+\s+IN\s+SOA\s+\S+\s+\S+\s+(\d+)\s`).FindAllStringSubmatch(out, -1) {
			serials = append(serials, m[1])
		}
		return serials
	}
	b, a := strconv.Itoa(int(before)), strconv.Itoa(int(after))
	for _, c := range []struct {
		name string
		tool string
		addr string
		args []string
		want []string // the SOA serials of the reply, in order
	}{
		{"dig tcp", dig, srv.Addr, []string{"ixfr=" + b}, []string{a, b, a, a}},
		{"dig udp", dig, srv.Addr, []string{"+notcp", "ixfr=" + b}, []string{a, b, a, a}},
		{"kdig tcp", kdig, srv.Addr, []string{"IXFR=" + b}, []string{a, b, a, a}},
		{"kdig udp", kdig, srv.Addr, []string{"+notcp", "IXFR=" + b}, []string{a, b, a, a}},
		{"dig udp current", dig, srv.Addr, []string{"+notcp", "ixfr=" + a}, []string{a}},
		{"kdig tcp current", kdig, srv.Addr, []string{"IXFR=" + a}, []string{a}},
	} {
		t.Run(c.name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(c.addr)
			args := append([]string{"@" + host, "-p", port, "+timeout=10", "+retry=0"}, c.args...)
			if c.tool == dig {
				args = append([]string{"@" + host, "-p", port, "+time=10", "+tries=1", "+nocmd", "+nostats"}, c.args...)
			}
			out, _ := runTool(t, c.tool, append(args, "ports.local")...)
			if got := soaSerials(out); !slices.Equal(got, c.want) {
				t.Errorf("SOA serials %v, want %v\n%s", got, c.want, out)
			}
		})
	}
	t.Run("journal off", func(t *testing.T) {
		host, port, _ := net.SplitHostPort(off.Addr)
		s, err := opsSOASerial(off.Addr)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := runTool(t, dig, "@"+host, "-p", port, "+time=10", "+tries=1", "ixfr="+strconv.Itoa(int(s)-1), "ports.local")
		m := regexp.MustCompile(`(?m)^;; XFR size: (\d+) records`).FindStringSubmatch(out)
		if m == nil || len(soaSerials(out)) != 2 {
			t.Fatalf("IXFR without a journal: want the whole zone (two SOAs)\n%s", tail(out, 2<<10))
		}
		if n, _ := strconv.Atoi(m[1]); n < 500 {
			t.Errorf("IXFR without a journal: %d records, want the whole zone", n)
		}
		if opsCountLog(&server{stderr: off.stderr}, "journal off") != 1 {
			t.Error("svcdns did not log that the journal is off")
		}
	})
}
