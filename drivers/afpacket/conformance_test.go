package afpacket

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// TestConformance runs the HAL conformance suite against the driver with
// real ports: every IFL of the suite's topology is bound to a veth whose
// peer is captured, frames are injected with Driver.Input (the suite also
// sends malformed and empty frames, which a veth cannot carry), and what
// leaves the ports is read back from the peers.
func TestConformance(t *testing.T) {
	b := newBench(t)
	rtr, peers := b.ns("r"), b.ns("c")
	ports := []struct {
		phys string
		ifl  hal.IFLIndex
	}{
		{"xe-0/0/0", haltest.IFLUpstream}, {"xe-0/0/1", haltest.IFLOther},
		{"xe-3/1/0", haltest.IFLMember1}, {"xe-3/3/1", haltest.IFLMember2},
		{"xe-2/0/0", haltest.IFLDown}, {"xe-2/1/0", haltest.IFLDead},
	}
	var l links
	bind := map[string]string{}
	col := &collector{}
	for i, p := range ports {
		l.add(rtr, fmt.Sprintf("p%d", i), peers, fmt.Sprintf("q%d", i))
		bind[p.phys] = fmt.Sprintf("p%d", i)
	}
	l.create(b)
	for i, p := range ports {
		col.add(t, peers, fmt.Sprintf("q%d", i), p.ifl)
	}

	newDriver := func(t *testing.T, cfg hal.Config) hal.Driver {
		for k, v := range bind {
			cfg.Ports[k] = v
		}
		for k, v := range testOptions(rtr) {
			cfg.Options[k] = v
		}
		d, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		// Frames of the previous subtest's driver may still be in flight.
		time.Sleep(20 * time.Millisecond)
		col.take()
		return d
	}
	haltest.RunWith(t, newDriver, haltest.Options{
		NoEgress: true,
		Receive:  func(*testing.T) []haltest.Output { return col.take() },
		Async:    true,
		Timeout:  10 * time.Second,
		Settle:   100 * time.Millisecond,
	})
}

// collector gathers every IPv4 frame leaving the topology's ports.
type collector struct {
	mu   sync.Mutex
	outs []haltest.Output
}

func (c *collector) add(t *testing.T, ns, ifname string, ifl hal.IFLIndex) {
	f := openCapture(t, ns, ifname)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.outs = append(c.outs, haltest.Output{Egress: ifl, Frame: bytes.Clone(buf[:n])})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = f.Close()
		<-done
	})
}

// take returns what arrived since the previous call.
func (c *collector) take() []haltest.Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outs
	c.outs = nil
	return o
}
