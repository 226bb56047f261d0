package e2e_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestGoResolver uses the standard library's pure-Go stub resolver, with
// every query sent to the server, as an application would look a service
// up.
func TestGoResolver(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var dials atomic.Int32
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Addr)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("LookupSRV", func(t *testing.T) {
		cname, addrs, err := r.LookupSRV(ctx, "rets", "tcp", "ports.local")
		if err != nil {
			t.Fatalf("LookupSRV(rets, tcp, ports.local): %v", err)
		}
		if cname != "_rets._tcp.ports.local." {
			t.Errorf("cname %q, want _rets._tcp.ports.local.", cname)
		}
		if len(addrs) != 1 || addrs[0].Target != "svc.ports.local." || addrs[0].Port != 6103 {
			t.Errorf("SRV %+v, want one svc.ports.local.:6103", addrs)
		}
	})
	t.Run("LookupSRVAlias", func(t *testing.T) {
		// The historic name is followed through its CNAME.
		cname, addrs, err := r.LookupSRV(ctx, "bmc_ctd_ldap", "tcp", "ports.local")
		if err != nil {
			t.Fatalf("LookupSRV(bmc_ctd_ldap, tcp, ports.local): %v", err)
		}
		if cname != "_bmc-ctd-ldap._tcp.ports.local." {
			t.Errorf("cname %q, want the replacement _bmc-ctd-ldap._tcp.ports.local.", cname)
		}
		if len(addrs) != 1 || addrs[0].Port != 6301 {
			t.Errorf("SRV %+v, want port 6301", addrs)
		}
	})
	t.Run("LookupTXT", func(t *testing.T) {
		txts, err := r.LookupTXT(ctx, "_geneve._udp.ports.local")
		if err != nil {
			t.Fatalf("LookupTXT(_geneve._udp.ports.local): %v", err)
		}
		// Go joins the strings of one TXT record into one string.
		if len(txts) != 1 || !strings.HasPrefix(txts[0], "txtvers=1") || !strings.Contains(txts[0], "port=6081") {
			t.Errorf("TXT %q, want one record starting txtvers=1 with port=6081", txts)
		}
	})
	t.Run("LookupSRVNotFound", func(t *testing.T) {
		// Rooted, so that no search domain of the host is tried.
		_, _, err := r.LookupSRV(ctx, "bad_name", "tcp", "ports.local.")
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("LookupSRV(bad_name): %v, want a not-found DNSError", err)
		}
	})
	if dials.Load() == 0 {
		t.Error("the resolver never dialled the server")
	}
}
