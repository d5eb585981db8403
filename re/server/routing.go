package server

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/rib"
)

// routing is the RE's unicast side, owned by the owner loop: the RIB, the
// static joins' RPF (re-resolved when the RIB changes), and the follower
// of a Linux routing table when `rib-import kernel` is configured.
type routing struct {
	rib      *rib.RIB
	handlers map[rib.WatcherID]func([]rib.Change)

	staticW  rib.WatcherID
	statics  []config.StaticJoin
	watching map[netip.Addr]bool
	dynamic  bool // imported routes may resolve sources later

	// The follower runs on its own goroutine; importCfg is what it was
	// started with.
	importCfg  config.RIBImport
	stopImport context.CancelFunc
	importDone chan struct{}
	importMu   sync.Mutex
	follower   *rib.Follower
}

func newRouting(as uint32) *routing {
	r := &routing{rib: rib.New(rib.Options{LocalAS: as}), handlers: map[rib.WatcherID]func([]rib.Change){}, watching: map[netip.Addr]bool{}}
	r.staticW = r.rib.NewWatcher("static joins")
	return r
}

// Watch registers a protocol's handler for its watcher's RIB changes
// (loop only).
func (r *routing) watcher(name string, fn func([]rib.Change)) rib.WatcherID {
	id := r.rib.NewWatcher(name)
	r.handlers[id] = fn
	return id
}

// dispatch hands RIB changes to their watchers' handlers (loop only).
func (s *Server) dispatchRIB(cs []rib.Change) {
	if len(cs) == 0 {
		return
	}
	static := false
	by := map[rib.WatcherID][]rib.Change{}
	for _, c := range cs {
		if c.Watcher == s.rt.staticW {
			static = true
			continue
		}
		by[c.Watcher] = append(by[c.Watcher], c)
	}
	for id, list := range by {
		if fn := s.rt.handlers[id]; fn != nil {
			fn(list)
		}
	}
	if static {
		s.applyStatics()
	}
}

// staticContributions computes the Static owner's state: per (S,G), the
// configured downstream interfaces and the RPF interface the RIB gives
// for S (none while S is unreachable, with rib-import kernel on).
func staticContributions(statics []config.StaticJoin, r *rib.RIB) (map[kernel.Entry]kernel.Contribution, error) {
	out := map[kernel.Entry]kernel.Contribution{}
	for _, j := range statics {
		e := kernel.SGEntry(j.Source, j.Group)
		c := out[e]
		if !j.Source.IsValid() {
			// (*,G): receivers only; the RPF towards the RP is PIM's.
			e = kernel.StarG(j.Group)
			c = out[e]
		} else if res, ok := r.RPF(j.Source); ok {
			c.RPF = res.Interface
		}
		if !slices.Contains(c.Downstream, j.Interface) {
			c.Downstream = append(c.Downstream, j.Interface)
		}
		out[e] = c
	}
	return out, nil
}

// applyStatics recomputes the static joins from the RIB and hands them to
// the kernel (loop only), watching every source so that a route change
// re-resolves them.
func (s *Server) applyStatics() {
	want, _ := staticContributions(s.rt.statics, s.rt.rib)
	keep := map[netip.Addr]bool{}
	for _, j := range s.rt.statics {
		if !j.Source.IsValid() {
			continue
		}
		keep[j.Source] = true
		if !s.rt.watching[j.Source] {
			if _, _, err := s.rt.rib.Watch(s.rt.staticW, j.Source); err == nil {
				s.rt.watching[j.Source] = true
			}
		}
	}
	for a := range s.rt.watching {
		if !keep[a] {
			_ = s.rt.rib.Unwatch(s.rt.staticW, a)
			delete(s.rt.watching, a)
		}
	}
	if err := s.kern.ReplaceOwner(kernel.OwnerStatic, want); err != nil {
		s.log.Error("static joins applied in part", "err", err)
	}
}

// checkStatics validates the static joins of c against a RIB built from c
// alone: each source must be reachable (its upstream interface), unless
// routes may still come from a Linux table.
func checkStatics(c *config.Config, r *rib.RIB, where func(int) string) error {
	for _, j := range c.IGMP.Static {
		if !j.Source.IsValid() {
			continue
		}
		if _, ok := r.RPF(j.Source); !ok && !c.RIBImport.Kernel {
			return fmt.Errorf("%s: static join (%s,%s) on %s: no route to source %s in inet.0 (no interface subnet or static route contains it), so no upstream interface", where(j.Line), j.Source, j.Group, j.Interface, j.Source)
		}
	}
	return nil
}

// startImport (re)starts the kernel route follower when the configuration
// asks for it; it runs until stopImport or the server stops.
func (s *Server) startImport(ctx context.Context, want config.RIBImport) error {
	s.rt.importMu.Lock()
	defer s.rt.importMu.Unlock()
	if want == s.rt.importCfg && (s.rt.stopImport != nil) == want.Kernel {
		return nil
	}
	if s.rt.stopImport != nil {
		s.rt.stopImport()
		<-s.rt.importDone
		s.rt.stopImport, s.rt.follower = nil, nil
	}
	s.rt.importCfg = want
	if !want.Kernel {
		return nil
	}
	f, err := rib.NewFollower(rib.FollowerConfig{Table: int(want.Table), Logger: s.log.With("component", "rib-import")})
	if err != nil {
		return fmt.Errorf("rib-import kernel: %w", err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.rt.stopImport, s.rt.importDone, s.rt.follower = cancel, done, f
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(fctx); err != nil && fctx.Err() == nil {
			s.log.Error("rib-import kernel stopped", "err", err)
		}
	})
	go func() {
		defer close(done)
		defer wg.Wait()
		for {
			select {
			case <-fctx.Done():
				return
			case u := <-f.Updates():
				_ = s.eng.Do(fctx, func() error {
					cs, err := s.rt.rib.ApplyKernel(u, s.clk.Now())
					s.dispatchRIB(cs)
					return err
				})
			}
		}
	}()
	return nil
}
