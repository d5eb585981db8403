// Package msdpnet carries the MSDP engine's sessions over real TCP
// sockets (RFC 3618 §11: port 639, the higher address listens, the lower
// connects): per-local-address listeners that refuse every address the
// engine is not listening for, active opens with connect-retry driven by
// the engine, DSCP CS6 on every socket (as FRR marks MSDP), TCP MD5
// (RFC 2385, TCP_MD5SIG) per peer on the listener and on the connecting
// socket, and one reader and one writer goroutine per connection.
//
// # Contract with the owner
//
// The engine (package msdp) is owned by one goroutine. The Transport
// produces its transport events on two channels the owner selects on:
// Events (connections up and down, failed dials, decoded TLVs) and Urgent
// (Alive: TLVs arrived that are still queued; Drained: a paced send is on
// the wire). The owner serves Urgent first, so that hold-timer accounting
// is never stuck behind a queue of SAs. Apply carries out the engine's
// actions and never blocks: sends go to a bounded per-connection output
// queue (KeepAlives jump ahead of queued data at a TLV boundary and are
// never dropped; other data over the bound is dropped and counted, MSDP
// being soft state), and a peer that accepts no byte for a hold time is
// reset with a log saying so.
//
// # Bounds
//
// A reader holds one 64 KiB read buffer and its decoder at most one TLV
// (9192 octets); the Events channel holds at most QueueLen reads' worth of
// decoded TLVs, after which readers stop reading and TCP flow control
// pushes back on the peers. A peer sending garbage gets its session reset
// at the first malformed TLV, or has every over-long or unknown TLV
// skipped without buffering: memory stays bounded whatever it sends.
//
// # Non-stop routing
//
// Every connection counts the bytes it has read, decoded and written.
// Detach stops a connection's goroutines at a TLV boundary of the output
// and hands its socket out as a file descriptor (for SCM_RIGHTS) with the
// exact stream position: bytes read, the decoder's partial TLV, bytes
// written and the output not yet written. Adopt takes such a descriptor
// and position and continues the session (issue #17, seed 000 §6.a).
// Options.Tap sees every inbound byte before it is decoded, for mirroring.
//
// # Concurrency
//
// New starts the Transport's goroutines; Close (or cancelling the context
// given to New) stops them and waits. Apply, Detach, Adopt and Stats may be
// called from any goroutine; the owner normally makes every call.
package msdpnet
