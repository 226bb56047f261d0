package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// Protocol is a transport protocol as named by the registry.
type Protocol uint8

// Transport protocols of the registry. ProtoNone is a row without one
// (service-name-only registrations and some legacy rows).
const (
	ProtoNone Protocol = iota
	TCP
	UDP
	SCTP
	DCCP
)

// Protocols lists the transports that have their own port space, in the
// order the registry lists them.
var Protocols = [...]Protocol{TCP, UDP, SCTP, DCCP}

// String returns the registry's lower-case name ("tcp"), or "" for ProtoNone.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	case DCCP:
		return "dccp"
	}
	return ""
}

// ParseProtocol maps "tcp", "udp", "sctp", "dccp" (any case) and "" to a
// Protocol.
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return ProtoNone, nil
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	case "dccp":
		return DCCP, nil
	}
	return ProtoNone, fmt.Errorf("unknown transport protocol %q (want tcp, udp, sctp or dccp)", s)
}

// Status says what a row of the registry is.
type Status uint8

// Row statuses.
const (
	// Assigned is a registered service name (with or without a port).
	Assigned Status = iota
	// Reserved is a port held back by IANA (also De-registered, Removed,
	// Deprecated and similar unnamed rows).
	Reserved
	// Unassigned is a port or range free for assignment.
	Unassigned
	// Alias is a historic service name that points at a well-formed
	// replacement.
	Alias
)

// String returns the status as used in TXT records and reports.
func (s Status) String() string {
	switch s {
	case Assigned:
		return "assigned"
	case Reserved:
		return "reserved"
	case Unassigned:
		return "unassigned"
	case Alias:
		return "alias"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// PortRange is an inclusive range of port numbers; a single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// Contains reports whether p lies in the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// Len is the number of ports in the range.
func (r PortRange) Len() int { return int(r.Hi) - int(r.Lo) + 1 }

// String formats the range as the registry does: "6081" or "6000-6063".
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// ParsePortRange parses "6081" or "6000-6063". Ports are 0..65535 and a
// range must not run backwards.
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %q runs backwards", s)
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty port number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 0-65535", s)
	}
	return uint16(n), nil
}

// Date is a registry date, which may be partial: "2006", "2006-02" or
// "2006-02-17". Zero fields are absent.
type Date struct {
	Year, Month, Day int
}

// IsZero reports whether the date is absent.
func (d Date) IsZero() bool { return d.Year == 0 }

// String formats the date with only the parts it has.
func (d Date) String() string {
	switch {
	case d.Year == 0:
		return ""
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return fmt.Sprintf("%04d-%02d", d.Year, d.Month)
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// Before orders dates, treating missing parts as zero.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// ParseDate parses a full or partial ISO date; "" is the zero Date.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Date{}, nil
	}
	parts := strings.Split(s, "-")
	if len(parts) > 3 || len(parts[0]) != 4 {
		return Date{}, fmt.Errorf("date %q is not YYYY[-MM[-DD]]", s)
	}
	var v [3]int
	for i, p := range parts {
		if (i > 0 && len(p) != 2) || !allDigits(p) {
			return Date{}, fmt.Errorf("date %q is not YYYY[-MM[-DD]]", s)
		}
		v[i], _ = strconv.Atoi(p)
	}
	d := Date{v[0], v[1], v[2]}
	if len(parts) > 1 && (d.Month < 1 || d.Month > 12) {
		return Date{}, fmt.Errorf("date %q has month out of range", s)
	}
	if len(parts) > 2 && (d.Day < 1 || d.Day > 31) {
		return Date{}, fmt.Errorf("date %q has day out of range", s)
	}
	return d, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Party is a person or organisation named as assignee or contact. Sources
// other than XML carry only the ID; XML resolves it through <people>.
type Party struct {
	ID   string
	Name string
	Org  string
	URI  string
}

// Display is the most readable form of the party: name, org, or ID.
func (p Party) Display() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Org != "":
		return p.Org
	}
	return strings.ReplaceAll(p.ID, "_", " ")
}

// Record is one row of the registry, every field kept.
type Record struct {
	// Line is the 1-based line of the source where the row starts.
	Line int

	// Name is the service name exactly as registered; it may be a historic
	// name that breaks RFC 6335 (e.g. "sql*net").
	Name string
	// Ports is valid when HasPort is set.
	Ports   PortRange
	HasPort bool
	Proto   Protocol

	Description  string
	Assignee     []Party
	Contact      []Party
	Registered   Date
	Modified     Date
	References   []string // without brackets: "RFC6335", "draft-...", "Jon_Postel"
	ServiceCode  string
	Unauthorized string
	Notes        string

	Status Status
	// AliasOf is the replacement name for an Alias row.
	AliasOf string
	// Replaces is the historic name that this well-formed row replaces.
	Replaces string
}

// Key is a case-folded (service name, protocol) pair.
type Key struct {
	Name  string // lower case
	Proto Protocol
}

// KeyOf builds the lookup key for a name and protocol.
func KeyOf(name string, p Protocol) Key { return Key{strings.ToLower(name), p} }

// Key returns the record's lookup key.
func (r *Record) Key() Key { return KeyOf(r.Name, r.Proto) }
