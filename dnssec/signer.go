package dnssec

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Denial is how the signed zone for secondaries proves that names and
// types do not exist.
type Denial uint8

// Denial methods.
const (
	DenialNSEC  Denial = iota // an NSEC chain (RFC 4034)
	DenialNSEC3               // an NSEC3 chain (RFC 5155)
)

func (d Denial) String() string {
	switch d {
	case DenialNSEC:
		return "nsec"
	case DenialNSEC3:
		return "nsec3"
	}
	return "denial?"
}

// Policy is how signatures are made and published.
type Policy struct {
	// Validity is how long a signature is valid from the start of the
	// signing epoch it is made in.
	Validity time.Duration
	// Refresh is how much validity every signature served still has: the
	// zone is re-signed in epochs of Validity-Refresh.
	Refresh time.Duration
	// InceptionOffset backdates each signature's inception, for
	// validators whose clocks are behind.
	InceptionOffset time.Duration
	// DNSKEYTTL is the TTL of the DNSKEY, CDS and CDNSKEY records.
	DNSKEYTTL uint32
	// Denial is the chain of the signed zone for secondaries.
	Denial Denial
	// NSEC3 are the parameters of an NSEC3 chain.
	NSEC3 NSEC3Params
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// NSEC3Params are the NSEC3 hash parameters (RFC 5155 §3.1). RFC 9276
// §3.1 asks for no extra iterations and no salt, the defaults.
type NSEC3Params struct {
	Iterations uint16
	Salt       string // hex; "" for none
}

// DefaultPolicy is the policy svcdns signs with unless configured: two
// weeks of validity, re-signing every week, inception an hour back.
var DefaultPolicy = Policy{
	Validity:        14 * 24 * time.Hour,
	Refresh:         7 * 24 * time.Hour,
	InceptionOffset: time.Hour,
	DNSKEYTTL:       3600,
}

// ErrPolicy is matched by the errors NewSigner returns for a bad policy
// or key set.
var ErrPolicy = errors.New("dnssec")

func (p Policy) check() error {
	switch {
	case p.Validity <= 0 || p.Refresh <= 0 || p.Refresh >= p.Validity:
		return fmt.Errorf("%w: refresh %v must be above 0 and below the validity %v", ErrPolicy, p.Refresh, p.Validity)
	case p.InceptionOffset < 0:
		return fmt.Errorf("%w: negative inception offset %v", ErrPolicy, p.InceptionOffset)
	case p.Denial != DenialNSEC && p.Denial != DenialNSEC3:
		return fmt.Errorf("%w: unknown denial method %d", ErrPolicy, p.Denial)
	}
	return nil
}

// Signer signs the RRsets of one zone version with the keys active when
// it was made. It is immutable; a zone snapshot holds one, and a key
// event (a key published, activated, retired or deleted by its timing
// metadata) or a new signing epoch makes a new snapshot with a new
// signer.
type Signer struct {
	origin string
	policy Policy
	now    func() time.Time
	made   time.Time
	keys   []*Key
	states []State
	// zsks sign every RRset but the apex key RRsets, which ksks sign.
	zsks, ksks []*Key
	apex       []dns.RR
	keyID      [sha256.Size]byte
	cache      *Cache
}

// NewSigner returns the signer of origin at the time p.Now gives, with
// the states the keys' timing metadata give them then. cache may be
// shared by successive signers; nil keeps no signatures. It fails when no
// key is active.
func NewSigner(origin string, keys []*Key, p Policy, cache *Cache) (*Signer, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if cache == nil {
		cache = NewCache(0)
	}
	origin = strings.ToLower(dns.Fqdn(origin))
	s := &Signer{origin: origin, policy: p, now: p.Now, made: p.Now(), cache: cache}
	s.keys = slices.Clone(keys)
	slices.SortFunc(s.keys, func(a, b *Key) int {
		if a.SEP() != b.SEP() {
			if a.SEP() {
				return -1
			}
			return 1
		}
		return int(a.Tag()) - int(b.Tag())
	})
	var activeSEP, activeZone []*Key
	for _, k := range s.keys {
		if !strings.EqualFold(k.DNSKEY.Hdr.Name, origin) {
			return nil, fmt.Errorf("%w: key %s is not for %s", ErrPolicy, k, origin)
		}
		st := k.StateAt(s.made)
		s.states = append(s.states, st)
		if st != Active {
			continue
		}
		if k.SEP() {
			activeSEP = append(activeSEP, k)
		} else {
			activeZone = append(activeZone, k)
		}
	}
	// A KSK+ZSK pair splits the work; a CSK (a SEP key with no active ZSK
	// beside it) signs everything; ZSKs alone sign their own DNSKEY set.
	s.zsks, s.ksks = activeZone, activeSEP
	if len(s.zsks) == 0 {
		s.zsks = activeSEP
	}
	if len(s.ksks) == 0 {
		s.ksks = activeZone
	}
	if len(s.zsks) == 0 {
		return nil, fmt.Errorf("%w: no key of %s is active at %s: %s", ErrPolicy, origin, s.made.UTC().Format(time.RFC3339), s.describeKeys())
	}
	s.apex = s.apexRecords()
	h := sha256.New()
	h.Write([]byte(origin))
	for _, k := range append(slices.Clone(s.ksks), s.zsks...) {
		fmt.Fprintf(h, "|%d/%d/%s", k.DNSKEY.Algorithm, k.Tag(), k.DNSKEY.PublicKey)
	}
	copy(s.keyID[:], h.Sum(nil))
	return s, nil
}

func (s *Signer) describeKeys() string {
	if len(s.keys) == 0 {
		return "there are no keys"
	}
	var parts []string
	for i, k := range s.keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, s.states[i]))
	}
	return strings.Join(parts, ", ")
}

