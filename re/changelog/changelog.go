// Package changelog is the routing engine's sequenced, bounded log of
// changes for the line cards (and, for non-stop routing, a backup RE): the
// kernel appends each download, already encoded as IPC messages, and every
// consumer follows the log through its own Cursor. Appending never blocks,
// so no consumer can stall the kernel; a consumer that falls further behind
// than the log's bound is told so (ErrLagged) and must start again from a
// snapshot.
//
// Sequence numbers count entries; Mark counts the messages before an
// entry, so that a consumer's lag is known in messages. An entry may hold
// no message (a state delta alone). A snapshot taken at Head() plus every
// entry from there is the whole state.
//
// Concurrency: a Log is safe for concurrent use. Entries handed out are
// immutable; their Msgs must not be modified.
package changelog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mxfwd/mxfwd/re/kernel"
)

// ErrLagged is returned to a cursor whose next entry has been dropped from
// the log.
var ErrLagged = errors.New("fell behind the change log")

// Default bounds. The RE installs about 315k (S,G)/s, ~1M messages/s
// (route, indirect, composite; README benchmarks); an FPC applies them at
// about the same rate, so a healthy card lags by a fraction of a second of
// downloads. 2M messages is ~2 s of downloads at full speed and 6 times a
// 100k-route bulk load: a card that far behind is not keeping up. At ~40
// bytes per encoded message that is ~80 MiB; the byte bound caps what large
// messages (interfaces, composites with many members) can hold.
const (
	DefaultMaxMessages = 2 << 20
	DefaultMaxBytes    = 128 << 20
)

// maxBatch bounds the entries Next returns at once.
const maxBatch = 1024

// Entry is one appended change.
type Entry struct {
	Seq   uint64        // sequence number of the entry
	Mark  uint64        // messages appended before this entry
	N     int           // messages in Msgs
	Msgs  []byte        // encoded by ipc.AppendMessages
	Delta *kernel.Delta // the kernel's state change, when deltas are on
	// Record is a mirror record for a backup RE (non-stop routing): a
	// protocol's input or state, ordered with the kernel's deltas.
	Record *Record
}

// Record is a non-stop-routing mirror record: the client it belongs to
// (re/nsr data id) and its encoded payload. Only a backup RE's follower
// reads it; the cards' feeders skip it.
type Record struct {
	Client uint16
	Data   []byte
}

// Stats are the log's counters.
type Stats struct {
	Head     uint64 `json:"head"`     // next sequence number
	First    uint64 `json:"first"`    // oldest retained sequence number
	Total    uint64 `json:"total"`    // messages ever appended
	Messages int    `json:"messages"` // retained messages
	Bytes    int    `json:"bytes"`    // retained bytes
	Appended uint64 `json:"appended"` // entries appended
	Trimmed  uint64 `json:"trimmed"`  // entries dropped for the bound
	Lagged   uint64 `json:"lagged"`   // cursors that fell behind
	Cursors  int    `json:"cursors"`  // open cursors
	MaxMsgs  int    `json:"max-messages"`
	MaxBytes int    `json:"max-bytes"`
}

// Log is the change log.
type Log struct {
	mu       sync.Mutex
	entries  []Entry // retained, contiguous: entries[0].Seq == first
	first    uint64
	head     uint64
	mark     uint64 // messages ever appended
	msgs     int
	bytes    int
	maxMsgs  int
	maxBytes int
	wake     chan struct{}
	cursors  map[*Cursor]struct{}
	appended uint64
	trimmed  uint64
	lagged   uint64
}

