package journal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/zone"
)

var shared struct {
	once sync.Once
	vs   []*zone.Snapshot
}

// vs returns the three versions of versions(), built once for all tests.
func vs(t *testing.T) []*zone.Snapshot {
	t.Helper()
	shared.once.Do(func() { shared.vs = versions(t, zone.PortNamesRegistered) })
	if shared.vs == nil {
		t.Fatal("the test versions could not be built (see the first test that failed)")
	}
	return shared.vs
}

// opened opens the journal at path for the test zone, closed at cleanup.
func opened(t *testing.T, path string, opts journal.Options) *journal.Journal {
	t.Helper()
	j, err := journal.Open(path, zonetest.Origin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

var big = journal.Options{MaxSize: 64 << 20}

// written makes a journal holding v1->v2->v3 and closes it.
func written(t *testing.T, path string) {
	t.Helper()
	v := vs(t)
	j, err := journal.Open(path, zonetest.Origin, big)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if kept, err := j.Start(v[0].Version()); err != nil || kept {
		t.Fatalf("Start on a new journal: kept %v, %v", kept, err)
	}
	for i := 1; i < len(v); i++ {
		if err := j.Append(mustDiff(t, v[i-1], v[i]), v[i].Version()); err != nil {
			t.Fatal(err)
		}
	}
}

// sameDelta requires two deltas to carry the same records.
func sameDelta(t *testing.T, what string, got, want journal.Delta) {
	t.Helper()
	s := func(d journal.Delta) string {
		var b strings.Builder
		for _, rrs := range [][]dns.RR{{d.From, d.To}, d.Deleted, d.Added} {
			for _, rr := range rrs {
				b.WriteString(rr.String() + "\n")
			}
			b.WriteString("--\n")
		}
		return b.String()
	}
	if a, b := s(got), s(want); a != b {
		t.Errorf("%s: delta\n%s\nwant\n%s", what, a, b)
	}
}

// TestJournalAcrossRestart writes two deltas, reopens the file as a
// restart does, and serves each range from it: v1->v3 condensed, v2->v3
// alone; serials it does not join are refused.
func TestJournalAcrossRestart(t *testing.T) {
	v := vs(t)
	path := journal.Path(t.TempDir(), zonetest.Origin)
	written(t, path)

	j := opened(t, path, big)
	if err := j.Damage(); err != nil {
		t.Fatalf("a journal written whole is damaged: %v", err)
	}
	if got, want := j.Last(), v[2].Version(); got != want {
		t.Fatalf("Last %d, want %d", got.Serial, want.Serial)
	}
	if kept, err := j.Start(v[2].Version()); err != nil || !kept {
		t.Fatalf("Start at the journal's last version: kept %v, %v", kept, err)
	}
	d12, d23 := mustDiff(t, v[0], v[1]), mustDiff(t, v[1], v[2])
	c13, err := journal.Condense([]journal.Delta{d12, d23})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to uint32
		want     *journal.Delta
	}{
		{v[0].Serial(), v[2].Serial(), &c13},
		{v[1].Serial(), v[2].Serial(), &d23},
		{v[0].Serial(), v[1].Serial(), &d12},
		{v[0].Serial() - 1, v[2].Serial(), nil}, // never a version
		{v[2].Serial(), v[2].Serial(), nil},     // nothing to send: the caller says "up to date"
		{v[1].Serial(), v[2].Serial() + 1, nil}, // a future serial
	} {
		d, ok := j.Changes(c.from, c.to)
		if ok != (c.want != nil) {
			t.Errorf("Changes(%d, %d): ok %v", c.from, c.to, ok)
			continue
		}
		if ok {
			sameDelta(t, "after restart", d, *c.want)
		}
	}
	oldest, newest, deltas, size := j.Stats()
	if oldest != v[0].Serial() || newest != v[2].Serial() || deltas != 2 || size == 0 {
		t.Errorf("Stats: %d..%d, %d deltas, %d bytes", oldest, newest, deltas, size)
	}
}

// TestJournalStartOver checks that a journal leading to other content
// than the zone served at start is not used: not when the serial differs,
// and not when only the content does.
func TestJournalStartOver(t *testing.T) {
	v := vs(t)
	for _, c := range []struct {
		name string
		at   zone.Version
	}{
		{"older version", v[1].Version()},
		{"same serial, other content", zone.Version{Serial: v[2].Serial(), Digest: v[0].Version().Digest}},
		{"newer serial", zone.Version{Serial: v[2].Serial() + 1, Digest: v[2].Version().Digest}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := journal.Path(t.TempDir(), zonetest.Origin)
			written(t, path)
			j := opened(t, path, big)
			if kept, err := j.Start(c.at); err != nil || kept {
				t.Fatalf("Start: kept %v, %v; want the journal started over", kept, err)
			}
			if _, ok := j.Changes(v[0].Serial(), v[2].Serial()); ok {
				t.Error("the old history is still served")
			}
			if _, ok := j.Changes(v[0].Serial(), c.at.Serial); ok {
				t.Error("a delta to the new version is served")
			}
			// What was written survives the next restart: the checkpoint.
			j.Close()
			again := opened(t, path, big)
			if again.Damage() != nil || again.Last() != c.at {
				t.Errorf("after restart: damage %v, last %+v, want %+v", again.Damage(), again.Last(), c.at)
			}
		})
	}
}

