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

// serviceFacts returns the registry's facts about one name+protocol (which
// may span several rows, e.g. two ports) as DNS-SD key and value pairs, in
// the order they are published.
func serviceFacts(recs []*registry.Record) [][2]string {
	collect := func(f func(*registry.Record) string) string {
		vals := make([]string, 0, len(recs))
		for _, r := range recs {
			vals = append(vals, f(r))
		}
		return joinUnique(vals, "; ")
	}
	return [][2]string{
		{keyPort, collect(func(r *registry.Record) string {
			if !r.HasPort {
				return ""
			}
			return r.Ports.String()
		})},
		{keyProto, recs[0].Proto.String()},
		{keyStatus, recs[0].Status.String()},
		{keyDescription, collect(func(r *registry.Record) string { return descriptionOnly(r) })},
		{keyAssignee, collect(func(r *registry.Record) string { return partiesText(r.Assignee) })},
		{keyContact, collect(func(r *registry.Record) string { return partiesText(r.Contact) })},
		{keyRegistered, collect(func(r *registry.Record) string { return r.Registered.String() })},
		{keyModified, collect(func(r *registry.Record) string { return r.Modified.String() })},
		{keyReference, collect(func(r *registry.Record) string { return strings.Join(r.References, ", ") })},
		{keyServiceCode, collect(func(r *registry.Record) string { return r.ServiceCode })},
		{keyUnauthorized, collect(func(r *registry.Record) string { return r.Unauthorized })},
		{keyReplaces, collect(func(r *registry.Record) string { return r.Replaces })},
		{keyNotes, collect(func(r *registry.Record) string { return r.Notes })},
	}
}

// serviceTXT renders a service's facts as DNS-SD key=value strings in at
// most max bytes of rdata (txtBuilder's rules).
func serviceTXT(recs []*registry.Record, max int) []string {
	b := newTXT(max)
	for _, f := range serviceFacts(recs) {
		b.add(f[0], f[1])
	}
	return b.strs
}

// txtStrings writes facts as whole key=value strings, txtvers first: empty
// values and repeated keys left out, white space folded, nothing cut.
// fitTXT then cuts them to a size, sharing the strings.
func txtStrings(facts [][2]string) []string {
	out := []string{keyVersion + "=1"}
	seen := map[string]bool{keyVersion: true}
	for _, f := range facts {
		v := foldSpace(f[1])
		if v == "" || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		out = append(out, f[0]+"="+v)
	}
	return out
}

// fitTXT applies txtBuilder's limits to whole strings: each at most 255
// bytes and all of them at most max bytes of rdata, a string that does not
// fit cut on a UTF-8 boundary, or left out when not even its key would be
// left. The strings are shared with strs, and strs itself is returned when
// it fits whole.
func fitTXT(strs []string, max int) []string {
	total := 0
	var out []string
	for i, s := range strs {
		limit := min(maxTXTString, max-total-1)
		if len(s) <= limit && out == nil {
			total += len(s) + 1
			continue
		}
		if out == nil {
			out = strs[:i:i]
		}
		if len(s) > limit {
			key, _, _ := strings.Cut(s, "=")
			if limit <= len(key)+1 {
				continue
			}
			s = cutUTF8(s, limit)
		}
		out = append(out, s)
		total += len(s) + 1
	}
	if out == nil {
		return strs
	}
	return out
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