// apexRecords are the DNSKEY RRset (every published key), and the CDS
// (SHA-256) and CDNSKEY records of the SEP keys whose SyncPublish time
// has come (RFC 7344 §4).
func (s *Signer) apexRecords() []dns.RR {
	var out []dns.RR
	ttl := s.policy.DNSKEYTTL
	var cds, cdnskey []dns.RR
	for i, k := range s.keys {
		if st := s.states[i]; st != Published && st != Active && st != Retired {
			continue
		}
		dk := *k.DNSKEY
		dk.Hdr = dns.RR_Header{Name: s.origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl}
		out = append(out, &dk)
		if k.syncPublished(s.made) {
			ds := dk.ToDS(dns.SHA256).ToCDS()
			ds.Hdr.Ttl = ttl
			cds = append(cds, ds)
			c := dk.ToCDNSKEY()
			c.Hdr.Ttl = ttl
			cdnskey = append(cdnskey, c)
		}
	}
	return append(append(out, cds...), cdnskey...)
}

// Fingerprint says what the signatures of a zone signed by s depend on
// besides its records: the signing epoch and the keys that sign.
func (s *Signer) Fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d", s.Epoch(s.made).Unix())
	for _, role := range []struct {
		name string
		keys []*Key
	}{{"keys", s.ksks}, {"zone", s.zsks}} {
		b.WriteString(" " + role.name)
		for _, k := range role.keys {
			fmt.Fprintf(&b, " %d/%d", k.DNSKEY.Algorithm, k.Tag())
		}
	}
	return b.String()
}

// Origin is the zone apex the signer signs for.
func (s *Signer) Origin() string { return s.origin }

// Policy is the policy the signer was made with.
func (s *Signer) Policy() Policy { return s.policy }

// Apex returns the records the signer publishes at the apex: DNSKEY, CDS
// and CDNSKEY (shared: do not modify).
func (s *Signer) Apex() []dns.RR { return s.apex }

