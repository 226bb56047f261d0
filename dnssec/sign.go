package dnssec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"

	"github.com/miekg/dns"
)

// sigTimes are an RRSIG's inception and expiration, in RFC 4034 §3.1.5
// serial-number seconds.
type sigTimes struct{ inception, expiration uint32 }

// signRRset makes the RRSIG of the canonical RRset c with key k. The
// RRSIG's owner is owner lower-cased; a reply may spell it as asked.
func signRRset(k *Key, c *canonicalRRset, owner string, t sigTimes) (*dns.RRSIG, error) {
	sig := &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: strings.ToLower(owner), Rrtype: dns.TypeRRSIG, Class: c.class, Ttl: c.ttl},
		TypeCovered: c.rtype,
		Algorithm:   k.DNSKEY.Algorithm,
		Labels:      c.labels(),
		OrigTtl:     c.ttl,
		Expiration:  t.expiration,
		Inception:   t.inception,
		KeyTag:      k.Tag(),
		SignerName:  k.DNSKEY.Hdr.Name,
	}
	signer, err := nameWire(sig.SignerName)
	if err != nil {
		return nil, err
	}
	// RFC 4034 §3.1.8.1: the RRSIG RDATA without the signature, then the
	// RRset in canonical form.
	data := make([]byte, 18, 18+len(signer)+len(c.buf))
	binary.BigEndian.PutUint16(data[0:], sig.TypeCovered)
	data[2] = sig.Algorithm
	data[3] = sig.Labels
	binary.BigEndian.PutUint32(data[4:], sig.OrigTtl)
	binary.BigEndian.PutUint32(data[8:], sig.Expiration)
	binary.BigEndian.PutUint32(data[12:], sig.Inception)
	binary.BigEndian.PutUint16(data[16:], sig.KeyTag)
	data = c.appendTo(append(data, signer...))
	raw, err := rawSign(k, data)
	if err != nil {
		return nil, fmt.Errorf("dnssec: sign %s %s with %s: %w", owner, dns.TypeToString[c.rtype], k, err)
	}
	sig.Signature = base64.StdEncoding.EncodeToString(raw)
	return sig, nil
}

// rawSign signs data with k as its algorithm says: ECDSA signatures are
// r and s as fixed-size integers (RFC 6605 §4), RSA PKCS #1 v1.5 (RFC
// 5702), Ed25519 over the data itself (RFC 8080).
func rawSign(k *Key, data []byte) ([]byte, error) {
	alg := k.DNSKEY.Algorithm
	if alg == dns.ED25519 {
		return k.Signer.Sign(rand.Reader, data, crypto.Hash(0))
	}
	var hash crypto.Hash
	var intLen int
	switch alg {
	case dns.RSASHA256:
		hash = crypto.SHA256
	case dns.ECDSAP256SHA256:
		hash, intLen = crypto.SHA256, 32
	case dns.ECDSAP384SHA384:
		hash, intLen = crypto.SHA384, 48
	default:
		return nil, fmt.Errorf("algorithm %d is not supported", alg)
	}
	h := hash.New()
	h.Write(data)
	digest := h.Sum(nil)
	if p, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		r, s, err := ecdsa.Sign(rand.Reader, p, digest)
		if err != nil {
			return nil, err
		}
		return fixedRS(r, s, intLen), nil
	}
	sig, err := k.Signer.Sign(rand.Reader, digest, hash)
	if err != nil || intLen == 0 {
		return sig, err
	}
	// Another crypto.Signer (a hardware key) returns ECDSA in ASN.1.
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, fmt.Errorf("ECDSA signature: %w", err)
	}
	return fixedRS(rs.R, rs.S, intLen), nil
}

func fixedRS(r, s *big.Int, n int) []byte {
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out
}
