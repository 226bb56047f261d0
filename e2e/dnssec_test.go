package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// dnssecConfig writes a svcdns configuration with DNSSEC on and the state
// directory (where lab keys are generated) in dir, with extra YAML.
func dnssecConfig(t testing.TB, dir, extra string) string {
	t.Helper()
	conf := filepath.Join(dir, "svcdns.yaml")
	opsWriteFile(t, conf, fmt.Appendf(nil, "state_dir: %q\ndnssec:\n  enabled: true\n%s", filepath.Join(dir, "state"), extra))
	return conf
}

// svcdnsOK runs the svcdns binary and returns its output; the test
// fails when it exits other than 0.
func svcdnsOK(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := svcdnsRun(t, args...)
	if code != 0 {
		t.Fatalf("svcdns %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// trustAnchors asks `svcdns dnssec ds` for the zone's anchors in both
// forms: DS records (Unbound's trust-anchor-file) and a trust-anchors
// statement (delv -a).
func trustAnchors(t testing.TB, conf string) (dsFile, bindFile string) {
	t.Helper()
	dir := t.TempDir()
	dsFile, bindFile = filepath.Join(dir, "anchor.ds"), filepath.Join(dir, "anchor.conf")
	ds := svcdnsOK(t, "dnssec", "ds", "--config", conf)
	if !strings.Contains(ds, "\tIN\tDS\t") {
		t.Fatalf("svcdns dnssec ds printed no DS record:\n%s", ds)
	}
	opsWriteFile(t, dsFile, []byte(ds))
	opsWriteFile(t, bindFile, []byte(svcdnsOK(t, "dnssec", "ds", "--format", "bind", "--config", conf)))
	return dsFile, bindFile
}

// anchorFiles writes the trust anchors of an in-process signer.
func anchorFiles(t testing.TB, sg *dnssec.Signer) (dsFile, bindFile string) {
	t.Helper()
	ds, err := dnssec.DS(sg.AnchorKeys(), dns.SHA256, 3600)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := dnssec.WriteZoneAnchors(&a, ds); err != nil {
		t.Fatal(err)
	}
	if err := dnssec.WriteBINDAnchors(&b, ds); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dsFile, bindFile = filepath.Join(dir, "anchor.ds"), filepath.Join(dir, "anchor.conf")
	opsWriteFile(t, dsFile, a.Bytes())
	opsWriteFile(t, bindFile, b.Bytes())
	return dsFile, bindFile
}

// stub is a zone Unbound sends to one server.
type stub struct{ zone, addr string }

// validatingUnboundConf is a validating resolver with no trust anchor but
// the ones given (no root key, no domain-insecure): every answer it marks
// AD was checked against them. use-caps-for-id makes each query it sends
// 0x20 mixed case, the case that once broke online signers' answers
// (PowerDNS #5546, CoreDNS #5061).
const validatingUnboundConf = `server:
	interface: 127.0.0.1
	port: %[2]d
	do-ip6: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %[1]q
	pidfile: %[5]q
	use-syslog: no
	logfile: %[6]q
	verbosity: 1
	val-log-level: 2
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	qname-minimisation: yes
	use-caps-for-id: yes
	do-not-query-localhost: no
	module-config: "validator iterator"
	local-zone: "local." nodefault
%[3]sremote-control:
	control-enable: no
%[4]s`

// startValidatingUnbound runs Unbound validating with the trust anchor
// files given, the zones stubbed to their servers. It returns Unbound's
// address and log path.
func startValidatingUnbound(t *testing.T, stubs []stub, anchors []string) (addr, logPath string) {
	t.Helper()
	var ta, st strings.Builder
	for _, a := range anchors {
		fmt.Fprintf(&ta, "\ttrust-anchor-file: %q\n", a)
	}
	for _, s := range stubs {
		host, port, err := net.SplitHostPort(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&st, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", s.zone, host, port)
	}
	return runUnbound(t, func(dir string, port int, pidfile, logPath string) string {
		return fmt.Sprintf(validatingUnboundConf, dir, port, ta.String(), st.String(), pidfile, logPath)
	})
}

// askValidated asks a validating resolver with dig +dnssec and checks the
// rcode and that the answer is authenticated (AD).
func askValidated(t *testing.T, resolverAddr, name, qtype, rcode string) *reply {
	t.Helper()
	r, out := clients[0].ask(t, resolverAddr, name, qtype, "+dnssec")
	if r.Rcode != rcode || !r.Flags["ad"] {
		t.Errorf("%s %s through the validating resolver: %s, AD %v; want %s with AD\n%s", name, qtype, r.Rcode, r.Flags["ad"], rcode, out)
	}
	return r
}

// delv runs BIND's validating lookup against a server with the anchors
// in a trust-anchors file, and returns what it printed. delv exits 0
// whether or not the answer validated: its output says which.
func delv(t *testing.T, anchors, root, serverAddr, name, qtype string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(serverAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Tool(t, "delv"), "-a", anchors, "+root="+root, "@"+host, "-p", port, name, qtype)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("delv %s %s: %v", name, qtype, err)
	}
	return string(out)
}

func delvValidated(t *testing.T, anchors, root, serverAddr, name, qtype string, negative bool) {
	t.Helper()
	out := delv(t, anchors, root, serverAddr, name, qtype)
	want := "; fully validated"
	if negative {
		want = "; negative response, fully validated"
	}
	if !strings.Contains(out, want) || (!negative && strings.Contains(out, "resolution failed")) {
		t.Errorf("delv %s %s: want %q\n%s", name, qtype, want, out)
	}
}

// tamperProxy relays DNS over UDP and TCP between a resolver and a server,
// as a forger on the path would: in replies to questions for target (any
// case) it flips one bit of every RRSIG's signature. It records the
// question names it relays, as sent.
type tamperProxy struct {
	addr     string
	upstream string
	target   string
	mu       sync.Mutex
	asked    []string
	tampered atomic.Int64
}

func startTamperProxy(t *testing.T, upstream, target string) *tamperProxy {
	t.Helper()
	p := &tamperProxy{upstream: upstream, target: target}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for the proxy's UDP and TCP")
	}
	p.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); ln.Close(); wg.Wait() })
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("udp", upstream)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(q); err != nil {
					return
				}
				r := make([]byte, 65535)
				m, err := c.Read(r)
				if err != nil {
					return
				}
				pc.WriteTo(p.tamper(q, r[:m]), from)
			}()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				for {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					up.SetDeadline(time.Now().Add(10 * time.Second))
					q, err := readTCPMsg(c)
					if err != nil {
						return
					}
					if err := writeTCPMsg(up, q); err != nil {
						return
					}
					r, err := readTCPMsg(up)
					if err != nil {
						return
					}
					if err := writeTCPMsg(c, p.tamper(q, r)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func readTCPMsg(c net.Conn) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func writeTCPMsg(c net.Conn, b []byte) error {
	_, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
	return err
}

func (p *tamperProxy) tamper(query, reply []byte) []byte {
	q := new(dns.Msg)
	if q.Unpack(query) != nil || len(q.Question) != 1 {
		return reply
	}
	p.mu.Lock()
	p.asked = append(p.asked, q.Question[0].Name)
	p.mu.Unlock()
	if !strings.EqualFold(q.Question[0].Name, p.target) {
		return reply
	}
	m := new(dns.Msg)
	if m.Unpack(reply) != nil {
		return reply
	}
	changed := false
	for _, rr := range m.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok {
			b, err := base64.StdEncoding.DecodeString(sig.Signature)
			if err != nil || len(b) == 0 {
				continue
			}
			b[len(b)/2] ^= 0x01
			sig.Signature = base64.StdEncoding.EncodeToString(b)
			changed = true
		}
	}
	if !changed {
		return reply
	}
	out, err := m.Pack()
	if err != nil {
		return reply
	}
	p.tampered.Add(1)
	return out
}

// clockServer serves a signed zone in this process with a signer whose
// clock the test moves, so that it can make signatures that have expired.
type clockServer struct {
	addr             string
	offset           atomic.Int64 // added to the real time, in nanoseconds
	dsFile, bindFile string
}

func startClockServer(t *testing.T, origin string) *clockServer {
	t.Helper()
	cs := &clockServer{}
	// Active since long before any time the test moves the clock to.
	key, err := dnssec.GenerateKey(origin, dns.ECDSAP256SHA256, true, time.Now().Add(-365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return time.Now().Add(time.Duration(cs.offset.Load())) }
	sg, err := dnssec.NewSigner(origin, []*dnssec.Key{key}, p, dnssec.NewCache(1000))
	if err != nil {
		t.Fatal(err)
	}
	opts := zone.DefaultOptions(origin)
	opts.Signer = sg
	snap, err := zone.Build(zonetest.ExcerptRegistry(t), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := resolver.NewServer(resolver.NewHandler(snap, 0, nil), resolver.DefaultLimits, nil)
	if err := srv.Listen([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	cs.addr = srv.Addrs()[0].String()
	cs.dsFile, cs.bindFile = anchorFiles(t, sg)
	return cs
}

// TestDNSSECValidation signs the zone online and has real validators check
// every kind of answer: Unbound (trust anchor from `svcdns dnssec ds`, no
// domain-insecure, 0x20 queries) marks each AD, and delv prints "fully
// validated". A forged signature and an expired one are rejected, so the
// chain is really checked; dig +coflag gets NXDOMAIN with NXNAME.
func TestDNSSECValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Every port a name, unregistered ones too (_65001._sctp), signed
	// online (with DNSSEC the default is the registered ones).
	conf := dnssecConfig(t, dir, "port_names: all\n")
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srv := startServer(t, "--config", conf, "--metrics-listen", metricsAddr)
	dsFile, bindFile := trustAnchors(t, conf)
	const forged = "_geneve._udp.ports.local."
	proxy := startTamperProxy(t, srv.Addr, forged)
	const expiredOrigin = "expired.example."
	clock := startClockServer(t, expiredOrigin)
	ub, ubLog := startValidatingUnbound(t,
		[]stub{{"ports.local", proxy.addr}, {"expired.example", clock.addr}},
		[]string{dsFile, clock.dsFile})

	cases := []struct {
		name, qtype, rcode string
		negative           bool
		check              func(t *testing.T, r *reply)
	}{
		{"_rets._tcp.ports.local", "SRV", "NOERROR", false, wantAnswer(dns.TypeSRV, 1)},
		{"_rets._tcp.ports.local", "TXT", "NOERROR", false, wantAnswer(dns.TypeTXT, 1)},
		{"_bmc_ctd_ldap._tcp.ports.local", "SRV", "NOERROR", false, func(t *testing.T, r *reply) {
			wantAnswer(dns.TypeCNAME, 1)(t, r)
			wantAnswer(dns.TypeSRV, 1)(t, r)
		}},
		// Unbound 1.17 predates RFC 9824 and passes the compact answer
		// on as NOERROR/NODATA; it validates it all the same.
		{"_nosuchsvc._tcp.ports.local", "SRV", "NOERROR", true, wantAnswer(dns.TypeSRV, 0)},
		{"_rets._tcp.ports.local", "AAAA", "NOERROR", true, wantAnswer(dns.TypeAAAA, 0)},
		{"_tcp.ports.local", "SRV", "NOERROR", true, wantAnswer(dns.TypeSRV, 0)},
		{"_6081._udp.ports.local", "PTR", "NOERROR", false, wantAnswer(dns.TypePTR, 1)},
		{"_65001._sctp.ports.local", "TXT", "NOERROR", false, wantAnswer(dns.TypeTXT, 1)},
		// DNS-SD: the type's PTR, then what a browser asks next, the
		// instance's SRV and TXT that svcdns also sends as additionals.
		{"_rets._tcp.ports.local", "PTR", "NOERROR", false, wantAnswer(dns.TypePTR, 1)},
		{"RETS._rets._tcp.ports.local", "SRV", "NOERROR", false, wantAnswer(dns.TypeSRV, 1)},
		{"RETS._rets._tcp.ports.local", "TXT", "NOERROR", false, wantAnswer(dns.TypeTXT, 1)},
		// 0x20 spelled by the client too.
		{"_BmC-CtD-LdAp._TcP.PoRtS.LoCaL", "TXT", "NOERROR", false, wantAnswer(dns.TypeTXT, 1)},
		{"ports.local", "DNSKEY", "NOERROR", false, wantAnswer(dns.TypeDNSKEY, 1)},
	}
	t.Run("Unbound", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name+"/"+tc.qtype, func(t *testing.T) {
				tc.check(t, askValidated(t, ub, tc.name, tc.qtype, tc.rcode))
			})
		}
		// Unbound asked in mixed case (use-caps-for-id) and validated
		// what came back.
		proxy.mu.Lock()
		mixed := 0
		for _, n := range proxy.asked {
			if n != strings.ToLower(n) && n != strings.ToUpper(n) {
				mixed++
			}
		}
		proxy.mu.Unlock()
		if mixed == 0 {
			t.Error("Unbound sent no 0x20 mixed-case query: the case was not exercised")
		}
	})
	t.Run("delv", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name+"/"+tc.qtype, func(t *testing.T) {
				delvValidated(t, bindFile, origin, srv.Addr, tc.name, tc.qtype, tc.negative)
			})
		}
	})
	t.Run("DNS-SD additionals", func(t *testing.T) {
		// Straight from svcdns: the PTR's additional SRV, TXT and address
		// records come with RRSIGs that verify with the published keys.
		m := dnssecExchange(t, srv.Addr, "_rets._tcp.ports.local.", dns.TypePTR, false)
		keys := dnskeys(t, srv.Addr)
		verifySection(t, "additional", m.Extra, keys, map[uint16]bool{dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeA: true})
	})
	t.Run("CO flag", func(t *testing.T) {
		r, out := clients[0].ask(t, srv.Addr, "_nosuchsvc._tcp.ports.local", "SRV", "+dnssec", "+coflag")
		if !strings.Contains(out, "flags: do co;") {
			t.Fatalf("dig +coflag: this dig cannot send CO, or the reply's OPT lacks it\n%s", out)
		}
		if r.Rcode != "NXDOMAIN" {
			t.Errorf("rcode %s, want NXDOMAIN for a query with CO (RFC 9824 §4)\n%s", r.Rcode, out)
		}
		nxname := false
		for _, rr := range r.Authority {
			if n, ok := rr.(*dns.NSEC); ok && strings.EqualFold(n.Hdr.Name, "_nosuchsvc._tcp.ports.local.") {
				for _, typ := range n.TypeBitMap {
					nxname = nxname || typ == dns.TypeNXNAME
				}
			}
		}
		if !nxname {
			t.Errorf("no NSEC with NXNAME at the name\n%s", out)
		}
		// Without CO the same name is NOERROR, the NXNAME bit telling.
		if r, out := clients[0].ask(t, srv.Addr, "_nosuchsvc._tcp.ports.local", "SRV", "+dnssec"); r.Rcode != "NOERROR" {
			t.Errorf("without CO: %s, want NOERROR\n%s", r.Rcode, out)
		}
	})
	t.Run("forged signature", func(t *testing.T) {
		before := proxy.tampered.Load()
		r, out := clients[0].ask(t, ub, forged, "SRV", "+dnssec")
		if proxy.tampered.Load() == before {
			t.Fatal("the proxy forged nothing: the test did not run")
		}
		if r.Rcode != "SERVFAIL" || len(r.Answer) != 0 {
			t.Errorf("a forged RRSIG: %s with %d answers, want SERVFAIL\n%s", r.Rcode, len(r.Answer), out)
		}
		unboundSays(t, ubLog, "validation failure <"+forged+" SRV IN>: signature crypto failed")
		if out := delv(t, bindFile, origin, proxy.addr, forged, "TXT"); strings.Contains(out, "fully validated") {
			t.Errorf("delv through the forger validated:\n%s", out)
		}
	})
	t.Run("expired signature", func(t *testing.T) {
		// With the signer's clock right, the zone validates...
		askValidated(t, ub, "_rets._tcp."+expiredOrigin, "SRV", "NOERROR")
		delvValidated(t, clock.bindFile, expiredOrigin, clock.addr, "_rets._tcp."+expiredOrigin, "SRV", false)
		// ...and with signatures made 40 days ago, valid for 14, it does
		// not: Unbound has the keys validated already, so it is the
		// RRset's expired RRSIG it rejects.
		clock.offset.Store(int64(-40 * 24 * time.Hour))
		r, out := clients[0].ask(t, ub, "_geneve._udp."+expiredOrigin, "SRV", "+dnssec")
		if r.Rcode != "SERVFAIL" {
			t.Errorf("expired RRSIG: %s, want SERVFAIL\n%s", r.Rcode, out)
		}
		unboundSays(t, ubLog, "validation failure <_geneve._udp."+expiredOrigin+" SRV IN>: signature expired")
		if out := delv(t, clock.bindFile, expiredOrigin, clock.addr, "_geneve._udp."+expiredOrigin, "TXT"); strings.Contains(out, "fully validated") {
			t.Errorf("delv validated expired signatures:\n%s", out)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		// DO=1 answers are written from the compiled zone, signatures
		// included (svcdns_answer_path_total).
		before := opsScrape(t, metricsAddr)
		const n = 20
		cl := &dns.Client{Timeout: 2 * time.Second}
		for i := range n {
			q := new(dns.Msg)
			q.SetQuestion(cases[i%len(cases)].name+".", dns.StringToType[cases[i%len(cases)].qtype])
			q.SetEdns0(1232, true)
			if r, _, err := cl.Exchange(q, srv.Addr); err != nil || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("%v: %v %v", q.Question[0], r, err)
			}
		}
		m := opsScrape(t, metricsAddr)
		compiled := m.value(t, "svcdns_answer_path_total", "path", "compiled") - before.value(t, "svcdns_answer_path_total", "path", "compiled")
		message := m.value(t, "svcdns_answer_path_total", "path", "message") - before.value(t, "svcdns_answer_path_total", "path", "message")
		if compiled < n || message != 0 {
			t.Errorf("after %d DO=1 queries: answer paths grew by %v compiled and %v message, want at least %d and 0", n, compiled, message, n)
		}
		if n := m.value(t, "svcdns_dnssec_signatures_total"); n == 0 {
			t.Error("svcdns_dnssec_signatures_total is 0")
		}
		if n := m.value(t, "svcdns_dnssec_cache_hits_total"); n == 0 {
			t.Error("svcdns_dnssec_cache_hits_total is 0 after repeated questions")
		}
		if n := m.value(t, "svcdns_dnssec_keys", "role", "ksk", "state", "active"); n != 1 {
			t.Errorf("svcdns_dnssec_keys{role=ksk,state=active} = %v, want 1 (the lab's CSK)", n)
		}
	})
}