// Epoch is the start of the signing epoch at t: signatures made in it
// have inception Epoch-InceptionOffset and expiration Epoch+Validity, so
// a zone signed in it and served until the next epoch always has at
// least Refresh of validity left.
func (s *Signer) Epoch(t time.Time) time.Time {
	period := s.policy.Validity - s.policy.Refresh
	return time.Unix(0, 0).Add(t.Sub(time.Unix(0, 0)).Truncate(period))
}

func (s *Signer) times(epoch time.Time) sigTimes {
	return sigTimes{
		inception:  uint32(epoch.Add(-s.policy.InceptionOffset).Unix()),
		expiration: uint32(epoch.Add(s.policy.Validity).Unix()),
	}
}

// NextEvent is when the zone must next be rebuilt: the first key timing
// event after the signer was made, or the next signing epoch.
func (s *Signer) NextEvent() time.Time {
	next := s.Epoch(s.made).Add(s.policy.Validity - s.policy.Refresh)
	for _, k := range s.keys {
		if at := k.nextEvent(s.made); !at.IsZero() && at.Before(next) {
			next = at
		}
	}
	return next
}

// KeyStatus is a key's state as the signer saw it.
type KeyStatus struct {
	Key   *Key
	State State
	// Signs says what the key signs: "zone", "keys" (the apex key
	// RRsets), "zone+keys", or "" when it does not sign.
	Signs string
}

// Keys returns every key the signer knows, SEP keys first.
func (s *Signer) Keys() []KeyStatus {
	out := make([]KeyStatus, len(s.keys))
	for i, k := range s.keys {
		var roles []string
		if slices.Contains(s.zsks, k) {
			roles = append(roles, "zone")
		}
		if slices.Contains(s.ksks, k) {
			roles = append(roles, "keys")
		}
		out[i] = KeyStatus{Key: k, State: s.states[i], Signs: strings.Join(roles, "+")}
	}
	return out
}

// signersOf returns the keys that sign an RRset of type t.
func (s *Signer) signersOf(t uint16) []*Key {
	switch t {
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return s.ksks
	}
	return s.zsks
}

// Sign returns the RRSIGs of rrset (one per active key of its role),
// from the cache when it holds them for this zone version, RRset content
// and epoch. The records must be one RRset: one owner (any case), type
// and class. The RRSIGs are owned by the owner lower-cased; a reply may
// spell it as asked.
func (s *Signer) Sign(rrset []dns.RR, version uint32) ([]dns.RR, error) {
	c, err := canonicalize(rrset)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %w", err)
	}
	epoch := s.Epoch(s.now())
	k := s.cacheKey(nil, epoch, version, c.recs)
	sigs, err := s.cache.get(k, func() (Sigs, error) { return s.signCanonical(c, s.times(epoch)) })
	if err != nil {
		return nil, err
	}
	return sigRRs(sigs, rrset[0].Header().Name, c.class, c.ttl)
}

// cacheKey is the signature cache's key of an RRset whose canonical
// records are recs, for a zone version and signing epoch: a SHA-256 over
// the signing keys, the epoch, the version and the records, hashed in
// scratch (grown when too small).
func (s *Signer) cacheKey(scratch []byte, epoch time.Time, version uint32, recs [][]byte) cacheKey {
	b := append(scratch[:0], s.keyID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(epoch.Unix()))
	b = binary.BigEndian.AppendUint32(b, version)
	for _, r := range recs {
		b = append(b, r...)
	}
	return sha256.Sum256(b)
}

// signCanonical makes the RRSIGs of c, one per key of its role.
func (s *Signer) signCanonical(c *canonicalRRset, t sigTimes) (Sigs, error) {
	keys := s.signersOf(c.rtype)
	var out Sigs
	for _, k := range keys {
		rd, err := signRRset(k, c, t)
		if err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(rd)))
		out = append(out, rd...)
	}
	s.cache.stats.signatures.Add(uint64(len(keys)))
	return out, nil
}

// Stats returns the counters of the signer's cache.
func (s *Signer) Stats() *Stats { return &s.cache.stats }
