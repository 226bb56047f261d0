package e2e_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// Response rate limiting with the default configuration (rrl.rate 200 a
// second, 5 s banked, slip 2), against a real `svcdns serve`: each client
// role has its own /24 of 127/8, all of which is loopback.
var (
	rrlHonestSource  = net.IPv4(127, 0, 11, 1) // distinct questions, then one question repeated
	rrlControlSource = net.IPv4(127, 0, 12, 1) // another prefix asking the same questions meanwhile
	rrlNXSource      = net.IPv4(127, 0, 13, 1) // the random-subdomain flood
	rrlCookieSource  = net.IPv4(127, 0, 14, 1) // floods with and without a cookie (cookies_test.go)
)

// Defaults the figures are checked against (config/example.yaml).
const (
	rrlDefaultRate   = 200
	rrlDefaultWindow = 5
	// The largest answer of the embedded excerpt: the service types of one
	// browse domain (RFC 6763 §9), ~500 bytes for a ~70-byte query (every
	// DNS-SD list fits 512 bytes).
	rrlLargeName = "_services._dns-sd._udp.a.tcp.ports.local."
)

// blastCounts is what one flood socket got back.
type blastCounts struct {
	sent, full, slips, badCookie, other int
	elapsed                             time.Duration // from the first send to the last
	replies                             time.Duration // from the first send to the last reply
	sendErr                             error
}

func (c blastCounts) String() string {
	return fmt.Sprintf("%d sent in %v (%.0f q/s), last reply after %v: %d full answers, %d slips (TC=1), %d BADCOOKIE, %d other, %d unanswered",
		c.sent, c.elapsed.Round(time.Millisecond), float64(c.sent)/max(c.elapsed.Seconds(), 1e-3), c.replies.Round(time.Millisecond),
		c.full, c.slips, c.badCookie, c.other, c.sent-c.full-c.slips-c.badCookie-c.other)
}

// blast sends every query of qs from local to server as fast as one
// socket can (batches of 64), reads the replies until none has come for
// half a second, and sorts them: full (the rcode want, no TC), slips
// (TC=1), BADCOOKIE, other.
func blast(t *testing.T, local net.IP, server *net.UDPAddr, qs [][]byte, want int) blastCounts {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local})
	if err != nil {
		t.Fatalf("bind %v: %v", local, err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(8 << 20)
	var res blastCounts
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		in := make([]ipv4.Message, 64)
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, 4096)}
		}
		loadReadUntilQuiet(c, in, done, 500*time.Millisecond, func(ms []ipv4.Message) {
			res.replies = time.Since(start)
			for _, m := range ms {
				b := m.Buffers[0][:m.N]
				r := new(dns.Msg)
				switch err := r.Unpack(b); {
				case err != nil:
					res.other++
				case r.Rcode == dns.RcodeBadCookie:
					res.badCookie++
				case r.Truncated:
					res.slips++
				case r.Rcode == want && (want != dns.RcodeSuccess || len(r.Answer) > 0):
					res.full++
				default:
					res.other++
				}
			}
		})
	})
	pc := ipv4.NewPacketConn(c)
	out := make([]ipv4.Message, 64)
	for i := 0; i < len(qs); {
		n := min(len(out), len(qs)-i)
		for j := range n {
			out[j] = ipv4.Message{Buffers: [][]byte{qs[i+j]}, Addr: server}
		}
		k, err := pc.WriteBatch(out[:n], 0)
		if err != nil {
			if res.sendErr == nil {
				res.sendErr = err
			}
			time.Sleep(time.Millisecond) // ENOBUFS: the socket buffer is full
		}
		i += k
	}
	res.sent = len(qs)
	res.elapsed = time.Since(start)
	close(done)
	wg.Wait()
	return res
}

