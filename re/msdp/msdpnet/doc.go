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
// exact stream position; Adopt continues from it (a cooperative move).
// Options.Tap sees every inbound byte after it was read.
//
// Socket replication (issue #17, seed 000 §2.3, §6) keeps a backup
// routing engine able to continue every session when the master is
// killed at any instant. On the master, Options.Mirror receives each
// exported connection's inbound bytes before they are consumed (the
// reader peeks, mirrors, then consumes exactly those bytes) and its
// outbound batches before they are written. Export hands out a duplicate
// of the socket with its Position: the stream offsets and the kernel's
// counters of the socket (tcpi_bytes_received − SIOCINQ, tcpi_bytes_acked
// + SIOCOUTQ) at one instant. A Mirror that is a SocketMirror gets every
// new connection exported before its first byte. Quiesce stops a
// connection for a planned switchover without closing it. A replicated
// connection the master closes is shut down (shutdown(2)) so that the
// peer sees the end although the backup holds a duplicate; Close and a
// killed process leave replicated sockets to the backup.
//
// On the backup, Shadow registers the duplicate without ever reading or
// writing it and tells the (standby) engine ConnUp{Adopted}; FeedIn
// decodes the mirrored inbound bytes into the events a reader would
// produce, exactly once by offset; FeedOut keeps the master's last batch;
// the standby engine's Sends to a shadow are counted, not written.
// Takeover reads the kernel's counters again to learn how far the dead
// master consumed and wrote, discards the fed bytes it had not consumed,
// completes a TLV it half-wrote, and starts the reader and writer; when
// the stream cannot be continued exactly it resets the session and says
// why. Sockets reports all of it for `show msdp socket`.
//
// # Concurrency
//
// New starts the Transport's goroutines; Close (or cancelling the context
// given to New) stops them and waits. Apply, Detach, Adopt, Export,
// Quiesce, Takeover, Sockets and Stats may be called from any goroutine;
// the owner normally makes every call (Detach and Quiesce not while it
// is needed to drain Events). Shadow, FeedIn, FeedOut and Unshadow wait
// for room in Events like a socket reader: call them from the mirror
// channel's goroutine, in the order of the records. Mirror methods run
// on the connections' goroutines.
package msdpnet
