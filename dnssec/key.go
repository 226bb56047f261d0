package dnssec

import (
	"crypto"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Algorithms svcdns signs with: the ones RFC 8624 §3.1 says a signer MUST
// or RECOMMENDED implement. ECDSAP256SHA256 is the default.
var Algorithms = map[uint8]string{
	dns.RSASHA256:       "rsasha256",
	dns.ECDSAP256SHA256: "ecdsap256sha256",
	dns.ECDSAP384SHA384: "ecdsap384sha384",
	dns.ED25519:         "ed25519",
}

// AlgorithmByName maps a configuration name ("ecdsap256sha256", any case)
// to its number; ok is false for an algorithm svcdns does not sign with.
func AlgorithmByName(name string) (alg uint8, ok bool) {
	for a, n := range Algorithms {
		if n == strings.ToLower(name) {
			return a, true
		}
	}
	return 0, false
}

// Timing is a key's timing metadata as BIND keeps it in its key files
// (dnssec-keygen and dnssec-settime write it). A zero time is unset.
type Timing struct {
	Created, Publish, Activate, Inactive, Delete time.Time
	// SyncPublish and SyncDelete bound when CDS and CDNSKEY records of the
	// key are published (RFC 7344).
	SyncPublish, SyncDelete time.Time
}

// State is where a key is in its life at a given time.
type State uint8

// Key states, in life order.
const (
	// Unpublished: not yet published (or never: no Publish nor Activate).
	Unpublished State = iota
	// Published: in the DNSKEY RRset, not signing (pre-publication).
	Published
	// Active: published and signing.
	Active
	// Retired: still published so that cached signatures validate, no
	// longer signing.
	Retired
	// Removed: past its Delete time.
	Removed
)

func (s State) String() string {
	switch s {
	case Unpublished:
		return "unpublished"
	case Published:
		return "published"
	case Active:
		return "active"
	case Retired:
		return "retired"
	case Removed:
		return "removed"
	}
	return "state?"
}

// Key is one DNSSEC key of the zone: its DNSKEY, the private key that
// signs with it, and when it is published and active.
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
	Timing Timing
	// File is the key's base path ("dir/Kports.local.+013+12345"), or ""
	// for a key that was never written.
	File string
}

// Tag is the key tag (RFC 4034 Appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// SEP reports whether the key has the Secure Entry Point flag (flags 257,
// a KSK or CSK): the key the parent's DS points at.
func (k *Key) SEP() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// String names the key as BIND's tools do: "ports.local/ECDSAP256SHA256/12345".
func (k *Key) String() string {
	return fmt.Sprintf("%s/%s/%d", trimDot(k.DNSKEY.Hdr.Name), dns.AlgorithmToString[k.DNSKEY.Algorithm], k.Tag())
}

func trimDot(name string) string {
	if len(name) > 1 && name[len(name)-1] == '.' {
		return name[:len(name)-1]
	}
	return name
}

// reached reports whether the set time at has come by now.
func reached(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

// published follows BIND: a key is in the DNSKEY RRset from its Publish
// time (or, without one, its Activate time) until its Delete time. A key
// with neither Publish nor Activate (`dnssec-keygen -G`) is never used.
func (k *Key) published(now time.Time) bool {
	t := k.Timing
	if reached(t.Delete, now) {
		return false
	}
	if !t.Publish.IsZero() {
		return reached(t.Publish, now)
	}
	return reached(t.Activate, now)
}

// StateAt returns the key's state at now.
func (k *Key) StateAt(now time.Time) State {
	t := k.Timing
	switch {
	case reached(t.Delete, now):
		return Removed
	case !k.published(now):
		return Unpublished
	case reached(t.Inactive, now):
		return Retired
	case reached(t.Activate, now):
		return Active
	}
	return Published
}

// syncPublished reports whether the key's CDS and CDNSKEY are published at
// now: a SEP key between its SyncPublish and SyncDelete times while it is
// published. Without SyncPublish there are none, as BIND does.
func (k *Key) syncPublished(now time.Time) bool {
	t := k.Timing
	return k.SEP() && k.published(now) && reached(t.SyncPublish, now) && !reached(t.SyncDelete, now)
}

// nextEvent is the first of the key's timing events after now (zero when
// there is none left).
func (k *Key) nextEvent(now time.Time) time.Time {
	var next time.Time
	t := k.Timing
	for _, at := range []time.Time{t.Publish, t.Activate, t.Inactive, t.Delete, t.SyncPublish, t.SyncDelete} {
		if at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}
