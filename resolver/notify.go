package resolver

import (
	"context"
	"log/slog"
	"time"

	"github.com/miekg/dns"
)

// Notify tells each secondary that the zone changed (RFC 1996), over UDP,
// retrying each up to 5 times with doubling waits (§3.6) until it answers
// or ctx ends. It returns when every secondary has answered or given up;
// run it in its own goroutine. key, when set, signs the NOTIFY.
func Notify(ctx context.Context, soa *dns.SOA, secondaries []string, key *TSIGKey, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{}, len(secondaries))
	for _, addr := range secondaries {
		go func() {
			defer func() { done <- struct{}{} }()
			notifyOne(ctx, soa, addr, key, log)
		}()
	}
	for range secondaries {
		<-done
	}
}

func notifyOne(ctx context.Context, soa *dns.SOA, addr string, key *TSIGKey, log *slog.Logger) {
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetNotify(soa.Hdr.Name)
	// §3.7: the zone's SOA in the answer section tells the new serial.
	m.Answer = []dns.RR{soa}
	serial := soa.Serial
	if key != nil {
		c.TsigSecret = map[string]string{key.Name: key.Secret}
		m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
	}
	wait := time.Second
	for try := 1; try <= 5; try++ {
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err == nil && r.Rcode == dns.RcodeSuccess {
			log.Info("notify acknowledged", "secondary", addr, "serial", serial)
			return
		}
		if err == nil {
			log.Warn("notify refused", "secondary", addr, "rcode", dns.RcodeToString[r.Rcode], "serial", serial)
			return
		}
		log.Debug("notify unanswered", "secondary", addr, "try", try, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	log.Warn("notify gave up: secondary did not answer", "secondary", addr, "serial", serial)
}