// TestJournalDamage cuts and corrupts a good journal file every way a
// crash or a disk can, and requires each to be detected at Open, with the
// history dropped and the highest intact serial kept for the next serial.
func TestJournalDamage(t *testing.T) {
	v := vs(t)
	dir := t.TempDir()
	good := journal.Path(dir, zonetest.Origin)
	written(t, good)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	frames := frameOffsets(t, data)
	if len(frames) != 4 { // header, checkpoint, two deltas
		t.Fatalf("%d frames", len(frames))
	}
	type damage struct {
		name string
		data []byte
	}
	var cases []damage
	flip := func(off int) []byte {
		b := append([]byte(nil), data...)
		b[off] ^= 0x40
		return b
	}
	// Cut short inside the last frame: at each byte of its header and
	// first records, then every 251st byte, and one byte short; and in
	// the others.
	last := frames[len(frames)-1]
	for n := last + 1; n < len(data); n++ {
		if n < last+96 || (n-last)%251 == 0 || n == len(data)-1 {
			cases = append(cases, damage{"cut in the last delta at " + itoa(n), data[:n]})
		}
	}
	for _, n := range []int{3, 8, frames[1] + 4, frames[2] + 20} {
		cases = append(cases, damage{"cut at " + itoa(n), data[:n]})
	}
	for i, f := range frames {
		cases = append(cases,
			damage{"length of frame " + itoa(i), flip(f + 1)},
			damage{"checksum of frame " + itoa(i), flip(f + 6)},
			damage{"body of frame " + itoa(i), flip(f + 12)},
		)
	}
	cases = append(cases,
		damage{"magic", flip(2)},
		damage{"garbage appended", append(append([]byte(nil), data...), "garbage"...)},
		damage{"a frame repeated", append(append([]byte(nil), data...), data[last:]...)},
		damage{"zeros", make([]byte, len(data))},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := journal.Path(t.TempDir(), zonetest.Origin)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			j := opened(t, path, big)
			if j.Damage() == nil {
				t.Fatal("damage not detected")
			}
			// No file beside it: only the serials of intact frames.
			if last := j.Last(); last.Digest != ([32]byte{}) || last.Serial > v[2].Serial() {
				t.Errorf("Last after damage %+v, want a serial at most %d and no digest", last, v[2].Serial())
			}
			if _, ok := j.Changes(v[0].Serial(), v[2].Serial()); ok {
				t.Fatal("a damaged journal serves a delta")
			}
			if kept, err := j.Start(v[2].Version()); kept || err != nil {
				t.Fatalf("Start after damage: kept %v, %v", kept, err)
			}
		})
	}
	// The version beside the journal survives its damage: the restart
	// knows the serial and content it last served.
	t.Run("damaged, version beside it", func(t *testing.T) {
		path := journal.Path(t.TempDir(), zonetest.Origin)
		written(t, path)
		if err := os.WriteFile(path, data[:len(data)-3], 0o600); err != nil {
			t.Fatal(err)
		}
		j := opened(t, path, big)
		if j.Damage() == nil || j.Last() != v[2].Version() {
			t.Errorf("damage %v, Last %d, want damage and the version beside the file, %d", j.Damage(), j.Last().Serial, v[2].Serial())
		}
		j.Close()
		if got := journal.ReadLast(path, zonetest.Origin); got != v[2].Version() {
			t.Errorf("ReadLast %d, want %d", got.Serial, v[2].Serial())
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if j := opened(t, path, big); j.Damage() != nil || j.Last() != v[2].Version() {
			t.Errorf("journal removed: damage %v, Last %d, want the version beside it, %d", j.Damage(), j.Last().Serial, v[2].Serial())
		}
		// A damaged version file is not trusted either.
		b, err := os.ReadFile(path + ".last")
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-9] ^= 1
		os.WriteFile(path+".last", b, 0o600)
		if got := journal.ReadLast(path, zonetest.Origin); got != (zone.Version{}) {
			t.Errorf("damaged version file read as %+v", got)
		}
	})
	// Cut exactly between frames: every frame is intact, but the journal
	// ends at an older version than the zone, so Start drops it.
	t.Run("cut between frames", func(t *testing.T) {
		path := journal.Path(t.TempDir(), zonetest.Origin)
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, data[:last], 0o600); err != nil {
			t.Fatal(err)
		}
		j := opened(t, path, big)
		if j.Damage() != nil || j.Last() != v[1].Version() {
			t.Fatalf("damage %v, last %d", j.Damage(), j.Last().Serial)
		}
		if kept, err := j.Start(v[2].Version()); kept || err != nil {
			t.Fatalf("Start with a zone newer than the journal: kept %v, %v", kept, err)
		}
		if _, ok := j.Changes(v[0].Serial(), v[1].Serial()); ok {
			t.Error("history of a journal that does not reach the zone is served")
		}
	})
	t.Run("another zone", func(t *testing.T) {
		j := opened(t, good, big)
		j.Close()
		other, err := journal.Open(good, "ports.home.arpa.", big)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if other.Damage() == nil || !strings.Contains(other.Damage().Error(), "not ports.home.arpa.") {
			t.Errorf("journal of ports.local opened for ports.home.arpa: damage %v", other.Damage())
		}
	})
}