// unboundSays checks that Unbound logged why it failed validation
// (val-log-level: 2), waiting a little for the log to be written.
func unboundSays(t *testing.T, logPath, what string) {
	t.Helper()
	var log []byte
	if !opsWaitFor(5*time.Second, 50*time.Millisecond, func() bool {
		log, _ = os.ReadFile(logPath)
		return bytes.Contains(bytes.ToLower(log), bytes.ToLower([]byte(what)))
	}) {
		t.Errorf("unbound did not log %q:\n%s", what, tail(string(log), 4<<10))
	}
}

func wantAnswer(typ uint16, n int) func(t *testing.T, r *reply) {
	return func(t *testing.T, r *reply) {
		t.Helper()
		got := 0
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == typ {
				got++
			}
		}
		if (n == 0) != (got == 0) || got < n {
			t.Errorf("%d %s records in the answer, want %d: %v", got, dns.TypeToString[typ], n, r.Answer)
		}
	}
}

// dnssecExchange asks addr over TCP with DO set (and CO when co).
func dnssecExchange(t *testing.T, addr, name string, qtype uint16, co bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	if co {
		m.IsEdns0().SetCo()
	}
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// dnskeys fetches the zone's DNSKEY RRset, by key tag.
func dnskeys(t *testing.T, addr string) map[uint16]*dns.DNSKEY {
	t.Helper()
	out := map[uint16]*dns.DNSKEY{}
	for _, rr := range dnssecExchange(t, addr, origin, dns.TypeDNSKEY, false).Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			out[k.KeyTag()] = k
		}
	}
	if len(out) == 0 {
		t.Fatal("no DNSKEY at the apex")
	}
	return out
}

