package main

// The transports mode: dnsperf over DNS over TLS (-m dot) and DNS over
// HTTPS (-m doh) against svcdns, BIND 9 (DoT and DoH) and NSD (DoT)
// serving the zone svcdns exports, with QPS and server CPU per answer
// side by side.
//
//	go run ./bench -transports                          # 3 runs x 15 s each
//	go run ./bench -transports -smoke                   # a smoke run

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/registry"
)

// trServer is a server under test with its encrypted ports (0: none).
type trServer struct {
	server
	dot, doh int
}

// trPortBase is where the transports mode's servers listen: each server
// takes three ports (plain, DoT, DoH) from here.
const trPortBase = 15400

func runTransports(o options) error {
	if err := ensureTransportTools(); err != nil {
		return err
	}
	out, bin, err := buildInto(filepath.Join(o.outDir, "transports"))
	if err != nil {
		return err
	}
	zoneFile := filepath.Join(out, "ports.local.zone")
	if err := sh(bin, "zone", "export", "--registry", o.registry, "-o", zoneFile); err != nil {
		return err
	}
	reg, err := registry.ParseFile(o.registry)
	if err != nil {
		return err
	}
	qfile := filepath.Join(out, "queries.txt")
	if err := os.WriteFile(qfile, []byte(querymix.Format(querymix.Generate(reg, "ports.local.", o.queries, 1))), 0o644); err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem")
	if err := benchCert(certFile, keyFile); err != nil {
		return err
	}

	names := []string{"svcdns", "bind", "nsd"}
	servers := map[string]*trServer{}
	defer func() {
		for _, s := range servers {
			stop(&s.server)
		}
	}()
	for i, name := range names {
		s, err := startTransportServer(name, bin, o, zoneFile, certFile, keyFile, out, trPortBase+3*i)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		servers[name] = s
		fmt.Printf("%s ready: plain %d, DoT %d, DoH %d\n", name, s.port, s.dot, s.doh)
	}
	plain := map[string]*server{}
	for n, s := range servers {
		plain[n] = &s.server
	}
	// The exported zone carries no port names: they are left out of the
	// comparison.
	if err := sameAnswers(plain, names, qfile, false); err != nil {
		return err
	}

	st := o.settings[0]
	type key struct{ server, mode string }
	qps, cpu := map[key][]float64{}, map[key][]float64{}
	for _, mode := range []string{"dot", "doh"} {
		for r := 0; r < o.runs; r++ {
			for _, name := range names {
				s := servers[name]
				port := s.dot
				if mode == "doh" {
					port = s.doh
				}
				if port == 0 {
					continue
				}
				if r == 0 { // warm up
					if _, _, err := dnsperfEncrypted(mode, port, qfile, o.warmup, st); err != nil {
						return fmt.Errorf("%s %s: %w", name, mode, err)
					}
				}
				cpu0, err := cpuSeconds(s.cmd.Process.Pid)
				if err != nil {
					return err
				}
				q, done, err := dnsperfEncrypted(mode, port, qfile, o.duration, st)
				if err != nil {
					return fmt.Errorf("%s %s: %w", name, mode, err)
				}
				cpu1, _ := cpuSeconds(s.cmd.Process.Pid)
				k := key{name, mode}
				qps[k] = append(qps[k], q)
				cpu[k] = append(cpu[k], (cpu1-cpu0)/float64(done)*1e6)
				fmt.Printf("  %-6s %-3s run %d: %8.0f qps, %.2f µs CPU/answer\n", name, mode, r+1, q, (cpu1-cpu0)/float64(done)*1e6)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n# svcdns transports benchmark\n\n")
	if o.smoke {
		fmt.Fprintf(&b, "**Smoke run (-smoke): every step of the harness, too short to measure anything.**\n\n")
	}
	fmt.Fprintf(&b, "- date: %s, %d CPUs\n- command: `go run ./bench -transports -runs %d -duration %s -warmup %s -settings %dx%d -queries %d`\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), o.runs, o.duration, o.warmup, st.clients, st.outstanding, o.queries)
	fmt.Fprintf(&b, "| mode | server | QPS median | CPU µs/answer | svcdns QPS ratio | svcdns CPU/answer ratio |\n|---|---|---:|---:|---:|---:|\n")
	for _, mode := range []string{"dot", "doh"} {
		ref := key{"svcdns", mode}
		for _, name := range names {
			k := key{name, mode}
			if len(qps[k]) == 0 {
				continue
			}
			ratioQ, ratioC := "", ""
			if name != "svcdns" && len(qps[ref]) > 0 {
				ratioQ = fmt.Sprintf("%.2fx", median(qps[ref])/median(qps[k]))
				ratioC = fmt.Sprintf("%.2f", median(cpu[ref])/median(cpu[k]))
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %s | %s |\n", mode, name, median(qps[k]), median(cpu[k]), ratioQ, ratioC)
		}
	}
	fmt.Print(b.String())
	if o.results != "" {
		return os.WriteFile(o.results, []byte(b.String()), 0o644)
	}
	return nil
}

func ensureTransportTools() error {
	need := map[string]string{"dnsperf": "dnsperf", "nsd": "nsd", "named": "bind9"}
	var missing []string
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	for cmd, pkg := range need {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Println("installing", missing)
	if err := sh("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return sh("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
}

// benchCert writes a self-signed certificate for localhost and 127.0.0.1:
// dnsperf does not verify certificates, the servers only need one.
func benchCert(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600)
}

func startTransportServer(name, bin string, o options, zoneFile, certFile, keyFile, out string, port int) (*trServer, error) {
	dir := filepath.Join(out, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	workers := o.workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	s := &trServer{server: server{name: name, port: port}, dot: port + 1, doh: port + 2}
	var c *exec.Cmd
	switch name {
	case "svcdns":
		c = exec.Command(bin, "serve", "--registry", o.registry, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--metrics-listen", "", "--log-level", "warn")
		c.Env = append(os.Environ(), "SVCDNS_RRL_RATE=0", "SVCDNS_TLS_CERT_FILE="+certFile, "SVCDNS_TLS_KEY_FILE="+keyFile,
			fmt.Sprintf("SVCDNS_TLS_LISTEN=127.0.0.1:%d", s.dot), fmt.Sprintf("SVCDNS_HTTPS_LISTEN=127.0.0.1:%d", s.doh),
			fmt.Sprintf("SVCDNS_WORKERS=%d", workers))
	case "bind":
		conf := fmt.Sprintf(`tls local-tls { key-file %q; cert-file %q; };
http local-http { endpoints { "/dns-query"; }; };
options {
	directory %q;
	pid-file %q;
	listen-on port %d { 127.0.0.1; };
	listen-on port %d tls local-tls { 127.0.0.1; };
	listen-on port %d tls local-tls http local-http { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	rate-limit { responses-per-second 0; };
};
controls { };
zone "ports.local" { type primary; file %q; };
`, keyFile, certFile, dir, filepath.Join(dir, "named.pid"), port, s.dot, s.doh, zoneFile)
		p := filepath.Join(dir, "named.conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c = exec.Command("named", "-g", "-4", "-n", strconv.Itoa(workers), "-c", p)
	case "nsd":
		s.doh = 0 // NSD has no DNS over HTTPS
		// NSD serves TLS on the interfaces listed with the tls-port.
		conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%[1]d
	ip-address: 127.0.0.1@%[2]d
	port: %[1]d
	tls-port: %[2]d
	tls-service-key: %[3]q
	tls-service-pem: %[4]q
	server-count: %[5]d
	username: ""
	chroot: ""
	zonesdir: %[6]q
	pidfile: %[7]s/nsd.pid
	xfrdfile: %[7]s/xfrd.state
	zonelistfile: %[7]s/zone.list
	database: ""
	rrl-ratelimit: 0
	verbosity: 0
remote-control:
	control-enable: no
zone:
	name: ports.local
	zonefile: %[8]s
`, port, s.dot, keyFile, certFile, workers, filepath.Dir(zoneFile), dir, filepath.Base(zoneFile))
		p := filepath.Join(dir, "nsd.conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c = exec.Command("nsd", "-d", "-c", p)
	default:
		return nil, fmt.Errorf("unknown server %q", name)
	}
	if err := launch(&s.server, c, dir, 60*time.Second, 10*time.Millisecond); err != nil {
		return nil, err
	}
	return s, nil
}

// dnsperfEncrypted runs dnsperf over DoT or DoH (POST) and returns the
// QPS and the queries completed.
func dnsperfEncrypted(mode string, port int, qfile string, d time.Duration, st setting) (float64, int64, error) {
	args := []string{"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", qfile, "-l", strconv.Itoa(max(1, int(d.Seconds()))),
		"-c", strconv.Itoa(st.clients), "-q", strconv.Itoa(st.outstanding), "-m", mode}
	if mode == "doh" {
		args = append(args, "-O", fmt.Sprintf("doh-uri=https://127.0.0.1:%d/dns-query", port), "-O", "doh-method=POST")
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	outb, err := exec.CommandContext(ctx, "dnsperf", args...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, outb)
	}
	o := string(outb)
	done := atoi(reCompleted, o)
	if done == 0 {
		return 0, 0, fmt.Errorf("dnsperf %s completed no query:\n%s", strings.Join(args, " "), o)
	}
	return atof(reQPS, o), done, nil
}