// frameOffsets returns where each frame of a journal file starts.
func frameOffsets(t *testing.T, data []byte) []int {
	t.Helper()
	var out []int
	for off := 8; off < len(data); {
		out = append(out, off)
		n := int(data[off])<<24 | int(data[off+1])<<16 | int(data[off+2])<<8 | int(data[off+3])
		off += 8 + n
	}
	return out
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// TestJournalBounds checks the size and age limits: the oldest deltas go
// first, the newest always stays, and a delta larger than the whole
// journal resets it.
func TestJournalBounds(t *testing.T) {
	v := vs(t)
	d12, d23 := mustDiff(t, v[0], v[1]), mustDiff(t, v[1], v[2])
	start := func(t *testing.T, opts journal.Options) *journal.Journal {
		j := opened(t, journal.Path(t.TempDir(), zonetest.Origin), opts)
		if _, err := j.Start(v[0].Version()); err != nil {
			t.Fatal(err)
		}
		return j
	}
	t.Run("size", func(t *testing.T) {
		// Room for the second delta, not for both.
		probe := start(t, big)
		_, _, _, size0 := probe.Stats()
		probe.Append(d12, v[1].Version())
		_, _, _, size1 := probe.Stats()
		probe.Append(d23, v[2].Version())
		_, _, _, size2 := probe.Stats()
		if size0 == 0 || size1 <= size0 || size2 <= size1 {
			t.Fatalf("sizes %d, %d, %d", size0, size1, size2)
		}
		j := start(t, journal.Options{MaxSize: size2 - (size1 - size0) + 16})
		if err := j.Append(d12, v[1].Version()); err != nil {
			t.Fatal(err)
		}
		if err := j.Append(d23, v[2].Version()); err != nil {
			t.Fatal(err)
		}
		if _, ok := j.Changes(v[0].Serial(), v[2].Serial()); ok {
			t.Error("the oldest delta was kept past the size limit")
		}
		if _, ok := j.Changes(v[1].Serial(), v[2].Serial()); !ok {
			t.Error("the newest delta was dropped")
		}
	})
	t.Run("age", func(t *testing.T) {
		now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		j := start(t, journal.Options{MaxSize: 64 << 20, MaxAge: 24 * time.Hour, Now: func() time.Time { return now }})
		if err := j.Append(d12, v[1].Version()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(25 * time.Hour)
		if err := j.Append(d23, v[2].Version()); err != nil {
			t.Fatal(err)
		}
		if _, ok := j.Changes(v[0].Serial(), v[2].Serial()); ok {
			t.Error("a delta older than max_age was kept")
		}
		if _, ok := j.Changes(v[1].Serial(), v[2].Serial()); !ok {
			t.Error("the newest delta was dropped")
		}
	})
	t.Run("too large", func(t *testing.T) {
		j := start(t, journal.Options{MaxSize: 512})
		err := j.Append(d23, v[2].Version())
		if !errors.Is(err, journal.ErrReset) {
			t.Fatalf("a delta larger than the journal: %v, want ErrReset", err)
		}
		if j.Last() != v[2].Version() {
			t.Errorf("after the reset the journal is at %d, want %d", j.Last().Serial, v[2].Serial())
		}
	})
	t.Run("gap", func(t *testing.T) {
		j := start(t, big)
		if err := j.Append(d23, v[2].Version()); !errors.Is(err, journal.ErrReset) {
			t.Fatalf("a delta that does not start where the journal ends: %v, want ErrReset", err)
		}
		if _, ok := j.Changes(v[1].Serial(), v[2].Serial()); ok {
			t.Error("a delta that did not chain is served")
		}
	})
}

// TestJournalLocked checks that a second process (here, a second Open)
// cannot use a journal in use.
func TestJournalLocked(t *testing.T) {
	path := journal.Path(t.TempDir(), zonetest.Origin)
	opened(t, path, big)
	if j, err := journal.Open(path, zonetest.Origin, big); err == nil {
		j.Close()
		t.Fatal("a journal in use opened twice")
	}
}

func TestPath(t *testing.T) {
	for _, c := range []struct{ origin, want string }{
		{"ports.local.", "/s/journal/ports.local.jnl"},
		{"Ports.Home.Arpa.", "/s/journal/ports.home.arpa.jnl"},
		{".", "/s/journal/root.jnl"},
		{`a/b\.c.`, "/s/journal/a_b_.c.jnl"},
	} {
		if got := journal.Path("/s", c.origin); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.origin, got, c.want)
		}
	}
}
