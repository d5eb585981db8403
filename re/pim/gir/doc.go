// Package gir is PIM graceful insertion and removal (seed 002,
// draft-raunak-pim-gir-support-00) over the PIM Flooding Mechanism (RFC
// 8364): a pure, deterministic controller that decides when this router
// announces a maintenance window, what it floods, which received
// announcements it accepts and forwards, and when the PIM engine's
// graceful-RPF-change window (re/pim GracefulWindow) is open.
//
// # Contract
//
// A Controller is driven by one owner goroutine (the routing engine's), as
// the PIM engine is. Every call takes the current time and returns Actions;
// nothing here reads a clock, starts a goroutine, does I/O or locks:
//
//   - Handle(now, Event): Enable (removal: `request pim maintenance enable
//     [start S] [stop S]`), Disable (insertion: start 0, stop N, then "fully
//     operational" 0/0), Received (a decoded PFM with what the caller knows
//     about it: arrival interface, whether the sender is a PIM neighbour,
//     the RPF interface towards the Originator);
//   - Advance(now): fire the timers due at or before now; NextDeadline()
//     says when the next one is due (zero: none);
//   - SetConfig(now, Config): TLV type, originator address, announcement
//     interval, copies.
//
// Actions are Send (flood a PFM on every PIM interface that has a
// neighbour and is not an administrative boundary; see Send for the
// arrival interface) and Graceful (open or close the PIM engine's
// graceful-RPF-change window; emitted only when the aggregate changes).
// Execute them in order.
//
// # Behaviour (the draft's section in brackets)
//
// Originator (§5, §6). Removal announces (start S, stop T): the window
// opens S seconds after receipt and closes T seconds after receipt; the
// PFM is sent Config.Copies times Config.Spacing apart (to survive loss,
// "the router could send more than one PFM message") and then every
// Config.Interval (60 s, "the RECOMMENDED interval") until the window
// closes. Every copy carries the time REMAINING until start and stop, so
// that the window stays anchored where the first copy put it whoever
// receives which copy; consecutive copies therefore differ and are not
// taken for duplicates. What we originate respects RFC 8364 §3.3's
// Max_PFM_Message_Rate (6 a minute) and Min_PFM_Message_Gap (1 s): a copy
// due earlier waits. Insertion announces (0, N) the same way; when N
// has passed, (0, 0) — "fully operational" — is sent Copies times and the
// router is back to normal. Disable with N = 0 sends (0, 0) at once. The
// GIR TLV is transitive (§7). Our own window opens our own engine's
// graceful mode too (this router's RPF may change as well).
//
// Receiver (§5 step 2, RFC 8364 §3.4.1). A PFM is dropped (and counted)
// when it is our own (Originator is ours), when it was not sent to
// ALL-PIM-ROUTERS or not by a PIM neighbour, when it arrives on an
// administrative boundary, when - No-Forward bit clear - it does not come
// from RPF_neighbor(Originator) on RPF_interface(Originator) (the
// flooding's loop prevention), or when - No-Forward bit set - PIM has been
// running for more than a minute. A PFM whose content (its
// TLVs) equals the last one accepted from the same Originator within
// Config.Interval is a duplicate: counted, neither processed nor forwarded.
// Otherwise the GIR TLV (of the configured type) is applied — (0, 0)
// closes that originator's window; otherwise start = now + S ("start a
// timer for graceful-rpf-start, if not already started": a window already
// pending or open keeps the earlier start), stop = now + T (the latest
// announcement wins) — and the PFM is forwarded, unless its No-Forward bit
// is set, with its unknown non-transitive TLVs removed (RFC 8364 §3.4.2:
// T clear means do not forward a TLV one does not understand; a PFM left
// without TLVs is not forwarded), out of every interface with PIM
// neighbours - the arrival one only when another neighbour than the
// sender is there (a LAN).
//
// Windows from several originators are independent; the engine's window is
// open while any of them (or ours) is open and relevant. With the
// source-prefix optimisation (§5, last paragraph; the TLV's Sources), a
// window is relevant only if Options.HasState reports multicast state for
// one of its source prefixes, evaluated when the announcement is accepted
// and when the window opens.
//
// Choices where the draft leaves room: a stop smaller than the start, or
// a zero stop with a non-zero start, is malformed (counted, not applied,
// still flooded); a removal's announcements stop when its window closes
// (the router stays in maintenance, silent: a (0, 0) would announce the
// opposite); the duplicate hold is the announcement interval.
//
// Nothing here is safe for concurrent use.
package gir