// New returns an empty log bounded to maxMsgs messages and maxBytes bytes
// (<= 0: the defaults). The newest entry is always kept, whatever its size.
func New(maxMsgs, maxBytes int) *Log {
	if maxMsgs <= 0 {
		maxMsgs = DefaultMaxMessages
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Log{maxMsgs: maxMsgs, maxBytes: maxBytes, wake: make(chan struct{}), cursors: map[*Cursor]struct{}{}}
}

// Append adds an entry of n messages and returns its sequence number. It
// never blocks. Entries past the bound are dropped, oldest first, and the
// cursors that still needed them are told (ErrLagged).
func (l *Log) Append(n int, msgs []byte, delta *kernel.Delta) uint64 {
	return l.append(Entry{N: n, Msgs: msgs, Delta: delta})
}

// AppendRecord adds a mirror record (it counts towards the byte bound).
func (l *Log) AppendRecord(client uint16, data []byte) uint64 {
	return l.append(Entry{Record: &Record{Client: client, Data: data}})
}

func (e *Entry) size() int {
	n := len(e.Msgs)
	if e.Record != nil {
		n += len(e.Record.Data)
	}
	return n
}

func (l *Log) append(e Entry) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.head
	e.Seq, e.Mark = seq, l.mark
	l.entries = append(l.entries, e)
	l.head++
	l.mark += uint64(e.N)
	l.msgs += e.N
	l.bytes += e.size()
	l.appended++
	dropped := 0
	for len(l.entries)-dropped > 1 && (l.msgs > l.maxMsgs || l.bytes > l.maxBytes) {
		e := &l.entries[dropped]
		l.msgs -= e.N
		l.bytes -= e.size()
		l.first = e.Seq + 1
		*e = Entry{}
		dropped++
	}
	if dropped > 0 {
		l.trimmed += uint64(dropped)
		l.entries = l.entries[dropped:]
		// Release the array's dropped prefix now and then.
		if cap(l.entries) > 4*len(l.entries)+64 {
			l.entries = append([]Entry(nil), l.entries...)
		}
		for c := range l.cursors {
			if c.pos < l.first && !c.lagged {
				c.lagged = true
				l.lagged++
				close(c.lagCh)
			}
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return seq
}

// Head returns the next sequence number: a snapshot of the state taken
// while no Append can run (under the appender's lock) is followed by the
// entries from Head on.
func (l *Log) Head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Head: l.head, First: l.first, Total: l.mark, Messages: l.msgs, Bytes: l.bytes, Appended: l.appended,
		Trimmed: l.trimmed, Lagged: l.lagged, Cursors: len(l.cursors), MaxMsgs: l.maxMsgs, MaxBytes: l.maxBytes}
}

// CursorInfo is one open cursor.
type CursorInfo struct {
	Name     string `json:"name"`
	Position uint64 `json:"position"`
}

// Cursors lists the open cursors.
func (l *Log) Cursors() []CursorInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]CursorInfo, 0, len(l.cursors))
	for c := range l.cursors {
		out = append(out, CursorInfo{Name: c.name, Position: c.pos})
	}
	return out
}

// Cursor is one consumer's position in the log.
type Cursor struct {
	l      *Log
	name   string
	pos    uint64 // next entry
	mark   uint64 // messages before it
	lagged bool
	lagCh  chan struct{}
}

// Follow returns a cursor at from (normally a Head() taken with a
// snapshot). name identifies the consumer in errors. It fails with
// ErrLagged if from has already been dropped.
func (l *Log) Follow(name string, from uint64) (*Cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < l.first || from > l.head {
		return nil, fmt.Errorf("changelog: %s at %d, log holds %d..%d: %w", name, from, l.first, l.head, ErrLagged)
	}
	c := &Cursor{l: l, name: name, pos: from, mark: l.mark, lagCh: make(chan struct{})}
	if from < l.head {
		c.mark = l.entries[from-l.first].Mark
	}
	l.cursors[c] = struct{}{}
	return c, nil
}

// Close releases the cursor.
func (c *Cursor) Close() {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	delete(c.l.cursors, c)
}

// Lag returns how many messages the cursor is behind the head.
func (c *Cursor) Lag() uint64 {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.l.mark - c.mark
}

// Position returns the next sequence number the cursor will read.
func (c *Cursor) Position() uint64 {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.pos
}

// Lagged is closed when the log drops an entry the cursor has not read:
// a consumer blocked elsewhere (in a network write) selects on it to give
// up at once.
func (c *Cursor) Lagged() <-chan struct{} { return c.lagCh }

// Next returns the entries after the cursor (at most 1024), blocking until
// there is one or ctx is done, and advances past them. It fails with
// ErrLagged once the log has dropped an entry the cursor had not read.
func (c *Cursor) Next(ctx context.Context) ([]Entry, error) {
	l := c.l
	for {
		l.mu.Lock()
		if c.lagged || c.pos < l.first {
			lag := l.mark - c.mark
			l.mu.Unlock()
			return nil, fmt.Errorf("changelog: %s is %d messages behind (bound %d messages, %d bytes): %w", c.name, lag, l.maxMsgs, l.maxBytes, ErrLagged)
		}
		if c.pos < l.head {
			i := int(c.pos - l.first)
			end := min(len(l.entries), i+maxBatch)
			out := append([]Entry(nil), l.entries[i:end]...)
			last := out[len(out)-1]
			c.pos = last.Seq + 1
			c.mark = last.Mark + uint64(last.N)
			l.mu.Unlock()
			return out, nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-c.lagCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
