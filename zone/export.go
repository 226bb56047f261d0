package zone

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// WriteMasterFile writes the zone as an RFC 1035 master file: $ORIGIN, the
// SOA first, then every owner name in canonical order (RFC 4034 §6.1),
// port names included (All), so that a server loading it answers as this
// zone does.
func (s *Snapshot) WriteMasterFile(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "; svcdns zone %s serial %d, %d records and the %s port names\n$ORIGIN %s\n%s\n",
		s.origin, s.serial, s.count, s.opts.PortNames, s.origin, s.soa.String()); err != nil {
		return err
	}
	for _, rrs := range s.All() {
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeSOA {
				continue
			}
			if _, err := io.WriteString(w, masterLine(rr)+"\n"); err != nil {
				return err
			}
		}
	}
	return nil
}

// masterLine renders rr with every name in strict presentation form: the
// zone parsers of BIND, Knot and NSD differ in which bytes they accept
// bare in a name (Knot refuses "&" and "+"), but all read \DDD. miekg/dns
// re-renders names in String(), so names are written here.
func masterLine(rr dns.RR) string {
	h := rr.Header()
	var rdata string
	switch r := rr.(type) {
	case *dns.PTR:
		rdata = strictName(r.Ptr)
	case *dns.CNAME:
		rdata = strictName(r.Target)
	case *dns.NS:
		rdata = strictName(r.Ns)
	case *dns.SRV:
		rdata = fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, strictName(r.Target))
	case *dns.NSEC:
		rdata = strictName(r.NextDomain)
		for _, t := range r.TypeBitMap {
			rdata += " " + dns.Type(t).String()
		}
	default:
		rdata = strings.TrimPrefix(rr.String(), h.String())
	}
	return fmt.Sprintf("%s\t%d\tIN\t%s\t%s", strictName(h.Name), h.Ttl, dns.TypeToString[h.Rrtype], rdata)
}

// strictName writes name with only letters, digits, '-' and '_' bare and
// every other byte as \DDD.
func strictName(name string) string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return name
	}
	var b strings.Builder
	for off := 0; off < n; {
		l := int(buf[off])
		if l == 0 {
			break
		}
		for _, c := range buf[off+1 : off+1+l] {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
				b.WriteByte(c)
			default:
				b.WriteString("\\" + strconv.Itoa(int(c)/100) + strconv.Itoa(int(c)/10%10) + strconv.Itoa(int(c)%10))
			}
		}
		b.WriteByte('.')
		off += 1 + l
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}
