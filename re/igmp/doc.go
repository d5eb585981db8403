// Package igmp is the router side of IGMP (RFC 2236 §3 and §7, RFC 3376 §6
// and §7) as pure state machines: querier election, startup, general,
// group-specific and group-and-source-specific queries, group and source
// timers with the INCLUDE/EXCLUDE filter modes, IGMPv1/v2 host
// compatibility, static groups and the robustness variable. It does no I/O
// and reads no clock.
//
// # Model
//
// An Interface holds the state of one interface (an IFL). Its Step method
// is the transition function: given the current state, an Event (Start,
// Stop, Received, Tick, SetStatic) and the time now, it updates the state
// and returns Actions — SendQuery (an igmpmsg.Query and its destination,
// for the owner to encode with igmpmsg.Packet and inject on the interface),
// MembershipChanged and QuerierChanged. The same state, event and time
// always give the same new state and actions (maps are walked in sorted
// order), so an event log can be replayed, for instance by a backup
// routing engine; Clone copies a state. NextDeadline says when the next
// timer runs out; the owner steps a Tick at that time (a late Tick fires
// everything due, once). Router bundles the Interfaces of one routing
// instance behind the same API.
//
// # Membership output
//
// MembershipChanged carries, per interface and group, what the interface
// now wants, merged from the dynamic state and the static groups
// (RFC 3376 §3.2 merging rules): Mode Exclude with an empty source list is
// (*,G); Exclude with sources is (*,G) without those sources (PIM: (*,G)
// join plus (S,G,rpt) prunes); Include with sources is (S,G) for each; an
// empty Include means the interface wants nothing for the group any more.
// Memberships lists the current state for a full resync.
//
// # What a caller checks first
//
// Step trusts that a Received message arrived on this interface with a
// valid IP header (TTL 1, Router Alert, source on the interface's subnet
// or 0.0.0.0 for a report, RFC 3376 §9.1): the I/O layer filters those and
// the router's own looped-back queries.
//
// # Concurrency
//
// An Interface or Router is owned by one goroutine (the routing engine's
// protocol owner); nothing here locks. Snapshots returned by State and
// Memberships are copies.
package igmp
