package dnssec

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// AnchorKeys returns the keys a parent's DS (or a validator's trust
// anchor) should point at: the published SEP keys (KSKs and CSKs),
// pre-published ones included so that their DS can reach the parent
// before they sign; or, in a zone without SEP keys, every published key.
func (s *Signer) AnchorKeys() []*Key {
	var sep, all []*Key
	for i, k := range s.keys {
		if st := s.states[i]; st != Published && st != Active && st != Retired {
			continue
		}
		all = append(all, k)
		if k.SEP() {
			sep = append(sep, k)
		}
	}
	if len(sep) > 0 {
		return sep
	}
	return all
}

// DS returns the DS records of keys (RFC 4034 §5) with the given digest
// type (dns.SHA256, dns.SHA384) and TTL.
func DS(keys []*Key, digest uint8, ttl uint32) ([]*dns.DS, error) {
	var out []*dns.DS
	for _, k := range keys {
		dk := *k.DNSKEY
		dk.Hdr.Name = strings.ToLower(dk.Hdr.Name)
		ds := dk.ToDS(digest)
		if ds == nil {
			return nil, fmt.Errorf("dnssec: DS of %s: digest type %d is not supported", k, digest)
		}
		ds.Hdr.Ttl = ttl
		ds.Digest = strings.ToUpper(ds.Digest)
		out = append(out, ds)
	}
	return out, nil
}

// WriteZoneAnchors writes DS records in master-file form: what the parent
// zone publishes, and what Unbound's trust-anchor-file (and
// auto-trust-anchor-file) reads.
func WriteZoneAnchors(w io.Writer, ds []*dns.DS) error {
	for _, d := range ds {
		if _, err := fmt.Fprintf(w, "%s\t%d\tIN\tDS\t%d %d %d %s\n", d.Hdr.Name, d.Hdr.Ttl, d.KeyTag, d.Algorithm, d.DigestType, d.Digest); err != nil {
			return err
		}
	}
	return nil
}

// WriteBINDAnchors writes a trust-anchors statement (BIND 9.15 and later)
// with the DS records as static-ds anchors: what `delv -a FILE` and
// named.conf read.
func WriteBINDAnchors(w io.Writer, ds []*dns.DS) error {
	var b strings.Builder
	b.WriteString("trust-anchors {\n")
	for _, d := range ds {
		fmt.Fprintf(&b, "\t%q static-ds %d %d %d %q;\n", d.Hdr.Name, d.KeyTag, d.Algorithm, d.DigestType, d.Digest)
	}
	b.WriteString("};\n")
	_, err := io.WriteString(w, b.String())
	return err
}
