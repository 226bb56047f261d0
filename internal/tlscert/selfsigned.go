package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/svcdns/svcdns/internal/atomicfile"
)

// Names of the lab certificate's files in the state directory.
const (
	LabCertFile = "tls/lab-cert.pem"
	LabKeyFile  = "tls/lab-key.pem"
)

// labValidity is how long a generated lab certificate is valid. It is
// never regenerated over an existing one (a pinned client would stop
// connecting), so it is long.
const labValidity = 10 * 365 * 24 * time.Hour

// LabPaths returns where the lab certificate and key live under stateDir.
func LabPaths(stateDir string) (certFile, keyFile string) {
	return filepath.Join(stateDir, LabCertFile), filepath.Join(stateDir, LabKeyFile)
}

// EnsureSelfSigned makes a self-signed certificate for a lab in stateDir
// unless one is already there: an ECDSA P-256 key (0600) and a certificate
// for the DNS names and addresses given. An existing pair is never
// overwritten, even when the names have changed; half a pair (a key
// without its certificate, or the other way round) is an error rather
// than a reason to replace the half that is there. created tells whether
// the pair was made now.
func EnsureSelfSigned(stateDir string, dnsNames []string, ips []netip.Addr, now time.Time) (certFile, keyFile string, created bool, err error) {
	certFile, keyFile = LabPaths(stateDir)
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case cerr == nil && kerr == nil:
		return certFile, keyFile, false, nil
	case cerr == nil || kerr == nil:
		return certFile, keyFile, false, fmt.Errorf("tls: lab certificate: only one of %s and %s exists; remove it to have a new pair generated", certFile, keyFile)
	case !errors.Is(cerr, fs.ErrNotExist):
		return certFile, keyFile, false, fmt.Errorf("tls: lab certificate: %w", cerr)
	case !errors.Is(kerr, fs.ErrNotExist):
		return certFile, keyFile, false, fmt.Errorf("tls: lab key: %w", kerr)
	}
	certPEM, keyPEM, err := selfSigned(dnsNames, ips, now)
	if err != nil {
		return certFile, keyFile, false, err
	}
	// The key first: a certificate without its key is never left behind.
	if _, err := atomicfile.Write(keyFile, keyPEM, 0o600); err != nil {
		return certFile, keyFile, false, fmt.Errorf("tls: lab key: %w", err)
	}
	if _, err := atomicfile.Write(certFile, certPEM, 0o644); err != nil {
		return certFile, keyFile, false, fmt.Errorf("tls: lab certificate: %w", err)
	}
	return certFile, keyFile, true, nil
}

// selfSigned returns a PEM certificate and PKCS #8 key.
func selfSigned(dnsNames []string, ips []netip.Addr, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: serial number: %w", err)
	}
	cn := "svcdns lab"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"svcdns (self-signed lab certificate)"}},
		NotBefore:             now.Add(-time.Hour), // clocks of a lab's machines differ
		NotAfter:              now.Add(labValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range dnsNames {
		tmpl.DNSNames = append(tmpl.DNSNames, strings.TrimSuffix(n, "."))
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: create certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}
