package zone

import (
	"fmt"
	"io"

	"github.com/miekg/dns"
)

// WriteMasterFile writes the zone as an RFC 1035 master file: $ORIGIN, the
// SOA first, then every owner name in canonical order (RFC 4034 §6.1).
// Port names are synthesized per query and are not written.
func (s *Snapshot) WriteMasterFile(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "; svcdns zone %s serial %d, %d records\n$ORIGIN %s\n%s\n",
		s.origin, s.serial, s.count, s.origin, s.soa.String()); err != nil {
		return err
	}
	for _, name := range s.Names() {
		for _, rr := range s.RRs(name) {
			if rr.Header().Rrtype == dns.TypeSOA {
				continue
			}
			if _, err := io.WriteString(w, rr.String()+"\n"); err != nil {
				return err
			}
		}
	}
	return nil
}
