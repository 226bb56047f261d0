package zone

import (
	"strings"
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

// txtBuilder collects key=value strings in priority order, one per key,
// in at most max bytes of rdata.
type txtBuilder struct {
	strs  []string
	total int
	max   int
	seen  map[string]bool
}

func newTXT(max int) *txtBuilder {
	b := &txtBuilder{seen: map[string]bool{}, max: max}
	b.add(keyVersion, "1") // RFC 6763 §6.7: txtvers first
	return b
}

// add appends key=value with white space folded, cut at a UTF-8 boundary
// to fit the string and total limits. Empty values and repeated keys are
// dropped (RFC 6763 §6.4: a key appears once).
func (b *txtBuilder) add(key, value string) {
	value = foldSpace(value)
	if value == "" || b.seen[key] {
		return
	}
	s := key + "=" + value
	limit := min(maxTXTString, b.max-b.total-1)
	if len(s) > limit {
		if limit <= len(key)+1 {
			return
		}
		s = cutUTF8(s, limit)
	}
	b.seen[key] = true
	b.strs = append(b.strs, s)
	b.total += len(s) + 1
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

// foldSpace turns every run of white space into one space and trims the
// ends; most registry values need nothing, and are returned as they are.
func foldSpace(s string) string {
	clean := len(s) == 0 || (s[0] != ' ' && s[len(s)-1] != ' ')
	for i := 0; clean && i < len(s); i++ {
		switch s[i] {
		case '\n', '\t', '\r', '\v', '\f':
			clean = false
		case ' ':
			clean = i+1 < len(s) && s[i+1] != ' '
		default:
			if s[i] >= 0x80 { // possibly Unicode white space
				clean = false
			}
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func joinUnique(vals []string, sep string) string {
	if len(vals) == 1 {
		return foldSpace(vals[0])
	}
	var out []string
	for _, v := range vals {
		v = foldSpace(v)
		if v == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == v {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}

func partiesText(ps []registry.Party) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Display()
	}
	return strings.Join(names, ", ")
}

// serviceTXT renders the registry's facts about one name+protocol (which
// may span several rows, e.g. two ports) as DNS-SD key=value strings in at
// most max bytes of rdata; what does not fit is cut from the end.
func serviceTXT(recs []*registry.Record, max int) []string {
	collect := func(f func(*registry.Record) string) string {
		vals := make([]string, 0, len(recs))
		for _, r := range recs {
			vals = append(vals, f(r))
		}
		return joinUnique(vals, "; ")
	}
	b := newTXT(max)
	b.add(keyPort, collect(func(r *registry.Record) string {
		if !r.HasPort {
			return ""
		}
		return r.Ports.String()
	}))
	b.add(keyProto, recs[0].Proto.String())
	b.add(keyStatus, recs[0].Status.String())
	b.add(keyDescription, collect(func(r *registry.Record) string { return descriptionOnly(r) }))
	b.add(keyAssignee, collect(func(r *registry.Record) string { return partiesText(r.Assignee) }))
	b.add(keyContact, collect(func(r *registry.Record) string { return partiesText(r.Contact) }))
	b.add(keyRegistered, collect(func(r *registry.Record) string { return r.Registered.String() }))
	b.add(keyModified, collect(func(r *registry.Record) string { return r.Modified.String() }))
	b.add(keyReference, collect(func(r *registry.Record) string { return strings.Join(r.References, ", ") }))
	b.add(keyServiceCode, collect(func(r *registry.Record) string { return r.ServiceCode }))
	b.add(keyUnauthorized, collect(func(r *registry.Record) string { return r.Unauthorized }))
	b.add(keyReplaces, collect(func(r *registry.Record) string { return r.Replaces }))
	b.add(keyNotes, collect(func(r *registry.Record) string { return r.Notes }))
	return b.strs
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
