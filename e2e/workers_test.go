package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestWorkersSetting starts svcdns with workers set, checks that it runs
// that many cores and UDP sockets, and that every socket answers: queries
// from many source ports spread over the SO_REUSEPORT sockets, so a socket
// left unserved would leave some unanswered.
func TestWorkersSetting(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := spawnServer(t, []string{fmt.Sprintf("SVCDNS_WORKERS=%d", n)}, []string{"--metrics-listen", ""})
			var ready, listening map[string]any
			for _, line := range strings.Split(p.stderr.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				switch m["msg"] {
				case "ready":
					ready = m
				case "listening":
					listening = m
				}
			}
			if ready == nil || listening == nil {
				t.Fatalf("no ready or listening log line:\n%s", p.stderr.String())
			}
			if got := ready["workers"]; got != float64(n) {
				t.Errorf("ready line: workers %v, want %d", got, n)
			}
			if got := listening["udp_sockets"]; got != float64(n) {
				t.Errorf("listening line: udp_sockets %v, want %d", got, n)
			}
			for i := range 40 {
				// query opens a new socket each time: a new source port.
				r := query(t, "udp", p.Addr, "_rets._tcp.ports.local.", dns.TypeSRV)
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					t.Fatalf("query %d: rcode %s, %d answers", i, dns.RcodeToString[r.Rcode], len(r.Answer))
				}
			}
		})
	}
}
