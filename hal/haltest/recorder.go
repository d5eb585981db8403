package haltest

import (
	"slices"
	"sync"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// DefaultRecorderLimit bounds what a Recorder keeps per kind of event. It is
// far above what a conformance test produces (tens of frames) and small
// enough (64 Ki frames of at most a few KiB) that a runaway benchmark cannot
// exhaust memory; events beyond it are counted in Dropped.
const DefaultRecorderLimit = 1 << 16

// Output is one frame a driver handed to Egress.Output.
type Output struct {
	Egress hal.IFLIndex
	Frame  []byte // a private copy
}

// Punt is one frame a driver handed to Upcalls.OnPunt.
type Punt struct {
	Ingress hal.IFLIndex
	Trap    hal.TrapID
	Frame   []byte // a private copy
}

// Recorder implements hal.Upcalls and hal.Egress by recording copies of
// everything it receives. It never blocks for long (one mutex), is safe for
// concurrent use, and is bounded: beyond Limit events of a kind it counts
// drops instead of growing.
type Recorder struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every event
	limit    int
	outputs  []Output
	punts    []Punt
	resolves []hal.ResolveRequest
	wrongIfs []hal.WrongInterface
	links    []hal.LinkState
	dropped  int
}

var (
	_ hal.Upcalls = (*Recorder)(nil)
	_ hal.Egress  = (*Recorder)(nil)
)

// NewRecorder returns an empty Recorder bounded by DefaultRecorderLimit.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{}), limit: DefaultRecorderLimit}
}

// notifyLocked wakes waiters; r.mu must be held.
func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// OnResolve implements hal.Upcalls.
func (r *Recorder) OnResolve(req hal.ResolveRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.resolves) >= r.limit {
		r.dropped++
		return
	}
	r.resolves = append(r.resolves, req)
	r.notifyLocked()
}

// OnWrongInterface implements hal.Upcalls.
func (r *Recorder) OnWrongInterface(w hal.WrongInterface) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.wrongIfs) >= r.limit {
		r.dropped++
		return
	}
	r.wrongIfs = append(r.wrongIfs, w)
	r.notifyLocked()
}

// OnPunt implements hal.Upcalls; it copies frame.
func (r *Recorder) OnPunt(ingress hal.IFLIndex, trap hal.TrapID, frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.punts) >= r.limit {
		r.dropped++
		return
	}
	r.punts = append(r.punts, Punt{Ingress: ingress, Trap: trap, Frame: slices.Clone(frame)})
	r.notifyLocked()
}

// OnLinkState implements hal.Upcalls.
func (r *Recorder) OnLinkState(ls hal.LinkState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.links) >= r.limit {
		r.dropped++
		return
	}
	r.links = append(r.links, ls)
	r.notifyLocked()
}

// LinkStates returns the recorded link state reports in arrival order.
func (r *Recorder) LinkStates() []hal.LinkState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.links)
}

// Output implements hal.Egress; it copies every frame.
func (r *Recorder) Output(egress hal.IFLIndex, frames [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range frames {
		if len(r.outputs) >= r.limit {
			r.dropped++
			continue
		}
		r.outputs = append(r.outputs, Output{Egress: egress, Frame: slices.Clone(f)})
	}
	r.notifyLocked()
}

// Outputs returns the recorded output frames in arrival order.
func (r *Recorder) Outputs() []Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outputs)
}

// OutputsTo returns the frames output on egress, in order.
func (r *Recorder) OutputsTo(egress hal.IFLIndex) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, o := range r.outputs {
		if o.Egress == egress {
			out = append(out, o.Frame)
		}
	}
	return out
}

// Punts returns the recorded punts in arrival order.
func (r *Recorder) Punts() []Punt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.punts)
}

// Resolves returns the recorded resolve requests in arrival order.
func (r *Recorder) Resolves() []hal.ResolveRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.resolves)
}

// WrongInterfaces returns the recorded RPF failures in arrival order.
func (r *Recorder) WrongInterfaces() []hal.WrongInterface {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.wrongIfs)
}

// Dropped returns how many events were not recorded because of the limit.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Reset forgets everything recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs, r.punts, r.resolves, r.wrongIfs, r.links, r.dropped = nil, nil, nil, nil, nil, 0
	r.notifyLocked()
}

// WaitFor waits until cond(r) is true or timeout elapses and reports
// whether cond became true. cond is called without the lock held and may
// use the accessors. It is for drivers whose packet path is asynchronous;
// tests of synchronous drivers can inspect the Recorder directly.
func (r *Recorder) WaitFor(timeout time.Duration, cond func(*Recorder) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond(r) {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond(r)
		}
	}
}

// WaitOutputs waits until at least n frames were output and reports whether
// that happened within timeout.
func (r *Recorder) WaitOutputs(n int, timeout time.Duration) bool {
	return r.WaitFor(timeout, func(r *Recorder) bool { return len(r.Outputs()) >= n })
}
