package fpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// dialTimeout bounds the TCP connect and the TLS handshake with the RE.
const dialTimeout = 5 * time.Second

// dialRE connects to the RE at addr, over TLS when the card has a TLS
// configuration (the RE's certificate is checked against the card's CA
// and the host of addr, unless the configuration names the server).
func (r *Runtime) dialRE(ctx context.Context, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial RE %s: %w", addr, err)
	}
	if r.cfg.TLS == nil {
		return conn, nil
	}
	cfg := r.cfg.TLS.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("RE address %q: %w", addr, err)
		}
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(dctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS with RE %s: %w", addr, err)
	}
	return tc, nil
}
