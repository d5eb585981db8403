package msdp_test

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

func a(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pf(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var t0 = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

// fakeRIB is a longest-match table of routes.
type fakeRIB struct{ routes []msdp.Route }

func (f *fakeRIB) add(r msdp.Route) { f.routes = append(f.routes, r) }

func (f *fakeRIB) Lookup(x netip.Addr) (msdp.Route, bool) {
	best := -1
	for i, r := range f.routes {
		if r.Prefix.Contains(x) && (best < 0 || r.Prefix.Bits() > f.routes[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return msdp.Route{}, false
	}
	return f.routes[best], true
}

// rig drives one engine with a manual clock.
type rig struct {
	t     *testing.T
	e     *msdp.Engine
	now   time.Time
	rib   *fakeRIB
	conns map[netip.Addr]msdp.ConnID
	next  msdp.ConnID
	logs  *bytes.Buffer
}

func newRig(t *testing.T, cfg msdp.Config) (*rig, []msdp.Action) {
	t.Helper()
	r := &rig{t: t, now: t0, rib: &fakeRIB{}, conns: map[netip.Addr]msdp.ConnID{}, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := msdp.New(cfg, msdp.Options{Logger: log, RIB: r.rib, Seed: 1}, t0)
	require.NoError(t, err)
	r.e = e
	return r, e.Start(r.now, nil)
}

func (r *rig) handle(ev msdp.Event) []msdp.Action { return r.e.Handle(r.now, ev, nil) }

// advance moves the clock by d, running every timer on its deadline.
func (r *rig) advance(d time.Duration) []msdp.Action {
	end := r.now.Add(d)
	var out []msdp.Action
	for {
		next := r.e.NextDeadline()
		if next.IsZero() || next.After(end) {
			break
		}
		if next.After(r.now) {
			r.now = next
		}
		out = r.e.Expire(r.now, out)
	}
	r.now = end
	return out
}

// up brings peer p up on a new connection from the right side.
func (r *rig) up(p string) []msdp.Action {
	r.t.Helper()
	info, err := r.e.Peer(r.now, a(p))
	require.NoError(r.t, err)
	r.next++
	r.conns[a(p)] = r.next
	acts := r.handle(msdp.ConnUp{Peer: a(p), Local: info.Local, Conn: r.next, Active: info.Active})
	require.Equal(r.t, msdp.StateEstablished, r.state(p), "peer %s", p)
	return acts
}

func (r *rig) state(p string) msdp.State {
	r.t.Helper()
	info, err := r.e.Peer(r.now, a(p))
	require.NoError(r.t, err)
	return info.State
}

func (r *rig) recv(p string, msgs ...msdpmsg.Message) []msdp.Action {
	return r.handle(msdp.Received{Peer: a(p), Conn: r.conns[a(p)], At: r.now, Msgs: msgs})
}

func sa(rp string, sg ...string) *msdpmsg.SourceActive {
	m := &msdpmsg.SourceActive{RP: a(rp)}
	for i := 0; i < len(sg); i += 2 {
		m.Entries = append(m.Entries, msdpmsg.Entry{Source: a(sg[i]), Group: a(sg[i+1])})
	}
	return m
}

// sent decodes the Send actions per peer.
func sent(t *testing.T, acts []msdp.Action) map[netip.Addr][]msdpmsg.Message {
	t.Helper()
	out := map[netip.Addr][]msdpmsg.Message{}
	for _, x := range acts {
		if s, ok := x.(msdp.Send); ok {
			msgs, err := msdpmsg.DecodeAll(s.Data)
			require.NoError(t, err)
			out[s.Peer] = append(out[s.Peer], msgs...)
		}
	}
	return out
}

// sentSAs lists "S G rp" of every SA entry sent to peer p.
func sentSAs(t *testing.T, acts []msdp.Action, p string) []string {
	t.Helper()
	var out []string
	for _, m := range sent(t, acts)[a(p)] {
		if s, ok := m.(*msdpmsg.SourceActive); ok {
			for _, e := range s.Entries {
				out = append(out, e.Source.String()+" "+e.Group.String()+" "+s.RP.String())
			}
		}
	}
	sort.Strings(out)
	return out
}

func ofType[T msdp.Action](acts []msdp.Action) []T {
	var out []T
	for _, x := range acts {
		if v, ok := x.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// cached lists "S G peer flags" of the SA cache.
func (r *rig) cached() []string {
	var out []string
	for _, s := range r.e.SourceActive(r.now, msdp.SAFilter{}).SAs {
		p := "local"
		if !s.Local {
			p = s.Peer.String()
		}
		out = append(out, s.Source.String()+" "+s.Group.String()+" "+p+" "+s.Flags)
	}
	return out
}
