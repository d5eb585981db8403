// Package ratelog rate-limits log records whose frequency a peer controls:
// at most one record per key (a peer and a reason, e.g. "fpc3/unexpected
// message" or "10.0.0.9/no registration") per interval, the records
// dropped in between counted and reported as "suppressed" on the next
// record of that key, or in a summary record once the key falls quiet
// (Sweep, which Log also runs at most once per interval).
//
// The set of keys is bounded (Config.MaxKeys): a peer that invents keys
// (every source address of a scan) cannot grow it; keys beyond the bound
// share one overflow key, whose records say so.
//
// Concurrency: a Logger is safe for concurrent use; the clock is injected.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults.
const (
	// DefaultInterval is one record per key per minute, the rate an
	// operator can read while a peer misbehaves for hours.
	DefaultInterval = time.Minute
	// DefaultMaxKeys bounds the keys kept: 4096 peers and reasons of ~100
	// bytes each is under 1 MB.
	DefaultMaxKeys = 4096
)

// OverflowKey is the key that records share once MaxKeys keys are live.
const OverflowKey = "(other keys)"

// Config configures a Logger.
type Config struct {
	// Interval is the shortest time between two records of one key
	// (default DefaultInterval).
	Interval time.Duration
	// MaxKeys bounds the keys remembered (default DefaultMaxKeys).
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Logger wraps a slog.Logger with per-key rate limiting.
type Logger struct {
	log      *slog.Logger
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu        sync.Mutex
	keys      map[string]*keyState
	nextSweep time.Time
	dropped   uint64 // records suppressed, all keys, ever
}

type keyState struct {
	last       time.Time // when the last record of the key was written
	suppressed uint64    // records dropped since then
	level      slog.Level
	msg        string
	args       []any // of the last suppressed record, for the summary
}

// New returns a Logger writing to log (nil: discard).
func New(log *slog.Logger, cfg Config) *Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Logger{log: log, interval: cfg.Interval, maxKeys: cfg.MaxKeys, now: cfg.Now, keys: map[string]*keyState{}}
}

// Warn logs msg at warning level under key, unless a record of key was
// written less than an interval ago (it is then counted).
func (l *Logger) Warn(key, msg string, args ...any) { l.Log(slog.LevelWarn, key, msg, args...) }

// Info is Warn at info level.
func (l *Logger) Info(key, msg string, args ...any) { l.Log(slog.LevelInfo, key, msg, args...) }

// Error is Warn at error level.
func (l *Logger) Error(key, msg string, args ...any) { l.Log(slog.LevelError, key, msg, args...) }

// Log writes a record of key at level, or counts it when the key is
// within its interval. A written record carries "suppressed", N when N
// records of the key were dropped since the previous one. It reports
// whether the record was written.
func (l *Logger) Log(level slog.Level, key, msg string, args ...any) bool {
	if !l.log.Enabled(context.Background(), level) {
		return false
	}
	now := l.now()
	l.mu.Lock()
	summaries := l.sweepLocked(now, false, key)
	st := l.keys[key]
	if st == nil && len(l.keys) >= l.maxKeys {
		key = OverflowKey
		st = l.keys[key]
		args = append(args[:len(args):len(args)], "ratelog", "key table full")
	}
	var suppressed uint64
	write := false
	switch {
	case st == nil:
		l.keys[key] = &keyState{last: now}
		write = true
	case now.Sub(st.last) >= l.interval:
		suppressed = st.suppressed
		st.last, st.suppressed, st.args = now, 0, nil
		write = true
	default:
		st.suppressed++
		st.level, st.msg, st.args = level, msg, args
		l.dropped++
	}
	l.mu.Unlock()
	l.emit(summaries)
	if !write {
		return false
	}
	if suppressed > 0 {
		args = append(args[:len(args):len(args)], "suppressed", suppressed)
	}
	l.log.Log(context.Background(), level, msg, args...)
	return true
}

// summary is a record owed for a key that fell quiet with drops.
type summary struct {
	level      slog.Level
	msg        string
	args       []any
	suppressed uint64
}

// Sweep writes a summary record ("suppressed", N, with the last dropped
// record's message and attributes) for every key whose interval has run
// out with records dropped, and forgets keys quiet for a whole interval.
// Log calls it at most once per interval; owners of a Logger may call it
// from a timer so that the summary of a burst is not left waiting.
func (l *Logger) Sweep() {
	now := l.now()
	l.mu.Lock()
	s := l.sweepLocked(now, true, "")
	l.mu.Unlock()
	l.emit(s)
}

// sweepLocked summarises and forgets quiet keys, except keep (whose
// caller is about to log and report its count itself).
func (l *Logger) sweepLocked(now time.Time, force bool, keep string) []summary {
	if !force && now.Before(l.nextSweep) {
		return nil
	}
	l.nextSweep = now.Add(l.interval)
	var out []summary
	for k, st := range l.keys {
		if k == keep || now.Sub(st.last) < l.interval {
			continue
		}
		if st.suppressed > 0 {
			out = append(out, summary{level: st.level, msg: st.msg, args: st.args, suppressed: st.suppressed})
		}
		delete(l.keys, k)
	}
	return out
}

func (l *Logger) emit(s []summary) {
	for _, r := range s {
		args := append(r.args[:len(r.args):len(r.args)], "suppressed", r.suppressed)
		l.log.Log(context.Background(), r.level, r.msg+" (summary of suppressed records)", args...)
	}
}

// Suppressed returns how many records were dropped since the Logger was
// made, over all keys.
func (l *Logger) Suppressed() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}
