package xdp

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// conformancePorts binds every IFL of the suite's topology to a veth.
var conformancePorts = []struct {
	phys string
	ifl  hal.IFLIndex
}{
	{"xe-0/0/0", haltest.IFLUpstream}, {"xe-0/0/1", haltest.IFLOther},
	{"xe-3/1/0", haltest.IFLMember1}, {"xe-3/3/1", haltest.IFLMember2},
	{"xe-2/0/0", haltest.IFLDown}, {"xe-2/1/0", haltest.IFLDead},
}

// TestConformance runs the HAL conformance suite against the in-kernel
// data path with real ports: forwarded frames are read from the veth
// peers. "input" injects with Driver.Input (BPF_PROG_RUN of the port's
// program); the others write the frames into the peers, so that they take
// the real receive path of the mode (frames shorter than an Ethernet
// header, which no port can carry, and frames for the decapsulation IFL,
// which has no port, still go through Input).
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  Mode
		input bool
	}{
		{"tc-input", ModeTC, true},
		{"tc-wire", ModeTC, false},
		{"generic-wire", ModeGeneric, false},
		{"native-wire", ModeNative, false},
	} {
		t.Run(c.name, func(t *testing.T) { runConformance(t, c.mode, c.input) })
	}
}

func runConformance(t *testing.T, mode Mode, input bool) {
	lab := porttest.NewLab(t)
	rtr, peers := lab.NS("r"), lab.NS("c")
	bind := map[string]string{}
	peerOf := map[hal.IFLIndex]string{}
	col := &porttest.Collector{}
	for i, p := range conformancePorts {
		lab.Veth(rtr, fmt.Sprintf("p%d", i), peers, fmt.Sprintf("q%d", i))
		bind[p.phys] = fmt.Sprintf("p%d", i)
		peerOf[p.ifl] = fmt.Sprintf("q%d", i)
		if mode == ModeNative {
			// Native redirects into a veth need NAPI on its peer.
			if err := porttest.SetGRO(peers, fmt.Sprintf("q%d", i), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, p := range conformancePorts {
		col.Add(t, peers, fmt.Sprintf("q%d", i), p.ifl)
	}
	inj := &porttest.Injector{}
	t.Cleanup(inj.Close)

	newDriver := func(t *testing.T, cfg hal.Config) hal.Driver {
		for k, v := range bind {
			cfg.Ports[k] = v
		}
		cfg.Options["netns"] = rtr
		cfg.Options["mode"] = string(mode)
		d, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		// Frames of the previous subtest's driver may still be in flight.
		time.Sleep(20 * time.Millisecond)
		col.Take()
		return d
	}
	opts := haltest.Options{
		NoEgress: true,
		Receive:  func(*testing.T) []haltest.Output { return col.Take() },
		Async:    true,
		Timeout:  10 * time.Second,
		Settle:   100 * time.Millisecond,
	}
	if !input {
		opts.Send = func(t *testing.T, d hal.Driver, ingress hal.IFLIndex, frames [][]byte) {
			if _, ok := peerOf[ingress]; !ok {
				// No port (pd-): what the RP injects with Forward.
				if err := d.Input(ingress, frames); err != nil {
					t.Errorf("input: %v", err)
				}
				return
			}
			var wire [][]byte
			for _, f := range frames {
				if len(f) < 14 {
					if err := d.Input(ingress, [][]byte{f}); err != nil {
						t.Errorf("input: %v", err)
					}
					continue
				}
				wire = append(wire, f)
			}
			inj.Send(t, peers, peerOf[ingress], wire)
		}
	}
	haltest.RunWith(t, newDriver, opts)
}
