package dnssec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// sigTimes are an RRSIG's inception and expiration, in RFC 4034 §3.1.5
// serial-number seconds.
type sigTimes struct{ inception, expiration uint32 }

// signRRset makes the RDATA of the RRSIG of the canonical RRset c with
// key k (RFC 4034 §3.1): the fixed fields, the signer's name (never
// compressed, §3.1.7) and the signature.
func signRRset(k *Key, c *canonicalRRset, t sigTimes) ([]byte, error) {
	signer, err := nameWire(k.DNSKEY.Hdr.Name)
	if err != nil {
		return nil, err
	}
	// RFC 4034 §3.1.8.1: the RRSIG RDATA without the signature, then the
	// RRset in canonical form.
	data := make([]byte, 18, 18+len(signer)+len(c.buf))
	binary.BigEndian.PutUint16(data[0:], c.rtype)
	data[2] = k.DNSKEY.Algorithm
	data[3] = c.labels()
	binary.BigEndian.PutUint32(data[4:], c.ttl)
	binary.BigEndian.PutUint32(data[8:], t.expiration)
	binary.BigEndian.PutUint32(data[12:], t.inception)
	binary.BigEndian.PutUint16(data[16:], k.Tag())
	data = append(data, signer...)
	fixed := len(data)
	raw, err := rawSign(k, c.appendTo(data))
	if err != nil {
		return nil, fmt.Errorf("dnssec: sign %s %s with %s: %w", dnsName(c.owner), dns.TypeToString[c.rtype], k, err)
	}
	return append(data[:fixed:fixed], raw...), nil
}

// sigRR makes the RRSIG record of owner (presentation form), class and
// TTL from its RDATA as signRRset writes it.
func sigRR(owner string, class uint16, ttl uint32, rd []byte) (*dns.RRSIG, error) {
	if len(rd) < 19 {
		return nil, errors.New("dnssec: RRSIG RDATA too short")
	}
	signer, end, err := dns.UnpackDomainName(rd, 18)
	if err != nil {
		return nil, fmt.Errorf("dnssec: RRSIG signer: %w", err)
	}
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: strings.ToLower(owner), Rrtype: dns.TypeRRSIG, Class: class, Ttl: ttl},
		TypeCovered: binary.BigEndian.Uint16(rd[0:]),
		Algorithm:   rd[2],
		Labels:      rd[3],
		OrigTtl:     binary.BigEndian.Uint32(rd[4:]),
		Expiration:  binary.BigEndian.Uint32(rd[8:]),
		Inception:   binary.BigEndian.Uint32(rd[12:]),
		KeyTag:      binary.BigEndian.Uint16(rd[16:]),
		SignerName:  signer,
		Signature:   base64.StdEncoding.EncodeToString(rd[end:]),
	}, nil
}

// sigRRs makes the RRSIG records of sigs, owned by owner.
func sigRRs(sigs Sigs, owner string, class uint16, ttl uint32) ([]dns.RR, error) {
	var out []dns.RR
	for rd, rest := sigs.Next(); rd != nil; rd, rest = rest.Next() {
		sig, err := sigRR(owner, class, ttl, rd)
		if err != nil {
			return nil, err
		}
		out = append(out, sig)
	}
	return out, nil
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
	var sig []byte
	var err error
	if p, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		// SignASN1 takes the constant-time P-256/P-384 code without
		// math/big; ecdsa.Sign would convert through big.Int.
		sig, err = ecdsa.SignASN1(rand.Reader, p, digest)
	} else {
		sig, err = k.Signer.Sign(rand.Reader, digest, hash)
	}
	if err != nil || intLen == 0 {
		return sig, err
	}
	return fixedRS(sig, intLen)
}

// fixedRS turns an ASN.1 ECDSA signature, SEQUENCE { INTEGER r, INTEGER s },
// into r and s as n-octet big-endian integers (RFC 6605 §4).
func fixedRS(der []byte, n int) ([]byte, error) {
	bad := errors.New("ECDSA signature: not the DER of two integers")
	seq, rest, ok := derElement(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, bad
	}
	out := make([]byte, 2*n)
	for i := range 2 {
		var v []byte
		if v, seq, ok = derElement(seq, 0x02); !ok {
			return nil, bad
		}
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > n {
			return nil, bad
		}
		copy(out[(i+1)*n-len(v):(i+1)*n], v)
	}
	if len(seq) != 0 {
		return nil, bad
	}
	return out, nil
}

// derElement reads one DER element of the given tag with a short or
// one-octet long length, and returns its content and what follows.
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	l, off := int(b[1]), 2
	if l == 0x81 {
		if len(b) < 3 {
			return nil, nil, false
		}
		l, off = int(b[2]), 3
	} else if l > 0x7f {
		return nil, nil, false
	}
	if len(b) < off+l {
		return nil, nil, false
	}
	return b[off : off+l], b[off+l:], true
}
