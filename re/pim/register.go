package pim

import (
	"net/netip"
)

// --- the DR (§4.4.1) ----------------------------------------------------------

// couldRegister is CouldRegister(S,G) = I_am_DR(RPF_interface(S)) AND
// KeepaliveTimer(S,G) is running AND DirectlyConnected(S), restricted to
// groups that have an RP other than this router and are not SSM (a DR that
// is also the RP forwards natively; SSM has no RP, §4.8).
func (e *Engine) couldRegister(s *sgEntry) bool {
	g := s.g
	return !g.ssm && g.rp.IsValid() && !g.rpLocal && s.kat != 0 &&
		e.directlyConnected(s) && e.iAmDR(e.rpfIfS(s))
}

// evalRegister runs the macro-driven register transitions: CouldRegister
// -> TRUE (NI -> J, add the register tunnel), CouldRegister -> FALSE (->
// NI), RP changed (-> J, update the tunnel, cancel the RST).
func (e *Engine) evalRegister(s *sgEntry) bool {
	could := e.couldRegister(s)
	rp := s.g.rp
	switch s.reg {
	case regNoInfo:
		if could {
			s.reg, s.regRP = regJoin, rp
			return true
		}
	case regJoin, regJoinPending, regPrune:
		switch {
		case !could:
			s.reg, s.rst, s.regRP = regNoInfo, 0, netip.Addr{}
			return true
		case s.regRP != rp:
			s.reg, s.rst, s.regRP = regJoin, 0, rp
			return true
		}
	}
	return false
}

// registerStopTimer: P -> JP (RST = Register_Probe_Time, send a
// Null-Register); JP -> J (add the tunnel back).
func (e *Engine) registerStopTimer(s *sgEntry) {
	s.rst = 0
	switch s.reg {
	case regPrune:
		s.reg = regJoinPending
		s.rst = e.now + e.t.regProbe
		e.sendNullRegister(s)
	case regJoinPending:
		s.reg = regJoin
	}
	e.touchSG(s)
}

func (e *Engine) sendNullRegister(s *sgEntry) {
	rp := s.g.rp
	if !rp.IsValid() {
		return
	}
	e.emit(SendRegister{Src: e.myAddrFor(rp), Dst: rp, Msg: Register{Source: s.key.Source, Group: s.key.Group, Null: true}})
	e.stats.Tx.Register++
	e.stats.Tx.NullRegister++
}

// registerStopDeadline is rand(0.5 * Register_Suppression_Time, 1.5 *
// Register_Suppression_Time) - Register_Probe_Time (§4.4.1).
func (e *Engine) registerStopDeadline() int64 {
	return e.now + e.randDur(e.t.regSupp/2, e.t.regSupp*3/2) - e.t.regProbe
}

// recvRegisterStop: J -> P (remove the tunnel, set the RST), JP -> P (set the
// RST). A Register-Stop(*,G) applies to every (S,G) of G not in NoInfo
// (§4.4.1).
func (e *Engine) recvRegisterStop(ev RecvRegisterStop) {
	e.stats.Rx.RegisterStop++
	m := ev.Msg
	g := e.groups[m.Group]
	if g == nil {
		e.stats.RxUnknownRegStop++
		e.stats.RxErrors.RegisterStop++
		return
	}
	var targets []*sgEntry
	if !m.Source.IsValid() || m.Source.IsUnspecified() {
		targets = sortedSources(g)
	} else if s := e.sgs[SG{m.Source, m.Group}]; s != nil {
		targets = []*sgEntry{s}
	}
	hit := false
	for _, s := range targets {
		switch s.reg {
		case regJoin, regJoinPending:
			s.reg = regPrune
			s.rst = e.registerStopDeadline()
			hit = true
			e.touchSG(s)
			e.schedule(&s.node)
		case regPrune:
			hit = true
		}
	}
	if !hit {
		e.stats.RxUnknownRegStop++
	}
}

// --- the RP (§4.4.2) ----------------------------------------------------------

// rpKeepalive is RP_Keepalive_Period = 3 * Register_Suppression_Time +
// Register_Probe_Time.
func (e *Engine) rpKeepalive() int64 { return 3*e.t.regSupp + e.t.regProbe }

// recvRegister implements packet_arrives_on_rp_tunnel (§4.4.2): the decision
// for the Register's (S,G); the data plane decapsulates and forwards the
// inner packets when the (S,G) Route carries Decap.
func (e *Engine) recvRegister(ev RecvRegister) {
	e.stats.Rx.Register++
	m := ev.Msg
	if m.Null {
		e.stats.Rx.NullRegister++
	}
	if !e.isMyAddr(ev.Dst) {
		// outer.dst is not one of my addresses: drop silently.
		e.stats.RxBadData++
		e.stats.RxErrors.Register++
		return
	}
	if !validGroup(m.Group) || !m.Source.IsValid() || m.Source.IsMulticast() {
		e.stats.RxBadData++
		e.stats.RxErrors.Register++
		return
	}
	var rp netip.Addr
	local := false
	if !e.isSSM(m.Group) {
		if c, ok := e.rps.Lookup(m.Group, e.now); ok {
			rp, local = c.RP, e.isMyAddr(c.RP)
		}
	}
	if !local || ev.Dst != rp {
		// Not the RP for G (or an SSM group): send Register-Stop(S,G).
		e.stats.RxRegisterNotRP++
		e.sendRegisterStop(ev.Dst, ev.Src, m.Source, m.Group)
		return
	}
	s := e.sgOrCreate(m.Source, m.Group)
	s.regFrom, s.regLast = ev.Src, e.now
	e.settle()
	// At the RP SwitchToSptDesired(S,G) is TRUE: the RP always joins the
	// source tree (the SPT threshold applies to last-hop routers).
	sent := false
	if s.spt || !e.anyInherited(s, false) {
		e.sendRegisterStop(ev.Dst, ev.Src, m.Source, m.Group)
		sent = true
	}
	if sent {
		s.kat = e.now + e.rpKeepalive()
	} else {
		s.kat = e.now + e.t.ka
	}
	// Decapsulate and forward down the RP tree while the SPT bit is clear
	// (a Null-Register carries nothing to forward).
	s.rpRegs = !s.spt && !m.Null
	e.touchSG(s)
	e.schedule(&s.node)
}

func (e *Engine) sendRegisterStop(src, dst, s, g netip.Addr) {
	e.emit(SendRegisterStop{Src: src, Dst: dst, Msg: RegisterStop{Group: g, Source: s}})
	e.stats.Tx.RegisterStop++
}

// remoteSource handles an MSDP-learned active source (RemoteSource): only
// the RP for the group acts on it.
func (e *Engine) remoteSource(ev RemoteSource) {
	if !validGroup(ev.Group) || !ev.Source.IsValid() || ev.Source.IsMulticast() || e.isSSM(ev.Group) {
		return
	}
	c, ok := e.rps.Lookup(ev.Group, e.now)
	if !ok || !e.isMyAddr(c.RP) {
		return
	}
	s := e.sgOrCreate(ev.Source, ev.Group)
	s.kat = e.now + e.t.ka
	e.stats.RemoteSources++
	e.touchSG(s)
	e.schedule(&s.node)
}
