package dnssec

import (
	"testing"
)

// FuzzParseKey feeds arbitrary .key and .private contents to the key file
// parsers: a bad key file is an error, never a crash, and a key that
// parses can sign what its DNSKEY verifies (the parser's self-test).
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("; comment\nports.local. IN DNSKEY 257 3 15 p3vyhOhBDS6DpE3L63FwT93HLLBwR6hxxURUU+Jcgrs=\n"),
		[]byte("Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\nPrivateKey: IieQ1uUnO9/nc1Pgtp22y3lG2ruBoDFzZrEUYzwNz7c=\nCreated: 20261130135518\n"))
	f.Add([]byte("ports.local. IN DNSKEY 257 3 13 oS77Na/nHojblsBgTAxgBa/Xe2aMiZ41Fj9HvIEzEMUgznpIxuw0NDb/ 4gzVRjDBCtTDd9V5OLNtrJdyUZ41Yw==\n"),
		[]byte("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: ceVyTpdKB0WlYuI6el11pqvgmetOUZR3AoDe6MBUoH0=\nPublish: 20261130135518\nInactive: 20261130145520\n"))
	f.Add([]byte("ports.local. IN DNSKEY 256 3 8 AwEAAa==\n"), []byte("Private-key-format: v1.2\nAlgorithm: 8 (RSASHA256)\nModulus: AA==\n"))
	f.Fuzz(func(t *testing.T, pub, priv []byte) {
		dk, err := parsePublic(pub)
		if err != nil {
			return
		}
		k := &Key{DNSKEY: dk}
		if err := k.parsePrivate(priv); err != nil {
			return
		}
		if k.Signer == nil {
			t.Fatal("a key parsed without its private half")
		}
	})
}
