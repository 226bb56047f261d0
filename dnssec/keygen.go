package dnssec

import (
	"crypto"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// GenerateKey makes a new key for origin, published and active from now
// on; a SEP key (a KSK or CSK) also has its CDS and CDNSKEY published.
func GenerateKey(origin string, alg uint8, sep bool, now time.Time) (*Key, error) {
	if _, ok := Algorithms[alg]; !ok {
		return nil, fmt.Errorf("%w: cannot generate keys of algorithm %d", ErrPolicy, alg)
	}
	dk := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: strings.ToLower(dns.Fqdn(origin)), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET},
		Flags:     dns.ZONE,
		Protocol:  3,
		Algorithm: alg,
	}
	if sep {
		dk.Flags |= dns.SEP
	}
	bits := 256
	switch alg {
	case dns.RSASHA256:
		bits = 2048
	case dns.ECDSAP384SHA384:
		bits = 384
	}
	priv, err := dk.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("dnssec: generate %s key: %w", Algorithms[alg], err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dnssec: generated key of type %T cannot sign", priv)
	}
	now = now.UTC().Truncate(time.Second)
	k := &Key{DNSKEY: dk, Signer: signer, Timing: Timing{Created: now, Publish: now, Activate: now}}
	if sep {
		k.Timing.SyncPublish = now
	}
	return k, nil
}

// EnsureKeys returns the keys of origin kept in dir, generating them on
// first use: one CSK, or a KSK and a ZSK when split, of algorithm alg,
// written as BIND key files so that BIND's tools (dnssec-settime for a
// roll, dnssec-dsfromkey) work on them. Keys already in dir are never
// replaced, whatever their algorithm; generated reports whether new keys
// were made.
func EnsureKeys(dir, origin string, alg uint8, split bool, now time.Time) (keys []*Key, generated bool, err error) {
	if _, err := os.Stat(dir); err == nil {
		keys, err := ReadKeyDir(dir, origin)
		if err != nil || len(keys) > 0 {
			return keys, false, err
		}
	}
	roles := []bool{true}
	if split {
		roles = []bool{true, false}
	}
	for _, sep := range roles {
		k, err := GenerateKey(origin, alg, sep, now)
		if err != nil {
			return nil, false, err
		}
		if err := WriteKey(dir, k); err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
	}
	return keys, true, nil
}