// honestClient asks every query of qs from local, from 32 sockets at once
// each waiting for its reply (a resolver's pace, as fast as the server
// answers), retrying a query that gets no reply within a second twice.
// It returns the queries answered with want, those that needed a retry
// and the failures.
func honestClient(t *testing.T, local net.IP, server *net.UDPAddr, qs [][]byte, want int) (answered, retried int, fails []string) {
	t.Helper()
	workers := min(32, len(qs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: local}, server)
			if err != nil {
				mu.Lock()
				fails = append(fails, err.Error())
				mu.Unlock()
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			for i := w; i < len(qs); i += workers {
				id := binary.BigEndian.Uint16(qs[i])
				var fail string
				for try := 0; try < 3; try++ {
					if try > 0 {
						mu.Lock()
						retried++
						mu.Unlock()
					}
					fail = ""
					_ = c.SetDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(qs[i]); err != nil {
						fail = err.Error()
						continue
					}
					n, err := c.Read(buf)
					for err == nil && n >= 2 && binary.BigEndian.Uint16(buf) != id {
						n, err = c.Read(buf) // a late reply to an earlier try
					}
					r := new(dns.Msg)
					switch {
					case errors.Is(err, os.ErrDeadlineExceeded):
						fail = "no reply in 3 tries of 1s"
						continue
					case err != nil:
						fail = err.Error()
					case r.Unpack(buf[:n]) != nil:
						fail = "reply does not unpack"
					case r.Truncated || r.Rcode != want || (want == dns.RcodeSuccess && len(r.Answer) == 0):
						fail = fmt.Sprintf("%v: rcode %s TC %v with %d answers", r.Question, dns.RcodeToString[r.Rcode], r.Truncated, len(r.Answer))
					}
					break
				}
				mu.Lock()
				if fail == "" {
					answered++
				} else {
					fails = append(fails, fail)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return answered, retried, fails
}

// rrlDelta is how much a counter of the server grew.
func rrlDelta(before, after loadMetrics, name string, labels ...string) int {
	return int(after.Sum(name, labels...) - before.Sum(name, labels...))
}

// TestRRLDefaults shows the default configuration at work: an honest
// client asking 20,000 distinct questions as fast as it can is never
// limited; the same client asking one large answer's question 20,000
// times is held to the rate (the surplus slipped and dropped); a
// random-subdomain flood from one prefix is held to its NXDOMAIN account;
// and another prefix asking the very same questions meanwhile is answered
// in full throughout.
func TestRRLDefaults(t *testing.T) {
	const n = 20_000
	srv := startLoadServer(t, nil)
	server, err := net.ResolveUDPAddr("udp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Distinct valid questions: the TXT of 20,000 port names.
	qs := make([][]byte, n)
	for i := range qs {
		qs[i] = loadPackQuery(t, uint16(i), fmt.Sprintf("_%d._%s.ports.local.", i/2, []string{"tcp", "udp"}[i%2]), dns.TypeTXT)
	}
	before := srv.MustScrape(t)
	start := time.Now()
	answered, retried, fails := honestClient(t, rrlHonestSource, server, qs, dns.RcodeSuccess)
	elapsed := time.Since(start)
	after := srv.MustScrape(t)
	limited := rrlDelta(before, after, "svcdns_rrl_responses_total", `action="slipped"`) + rrlDelta(before, after, "svcdns_rrl_responses_total", `action="dropped"`)
	t.Logf("distinct questions from %v: %d of %d answered in %v (%.0f q/s), %d retried, %d failed; responses limited by RRL: %d",
		rrlHonestSource, answered, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), retried, len(fails), limited)
	if answered != n || limited != 0 {
		t.Errorf("an honest client asking distinct questions got %d of %d answers and %d were rate limited; want all, none limited (failures: %v)",
			answered, n, limited, fails[:min(5, len(fails))])
	}

	// 2. One large answer's question, 20,000 times, from the same client;
	// 3. a random-subdomain flood from another prefix. Meanwhile a third
	// prefix asks the same questions at 50 a second.
	for _, phase := range []struct {
		name   string
		source net.IP
		query  func(i int) []byte
		want   int
		class  string
		rate   int
	}{
		{"one large answer", rrlHonestSource, func(i int) []byte { return loadPackQuery(t, uint16(i), rrlLargeName, dns.TypePTR) },
			dns.RcodeSuccess, "answer", rrlDefaultRate},
		{"random subdomains", rrlNXSource, func(i int) []byte {
			return loadPackQuery(t, uint16(i), fmt.Sprintf("%x.ports.local.", rand.Uint64()), dns.TypeA)
		}, dns.RcodeNameError, "nxdomain", rrlDefaultRate},
	} {
		t.Run(phase.name, func(t *testing.T) {
			qs := make([][]byte, n)
			for i := range qs {
				qs[i] = phase.query(i)
			}
			before := srv.MustScrape(t)
			stop := make(chan struct{})
			var ctl struct {
				sync.Mutex
				asked, answered, retried int
				fails                    []string
			}
			var ctlWG sync.WaitGroup
			ctlWG.Go(func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				var wg sync.WaitGroup
				for i := 0; ; i++ {
					select {
					case <-stop:
						wg.Wait()
						return
					case <-tick.C:
					}
					wg.Go(func() {
						a, r, f := honestClient(t, rrlControlSource, server, [][]byte{phase.query(50_000 + i)}, phase.want)
						ctl.Lock()
						ctl.asked++
						ctl.answered += a
						ctl.retried += r
						ctl.fails = append(ctl.fails, f...)
						ctl.Unlock()
					})
				}
			})
			time.Sleep(100 * time.Millisecond)
			res := blast(t, phase.source, server, qs, phase.want)
			close(stop)
			ctlWG.Wait()
			after := srv.MustScrape(t)
			d := func(action string) int {
				return rrlDelta(before, after, "svcdns_rrl_responses_total", `class="`+phase.class+`"`, `action="`+action+`"`)
			}
			sent, slipped, dropped := d("sent"), d("slipped"), d("dropped")
			reached := sent + slipped + dropped
			// The flood's account: rate*window banked, then rate a second
			// for as long as the server was answering it (until the last
			// reply: it drains its socket's backlog after the client
			// stops), with a quarter second's slack; the control's own
			// account sent it everything it asked.
			floodSent := sent - ctl.answered - ctl.retried
			bound := phase.rate*rrlDefaultWindow + int(float64(phase.rate)*(res.replies.Seconds()+0.25))
			t.Logf("flood from %v: %v", phase.source, res)
			t.Logf("server: %d %s responses reached RRL: %d sent (%d to the flood), %d slipped, %d dropped; bound for the flood: %d (rate %d/s x (window %d s + %.2f s until the last reply + 0.25 s))",
				reached, phase.class, sent, floodSent, slipped, dropped, bound, phase.rate, rrlDefaultWindow, res.replies.Seconds())
			t.Logf("control from %v: %d asked, %d answered in full, %d retried, failures %v",
				rrlControlSource, ctl.asked, ctl.answered, ctl.retried, ctl.fails[:min(5, len(ctl.fails))])
			if res.full > bound || floodSent > bound {
				t.Errorf("the flood got %d full answers (server: %d), want at most %d", res.full, floodSent, bound)
			}
			if res.full < phase.rate*rrlDefaultWindow*9/10 {
				t.Errorf("the flood got %d full answers, want at least the banked %d: the limiter must let the rate through", res.full, phase.rate*rrlDefaultWindow)
			}
			if limited := slipped + dropped; limited < reached/2 {
				t.Errorf("%d of %d responses limited: the flood was not held", limited, reached)
			}
			if diff := slipped - dropped; diff < -4 || diff > 4 {
				t.Errorf("slip 2: %d slipped, %d dropped; want one in two slipped", slipped, dropped)
			}
			if res.slips > slipped || res.full+res.slips+res.other > reached {
				t.Errorf("the flood saw %d slips and %d replies, the server sent %d slips and %d replies", res.slips, res.full+res.slips+res.other, slipped, sent+slipped)
			}
			if res.other > 0 {
				t.Errorf("%d replies were neither the answer nor a slip", res.other)
			}
			if ctl.asked < 20 || ctl.answered != ctl.asked || len(ctl.fails) > 0 {
				t.Errorf("control: %d of %d answered in full (%v); another prefix must be answered normally throughout",
					ctl.answered, ctl.asked, ctl.fails[:min(5, len(ctl.fails))])
			}
		})
	}
	if !srv.Alive() {
		t.Fatal("svcdns exited")
	}
}