// verifySection checks that each RRset of the types wanted in rrs is there
// with an RRSIG that verifies with one of keys.
func verifySection(t *testing.T, section string, rrs []dns.RR, keys map[uint16]*dns.DNSKEY, want map[uint16]bool) {
	t.Helper()
	sets := map[uint16][]dns.RR{}
	sigs := map[uint16][]*dns.RRSIG{}
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs[s.TypeCovered] = append(sigs[s.TypeCovered], s)
		} else if rr.Header().Rrtype != dns.TypeOPT {
			sets[rr.Header().Rrtype] = append(sets[rr.Header().Rrtype], rr)
		}
	}
	for typ := range want {
		if len(sets[typ]) == 0 || len(sigs[typ]) == 0 {
			t.Errorf("%s: %s with %d RRSIGs, want the RRset and its RRSIG", section, dns.TypeToString[typ], len(sigs[typ]))
			continue
		}
		for _, s := range sigs[typ] {
			k := keys[s.KeyTag]
			if k == nil {
				t.Errorf("%s: %v by an unpublished key", section, s)
			} else if err := s.Verify(k, sets[typ]); err != nil {
				t.Errorf("%s: %v: %v", section, s, err)
			}
		}
	}
}

// TestDNSSECSignedExport exports the signed zone and has three
// implementations' verifiers check it: the full registry with a KSK and a
// ZSK and an NSEC chain, and the excerpt with a CSK and an NSEC3 chain.
func TestDNSSECSignedExport(t *testing.T) {
	t.Parallel()
	full := testenv.FullXML(t)
	cases := []struct {
		name, extra string
		args        []string
		verifyArgs  []string // dnssec-verify's own: -z for a CSK zone, whose one key is a KSK
	}{
		{"full NSEC KSK+ZSK", "  keys: ksk+zsk\n", []string{"--registry", full}, nil},
		{"excerpt NSEC3 CSK", "  algorithm: ed25519\n  denial: nsec3\n  nsec3: {iterations: 0, salt: 5ca1ab1e}\n", nil, []string{"-z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			conf := dnssecConfig(t, dir, tc.extra)
			path := filepath.Join(dir, "ports.local.zone")
			start := time.Now()
			svcdnsOK(t, append([]string{"zone", "export", "--config", conf, "-o", path}, tc.args...)...)
			rrs := opsZoneRecords(t, path)
			counts := map[uint16]int{}
			for _, rr := range rrs {
				counts[rr.Header().Rrtype]++
			}
			denial := dns.TypeNSEC
			if strings.Contains(tc.extra, "nsec3") {
				denial = dns.TypeNSEC3
			}
			if counts[dns.TypeRRSIG] == 0 || counts[denial] == 0 || counts[dns.TypeDNSKEY] == 0 {
				t.Fatalf("export has %d RRSIG, %d %s, %d DNSKEY records", counts[dns.TypeRRSIG], counts[denial], dns.TypeToString[denial], counts[dns.TypeDNSKEY])
			}
			t.Logf("signed export: %d records (%d RRSIG) in %v", len(rrs), counts[dns.TypeRRSIG], time.Since(start).Round(time.Millisecond))
			checks := [][]string{
				{"kzonecheck", "--dnssec", "on", "-o", origin, path},
				append(append([]string{"dnssec-verify"}, tc.verifyArgs...), "-o", origin, path),
				{"ldns-verify-zone", path},
			}
			for _, c := range checks {
				t.Run(c[0], func(t *testing.T) {
					t.Parallel()
					// The full zone takes each verifier tens of seconds:
					// more than runTool allows a client.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					start := time.Now()
					out, err := exec.CommandContext(ctx, testenv.Tool(t, c[0]), c[1:]...).CombinedOutput()
					if err != nil {
						t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, tail(string(out), 4<<10))
					}
					t.Logf("%s in %v: %s", c[0], time.Since(start).Round(time.Millisecond), tail(string(out), 400))
				})
			}
		})
	}
}

