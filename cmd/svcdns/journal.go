package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/zone"
)

// journalOptions maps the transfer.journal settings; ok is false when the
// journal is off (max_size 0).
func journalOptions(c config.Config) (journal.Options, bool) {
	j := c.Transfer.Journal
	return journal.Options{MaxSize: int64(j.MaxSize), MaxAge: time.Duration(j.MaxAge) * time.Second}, j.MaxSize > 0
}

// openJournal opens the IXFR journal of c's origin in the state directory.
// It is nil when the journal is off or cannot be used (logged): IXFR is
// then answered with the whole zone and serving goes on.
func openJournal(c config.Config, env []string, log *slog.Logger) *journal.Journal {
	opts, on := journalOptions(c)
	if !on {
		log.Info("journal off (transfer.journal.max_size 0): IXFR is answered with the whole zone")
		return nil
	}
	dir, err := config.StateDirectory(c, env)
	if err != nil {
		log.Warn("no IXFR journal: IXFR is answered with the whole zone", "err", err)
		return nil
	}
	path := journal.Path(dir, c.Origin)
	j, err := journal.Open(path, c.Origin, opts)
	if err != nil {
		log.Warn("no IXFR journal: IXFR is answered with the whole zone", "path", path, "err", err)
		return nil
	}
	if err := j.Damage(); err != nil {
		// RFC 1995 §4 lets the full transfer stand in for any diff the
		// journal can no longer prove.
		log.Error("journal damaged: not used; secondaries get a full transfer",
			"path", path, "err", err, "last_serial", j.Last().Serial)
	}
	return j
}

// startJournal ties the journal to the zone served at start, or turns it
// off when its file cannot be written (logged).
func (d *daemon) startJournal(snap *zone.Snapshot) {
	j := d.jnl
	kept, err := j.Start(snap.Version())
	if err != nil {
		d.log.Error("journal cannot be written: IXFR is answered with the whole zone", "err", err)
		j.Close()
		d.jnl = nil
		return
	}
	oldest, newest, deltas, size := j.Stats()
	if kept {
		d.log.Info("journal kept", "serials", serialRange(oldest, newest), "deltas", deltas, "bytes", size)
		return
	}
	d.log.Info("journal started at this zone: older serials get a full transfer", "serial", newest, "bytes", size)
}

// recordDelta appends the difference between the zone being replaced and
// its successor to the journal, before the successor is served. A failure
// leaves IXFR to full transfers for the serials it would have joined.
func (d *daemon) recordDelta(old, snap *zone.Snapshot) {
	j := d.jnl
	if j == nil || old.Serial() == snap.Serial() {
		return
	}
	if old.Origin() != snap.Origin() {
		d.log.Warn("origin changed: the journal stays with the old origin until restart; IXFR is answered with the whole zone",
			"old", old.Origin(), "new", snap.Origin())
		return
	}
	start := time.Now()
	delta, err := journal.Diff(old, snap)
	if err != nil {
		d.log.Error("journal: no delta; secondaries older than the new serial get a full transfer", "err", err)
		if _, err := j.Start(snap.Version()); err != nil {
			d.log.Error("journal cannot be written", "err", err)
		}
		return
	}
	took := time.Since(start)
	err = j.Append(delta, snap.Version())
	switch {
	case errors.Is(err, journal.ErrReset):
		d.log.Warn("journal started over: older serials get a full transfer", "reason", err, "serial", snap.Serial())
	case err != nil:
		d.log.Error("journal append failed: IXFR from older serials may get a full transfer", "err", err)
	default:
		oldest, newest, deltas, size := j.Stats()
		d.log.Info("journal appended", "from", old.Serial(), "to", snap.Serial(), "deleted", len(delta.Deleted),
			"added", len(delta.Added), "diff", took.Round(time.Millisecond), "serials", serialRange(oldest, newest),
			"deltas", deltas, "bytes", size)
	}
}

func serialRange(a, b uint32) string { return fmt.Sprintf("%d..%d", a, b) }

// lastVersion is the version the journal of c's origin ends at, read
// without taking the journal (a server may hold it), so that lookup and
// zone export show the serial that svcdns serves; zero when there is none.
func lastVersion(c config.Config, env []string) zone.Version {
	if _, on := journalOptions(c); !on {
		return zone.Version{}
	}
	dir, err := config.StateDirectory(c, env)
	if err != nil {
		return zone.Version{}
	}
	return journal.ReadLast(journal.Path(dir, c.Origin), c.Origin)
}
