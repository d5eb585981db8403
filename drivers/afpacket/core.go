package afpacket

import (
	"sync/atomic"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
)

// The forwarding core is swpfe.Core, shared with the swpfe driver: one FIB,
// one lookup, one RPF check and one rewrite for every software driver. This
// file is the seam between the core and the rings.
//
// Each RX worker owns a swpfe.Worker (its own scratch buffers, so workers
// never contend) and a TxFunc bound once at start (no closure per batch).
// The core hands the worker's TxFunc the rewritten copies grouped per
// egress IFL; txOut copies them into that port's TX ring. That is two
// copies per egress port (core scratch, then ring slot); see the report in
// the package comment for the core API that would make it one.

// binding is a port serving an IFL, published in Driver.egress.
type binding struct {
	port *port
	// srcMAC is written as the Ethernet source of forwarded frames; nil
	// when the core already wrote the IFL's MAC (the IFL has one).
	srcMAC []byte
	// tx counts what went into the TX ring for this IFL (the core counts
	// what it handed over, including frames a full ring then dropped).
	txPackets, txBytes atomic.Uint64
}

// rxWorker is the per-port forwarding context.
type rxWorker struct {
	w  *swpfe.Worker
	tx swpfe.TxFunc
}

func (d *Driver) newRXWorker() *rxWorker {
	return &rxWorker{w: d.core.NewWorker(), tx: d.txOut}
}

// txOut is the TxFunc of the packet path: forwarded frames for egress go
// into its port's TX ring with the port's source MAC if the IFL has none.
// It runs on RX worker goroutines (and Input's), concurrently; the ring
// lock is taken once per call.
func (d *Driver) txOut(egress hal.IFLIndex, frames [][]byte) {
	b := (*d.egress.Load())[egress]
	if b == nil {
		d.noPort.Add(uint64(len(frames)))
		_ = d.core.AddIFLCounters(egress, hal.IFLCounters{PortDown: uint64(len(frames))})
		return
	}
	d.sendOn(b, frames, b.srcMAC)
}

// txInject is the TxFunc of Transmit: frames leave unchanged.
func (d *Driver) txInject(egress hal.IFLIndex, frames [][]byte) {
	b := (*d.egress.Load())[egress]
	if b == nil {
		d.noPort.Add(uint64(len(frames)))
		_ = d.core.AddIFLCounters(egress, hal.IFLCounters{PortDown: uint64(len(frames))})
		return
	}
	res := d.sendOn(b, frames, nil)
	b.port.st.injected.Add(uint64(res.Sent))
}

func (d *Driver) sendOn(b *binding, frames [][]byte, srcMAC []byte) txResult {
	res, err := b.port.tx.send(frames, srcMAC)
	b.port.account(res, err)
	if res.Sent > 0 {
		b.txPackets.Add(uint64(res.Sent))
		b.txBytes.Add(res.Bytes)
	}
	return res
}
