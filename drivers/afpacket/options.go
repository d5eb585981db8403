package afpacket

import (
	"fmt"
	"strconv"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Defaults of the ring and batch settings; see the package comment for the
// arithmetic behind each.
const (
	defaultRXBlockSize = 16 << 10 // holds a 9000-byte jumbo frame
	defaultRXBlocks    = 256      // x 2 ms: 512 ms of worker stall at low rates
	defaultRXTimeoutMS = 2
	defaultTXFrames    = 1024
	defaultBatch       = 64
	// A frame of the interface MTU plus Ethernet and one VLAN tag must fit
	// in a TX slot after the 32-byte TPACKET_V2 header.
	txSlotOverhead = txDataOff + 14 + 4
)

// options are the driver settings taken from hal.Config.Options.
type options struct {
	Netns       string        // "netns": namespace (name under /run/netns, or a path) holding the ports
	RXBlockSize int           // "rx-block-size": bytes per RX ring block (multiple of 4096)
	RXBlocks    int           // "rx-blocks": blocks per RX ring
	RXTimeoutMS int           // "rx-block-timeout-ms": retire timeout of a partly filled block
	TXFrames    int           // "tx-frames": slots per TX ring
	TXFrameSize int           // "tx-frame-size": bytes per TX slot (0: from the MTU)
	Batch       int           // "batch": most frames handed to the forwarding core at once
	BusyPoll    time.Duration // "busy-poll": spin this long on an empty ring before sleeping
	// "rx-rt-priority": if 1..99, RX worker threads run SCHED_FIFO at
	// this priority (needs CAP_SYS_NICE); see the package comment.
	RTPriority int
	// "tx-mode": "mmsg" (default: sendmmsg from the core's buffers) or
	// "ring" (PACKET_TX_RING; zero-copy on NICs, not on veth).
	TXMode string
	// "kernel-mroute": what to do when the kernel's own multicast routing
	// is active on a port: "refuse" (default) or "warn".
	KernelMroute string
}

func parseOptions(m map[string]string) (options, error) {
	o := options{
		RXBlockSize:  defaultRXBlockSize,
		RXBlocks:     defaultRXBlocks,
		RXTimeoutMS:  defaultRXTimeoutMS,
		TXFrames:     defaultTXFrames,
		Batch:        defaultBatch,
		KernelMroute: "refuse",
		TXMode:       "mmsg",
	}
	intOpt := func(key string, dst *int, min, max int) error {
		v, ok := m[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("option %s=%q: want an integer in [%d, %d]: %w", key, v, min, max, hal.ErrInvalid)
		}
		*dst = n
		return nil
	}
	for _, e := range []error{
		intOpt("rx-block-size", &o.RXBlockSize, 4096, 64<<20),
		intOpt("rx-blocks", &o.RXBlocks, 2, 1<<16),
		intOpt("rx-block-timeout-ms", &o.RXTimeoutMS, 1, 1000),
		intOpt("tx-frames", &o.TXFrames, 16, 1<<20),
		intOpt("tx-frame-size", &o.TXFrameSize, 128, 1<<16),
		intOpt("batch", &o.Batch, 1, 1<<16),
		intOpt("rx-rt-priority", &o.RTPriority, 0, 99),
	} {
		if e != nil {
			return o, e
		}
	}
	if o.RXBlockSize%4096 != 0 {
		return o, fmt.Errorf("option rx-block-size=%d: not a multiple of 4096: %w", o.RXBlockSize, hal.ErrInvalid)
	}
	if o.TXFrameSize != 0 && (o.TXFrameSize&(o.TXFrameSize-1) != 0) {
		return o, fmt.Errorf("option tx-frame-size=%d: not a power of two: %w", o.TXFrameSize, hal.ErrInvalid)
	}
	if v, ok := m["busy-poll"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return o, fmt.Errorf("option busy-poll=%q: want a duration in [0, 1s]: %w", v, hal.ErrInvalid)
		}
		o.BusyPoll = d
	}
	if v, ok := m["kernel-mroute"]; ok {
		if v != "refuse" && v != "warn" {
			return o, fmt.Errorf("option kernel-mroute=%q: want refuse or warn: %w", v, hal.ErrInvalid)
		}
		o.KernelMroute = v
	}
	if v, ok := m["tx-mode"]; ok {
		if v != "mmsg" && v != "ring" {
			return o, fmt.Errorf("option tx-mode=%q: want mmsg or ring: %w", v, hal.ErrInvalid)
		}
		o.TXMode = v
	}
	o.Netns = m["netns"]
	return o, nil
}

// txFrameSizeFor returns the TX slot size for an interface MTU: the next
// power of two holding header + frame, at least 2048.
func (o options) txFrameSizeFor(mtu int) int {
	if o.TXFrameSize != 0 {
		return o.TXFrameSize
	}
	need := mtu + txSlotOverhead
	s := 2048
	for s < need {
		s <<= 1
	}
	return s
}
