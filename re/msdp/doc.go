// Package msdp is the Multicast Source Discovery Protocol (RFC 3618) of the
// routing engine, with seed 001's group-specific peering (the MSDP server
// and RP roles): every peer's connection state machine (§11), the SA cache
// (table inet.4) with its SA-State timers (§5.3), origination of SAs for
// this RP's sources with the SA-Advertisement timer (§5.1-5.2), peer-RPF
// (§10.1.3, all rules, in order), mesh groups (§10.2), default peers,
// import/export SA policies, active-source limits, SA-Request/Response,
// PIM integration, the clear commands and the `show msdp` family.
//
// # Contract
//
// Engine is pure protocol logic: a deterministic function of its inputs.
// It never touches a socket, a timer or the wall clock: the caller passes
// the time in, feeds Events (decoded messages and connection news from the
// transport, PIM and RIB news) to Handle, calls Expire when NextDeadline is
// reached, and carries out the Actions it gets back (Listen, Connect,
// Send, Close for the transport; JoinSource, SourceGone, DeliverData for
// PIM). The same inputs in the same order give the same outputs, which is
// what makes it table-testable with a fake clock and what lets a backup
// routing engine rebuild its own state from the mirrored inbound stream
// (seed 000 §6.a, issue #17). Wire encoding and decoding are in the leaf
// package msdpmsg; real sockets are in package msdpnet.
//
// # Concurrency
//
// One owner goroutine (the routing engine's protocol loop) owns an Engine
// and makes every call; an Engine is not safe for concurrent use. The
// values its show accessors return are copies. Data in Send actions is
// shared between the Sends of one flood and is never modified after it is
// returned.
package msdp
