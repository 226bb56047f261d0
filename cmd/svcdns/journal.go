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

// openJournals opens the IXFR journal of each origin c serves, in the
// state directory (one file per origin). An origin is missing from the
// result when the journal is off or cannot be used (logged): IXFR of that
// zone is then answered with the whole zone and serving goes on.
func openJournals(c config.Config, env []string, log *slog.Logger) map[string]*journal.Journal {
	out := map[string]*journal.Journal{}
	opts, on := journalOptions(c)
	if !on {
		log.Info("journal off (transfer.journal.max_size 0): IXFR is answered with the whole zone")
		return out
	}
	dir, err := config.StateDirectory(c, env)
	if err != nil {
		log.Warn("no IXFR journal: IXFR is answered with the whole zone", "err", err)
		return out
	}
	for _, origin := range c.AllOrigins() {
		path := journal.Path(dir, origin)
		j, err := journal.Open(path, origin, opts)
		if err != nil {
			log.Warn("no IXFR journal: IXFR is answered with the whole zone", "zone", origin, "path", path, "err", err)
			continue
		}
		if err := j.Damage(); err != nil {
			// RFC 1995 §4 lets the full transfer stand in for any diff the
			// journal can no longer prove.
			log.Error("journal damaged: not used; secondaries get a full transfer",
				"zone", origin, "path", path, "err", err, "last_serial", j.Last().Serial)
		}
		out[origin] = j
	}
	return out
}

// lastOf returns the version each journal ends at, by origin: what the
// zones built at start follow.
func lastOf(jnls map[string]*journal.Journal) map[string]zone.Version {
	out := make(map[string]zone.Version, len(jnls))
	for origin, j := range jnls {
		out[origin] = j.Last()
	}
	return out
}

// startJournals ties each journal to the zone of its origin served at
// start, or closes and drops one whose file cannot be written (logged).
func (d *daemon) startJournals(snaps []*zone.Snapshot) {
	for origin, j := range d.jnls {
		snap := snapshotOf(snaps, origin)
		kept, err := j.Start(snap.Version())
		if err != nil {
			d.log.Error("journal cannot be written: IXFR is answered with the whole zone", "zone", origin, "err", err)
			j.Close()
			delete(d.jnls, origin)
			continue
		}
		oldest, newest, deltas, size := j.Stats()
		if kept {
			d.log.Info("journal kept", "zone", origin, "serials", serialRange(oldest, newest), "deltas", deltas, "bytes", size)
			continue
		}
		d.log.Info("journal started at this zone: older serials get a full transfer", "zone", origin, "serial", newest, "bytes", size)
	}
}

// closeJournals releases every journal.
func (d *daemon) closeJournals() {
	for _, j := range d.jnls {
		j.Close()
	}
}

// recordDeltas appends to each zone's journal the difference between the
// zone being replaced and its successor, before the successor is served.
// A failure leaves IXFR to full transfers for the serials it would have
// joined. A zone whose origin is new since start has no journal until
// restart.
func (d *daemon) recordDeltas(old, snaps []*zone.Snapshot) {
	for _, snap := range snaps {
		j := d.jnls[snap.Origin()]
		prev := snapshotOf(old, snap.Origin())
		if j == nil || prev == nil || prev.Serial() == snap.Serial() {
			continue
		}
		d.recordDelta(j, prev, snap)
	}
}

func (d *daemon) recordDelta(j *journal.Journal, old, snap *zone.Snapshot) {
	origin := snap.Origin()
	start := time.Now()
	delta, err := journal.Diff(old, snap)
	if err != nil {
		d.log.Error("journal: no delta; secondaries older than the new serial get a full transfer", "zone", origin, "err", err)
		if _, err := j.Start(snap.Version()); err != nil {
			d.log.Error("journal cannot be written", "zone", origin, "err", err)
		}
		return
	}
	took := time.Since(start)
	err = j.Append(delta, snap.Version())
	switch {
	case errors.Is(err, journal.ErrReset):
		d.log.Warn("journal started over: older serials get a full transfer", "zone", origin, "reason", err, "serial", snap.Serial())
	case err != nil:
		d.log.Error("journal append failed: IXFR from older serials may get a full transfer", "zone", origin, "err", err)
	default:
		oldest, newest, deltas, size := j.Stats()
		d.log.Info("journal appended", "zone", origin, "from", old.Serial(), "to", snap.Serial(), "deleted", len(delta.Deleted),
			"added", len(delta.Added), "diff", took.Round(time.Millisecond), "serials", serialRange(oldest, newest),
			"deltas", deltas, "bytes", size)
	}
}

func serialRange(a, b uint32) string { return fmt.Sprintf("%d..%d", a, b) }

// lastVersions is the version the journal of each origin of c ends at,
// read without taking the journals (a server may hold them), so that
// lookup and zone export show the serials that svcdns serves; an origin
// without one is missing.
func lastVersions(c config.Config, env []string) map[string]zone.Version {
	out := map[string]zone.Version{}
	if _, on := journalOptions(c); !on {
		return out
	}
	dir, err := config.StateDirectory(c, env)
	if err != nil {
		return out
	}
	for _, origin := range c.AllOrigins() {
		if v := journal.ReadLast(journal.Path(dir, origin), origin); v != (zone.Version{}) {
			out[origin] = v
		}
	}
	return out
}
