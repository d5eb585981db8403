package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// The security model of the FPC port (README "Security"):
//
//   - With Options.AuthKey, a card proves the shared key at registration
//     (ipc.Accept: HMAC-SHA256 over the RE's fresh nonce and the
//     registration's identity fields), and the RE proves it back.
//   - With Options.TLS, the whole session runs over TLS with client
//     certificates verified against the configured CA (mutual TLS): it
//     authenticates the card and protects every frame that follows.
//   - Without either, the RE serves loopback only, unless Options.Insecure
//     says that anything that reaches the port may register as a card.
//
// Whatever the authentication, what a peer may cost is bounded before it
// registers (MaxUnregistered, MaxUnregisteredPerAddr, the registration
// timeout, handshake frames of at most ipc.MaxHandshakeBytes) and after
// (per-card resolve rate, mdiscard bounds in the kernel, counters only for
// the card's own interfaces, bounded failure records), and what it makes
// the RE log is rate-limited per address or slot and reason.

// ErrInsecureListen is returned by New when the FPC port would be open to
// other hosts with nothing to authenticate the cards.
var ErrInsecureListen = errors.New("refusing to serve FPCs on a non-loopback address without authentication")

// Admission defaults.
const (
	// DefaultMaxUnregistered bounds connections that have not registered:
	// five times a chassis' 12 cards reconnecting at once, while a scan
	// of the port holds at most 64 × 32 KiB (the handshake frame bound)
	// of buffers.
	DefaultMaxUnregistered = 64
	// DefaultMaxUnregisteredPerAddr bounds those from one address: a test
	// host runs at most the chassis' 12 cards.
	DefaultMaxUnregisteredPerAddr = 16
)

// checkListen refuses a non-loopback listen address without
// authentication unless insecure is set. An empty or unspecified host
// (":6234", "0.0.0.0:6234") is every interface; a name other than
// "localhost" is assumed to reach other hosts.
func checkListen(addr string, authenticated, insecure bool) error {
	if authenticated || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s would let any host that reaches it register as a line card; give an authentication key (--auth-key-file) or TLS (--tls-cert, --tls-key, --tls-ca), or --insecure to accept that", ErrInsecureListen, addr)
}

// admission bounds the connections that have not registered yet, in
// total and per remote address.
type admission struct {
	max, perAddr int

	mu      sync.Mutex
	total   int
	byAddr  map[string]int
	refused uint64
}

func newAdmission(max, perAddr int) *admission {
	if max <= 0 {
		max = DefaultMaxUnregistered
	}
	if perAddr <= 0 {
		perAddr = DefaultMaxUnregisteredPerAddr
	}
	return &admission{max: max, perAddr: perAddr, byAddr: map[string]int{}}
}

// hostOf is the address part of a remote address ("10.0.0.9:40000" ->
// "10.0.0.9").
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// admit takes a place for a new connection from remote; release (which
// may be called more than once) gives it back once the connection has
// registered or gone. ok is false when a bound is reached (the reason
// says which).
func (a *admission) admit(remote string) (release func(), reason string, ok bool) {
	host := hostOf(remote)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= a.max:
		a.refused++
		return nil, fmt.Sprintf("%d connections waiting to register (the bound)", a.total), false
	case a.byAddr[host] >= a.perAddr:
		a.refused++
		return nil, fmt.Sprintf("%d connections from %s waiting to register (the bound per address)", a.byAddr[host], host), false
	}
	a.total++
	a.byAddr[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.total--
			if a.byAddr[host]--; a.byAddr[host] <= 0 {
				delete(a.byAddr, host)
			}
		})
	}, "", true
}

// stats returns the connections waiting and the ones refused so far.
func (a *admission) stats() (waiting int, refused uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, a.refused
}

// startTLS runs the server side of the TLS handshake within the
// registration timeout. It returns the TLS connection and whether the
// client presented a certificate that verified.
func (s *Server) startTLS(ctx context.Context, conn net.Conn) (net.Conn, bool, error) {
	tc := tls.Server(conn, s.opt.TLS)
	hctx, cancel := context.WithTimeout(ctx, s.opt.RegisterTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, false, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, len(tc.ConnectionState().VerifiedChains) > 0, nil
}
