// Package pim is the PIM-SM/SSM protocol logic of the routing engine
// (RFC 7761, with the bootstrap mechanism of RFC 5059 in re/pim/rpset), as
// a pure, deterministic state machine: no I/O, no goroutines, no clock, no
// locks. Issue #14; graceful RPF change for issue #16; export/import for
// non-stop routing, issue #17.
//
// # Contract
//
// An Engine is driven by one owner goroutine (the routing engine's). Every
// call takes the current time and returns Actions:
//
//   - Handle(now, Event): a decoded packet (RecvHello, RecvJoinPrune,
//     RecvAssert, RecvRegister, RecvRegisterStop, RecvBootstrap,
//     RecvCRPAdv), a kernel event (NewSource, WrongInterface,
//     DataActivity), a RIB change (RPFChange, RIBChange), an interface
//     event (InterfaceUp, InterfaceDown), local membership from IGMP
//     (Membership), GracefulWindow, ClearJoin;
//   - Advance(now): fire the timers due at or before now; NextDeadline()
//     says when the next one is due;
//   - Resolve(now, S, G, iif): a resolve request (seed 003);
//   - SetConfig(now, Config): a configuration diff.
//
// Actions are messages to send (SendHello, SendJoinPrune, SendAssert,
// SendRegister for Null-Registers, SendRegisterStop, SendBootstrap,
// SendCRPAdv — abstract values the lead maps to the re/pim/pimmsg codec) and
// PIM's contribution to the kernel's forwarding state (Route, RouteDelete,
// with REPLACE semantics; see Route for the incoming-interface, register
// and decapsulation rules), plus RPSetChanged. Execute them in order.
//
// The unicast RIB is consulted through Options.RPF (synchronously, for
// addresses the engine starts tracking: sources, RPs) and its changes are
// announced with RPFChange or RIBChange. Everything random (generation IDs,
// the triggered-Hello delay, t_override, t_suppressed, the Register-Stop
// jitter, BSM fragment tags, the phase of periodic Joins) comes from a PCG
// seeded by Options.Seed: the same configuration, seed and inputs give the
// same actions. Export returns a Snapshot (neighbours with our generation
// IDs, the tree information base with absolute deadlines, register and
// assert state, RP-set and bootstrap state, cached RIB answers, counters,
// the random source); Import of it into a fresh engine with the same
// configuration behaves identically from then on (TestSnapshotReplay).
//
// The Show* methods return the data of the `show pim …` commands (types
// and text renderers in re/pim/pimshow); Stats the counters.
//
// Nothing here is safe for concurrent use. The engine never blocks and
// never calls back: it returns.
//
// # What is implemented (RFC 7761 numbering)
//
//   - §4.3 Hello: periodic and triggered Hellos (rand(0, 5 s) at start-up,
//     for a new or restarted neighbour), Holdtime 3.5 × Hello period,
//     goodbye (holdtime 0) on interface down, neighbour liveness, holdtime
//     0xffff, generation-ID change (triggered Hello, the Join Timers of the
//     entries joined to it drop to t_override), DR election with and
//     without DR priorities, LAN Prune Delay (Effective_Propagation_Delay,
//     Effective_Override_Interval, Suppression_Enabled), "a Hello before
//     any other message".
//   - §4.5.1-§4.5.3 downstream (*,G), (S,G) and (S,G,rpt) per-interface
//     machines with the Expiry and Prune-Pending Timers, PruneEcho, the
//     PruneTmp states and End of Message; §4.5.4-§4.5.6 upstream (*,G),
//     (S,G) and (S,G,rpt) machines with join suppression, prune override,
//     RPF changes with and without asserts, generation-ID changes, the
//     Override Timer and the (S,G,rpt) Prunes carried in every Join(*,G).
//   - §4.1.6 and §4.2 macros: immediate_olist, inherited_olist,
//     JoinDesired, PruneDesired, RPTJoinDesired, pim_include,
//     pim_exclude, lost_assert, CouldAssert, AssertTrackingDesired,
//     my_assert_metric, RPF'; the Keepalive Timer, Update_SPTbit,
//     CheckSwitchToSpt (SPT switchover on the first packet unless
//     spt-threshold infinity).
//   - §4.4.1 the DR's register machine (Join, Prune, Join-Pending; the
//     Register-Stop Timer with its jitter; Null-Register probes;
//     Register-Stop(*,G)), §4.4.2 the RP's decision (decapsulate while the
//     SPT bit is clear, join the source tree, Register-Stop when the SPT bit
//     is set or nothing is downstream, RP_Keepalive_Period).
//   - §4.6 the (S,G) and (*,G) assert machines with actions A1-A6, the
//     assert metric and AssertCancel.
//   - §4.7 RP mapping: static and local RPs with group ranges, the
//     bootstrap RP-set, longest match then priority then the §4.7.2 hash
//     then the highest address; the MSDP server of seed 001 (S-bit).
//   - §4.8 SSM: (S,G) only, no RP, no register, no (*,G)/(S,G,rpt).
//   - Seed 003's resolve: no PIM state → (S,G) Prune upstream and mdiscard,
//     only mdiscard for a directly connected source.
//   - Issue #16 graceful RPF change (gir.go).
//
// # Choices where the RFC leaves room (documented beside the code)
//
//   - Periodic Joins are aligned per upstream neighbour (upstream.go
//     periodicJT) so that 100,000 entries make a few messages a period.
//   - Join/Prune messages are split at Config.MaxJoinPruneBytes, repeating
//     the Join(*,G) in each part of a split group.
//   - The kernel entry of an (S,G) uses RPF_interface(S) whenever the RP
//     tree gives it nothing to forward (upstream.go sgRoute).
//   - A DR that is also the RP does not register; the RP always switches to
//     the source tree.
//   - An AssertCancel from the current winner always sends the loser to
//     NoInfo (with an infinite metric of our own the comparison would tie).
//   - No Keepalive Timer in SSM ranges (the platform shows none, seed 003).
//
// Not implemented: PIM-DM, BIDIR, (*,*,RP), the PMBR border bit (the bit is
// carried, the state is not), admin-scoped BSR zones, BSM semantic
// fragmentation when sending (one BSM per period), explicit tracking
// (we never set the T bit), IPv6-specific tests.
package pim
