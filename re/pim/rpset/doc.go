// Package rpset maps multicast groups to rendezvous points: the RP-set built
// from static configuration (`set protocols pim rp static address A
// [group-ranges P]`, `… rp local address A`) and from the bootstrap mechanism
// of RFC 5059, the RP selection of RFC 7761 §4.7.1 with the hash function of
// §4.7.2, the candidate-BSR and non-candidate-BSR state machines of RFC 5059
// §3.1, the BSR's C-RP set built from Candidate-RP-Advertisements (RFC 5059
// §3.2), and the MSDP-server lookup of seed 001 (the S-bit carried in C-RP
// advertisements and bootstrap messages).
//
// # Contract
//
// Everything here is a pure, deterministic function of its inputs: every
// method that depends on time takes `now`; nothing reads a clock, starts a
// goroutine or takes a lock. Time is int64 nanoseconds since the Unix epoch
// (0 means "not running", Forever means "never expires"), the representation
// the PIM engine in the parent package uses for all its timers so that
// snapshots carry absolute deadlines.
//
// The package knows nothing about interfaces, neighbours or packets: the
// caller (re/pim) decides whether a Bootstrap message passed the RPF check of
// RFC 5059 §3.1.3 and hands the verdict in; the results are values (a
// Bootstrap to originate, "forward this one", "the RP-set changed") that the
// caller turns into packets.
//
// # Concurrency
//
// Not safe for concurrent use: a Set and a BSR belong to the PIM engine's
// single owner goroutine.
package rpset
