package pim

import "github.com/mxfwd/mxfwd/re/pim/pimshow"

// Stats are the engine's counters (pimshow.Stats).
type Stats = pimshow.Stats

// MsgCounters counts PIM messages per type (pimshow.MsgCounters).
type MsgCounters = pimshow.MsgCounters

// IfStats are per-interface counters (pimshow.IfStats).
type IfStats = pimshow.IfStats

// Stats returns a copy of the counters.
func (e *Engine) Stats() Stats { return e.stats }

// ClearStats is `clear pim statistics`.
func (e *Engine) ClearStats() { e.stats = Stats{} }
