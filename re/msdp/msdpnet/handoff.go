package msdpnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// Handoff is where a session's TCP stream stands when its socket moves to
// another process (non-stop routing, issue #17): together with the socket
// descriptor it is all the adopter needs to continue the session without
// the peer noticing.
type Handoff struct {
	Peer   netip.Addr `json:"peer"`
	Local  netip.Addr `json:"local"`
	Active bool       `json:"active"`
	// InBytes is the inbound stream offset: bytes read from the socket.
	// The first InBytes-len(Pending.Partial) of them were decoded into
	// whole TLVs and delivered.
	InBytes uint64 `json:"in-bytes"`
	// Pending is the decoder's partial TLV (and the tail of an over-long
	// one still to discard).
	Pending msdpmsg.Pending `json:"pending"`
	// OutBytes is the outbound stream offset: bytes written to the socket.
	OutBytes uint64 `json:"out-bytes"`
	// Unsent are whole TLVs queued but not written: the adopter writes
	// them first.
	Unsent []byte `json:"unsent,omitempty"`

	decoder *msdpmsg.Decoder
}

// ErrDetach is wrapped by Detach and Adopt failures.
var ErrDetach = errors.New("cannot hand over MSDP connection")

// Detach stops connection id at a TLV boundary of its output and hands
// its socket out: the descriptor (a duplicate; the transport closes its
// own without a FIN reaching the peer), the exact stream position, and the
// Received events the reader had decoded but the owner had not taken yet
// (the caller processes them before anything adopted). The engine gets no
// ConnDown: the session lives on in the adopter. Detach must not run while
// the goroutine that drains Events is blocked on it (it does not need
// that goroutine).
func (t *Transport) Detach(id msdp.ConnID) (*os.File, Handoff, []msdp.Event, error) {
	t.mu.Lock()
	c := t.conns[id]
	t.mu.Unlock()
	if c == nil {
		return nil, Handoff{}, nil, fmt.Errorf("%w: detach conn %d: %w", ErrDetach, id, ErrNoConn)
	}
	c.detaching.Store(true)
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		c.mu.Unlock()
	})
	_ = c.nc.SetReadDeadline(time.Now())
	<-c.readerDone
	<-c.writerDone
	f, err := c.nc.File()
	h := Handoff{Peer: c.peer, Local: c.local, Active: c.active, InBytes: c.inBytes.Load(), Pending: c.dec.Pending(), OutBytes: c.outBytes.Load()}
	c.mu.Lock()
	for _, it := range c.q {
		h.Unsent = append(h.Unsent, it.data...)
	}
	c.q = nil
	c.mu.Unlock()
	c.nc.Close()
	t.forget(c)
	if err != nil {
		return nil, Handoff{}, nil, fmt.Errorf("%w: dup conn %d: %w", ErrDetach, id, err)
	}
	return f, h, c.undelivered, nil
}

// Adopt continues a session from a socket descriptor and its position
// (from Detach, possibly in another process, the descriptor passed with
// SCM_RIGHTS). It takes ownership of f. The engine gets ConnUp with
// Adopted set, then the TLVs that complete the pending one.
func (t *Transport) Adopt(f *os.File, h Handoff) (msdp.ConnID, error) {
	defer f.Close()
	dec, err := msdpmsg.Resume(h.Pending)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDetach, err)
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDetach, err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return 0, fmt.Errorf("%w: descriptor is not a TCP socket", ErrDetach)
	}
	_ = tc.SetReadDeadline(time.Time{})
	h.decoder = dec
	id := t.start(tc, h.Peer, h.Local, h.Active, true, &h)
	if id == 0 {
		return 0, ErrClosed
	}
	return id, nil
}
