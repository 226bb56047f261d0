package dnssec

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/atomicfile"
)

// ErrKeyFile is matched by every error reading or writing a key file.
var ErrKeyFile = errors.New("dnssec: key file")

// bindTime is the form of the timing fields in BIND key files
// (YYYYMMDDHHMMSS, UTC).
const bindTime = "20060102150405"

// KeyBase returns the BIND base name of a key: "Kports.local.+013+12345".
func KeyBase(origin string, alg uint8, tag uint16) string {
	return fmt.Sprintf("K%s+%03d+%05d", strings.ToLower(dns.Fqdn(origin)), alg, tag)
}

// trimKeyExt turns "K...+12345.key" or ".private" into the base path.
func trimKeyExt(path string) string {
	for _, ext := range []string{".key", ".private"} {
		if p, ok := strings.CutSuffix(path, ext); ok {
			return p
		}
	}
	return path
}

// ReadKey reads one BIND key pair, given the path of its .key or .private
// file or their common base (dnssec-keygen prints the base). The timing
// metadata comes from the .private file (format v1.3), where BIND keeps
// it; the comments of the .key file are only a copy.
func ReadKey(path string) (*Key, error) {
	base := trimKeyExt(path)
	pub, err := os.ReadFile(base + ".key")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	dk, err := parsePublic(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.key: %v", ErrKeyFile, base, err)
	}
	priv, err := os.ReadFile(base + ".private")
	if err != nil {
		return nil, fmt.Errorf("%w: %s.key has no private key: %v", ErrKeyFile, base, err)
	}
	k := &Key{DNSKEY: dk, File: base}
	if err := k.parsePrivate(priv); err != nil {
		return nil, fmt.Errorf("%w: %s.private: %v", ErrKeyFile, base, err)
	}
	if want := KeyBase(dk.Hdr.Name, dk.Algorithm, k.Tag()); !strings.EqualFold(filepath.Base(base), want) {
		return nil, fmt.Errorf("%w: %s: the key it holds is %s (algorithm %d, tag %d)", ErrKeyFile, base, want, dk.Algorithm, k.Tag())
	}
	return k, nil
}

// parsePublic reads the DNSKEY record of a .key file; lines starting with
// ';' are comments.
func parsePublic(b []byte) (*dns.DNSKEY, error) {
	var dk *dns.DNSKEY
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == ';' {
			continue
		}
		rr, err := dns.NewRR(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		k, ok := rr.(*dns.DNSKEY)
		if !ok {
			return nil, fmt.Errorf("line %d: a %s record, want DNSKEY", line, dns.TypeToString[rr.Header().Rrtype])
		}
		if dk != nil {
			return nil, fmt.Errorf("line %d: a second DNSKEY record", line)
		}
		dk = k
	}
	if dk == nil {
		return nil, errors.New("no DNSKEY record")
	}
	if _, ok := Algorithms[dk.Algorithm]; !ok {
		return nil, fmt.Errorf("algorithm %d (%s) is not one svcdns signs with (%s)", dk.Algorithm, dns.AlgorithmToString[dk.Algorithm], algorithmList())
	}
	if dk.Flags&dns.ZONE == 0 || dk.Protocol != 3 {
		return nil, fmt.Errorf("flags %d protocol %d: not a zone key (RFC 4034 §2.1)", dk.Flags, dk.Protocol)
	}
	if dk.Flags&dns.REVOKE != 0 {
		return nil, errors.New("the key is revoked (RFC 5011); svcdns does not publish revoked keys")
	}
	dk.Hdr.Name = strings.ToLower(dk.Hdr.Name)
	return dk, nil
}

func algorithmList() string {
	var names []string
	for _, n := range Algorithms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parsePrivate reads the private key and the timing metadata of a
// .private file, and proves that the private key is the DNSKEY's by
// signing with it and verifying with the DNSKEY.
func (k *Key) parsePrivate(b []byte) error {
	p, err := k.DNSKEY.ReadPrivateKey(bytes.NewReader(b), "")
	if err != nil {
		return fmt.Errorf("private key: %v", err)
	}
	// miekg/dns returns a key without checking that its fields were there.
	switch p := p.(type) {
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return errors.New("private key: no Ed25519 key")
		}
	case *ecdsa.PrivateKey:
		if p.D == nil || p.D.Sign() <= 0 {
			return errors.New("private key: no ECDSA key")
		}
	case *rsa.PrivateKey:
		if err := p.Validate(); err != nil {
			return fmt.Errorf("private key: %v", err)
		}
	}
	s, ok := p.(crypto.Signer)
	if !ok {
		return fmt.Errorf("private key of type %T cannot sign", p)
	}
	k.Signer = s
	fields := map[string]*time.Time{
		"created": &k.Timing.Created, "publish": &k.Timing.Publish, "activate": &k.Timing.Activate,
		"inactive": &k.Timing.Inactive, "delete": &k.Timing.Delete,
		"syncpublish": &k.Timing.SyncPublish, "syncdelete": &k.Timing.SyncDelete,
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if key == "revoke" {
			return fmt.Errorf("line %d: a Revoke time is set; svcdns does not revoke keys (RFC 5011)", line)
		}
		dst, ok := fields[key]
		if !ok {
			continue
		}
		t, err := time.Parse(bindTime, val)
		if err != nil {
			return fmt.Errorf("line %d: %s %q: want YYYYMMDDHHMMSS", line, key, val)
		}
		*dst = t
	}
	return k.selfTest()
}

