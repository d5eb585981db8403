package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/mxfwd/mxfwd/drivers/internal/l4csum"
	"github.com/mxfwd/mxfwd/hal"
)

// runEvents reads the upcall ring buffer and hands every record to
// hal.Upcalls: resolve requests and wrong-interface notifications (already
// deduplicated per (S,G) by the programs, see fwd.c's upcall) and frames
// punted with the trap that matched them (or hal.TrapEncap). It is the
// only goroutine calling these upcalls, so they see events in the order
// the kernel wrote them. It stops when the reader is closed (Close, or the
// context given to New ending).
func (d *Driver) runEvents() {
	defer d.wg.Done()
	d.segBuf = make([]byte, 0, puntMax)
	var rec ringbuf.Record
	for {
		if err := d.events.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			d.log.Warn("xdp: read upcall ring", "err", err)
			continue
		}
		d.stats.events.Add(1)
		if err := d.dispatch(rec.RawSample); err != nil {
			d.stats.badEvents.Add(1)
			d.log.Warn("xdp: bad upcall record", "err", err)
		}
	}
}

// event is a decoded ring buffer record.
type event struct {
	kind          uint32
	ifl           hal.IFLIndex
	arg           uint32
	source, group netip.Addr
	frame         []byte // punts: aliases the record
	gsoSize       uint32 // punts: segment payload of a GSO packet, 0: none
}

// decodeEvent parses a record written by fwd.c (struct event, then caplen
// frame bytes for a punt).
func decodeEvent(b []byte) (event, error) {
	var e event
	if len(b) < eventHdrLen {
		return e, fmt.Errorf("record of %d bytes, header needs %d", len(b), eventHdrLen)
	}
	ne := binary.NativeEndian
	e.kind = ne.Uint32(b[0:])
	e.ifl = hal.IFLIndex(ne.Uint32(b[4:]))
	e.arg = ne.Uint32(b[8:])
	e.source = netip.AddrFrom4([4]byte(b[12:16]))
	e.group = netip.AddrFrom4([4]byte(b[16:20]))
	length, caplen := ne.Uint32(b[20:]), ne.Uint32(b[24:])
	switch e.kind {
	case evResolve, evWrongIf:
	case evPunt:
		if e.arg == uint32(hal.TrapNone) || e.arg > 0xffff {
			return e, fmt.Errorf("punt: trap id %d", e.arg)
		}
		if caplen > puntMax || int(caplen) > len(b)-eventHdrLen {
			return e, fmt.Errorf("punt: caplen %d in a record of %d bytes", caplen, len(b))
		}
		if caplen < length {
			return e, fmt.Errorf("punt: frame of %d bytes truncated to %d", length, caplen)
		}
		e.frame = b[eventHdrLen : eventHdrLen+int(caplen)]
		e.gsoSize = ne.Uint32(b[28:])
	default:
		return e, fmt.Errorf("kind %d unknown", e.kind)
	}
	return e, nil
}

func (d *Driver) dispatch(b []byte) error {
	e, err := decodeEvent(b)
	if err != nil {
		return err
	}
	up := d.cfg.Upcalls
	switch e.kind {
	case evResolve:
		up.OnResolve(hal.ResolveRequest{NH: hal.NHID(e.arg), Ingress: e.ifl, Source: e.source, Group: e.group})
	case evWrongIf:
		up.OnWrongInterface(hal.WrongInterface{Ingress: e.ifl, Expected: hal.IFLIndex(e.arg), Source: e.source, Group: e.group})
	case evPunt:
		// A local sender's UDP or TCP behind a veth arrives with its
		// checksum left to the hardware (CHECKSUM_PARTIAL), which the
		// programs cannot see; the RE's host stack (or a Register's
		// receivers, for TrapEncap) would drop it. Complete it here.
		if e.gsoSize != 0 && segmentTCP(e.frame, int(e.gsoSize), d.segBuf, func(seg []byte) {
			up.OnPunt(e.ifl, hal.TrapID(e.arg), seg)
		}) {
			d.stats.puntSegmented.Add(1)
			return nil
		}
		if l4csum.CompletePartial(e.frame) {
			d.stats.puntCsum.Add(1)
		}
		up.OnPunt(e.ifl, hal.TrapID(e.arg), e.frame)
	}
	return nil
}

// encode writes e as fwd.c would (the inverse of decodeEvent; tests use it).
func (e *event) encode() []byte {
	b := make([]byte, eventHdrLen+len(e.frame))
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], e.kind)
	ne.PutUint32(b[4:], uint32(e.ifl))
	ne.PutUint32(b[8:], e.arg)
	s, g := e.source.As4(), e.group.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], g[:])
	ne.PutUint32(b[20:], uint32(len(e.frame)))
	ne.PutUint32(b[24:], uint32(len(e.frame)))
	ne.PutUint32(b[28:], e.gsoSize)
	copy(b[eventHdrLen:], e.frame)
	return b
}
