package fpc

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// Programming failures. An operation the driver refuses (a full table, a
// next hop missing because its own set failed) is not in the card's
// shadow state: the card does not believe it has what it failed to
// program, so a resync replays it and a sweep does not trip over it. The
// failed operation is kept, per object (the latest wanted value), and:
//
//   - retried, oldest first, after each batch that deleted something
//     (space may have freed) and every retryInterval;
//   - dropped when the RE sends a newer operation for the object that
//     succeeds, deletes it, or no longer mentions it in a resync;
//   - reported to the RE (stats/apply-error), at most reportRate per
//     second, and its end reported too, so that the RE shows per route
//     which card lacks it. Reports start over on every new session.
//
// The set is owned by the applier goroutine; the reporter reads it under
// failMu.

// Failed-object tuning.
const (
	// retryInterval retries failed objects even without deletes (the
	// space may come from a table the RE does not delete from).
	retryInterval = 5 * time.Second
	// retryBatch bounds one retry; retryChunk is applied at a time and a
	// chunk without a success ends the retry (the table is still full):
	// a retry against a full table costs at most retryChunk attempts.
	retryBatch = 4096
	retryChunk = 256
	// reportRate bounds the apply-error reports a card sends per second
	// (a flood of 100k failures is reported in 100 s, at ~60 KB/s),
	// reportTick is how often the reporter runs.
	reportRate = 1000
	reportTick = 100 * time.Millisecond
)

// objID identifies a programmed object whatever the operation.
type objID struct {
	kind  uint8 // 1 IFL, 2 NH, 3 route, 4 trap
	id    uint32
	route hal.RouteKey
}

func objOf(op *hal.Op) objID {
	switch op.Kind {
	case hal.OpSetIFL, hal.OpDelIFL:
		return objID{kind: 1, id: uint32(op.IFL.Index)}
	case hal.OpSetNH, hal.OpDelNH:
		return objID{kind: 2, id: uint32(op.NH.ID)}
	case hal.OpSetRoute, hal.OpDelRoute:
		return objID{kind: 3, route: op.Route.Key}
	}
	return objID{kind: 4, id: uint32(op.Trap.ID)}
}

type failedOp struct {
	op       hal.Op
	err      error
	gen      uint32 // shadow generation of the op (a resync drops older ones)
	seq      uint64 // retry order
	reported bool   // a report was sent on the current session
}

// failedSet holds the failed objects (guarded by Runtime.failMu).
type failedSet struct {
	m     map[objID]*failedOp
	order []objID // retry order (may hold stale ids; compacted lazily)
	seq   uint64
	// toReport holds ids whose failure is not reported yet, clears the
	// ids whose reported failure is over.
	toReport []objID
	clears   []*ipc.ApplyError
	session  *ipc.Session // the session the reports went to
}

func newFailedSet() failedSet { return failedSet{m: map[objID]*failedOp{}} }

// failStats count the failed-object machinery (guarded by
// Runtime.failMu).
type failStats struct {
	Retried      uint64 // ops retried
	RetryApplied uint64 // of which succeeded
	Reported     uint64 // apply-error reports sent
	Cleared      uint64 // cleared reports sent
	ReportDrops  uint64 // reports not sent (no session, send failed)
}

// noteFailed records that op failed with err at gen.
func (fs *failedSet) noteFailed(op hal.Op, err error, gen uint32) {
	id := objOf(&op)
	if f := fs.m[id]; f != nil {
		if f.reported && ipc.ClassOf(err) != ipc.ClassOf(f.err) {
			f.reported = false // the RE shows the old class: report again
			fs.toReport = append(fs.toReport, id)
		}
		f.op, f.err, f.gen = op, err, gen
		return
	}
	fs.seq++
	fs.m[id] = &failedOp{op: op, err: err, gen: gen, seq: fs.seq}
	fs.order = append(fs.order, id)
	fs.toReport = append(fs.toReport, id)
}

// noteDone drops id's failure (the object was programmed or deleted); a
// reported failure gets a cleared report.
func (fs *failedSet) noteDone(op *hal.Op) {
	id := objOf(op)
	f := fs.m[id]
	if f == nil {
		return
	}
	delete(fs.m, id)
	if f.reported {
		fs.clears = append(fs.clears, ipc.ApplyErrorFor(f.op, nil, 0))
	}
}

// dropStale drops the failures older than gen (a resync did not mention
// them: the RE no longer wants them).
func (fs *failedSet) dropStale(gen uint32) int {
	n := 0
	for _, f := range fs.m {
		if f.gen != gen {
			op := f.op
			fs.noteDone(&op)
			n++
		}
	}
	return n
}

// pick returns up to n failed ops in retry order and moves them to the
// back, sorted so that deletes go first and sets bottom up.
func (fs *failedSet) pick(n int) []hal.Op {
	var out []hal.Op
	keep := fs.order[:0]
	var moved []objID
	for _, id := range fs.order {
		f := fs.m[id]
		if f == nil {
			continue // stale
		}
		if len(out) < n {
			out = append(out, f.op)
			moved = append(moved, id)
			continue
		}
		keep = append(keep, id)
	}
	fs.order = append(keep, moved...)
	slices.SortStableFunc(out, func(a, b hal.Op) int { return opRank(a) - opRank(b) })
	return out
}

