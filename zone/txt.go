package zone

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/svcdns/svcdns/registry"
)

// TXT keys, all at most 9 characters (RFC 6763 §6.4).
const (
	keyVersion      = "txtvers"
	keyDescription  = "desc"
	keyPort         = "port"
	keyProto        = "proto"
	keyStatus       = "status"
	keyAssignee     = "assignee"
	keyContact      = "contact"
	keyRegistered   = "reg"
	keyModified     = "mod"
	keyReference    = "ref"
	keyServiceCode  = "sc"
	keyUnauthorized = "unauth"
	keyReplaces     = "replaces"
	keyNotes        = "notes"
	keyNames        = "names"
)

// RFC 6763 §6.1: each string at most 255 bytes. §6.2: keep the whole
// record small; above 1300 bytes it would no longer fit a typical UDP
// answer with its SRV and addresses, so lower-priority values are cut to
// stay under that. A DNS-SD instance's TXT is cut further, to fit a
// 512-byte reply (§6.2: "under 400 bytes").
const (
	maxTXTString = 255
	maxTXTTotal  = 1300
)

// txtWriter writes the rdata of a TXT record in DNS-SD key=value form
// (RFC 6763 §6), string by string, in place: txtvers first (§6.7), each
// key once (§6.4, by the callers' construction), an empty value dropped,
// and each string cut on a UTF-8 boundary to fit 255 bytes and the
// record's max (0: maxTXTTotal), so that lower-priority values are cut
// first. Values are written with their white space folded. The build
// writes the services' records with it, and the query path the port
// names'.
type txtWriter struct {
	msg   []byte
	max   int // bytes of rdata; 0 is maxTXTTotal
	at    int // the open string's length byte
	key   int // its key's length
	total int
	spans [][2]int // joinUnique's values
}

// open starts the string "key=" and returns where its value starts.
func (w *txtWriter) open(key string) int {
	w.at, w.key = len(w.msg), len(key)
	w.msg = append(append(append(w.msg, 0), key...), '=')
	return len(w.msg)
}

// close ends the open string, cutting or dropping it.
func (w *txtWriter) close() {
	s := w.msg[w.at+1:]
	if len(s) == w.key+1 { // no value
		w.msg = w.msg[:w.at]
		return
	}
	size := w.max
	if size == 0 {
		size = maxTXTTotal
	}
	if limit := min(maxTXTString, size-w.total-1); len(s) > limit {
		if limit <= w.key+1 {
			w.msg = w.msg[:w.at]
			return
		}
		for limit > 0 && !utf8.RuneStart(s[limit]) {
			limit--
		}
		s = s[:limit]
		w.msg = w.msg[:w.at+1+limit]
	}
	w.msg[w.at] = byte(len(s))
	w.total += len(s) + 1
}

// add writes the string key=value, value folded.
func (w *txtWriter) add(key, value string) {
	at := w.open(key)
	w.msg = append(w.msg, value...)
	w.msg = w.msg[:at+foldInPlace(w.msg[at:])]
	w.close()
}

// joinUnique writes, as the open string's value, the distinct values
// value(0..n-1) with their white space folded, the empty ones dropped,
// joined by "; ".
func (w *txtWriter) joinUnique(n int, value func(i int) string) {
	w.spans = w.spans[:0]
next:
	for i := range n {
		at := len(w.msg)
		vat := at
		if len(w.spans) > 0 {
			w.msg = append(w.msg, "; "...)
			vat = len(w.msg)
		}
		w.msg = append(w.msg, value(i)...)
		w.msg = w.msg[:vat+foldInPlace(w.msg[vat:])]
		v := w.msg[vat:]
		if len(v) == 0 {
			w.msg = w.msg[:at]
			continue
		}
		for _, sp := range w.spans {
			if string(w.msg[sp[0]:sp[1]]) == string(v) {
				w.msg = w.msg[:at]
				continue next
			}
		}
		w.spans = append(w.spans, [2]int{vat, len(w.msg)})
	}
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// folded reports whether b needs no folding: ASCII, no white space but
// single spaces between words.
func folded[S ~string | ~[]byte](b S) bool {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		return false
	}
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == ' ':
			if b[i+1] == ' ' {
				return false
			}
		case c == '\n', c == '\t', c == '\r', c == '\v', c == '\f', c >= 0x80: // possibly Unicode white space
			return false
		}
	}
	return true
}

// foldSpace turns every run of white space into one space and trims the
// ends; most registry values need nothing, and are returned as they are.
func foldSpace(s string) string {
	if folded(s) {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// foldInPlace folds white space in b as foldSpace does (strings.Fields,
// joined by one space) and returns the folded length.
func foldInPlace(b []byte) int {
	if folded(b) {
		return len(b)
	}
	w := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		if w > 0 {
			b[w] = ' '
			w++
		}
		for i < len(b) {
			r, size := utf8.DecodeRune(b[i:])
			if unicode.IsSpace(r) {
				break
			}
			w += copy(b[w:], b[i:i+size])
			i += size
		}
	}
	return w
}

func partiesText(ps []registry.Party) string {
	if len(ps) == 1 {
		return ps[0].Display()
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Display()
	}
	return strings.Join(names, ", ")
}

// serviceTXT renders the registry's facts about one name+protocol (which
// may span several rows, e.g. two ports) as the rdata of a TXT record of
// DNS-SD key=value strings, in at most size bytes.
func serviceTXT(w *txtWriter, recs []*registry.Record, size int) string {
	w.msg, w.total, w.max = w.msg[:0], 0, size
	collect := func(key string, f func(*registry.Record) string) {
		w.open(key)
		w.joinUnique(len(recs), func(i int) string { return f(recs[i]) })
		w.close()
	}
	w.add(keyVersion, "1")
	collect(keyPort, func(r *registry.Record) string {
		if !r.HasPort {
			return ""
		}
		return r.Ports.String()
	})
	w.add(keyProto, recs[0].Proto.String())
	w.add(keyStatus, recs[0].Status.String())
	collect(keyDescription, descriptionOnly)
	collect(keyAssignee, func(r *registry.Record) string { return partiesText(r.Assignee) })
	collect(keyContact, func(r *registry.Record) string { return partiesText(r.Contact) })
	collect(keyRegistered, func(r *registry.Record) string { return r.Registered.String() })
	collect(keyModified, func(r *registry.Record) string { return r.Modified.String() })
	collect(keyReference, func(r *registry.Record) string { return strings.Join(r.References, ", ") })
	collect(keyServiceCode, func(r *registry.Record) string { return r.ServiceCode })
	collect(keyUnauthorized, func(r *registry.Record) string { return r.Unauthorized })
	collect(keyReplaces, func(r *registry.Record) string { return r.Replaces })
	collect(keyNotes, func(r *registry.Record) string { return r.Notes })
	return string(w.msg)
}

// descriptionOnly drops the "IANA assigned this well-formed service name
// as a replacement for ..." sentence that the registry keeps inside the
// description; it is published as replaces= instead.
func descriptionOnly(r *registry.Record) string {
	if r.Replaces == "" {
		return r.Description
	}
	if i := strings.Index(r.Description, "IANA assigned this well-formed"); i >= 0 {
		return r.Description[:i]
	}
	return r.Description
}
