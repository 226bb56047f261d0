// Package tlscert holds the certificate that svcdns's encrypted transports
// (DNS over TLS, HTTPS and QUIC, zone transfers over TLS) present: read
// from a certificate and key file and swapped atomically when the files
// change, so that new connections get the new certificate while open ones
// and the listeners carry on; or, for a lab, a self-signed certificate
// generated once into the state directory. It also computes the SPKI pin
// that clients such as kdig (+tls-pin) check a certificate against.
package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
)

// Store is the current certificate, read from a pair of PEM files. Its
// GetCertificate is what tls.Config calls for every handshake; it reads an
// atomic pointer, so a reload never blocks a handshake.
type Store struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Open reads the certificate chain and private key and checks that they
// belong together.
func Open(certFile, keyFile string) (*Store, error) {
	s := &Store{certFile: certFile, keyFile: keyFile}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Files returns the certificate and key paths.
func (s *Store) Files() (certFile, keyFile string) { return s.certFile, s.keyFile }

// Reload reads the files again and swaps the new certificate in. On any
// error the certificate served so far stays.
func (s *Store) Reload() error {
	c, err := load(s.certFile, s.keyFile)
	if err != nil {
		return err
	}
	s.cur.Store(c)
	return nil
}

func load(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s, key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: certificate %s: %w", certFile, err)
		}
	}
	return &c, nil
}

// GetCertificate returns the current certificate; it has the signature of
// tls.Config.GetCertificate.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, errors.New("tls: no certificate loaded")
	}
	return c, nil
}

// Leaf returns the current end-entity certificate.
func (s *Store) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

// SPKIPin is the base64 SHA-256 digest of a certificate's
// SubjectPublicKeyInfo: the pin of RFC 7858 §4.2 (and RFC 7469), as kdig's
// +tls-pin and Unbound's or Stubby's tls_pubkey_pinset take it.
func SPKIPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
