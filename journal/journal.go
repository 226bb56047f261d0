// Package journal keeps the differences between consecutive versions of a
// zone in a file that survives restarts, so that a secondary holding an
// older version is sent only what changed (IXFR, RFC 1995).
//
// Deltas are computed when a reload builds a new snapshot (Diff), appended
// to the file with a length, a CRC-32C and the serials they join, and
// synced before the new zone is served. At start the file is read whole
// and used only if every frame is intact, the frames chain serial to
// serial, and the last one ends at the very zone being served (same serial
// and content digest): a journal that is cut short, corrupted, or leads to
// other content is dropped and started over, and secondaries get a full
// transfer. A diff that cannot be proven is never sent.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/svcdns/svcdns/internal/atomicfile"
	"github.com/svcdns/svcdns/zone"
	"golang.org/x/sys/unix"
)

// Options bound what a journal keeps.
type Options struct {
	// MaxSize is the most bytes the file holds: the oldest deltas are
	// dropped to stay under it, and a delta larger than it is not kept.
	MaxSize int64
	// MaxAge drops deltas written longer ago than this; 0 keeps them
	// until MaxSize does.
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ErrReset wraps the reason a journal dropped its history and started over
// from the current version (secondaries older than it get a full
// transfer).
var ErrReset = errors.New("journal started over")

// Journal is the journal of one zone. Changes may be called from any
// number of goroutines while Start and Append (serialized by the caller's
// reloads, and by a lock here) replace the history it reads.
type Journal struct {
	path   string
	origin string
	opts   Options
	lock   *os.File

	mu     sync.Mutex
	f      *os.File // for appends, once started
	size   int64
	hist   atomic.Pointer[[]entry]
	damage error
	last   zone.Version
}

// Path returns where the journal of origin lives in the state directory.
func Path(stateDir, origin string) string {
	name := strings.TrimSuffix(strings.ToLower(origin), ".")
	if name == "" {
		name = "root"
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	return filepath.Join(stateDir, "journal", name+".jnl")
}

// Open reads the journal of origin at path; a missing file is an empty
// journal. A file that is damaged (cut short, corrupted, of another zone)
// is not an error: the journal comes back empty, Damage says what was
// wrong, and Last holds the last version recorded beside the file, or
// failing that the highest serial the intact frames name. Open fails only
// when the file cannot be read or another process holds it.
func Open(path, origin string, opts Options) (*Journal, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &Journal{path: path, origin: origin, opts: opts}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: %s is in use by another process: %w", path, err)
	}
	j.lock = lock
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		j.hist.Store(&[]entry{})
		j.last = readLastFile(path, zone.Version{})
		return j, nil
	case err != nil:
		lock.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	entries, maxSerial, err := parse(data, origin)
	if err != nil {
		j.damage = fmt.Errorf("journal: %s: %w", path, err)
		j.last = readLastFile(path, zone.Version{Serial: maxSerial})
		j.hist.Store(&[]entry{})
		return j, nil
	}
	j.hist.Store(&entries)
	j.size = int64(len(data))
	if len(entries) > 0 {
		j.last = entries[len(entries)-1].version()
	}
	return j, nil
}

// The last version is also kept beside the journal, in a small file
// replaced atomically whenever it changes: when the journal is lost or
// damaged, the serial of the zone last served is still known, so that it
// neither goes backwards (secondaries would ignore the primary) nor, for
// the same content, moves on for nothing. It holds a magic, the serial,
// the digest and a CRC-32C of them.
const lastMagic = "SVCJLST\x01"

func lastPath(path string) string { return path + ".last" }

func encodeLast(v zone.Version) []byte {
	b := append([]byte(lastMagic), binary.BigEndian.AppendUint32(nil, v.Serial)...)
	b = append(b, v.Digest[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// readLastFile returns the version in the file beside the journal at
// path when it is intact and not older than floor's serial, else floor.
func readLastFile(path string, floor zone.Version) zone.Version {
	b, err := os.ReadFile(lastPath(path))
	if err != nil || len(b) != len(lastMagic)+4+32+4 || string(b[:len(lastMagic)]) != lastMagic ||
		crc32.Checksum(b[:len(b)-4], crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return floor
	}
	v := zone.Version{Serial: binary.BigEndian.Uint32(b[len(lastMagic):])}
	copy(v.Digest[:], b[len(lastMagic)+4:])
	if v.Serial < floor.Serial {
		return floor
	}
	return v
}

// setLast records the version the journal now ends at, in memory and
// beside the file.
func (j *Journal) setLast(v zone.Version) error {
	j.last = v
	if _, err := atomicfile.Write(lastPath(j.path), encodeLast(v), 0o600); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Damage reports why the file read by Open was not used, or nil.
func (j *Journal) Damage() error { return j.damage }

// Last is the version the journal ends at: the zone it was last kept for.
// After damage it comes from the file beside the journal, or only its
// Serial is known; the zero Version means none.
func (j *Journal) Last() zone.Version {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

// Stats reports the oldest and newest serials the journal holds, how many
// deltas join them, and the size of its file.
func (j *Journal) Stats() (oldest, newest uint32, deltas int, bytes int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	h := *j.hist.Load()
	if len(h) == 0 {
		return 0, 0, 0, j.size
	}
	for _, e := range h {
		if e.kind == kindDelta {
			deltas++
		}
	}
	return h[0].from, h[len(h)-1].to, deltas, j.size
}

// Start ties the journal to the zone about to be served, v. If the
// journal ends at exactly v (serial and digest) its history is kept;
// otherwise (another version, damage, or nothing yet) the file is
// replaced by a checkpoint of v and earlier serials get full transfers.
func (j *Journal) Start(v zone.Version) (kept bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	h := *j.hist.Load()
	if j.damage == nil && len(h) > 0 && h[len(h)-1].version() == v {
		kept = true
		if err := j.setLast(v); err != nil {
			return kept, err
		}
		if pruned := j.prune(h); len(pruned) != len(h) {
			return kept, j.rewrite(pruned, v)
		}
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return kept, fmt.Errorf("journal: %w", err)
		}
		j.f = f
		return kept, nil
	}
	return false, j.rewrite([]entry{checkpointEntry(v, j.opts.Now().Unix())}, v)
}

// Append adds the delta d, which leads from the journal's last version to
// to, and syncs it to disk. A delta that does not start where the journal
// ends, or is larger than MaxSize, resets the journal to a checkpoint of
// to and returns an error wrapping ErrReset.
func (j *Journal) Append(d Delta, to zone.Version) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.opts.Now().Unix()
	reset := func(why error) error {
		if err := j.rewrite([]entry{checkpointEntry(to, now)}, to); err != nil {
			return errors.Join(fmt.Errorf("%w: %w", ErrReset, why), err)
		}
		return fmt.Errorf("%w: %w", ErrReset, why)
	}
	if j.last.Serial != d.From.Serial || j.f == nil {
		return reset(fmt.Errorf("delta from serial %d, journal at %d", d.From.Serial, j.last.Serial))
	}
	e, err := deltaEntry(&d, to, now)
	if err != nil {
		return reset(err)
	}
	if int64(len(magic)+len(e.frame)+64) > j.opts.MaxSize {
		return reset(fmt.Errorf("a delta of %d records (%d bytes) is larger than the journal's %d bytes", d.Len(), len(e.frame), j.opts.MaxSize))
	}
	h := append(append([]entry(nil), *j.hist.Load()...), e)
	if pruned := j.prune(h); len(pruned) != len(h) {
		return j.rewrite(pruned, to)
	}
	if _, err := j.f.Write(e.frame); err != nil {
		return j.appendFailed(h, to, err)
	}
	if err := j.f.Sync(); err != nil {
		return j.appendFailed(h, to, err)
	}
	j.size += int64(len(e.frame))
	j.hist.Store(&h)
	return j.setLast(to)
}

// appendFailed recovers from a failed append: the file is replaced whole
// with the history h, or, failing that, the journal stops holding
// anything (a half-written frame must not be followed by good ones).
func (j *Journal) appendFailed(h []entry, to zone.Version, err error) error {
	if rerr := j.rewrite(h, to); rerr != nil {
		j.hist.Store(&[]entry{})
		if j.f != nil {
			j.f.Close()
			j.f = nil
		}
		return fmt.Errorf("journal: append: %w; rewrite: %w", err, rerr)
	}
	return nil
}

// prune drops deltas older than MaxAge and then the oldest until the file
// fits MaxSize; the last entry always stays.
func (j *Journal) prune(h []entry) []entry {
	header := int64(len(magic) + 64)
	total := header
	for _, e := range h {
		total += int64(len(e.frame))
	}
	cut := time.Time{}
	if j.opts.MaxAge > 0 {
		cut = j.opts.Now().Add(-j.opts.MaxAge)
	}
	for len(h) > 1 && (total > j.opts.MaxSize || !cut.IsZero() && time.Unix(h[0].time, 0).Before(cut)) {
		total -= int64(len(h[0].frame))
		h = h[1:]
	}
	return h
}

// rewrite replaces the file with h (atomically: a crash leaves the old
// file or the new) and reopens it for appends. The history is published
// only once it is on disk.
func (j *Journal) rewrite(h []entry, last zone.Version) error {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	hdr, err := headerFrame(j.origin)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	data := append([]byte(magic), hdr...)
	for _, e := range h {
		data = append(data, e.frame...)
	}
	j.damage = nil
	j.last = last
	if _, err := atomicfile.Write(j.path, data, 0o600); err != nil {
		j.hist.Store(&[]entry{})
		return fmt.Errorf("journal: %w", err)
	}
	j.hist.Store(&h)
	j.size = int64(len(data))
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.f = f
	// The file beside it follows the journal, never leads it: after a
	// crash between the two, the journal itself says where it ends.
	return j.setLast(last)
}

// Changes returns the condensed delta from serial from to serial to
// (RFC 1995 §4), or false when the journal has no unbroken chain of
// deltas between them (the secondary then needs a full transfer).
func (j *Journal) Changes(from, to uint32) (Delta, bool) {
	return changes(*j.hist.Load(), j.origin, from, to)
}

func changes(h []entry, origin string, from, to uint32) (Delta, bool) {
	start := -1
	for i := range h {
		if h[i].kind == kindDelta && h[i].from == from {
			start = i
			break
		}
	}
	if start < 0 {
		return Delta{}, false
	}
	var ds []Delta
	for i := start; i < len(h); i++ {
		e := &h[i]
		if e.kind != kindDelta || i > start && e.from != h[i-1].to {
			return Delta{}, false
		}
		d, err := decodeDelta(e.body(), origin)
		if err != nil {
			return Delta{}, false
		}
		ds = append(ds, d)
		if e.to == to {
			c, err := Condense(ds)
			return c, err == nil
		}
	}
	return Delta{}, false
}

// Close releases the file and the lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	if j.f != nil {
		err = j.f.Close()
		j.f = nil
	}
	if j.lock != nil {
		err = errors.Join(err, j.lock.Close())
		j.lock = nil
	}
	return err
}

// ReadLast returns the version the journal file at path ends at, reading
// it without the lock (a running server may hold it): for commands that
// show the zone as the server serves it. The zero Version means no usable
// journal; after damage only the highest intact serial is known.
func ReadLast(path, origin string) zone.Version {
	data, err := os.ReadFile(path)
	if err != nil {
		return readLastFile(path, zone.Version{})
	}
	entries, maxSerial, err := parse(data, origin)
	if err != nil || len(entries) == 0 {
		return readLastFile(path, zone.Version{Serial: maxSerial})
	}
	return entries[len(entries)-1].version()
}
