package fpc

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Stream is a synthetic multicast stream fed into the PFE as if received on
// Ingress: the platform's built-in traffic generator for drivers without
// real ports (and for demos).
type Stream struct {
	Source, Group netip.Addr
	Ingress       hal.IFLIndex
	Count         int // packets
	Rate          int // packets per second; 0 = as fast as possible
	Size          int // Ethernet frame size without FCS (>= 60)
	TTL           uint8
}

// streamBatch is the batch size handed to Input: 32 frames amortise the
// per-call cost (the same batch size the swpfe benchmarks use).
const streamBatch = 32

// BuildFrame builds an Ethernet + IPv4 + UDP multicast frame of the given
// size (at least 42 bytes of headers) with a valid IPv4 header checksum.
func BuildFrame(src, grp netip.Addr, size int, ttl uint8, seq uint16) []byte {
	if size < 42 {
		size = 42
	}
	f := make([]byte, size)
	g := grp.As4()
	copy(f[0:6], []byte{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]})
	copy(f[6:12], []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01})
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-14))
	binary.BigEndian.PutUint16(ip[4:6], seq)
	ip[8] = ttl
	ip[9] = 17
	s := src.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], g[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:2], 5000)
	binary.BigEndian.PutUint16(udp[2:4], 5001)
	binary.BigEndian.PutUint16(udp[4:6], uint16(size-34))
	return f
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// SendStream sends s synchronously, paced by s.Rate, and returns the number
// of packets handed to the driver.
func (r *Runtime) SendStream(ctx context.Context, s Stream) (int, error) {
	frames := make([][]byte, streamBatch)
	for i := range frames {
		frames[i] = BuildFrame(s.Source, s.Group, s.Size, s.TTL, uint16(i))
	}
	sent := 0
	start := time.Now()
	for sent < s.Count {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		n := s.Count - sent
		if n > streamBatch {
			n = streamBatch
		}
		if s.Rate > 0 {
			n = 1
			due := start.Add(time.Duration(float64(sent) / float64(s.Rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return sent, ctx.Err()
				case <-time.After(d):
				}
			}
		}
		if err := r.drv.Input(s.Ingress, frames[:n]); err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// StartStream runs s in the background (owned by Run's context) and
// returns its id.
func (r *Runtime) StartStream(s Stream) int {
	r.trafficMu.Lock()
	defer r.trafficMu.Unlock()
	parent := r.runCtx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	r.trafficID++
	id := r.trafficID
	r.traffic[id] = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.trafficMu.Lock()
			delete(r.traffic, id)
			r.trafficMu.Unlock()
			cancel()
		}()
		if _, err := r.SendStream(ctx, s); err != nil && ctx.Err() == nil {
			r.log.Warn("stream failed", "id", id, "err", err)
		}
	}()
	return id
}

// StopStreams cancels every background stream and returns how many ran.
func (r *Runtime) StopStreams() int {
	r.trafficMu.Lock()
	defer r.trafficMu.Unlock()
	n := len(r.traffic)
	for _, c := range r.traffic {
		c()
	}
	return n
}