// nsdSignedSecondaryConf makes NSD a secondary of svcdns for ports.local, with
// the received zone kept in its own directory only.
const nsdSignedSecondaryConf = `server:
	ip-address: 127.0.0.1@%[2]d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: %[1]q
	database: ""
	zonelistfile: %[4]q
	xfrdfile: %[5]q
	xfrdir: %[1]q
	pidfile: %[6]q
	server-count: 1
	verbosity: 2
remote-control:
	control-enable: no
zone:
	name: "ports.local"
	zonefile: "ports.local.zone"
	request-xfr: AXFR 127.0.0.1@%[3]s NOKEY
	allow-notify: 127.0.0.1 NOKEY
`

// startNSDSecondary runs NSD as a secondary of the svcdns at primary; it
// returns at once, the caller waits for the zone.
func startNSDSecondary(t *testing.T, primary string) string {
	t.Helper()
	bin := testenv.Tool(t, "nsd")
	_, primaryPort, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "nsd.conf")
	opsWriteFile(t, conf, fmt.Appendf(nil, nsdSignedSecondaryConf, dir, port, primaryPort,
		filepath.Join(dir, "zone.list"), filepath.Join(dir, "xfrd.state"), filepath.Join(dir, "nsd.pid")))
	runTool(t, testenv.Tool(t, "nsd-checkconf"), conf)
	cmd := exec.Command(bin, "-d", "-c", conf)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nsd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		stopProcess(t, "nsd", cmd, done)
		if t.Failed() {
			t.Logf("nsd output:\n%s", tail(out.String(), 16<<10))
		}
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// TestDNSSECSecondary: NSD pulls the signed zone by AXFR, as secondaries
// must (they cannot sign), serves it with its NSEC chain, and Unbound
// validates what it answers, negative answers included.
func TestDNSSECSecondary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := dnssecConfig(t, dir, "")
	srv := startServer(t, "--config", conf)
	dsFile, bindFile := trustAnchors(t, conf)
	serial, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nsd := startNSDSecondary(t, srv.Addr)
	opsWaitSerial(t, nsd, serial, 30*time.Second)
	ub, _ := startValidatingUnbound(t, []stub{{"ports.local", nsd}}, []string{dsFile})

	for _, tc := range []struct{ name, qtype, rcode string }{
		{"_rets._tcp.ports.local", "SRV", "NOERROR"},
		{"_bmc_ctd_ldap._tcp.ports.local", "SRV", "NOERROR"},
		{"RETS._rets._tcp.ports.local", "TXT", "NOERROR"},
		// NSD denies from the zone's NSEC chain: a real NXDOMAIN.
		{"_nosuchsvc._tcp.ports.local", "SRV", "NXDOMAIN"},
		{"_rets._tcp.ports.local", "AAAA", "NOERROR"},
		{"_tcp.ports.local", "SRV", "NOERROR"},
		// Port names are in the signed zone NSD holds (port_names:
		// registered, the default with DNSSEC): a registered port
		// answers, an unregistered one is denied by the chain.
		{"_6081._udp.ports.local", "TXT", "NOERROR"},
		{"_65001._sctp.ports.local", "TXT", "NXDOMAIN"},
	} {
		t.Run(tc.name+"/"+tc.qtype, func(t *testing.T) {
			askValidated(t, ub, tc.name, tc.qtype, tc.rcode)
			delvValidated(t, bindFile, origin, nsd, tc.name, tc.qtype, tc.rcode != "NOERROR" || tc.qtype == "AAAA" || strings.HasPrefix(tc.name, "_tcp"))
		})
	}
	// The NXDOMAIN came from the chain NSD was given, not from svcdns.
	m := dnssecExchange(t, nsd, "_nosuchsvc._tcp.ports.local.", dns.TypeSRV, false)
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NSEC); ok && strings.HasPrefix(n.NextDomain, `\000.`) {
			t.Errorf("NSD sent a compact denial NSEC %v: the zone it serves is not the chained one", n)
		}
	}
}

