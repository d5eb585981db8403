// Package ipc is the TNP-like channel between the routing engine (RE) and
// the line cards (FPCs): the wire format, the message catalog and its codec,
// TNP addresses, the registration handshake, a session (keepalive, dead-peer
// detection, batching writer with backpressure) and decoders for hex dumps
// and packet captures that print messages the way seed 003's capture does.
//
// # Wire format
//
// A frame on the TCP stream (port 6234) is a count (u32, little-endian), a
// byte length of what follows (u32, little-endian) and count messages. A
// message is type, subtype, body length and opcode (u16 each,
// little-endian) followed by the body, whose fields are in network byte
// order. This is the layout of the resolve-addr-request in seed 003:
//
//	0100 0000 1c00 0000 0600 0e00 1400 0100 0000 03d7 0000 014b 0040 02ef e800 0701 0a80 010a
//	count=1   bytes=28  next-hop  resolve   len  op   error nh=983 ifl=331   /64  token group ...
//
// Decoders trust no length: Limits are checked before anything is
// allocated, every body must be consumed exactly, and every error wraps
// ErrMalformed (ErrUnknownType as well for a type or subtype outside the
// catalog) and names the frame field or the message and body field that
// failed. Encoding is canonical: decoding a frame and encoding the
// messages again gives the same bytes.
//
// # Registration
//
// An FPC's first frame is one Register; the RE answers with one
// RegisterAck (Accept, ClientHandshakeAuth). Every frame before the
// session takes over is held to HandshakeLimits (one message of at most
// MaxHandshakeBytes, 32 KiB) whatever the caller's limits, so a peer that
// has not registered cannot make either end allocate more than that: a
// header announcing 4 MiB is refused from its 8 bytes. When the RE has a
// shared key the registration is authenticated in both directions by an
// HMAC-SHA256 challenge and response over fresh nonces and the
// registration's identity fields (auth.go: tnp/auth-challenge,
// tnp/auth-response, tnp/auth-confirm; same header format as every
// message); a refusal is a RegisterAck with AckAuth. The session that
// follows is authenticated by nothing but its TCP connection: run it over
// TLS (the caller wraps the connection) to protect it.
//
// # Programming failures
//
// A card reports each object it failed to program, and the end of that
// failure, with stats/apply-error (ApplyError: the op kind, the object's
// key or id, the error class of the HAL sentinel and the driver's text),
// so that the RE shows what the cards really have.
//
// The package knows no protocol logic: it carries next hops, routes and
// interfaces (package hal types) without judging them.
//
// # Concurrency
//
// Messages are plain values with no locks; a decoded message belongs to the
// caller (it shares no memory with the input). AppendFrame, DecodeFrame,
// DecodeFrames, Format, DecodeHex and DecodePcap are safe for concurrent
// use. A Reader is used by one goroutine. A Session owns its connection once
// Run is called: Run starts and stops its own goroutines (reader, writer,
// keepalive) and returns only after they have all exited; Send and Stats may
// be called from any goroutine, before, during and after Run.
package ipc