// selfTest signs a record with the private key and verifies it with the
// DNSKEY: a .private file that belongs to another key is caught here, not
// by a validator.
func (k *Key) selfTest() error {
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: k.DNSKEY.Hdr.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{"svcdns key check"}}
	c, err := canonicalize([]dns.RR{rr})
	if err != nil {
		return err
	}
	rd, err := signRRset(k, c, sigTimes{inception: 0, expiration: 1})
	if err != nil {
		return fmt.Errorf("private key cannot sign: %v", err)
	}
	sig, err := sigRR(rr.Hdr.Name, rr.Hdr.Class, rr.Hdr.Ttl, rd)
	if err != nil {
		return err
	}
	if err := sig.Verify(k.DNSKEY, []dns.RR{rr}); err != nil {
		return errors.New("the private key does not match the DNSKEY")
	}
	return nil
}

// ReadKeyDir reads every key pair of origin in dir: the K<origin>+*.key
// files (any case) and their .private files. Keys of other zones are
// skipped. It is not an error for dir to hold none.
func ReadKeyDir(dir, origin string) ([]*Key, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: key directory: %v", ErrKeyFile, err)
	}
	prefix := strings.ToLower("K" + dns.Fqdn(origin) + "+")
	var keys []*Key
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".key") || !strings.HasPrefix(strings.ToLower(name), prefix) {
			continue
		}
		k, err := ReadKey(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(k.DNSKEY.Hdr.Name, dns.Fqdn(origin)) {
			return nil, fmt.Errorf("%w: %s: the key is for %s, not %s", ErrKeyFile, k.File, k.DNSKEY.Hdr.Name, origin)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// WriteKey writes k as the BIND key files dir/K<zone>+<alg>+<tag>.key
// (0644) and .private (0600), each atomically, so that BIND's tools
// (dnssec-settime, dnssec-dsfromkey) work on them. It never replaces a
// key file that exists.
func WriteKey(dir string, k *Key) error {
	base := filepath.Join(dir, KeyBase(k.DNSKEY.Hdr.Name, k.DNSKEY.Algorithm, k.Tag()))
	for _, ext := range []string{".key", ".private"} {
		if _, err := os.Stat(base + ext); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s%s exists; not replacing a key", ErrKeyFile, base, ext)
		}
	}
	priv := k.DNSKEY.PrivateKeyString(k.Signer)
	if priv == "" {
		return fmt.Errorf("%w: %s: cannot write a private key of type %T", ErrKeyFile, base, k.Signer)
	}
	var pb, kb strings.Builder
	pb.WriteString(priv)
	role := "zone-signing"
	if k.SEP() {
		role = "key-signing"
	}
	fmt.Fprintf(&kb, "; This is a %s key, keyid %d, for %s\n", role, k.Tag(), k.DNSKEY.Hdr.Name)
	for _, f := range k.Timing.fields() {
		fmt.Fprintf(&pb, "%s: %s\n", f.name, f.at.UTC().Format(bindTime))
		fmt.Fprintf(&kb, "; %s: %s (%s)\n", f.name, f.at.UTC().Format(bindTime), f.at.UTC().Format(time.ANSIC))
	}
	d := k.DNSKEY
	fmt.Fprintf(&kb, "%s IN DNSKEY %d %d %d %s\n", d.Hdr.Name, d.Flags, d.Protocol, d.Algorithm, d.PublicKey)
	// The private half first: a .key without its .private is an error on
	// reading, never a key silently dropped.
	if _, err := atomicfile.Write(base+".private", []byte(pb.String()), 0o600); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if _, err := atomicfile.Write(base+".key", []byte(kb.String()), 0o644); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	k.File = base
	return nil
}

type timingField struct {
	name string
	at   time.Time
}

// fields lists the set times under their BIND names, in BIND's order.
func (t Timing) fields() []timingField {
	var out []timingField
	for _, f := range []timingField{{"Created", t.Created}, {"Publish", t.Publish}, {"Activate", t.Activate},
		{"Inactive", t.Inactive}, {"Delete", t.Delete}, {"SyncPublish", t.SyncPublish}, {"SyncDelete", t.SyncDelete}} {
		if !f.at.IsZero() {
			out = append(out, f)
		}
	}
	return out
}
