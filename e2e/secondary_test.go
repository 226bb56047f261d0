package e2e_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
)

// opsPortName is a port lookup name (_6081._udp): svcdns computes those per
// query and does not export or transfer them.
var opsPortName = regexp.MustCompile(`(?i)^_[0-9]+\._[a-z]+\.`)

// TestKnotSecondary runs svcdns as the hidden primary of a Knot DNS
// secondary: Knot pulls the zone by AXFR, answers a realistic query mix
// exactly as svcdns does, and after the registry file is replaced svcdns
// reloads by itself, sends NOTIFY, and Knot serves the new serial within
// seconds.
func TestKnotSecondary(t *testing.T) {
	t.Parallel()
	reg, full := fullRegistry(t)
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.xml")
	data := opsCopyFile(t, full, regPath)
	knotPort := freePort(t)
	conf := filepath.Join(dir, "svcdns.yaml")
	opsWriteFile(t, conf, fmt.Appendf(nil, "transfer:\n  notify: [\"127.0.0.1:%d\"]\n", knotPort))
	srv := startServer(t, "--config", conf, "--registry", regPath)
	serial, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatalf("svcdns: %v", err)
	}

	// Knot would only log "connection timeout" and retry: a transfer
	// that fails is reported here first, with what went wrong.
	start := time.Now()
	if res, _, err := xfrRaw(t, "127.0.0.1", srv.Addr, dns.TypeAXFR, nil); err != nil {
		t.Fatalf("AXFR of the full zone from svcdns, as Knot will ask for it: %v after %v", err, time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("AXFR: %d records in %d messages in %v", len(res.records()), len(res.msgs), time.Since(start).Round(time.Millisecond))
	}

	start = time.Now()
	k := startKnot(t, knotPort, srv.Addr)
	opsWaitSerial(t, k.Addr, serial, 30*time.Second)
	t.Logf("knot loaded serial %d by AXFR in %v", serial, time.Since(start).Round(time.Millisecond))

	t.Run("SameAnswers", func(t *testing.T) {
		var qs []querymix.Query
		for _, q := range querymix.Generate(reg, origin, 2000, 20260817) {
			if !opsPortName.MatchString(q.Name) && len(qs) < 500 {
				qs = append(qs, q)
			}
		}
		if len(qs) < 500 {
			t.Fatalf("only %d queries without port names", len(qs))
		}
		sv, kn := dialTCP(t, srv.Addr), dialTCP(t, k.Addr)
		differ := 0
		for _, q := range qs {
			a, err := sv.Exchange(q.Name, q.Type)
			if err != nil {
				t.Fatalf("svcdns: %v", err)
			}
			b, err := kn.Exchange(q.Name, q.Type)
			if err != nil {
				t.Fatalf("knot: %v", err)
			}
			d := []string{}
			if a.Rcode != b.Rcode {
				d = append(d, fmt.Sprintf("rcode %s vs %s", dns.RcodeToString[a.Rcode], dns.RcodeToString[b.Rcode]))
			}
			if x, y := opsRRTexts(a.Answer), opsRRTexts(b.Answer); !slices.Equal(x, y) {
				d = append(d, fmt.Sprintf("answer\n  svcdns %q\n  knot   %q", x, y))
			}
			if x, y := opsRRTexts(a.Ns), opsRRTexts(b.Ns); !slices.Equal(x, y) {
				d = append(d, fmt.Sprintf("authority\n  svcdns %q\n  knot   %q", x, y))
			}
			if len(d) > 0 {
				if differ++; differ <= 10 {
					t.Errorf("%s %s: %s", q.Name, dns.TypeToString[q.Type], strings.Join(d, "; "))
				}
			}
		}
		if differ > 10 {
			t.Errorf("... %d of %d queries differ", differ, len(qs))
		}
		t.Logf("%d queries, %d answered differently", len(qs), differ)
	})

	t.Run("NotifyAfterReload", func(t *testing.T) {
		// A later registry date and one changed description: the
		// content changes, so the serial moves on.
		const newDesc = "RETS (changed by TestKnotSecondary)"
		next := opsChangedRegistry(t, data, "2026-08-18", newDesc)
		notified := opsCountLog(srv, "notify acknowledged")
		replaced := time.Now()
		opsReplaceByRename(t, regPath, next)
		var newSerial uint32
		if !opsWaitFor(10*time.Second, 10*time.Millisecond, func() bool {
			s, err := opsSOASerial(k.Addr)
			newSerial = s
			return err == nil && s > serial
		}) {
			var notes []string
			for _, r := range opsLogRecords(srv) {
				if strings.Contains(r.str("msg"), "notify") || strings.Contains(r.str("msg"), "reload") {
					notes = append(notes, fmt.Sprint(r))
				}
			}
			t.Fatalf("knot still serves serial %d 10s after the registry was replaced; svcdns serial now %v; svcdns logged:\n%s",
				newSerial, opsOrErr(opsSOASerial(srv.Addr)), strings.Join(notes, "\n"))
		}
		delay := time.Since(replaced)
		t.Logf("registry replaced -> knot serves serial %d (was %d): %v", newSerial, serial, delay.Round(time.Millisecond))
		if s, err := opsSOASerial(srv.Addr); err != nil || s != newSerial {
			t.Errorf("svcdns serves serial %d (%v), knot %d", s, err, newSerial)
		}
		if newSerial != 2026081800 {
			t.Errorf("new serial %d, want 2026081800 from <updated>2026-08-18</updated>", newSerial)
		}
		// The NOTIFY, not a refresh timer (3600 s), brought it.
		if !opsWaitFor(5*time.Second, 20*time.Millisecond, func() bool { return opsCountLog(srv, "notify acknowledged") > notified }) {
			t.Error("svcdns logged no acknowledged NOTIFY after the reload")
		}
		ex := dialTCP(t, k.Addr)
		r, err := ex.Exchange("_rets._tcp."+origin, dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(fmt.Sprint(r.Answer), newDesc) {
			t.Errorf("knot's _rets._tcp TXT %v lacks the new description %q", r.Answer, newDesc)
		}
	})
}

// opsOrErr returns v and drops err, for values printed in a failure message.
func opsOrErr[T any](v T, err error) any {
	if err != nil {
		return err
	}
	return v
}