// TestDNSSECZSKRoll rolls the zone-signing key with BIND's tools, as an
// operator does: dnssec-keygen makes the new ZSK to be published now and
// active in a few seconds, dnssec-settime retires the old one then and
// deletes it later, and one SIGHUP tells svcdns. svcdns follows the timing
// metadata by itself: the new key is published, then signs, then the old
// one is gone, and a validator with only the KSK's DS as anchor validates
// at every step (short TTLs stand for the waits of a real roll).
func TestDNSSECZSKRoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keygen := func(args ...string) string {
		out, _ := runTool(t, testenv.Tool(t, "dnssec-keygen"), append(append([]string{"-q", "-K", keyDir, "-a", "ECDSAP256SHA256"}, args...), "ports.local")...)
		return strings.TrimSpace(out)
	}
	settime := func(base string, args ...string) {
		runTool(t, testenv.Tool(t, "dnssec-settime"), append(append([]string{"-K", keyDir}, args...), base)...)
	}
	ksk := keygen("-f", "KSK")
	zsk1 := keygen()
	tagOf := func(base string) uint16 {
		n, err := strconv.Atoi(base[strings.LastIndexByte(base, '+')+1:])
		if err != nil {
			t.Fatal(err)
		}
		return uint16(n)
	}
	conf := dnssecConfig(t, dir, fmt.Sprintf("  key_directory: %q\n  dnskey_ttl: 2\nttl:\n  default: 2\n", keyDir))
	p := spawnServer(t, nil, []string{"--config", conf, "--metrics-listen", ""})
	addr := p.Addr
	dsFile, bindFile := trustAnchors(t, conf)
	ub, _ := startValidatingUnbound(t, []stub{{"ports.local", addr}}, []string{dsFile})

	n := 0
	validates := func(phase string) {
		t.Helper()
		// A name not asked before, and one asked at every step after its
		// TTL ran out: both must validate. Ports 6072-6077/udp are
		// registered in the embedded registry, so their names exist with
		// DNSSEC's default port_names (registered).
		n++
		for _, q := range []struct{ name, qtype string }{
			{fmt.Sprintf("_%d._udp.ports.local", 6071+n), "TXT"},
			{"_rets._tcp.ports.local", "SRV"},
			{fmt.Sprintf("_nosuch%d._tcp.ports.local", n), "SRV"},
		} {
			r, out := clients[0].ask(t, ub, q.name, q.qtype, "+dnssec")
			if r.Rcode != "NOERROR" || !r.Flags["ad"] {
				t.Errorf("%s: %s %s through Unbound: %s, AD %v\n%s", phase, q.name, q.qtype, r.Rcode, r.Flags["ad"], out)
			}
			delvValidated(t, bindFile, origin, addr, q.name, q.qtype, strings.HasPrefix(q.name, "_nosuch"))
		}
	}
	// state reports the DNSKEY tags published and the tag that signs.
	state := func() (published map[uint16]bool, signer uint16) {
		published = map[uint16]bool{}
		for tag := range dnskeys(t, addr) {
			published[tag] = true
		}
		for _, rr := range dnssecExchange(t, addr, "_rets._tcp.ports.local.", dns.TypeTXT, false).Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				signer = s.KeyTag
			}
		}
		return published, signer
	}
	var zsk2 string
	tags := func() map[string]uint16 {
		tg := map[string]uint16{"ksk": tagOf(ksk), "zsk1": tagOf(zsk1)}
		if zsk2 != "" {
			tg["zsk2"] = tagOf(zsk2)
		}
		return tg
	}
	waitRoll := func(phase string, want []string, signer string) {
		t.Helper()
		tg := tags()
		var last string
		if !opsWaitFor(30*time.Second, 100*time.Millisecond, func() bool {
			pub, s := state()
			last = fmt.Sprintf("published %v, signer %d", pub, s)
			if len(pub) != len(want) || s != tg[signer] {
				return false
			}
			for _, w := range want {
				if !pub[tg[w]] {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("%s: want %v published and %s signing; svcdns serves %s (tags %v)", phase, want, signer, last, tg)
		}
		t.Logf("%s: %s", phase, last)
	}
	waitRoll("start", []string{"ksk", "zsk1"}, "zsk1")
	validates("start")

	// The roll: publish ZSK2 now, switch signing to it in 8 s, delete
	// ZSK1 12 s after that. Times are relative to now, as dnssec-settime
	// takes them; one reload reads them, svcdns's timer does the rest.
	zsk2 = keygen("-P", "now", "-A", "now+8")
	settime(zsk1, "-I", "now+8", "-D", "now+20")
	if err := syscall.Kill(p.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitRoll("ZSK2 published", []string{"ksk", "zsk1", "zsk2"}, "zsk1")
	validates("ZSK2 published")
	waitRoll("ZSK2 active, ZSK1 retired", []string{"ksk", "zsk1", "zsk2"}, "zsk2")
	validates("ZSK2 active")
	waitRoll("ZSK1 deleted", []string{"ksk", "zsk2"}, "zsk2")
	validates("ZSK1 deleted")

	// svcdns logged each step of the roll.
	for _, msg := range []string{"dnssec: key published", "dnssec: key active", "dnssec: key retired", "dnssec: key removed"} {
		if opsCountLog(&server{Addr: addr, stderr: p.stderr}, msg) == 0 {
			t.Errorf("svcdns never logged %q", msg)
		}
	}
}