// opRank orders ops as the RE downloads them: deletes top down (routes,
// indirect, composite, aggregate, unicast, other NHs, IFLs), then sets
// bottom up (IFLs, unicast, aggregate, composite, indirect, other NHs,
// routes, traps).
func opRank(op hal.Op) int {
	nhRank := func(t hal.NHType) int {
		switch t {
		case hal.NHUnicast:
			return 0
		case hal.NHAggregate:
			return 1
		case hal.NHComposite:
			return 2
		case hal.NHIndirect:
			return 3
		}
		return 4
	}
	switch op.Kind {
	case hal.OpDelTrap:
		return 0
	case hal.OpDelRoute:
		return 1
	case hal.OpDelNH:
		return 10 - nhRank(op.NH.Type)
	case hal.OpDelIFL:
		return 11
	case hal.OpSetIFL:
		return 20
	case hal.OpSetNH:
		return 21 + nhRank(op.NH.Type)
	case hal.OpSetRoute:
		return 30
	}
	return 31
}

// failed returns the number of failed objects.
func (r *Runtime) failedCount() int {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return len(r.failed.m)
}

// FailedOps lists the objects the card failed to program, oldest first,
// with their errors (for the vty).
func (r *Runtime) FailedOps() []FailedOp {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	out := make([]FailedOp, 0, len(r.failed.m))
	for _, f := range r.failed.m {
		out = append(out, FailedOp{Object: ipc.ApplyErrorFor(f.op, f.err, 0).Object(), Error: f.err.Error(), seq: f.seq})
	}
	slices.SortFunc(out, func(a, b FailedOp) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// FailedOp is one object the card failed to program.
type FailedOp struct {
	Object string `json:"object"`
	Error  string `json:"error"`
	seq    uint64
}

// retryFailed re-applies failed objects, oldest first, in chunks; a chunk
// that programs nothing ends the retry. It runs on the applier.
func (r *Runtime) retryFailed(ctx context.Context) {
	r.failMu.Lock()
	ops := r.failed.pick(retryBatch)
	r.failMu.Unlock()
	for len(ops) > 0 && ctx.Err() == nil {
		n := min(retryChunk, len(ops))
		chunk := ops[:n]
		ops = ops[n:]
		applied := r.applyOps(ctx, chunk, true)
		r.failMu.Lock()
		r.fstats.Retried += uint64(n)
		r.fstats.RetryApplied += uint64(applied)
		r.failMu.Unlock()
		if applied == 0 {
			return
		}
	}
}

// runReporter sends the failures (and their ends) to the RE at most
// reportRate per second, starting over on each new session.
func (r *Runtime) runReporter(ctx context.Context) {
	t := time.NewTicker(reportTick)
	defer t.Stop()
	budget := reportRate * int(reportTick) / int(time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := r.sess.Load()
		if s == nil {
			continue
		}
		msgs := r.takeReports(s, budget)
		if len(msgs) == 0 {
			continue
		}
		if err := s.Send(ctx, msgs...); err != nil {
			r.failMu.Lock()
			r.fstats.ReportDrops += uint64(len(msgs))
			r.failMu.Unlock()
		}
	}
}

// takeReports returns up to n reports for session s: clears first, then
// failures not reported yet. A new session starts the reports over.
func (r *Runtime) takeReports(s *ipc.Session, n int) []ipc.Message {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	fs := &r.failed
	if fs.session != s {
		fs.session = s
		fs.clears = nil
		fs.toReport = fs.toReport[:0]
		ids := make([]objID, 0, len(fs.m))
		for id, f := range fs.m {
			f.reported = false
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b objID) int { return cmp.Compare(fs.m[a].seq, fs.m[b].seq) })
		fs.toReport = append(fs.toReport, ids...)
	}
	var out []ipc.Message
	failing := uint32(len(fs.m))
	for len(out) < n && len(fs.clears) > 0 {
		c := fs.clears[0]
		fs.clears = fs.clears[1:]
		c.Failed = failing
		out = append(out, c)
		r.fstats.Cleared++
	}
	i := 0
	for ; i < len(fs.toReport) && len(out) < n; i++ {
		f := fs.m[fs.toReport[i]]
		if f == nil || f.reported {
			continue
		}
		f.reported = true
		out = append(out, ipc.ApplyErrorFor(f.op, f.err, failing))
		r.fstats.Reported++
	}
	fs.toReport = fs.toReport[i:]
	if len(fs.toReport) == 0 {
		fs.toReport = nil
	}
	return out
}

// classify splits Apply's result per op: the error of each op that
// failed (nil for those applied). Ops after a stop (ctx) count as failed
// with the stop's error.
func classify(ops []hal.Op, applied int, err error) []error {
	res := make([]error, len(ops))
	if err == nil {
		return res
	}
	fails := hal.FailedOps(err)
	for _, f := range fails {
		if f.Index >= 0 && f.Index < len(ops) {
			res[f.Index] = f.Err
		}
	}
	if attempted := applied + len(fails); attempted < len(ops) {
		// A stop (or a driver that reported fewer failures than it
		// skipped): the tail was not applied.
		stop := err
		if len(fails) > 0 {
			stop = errors.New("not applied: " + err.Error())
		}
		for i := attempted; i < len(ops); i++ {
			if res[i] == nil {
				res[i] = stop
			}
		}
	}
	return res
}
