package ipc_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// seedHex is the TCP payload of the resolve request in seed 003's capture.
const seedHex = "0100 0000 1c00 0000 0600 0e00 1400 0100 0000 03d7 0000 014b 0040 02ef e800 0701 0a80 010a"

var (
	group  = netip.MustParseAddr("232.0.7.1")
	source = netip.MustParseAddr("10.128.1.10")
)

func seedBytes(tb testing.TB) []byte {
	tb.Helper()
	b, err := ipc.DecodeHex(seedHex)
	require.NoError(tb, err)
	return b
}

// seedFrame is seedHex decoded without DecodeHex.
func seedFrame() []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(seedHex, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func seedResolve() *ipc.ResolveRequest {
	return &ipc.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, PrefixLen: 64, Token: 0x02ef, Group: group, Source: source}
}

// sampleMessages returns one or more messages of every catalog type, with
// the values of seed 003 where it has them.
func sampleMessages() []ipc.Message {
	sg := hal.SG(source, group)
	return []ipc.Message{
		&ipc.Register{Slot: 3, Addr: ipc.FPCAddr(3), Driver: "trio", PFEs: []hal.PFEID{12, 13, 14, 15},
			Ports: []ipc.Port{{IFL: "xe-3/1/0", Resource: "veth31"}, {IFL: "xe-3/3/1", Resource: "veth33"}}},
		&ipc.Register{Slot: 0, Addr: ipc.FPCAddr(0), Driver: "swpfe"},
		&ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: time.Second},
		&ipc.RegisterAck{Error: ipc.AckSlotInUse, Reason: "slot 3 is held by 10.0.0.3:14340", Master: ipc.TNPMaster},
		&ipc.Keepalive{Seq: 7, Sent: 1354554554564414000},
		&ipc.Keepalive{Seq: 7, Sent: 1354554554564414000, Reply: true},
		&ipc.ResyncBegin{Generation: 2},
		&ipc.ResyncEnd{Generation: 2},
		&ipc.IFLAdd{IFL: hal.IFL{Index: 331, Name: "ae90.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{340, 341},
			MAC: net.HardwareAddr{0x00, 0x1f, 0x12, 0xab, 0xcd, 0xef}, MTU: 1500,
			Addr: netip.MustParsePrefix("10.128.1.1/24"), Up: true}},
		&ipc.IFLChange{IFL: hal.IFL{Index: 340, Name: "xe-3/1/0.0", Kind: hal.IFLPhysical, PFE: 13, MTU: 9192}},
		&ipc.IFLDelete{Index: 340},
		&ipc.ConfigSet{Key: "resolve-rate", Value: "500"},
		&ipc.NHAdd{NH: hal.NextHop{ID: 1174, Type: hal.NHComposite, Members: []hal.NHID{1179, 1182, 1241, 1341}}},
		&ipc.NHAdd{NH: hal.NextHop{ID: 1179, Type: hal.NHUnicast, IFL: 340}},
		&ipc.NHChange{NH: hal.NextHop{ID: 1048584, Type: hal.NHIndirect, Target: 1174}},
		&ipc.NHDelete{ID: 1048584},
		seedResolve(),
		&ipc.RouteAdd{Route: hal.Route{Key: sg, NH: 1048584, RPF: 331, Flags: hal.RouteFlagsSG}},
		&ipc.RouteChange{Route: hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")),
			NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}},
		&ipc.RouteDelete{Key: sg},
		&ipc.RouteHits{Key: sg, Packets: 9156666, Bytes: 11964471 << 10, Ingress: 331},
		&ipc.RouteHits{Key: sg, Packets: 1, Bytes: 1500},
		&ipc.WrongIIF{Ingress: 332, Expected: 331, Group: group, Source: source},
		&ipc.IFLCounters{IFL: 331, RxPackets: 9156666, RxBytes: 12251618304, TxPackets: 1, TxBytes: 64},
		&ipc.Punt{Ingress: 331, Trap: 3, Frame: []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x0d, 0x02, 0x00, 0x00, 0x00, 0x00, 0x13,
			0x08, 0x00, 0x45, 0x00, 0x00, 0x26}},
		&ipc.Punt{Ingress: 400, Trap: hal.TrapEncap},
		&ipc.Inject{Egress: 340, Frame: bytes.Repeat([]byte{0xab}, 70)},
		&ipc.Inject{Egress: 341},
		&ipc.Inject{Egress: 342, Forward: true, Frame: []byte{1, 2, 3}},
		&ipc.LinkState{IFL: 395, Up: false},
		&ipc.LinkState{IFL: 400, Up: true},
		&ipc.TrapAdd{Trap: hal.Trap{ID: 1, Kind: hal.TrapARP, Addr: netip.MustParseAddr("10.128.2.1")}},
		&ipc.TrapAdd{Trap: hal.Trap{ID: 2, Kind: hal.TrapLocal, Addr: netip.MustParseAddr("10.128.2.1")}},
		&ipc.TrapAdd{Trap: hal.Trap{ID: 3, Kind: hal.TrapProtocol, Proto: 103}},
		&ipc.TrapAdd{Trap: hal.Trap{ID: 5, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")}},
		&ipc.TrapDelete{ID: 5},
		&ipc.AuthChallenge{Method: ipc.AuthMethodHMACSHA256, Nonce: [32]byte{1, 2, 3, 31: 0xff}},
		&ipc.AuthResponse{Nonce: [32]byte{9, 31: 1}, Proof: [32]byte{0xde, 0xad, 31: 0xef}},
		&ipc.AuthConfirm{Proof: [32]byte{0xbe, 0xef}},
		&ipc.RegisterAck{Error: ipc.AckAuth, Reason: "authentication failed", Master: ipc.TNPMaster},
		&ipc.ApplyError{Op: hal.OpSetRoute, Class: ipc.ClassTableFull, Failed: 12, Key: sg,
			Detail: "op 3 (set-route 232.0.7.1.10.128.1.10/64): route 232.0.7.1.10.128.1.10/64: 1048576 of 1048576: table full"},
		&ipc.ApplyError{Op: hal.OpSetRoute, Class: ipc.ClassCleared, Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4"))},
		&ipc.ApplyError{Op: hal.OpSetNH, Class: ipc.ClassNotFound, Failed: 1, NH: 1048577, Detail: "target 1174: not found"},
		&ipc.ApplyError{Op: hal.OpDelIFL, Class: ipc.ClassInvalid, IFL: 331},
		&ipc.ApplyError{Op: hal.OpSetTrap, Class: ipc.ClassOther, Trap: 7},
	}
}

func TestSeedResolveRequestDecodes(t *testing.T) {
	b := seedBytes(t)
	require.Len(t, b, 36)
	plain, err := ipc.DecodeHex(strings.ReplaceAll(seedHex, " ", ""))
	require.NoError(t, err)
	require.Equal(t, b, plain)

	msgs, rest, err := ipc.DecodeFrame(b, ipc.Limits{})
	require.NoError(t, err)
	assert.Empty(t, rest)
	require.Len(t, msgs, 1)
	h := msgs[0].Header()
	assert.Equal(t, ipc.TypeNextHop, h.Type)
	assert.Equal(t, ipc.SubResolveAddrRequest, h.Subtype)
	assert.Equal(t, ipc.OpcodeRequest, h.Opcode)
	assert.Equal(t, seedResolve(), msgs[0])

	again, err := ipc.AppendFrame(nil, msgs...)
	require.NoError(t, err)
	assert.Equal(t, b, again, "encoding is canonical")

	var out strings.Builder
	ipc.Format(&out, 1, msgs[0])
	assert.Equal(t, "Packet 1:\n"+
		"\ttype: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,\n"+
		"\t\tNH 983, IFL 331, /64, group 232.0.7.1, source 10.128.1.10, token 0x02ef\n", out.String())
}

func TestRoundTripEveryMessage(t *testing.T) {
	for _, m := range sampleMessages() {
		h := m.Header()
		t.Run(ipc.SubtypeName(h.Type, h.Subtype), func(t *testing.T) {
			b, err := ipc.AppendFrame(nil, m)
			require.NoError(t, err)
			msgs, rest, err := ipc.DecodeFrame(b, ipc.Limits{})
			require.NoError(t, err)
			assert.Empty(t, rest)
			require.Len(t, msgs, 1)
			assert.Equal(t, m, msgs[0])

			// The same body through New and DecodeBody.
			body, err := m.AppendBody(nil)
			require.NoError(t, err)
			fresh, err := ipc.New(h.Type, h.Subtype)
			require.NoError(t, err)
			if k, ok := m.(*ipc.Keepalive); ok && k.Reply {
				fresh.(*ipc.Keepalive).Reply = true // the opcode, not the body, carries it
			}
			require.NoError(t, fresh.DecodeBody(body))
			assert.Equal(t, m, fresh)
		})
	}
}

func TestOneFrameOfEveryMessage(t *testing.T) {
	in := sampleMessages()
	b, err := ipc.AppendFrame([]byte("prefix"), in...)
	require.NoError(t, err)
	require.Equal(t, "prefix", string(b[:6]), "AppendFrame appends")
	b = append(b, seedBytes(t)...)
	msgs, rest, err := ipc.DecodeFrame(b[6:], ipc.Limits{})
	require.NoError(t, err)
	assert.Equal(t, in, msgs)
	assert.Equal(t, seedBytes(t), rest, "rest is the next frame")

	frames, err := ipc.DecodeFrames(b[6:], ipc.Limits{})
	require.NoError(t, err)
	require.Len(t, frames, 2)
	assert.Equal(t, in, frames[0])
	assert.Equal(t, []ipc.Message{seedResolve()}, frames[1])
}

func TestSamplesCoverCatalog(t *testing.T) {
	have := map[ipc.Header]bool{}
	for _, m := range sampleMessages() {
		h := m.Header()
		h.Opcode = 0
		have[h] = true
	}
	n := 0
	for ty := ipc.Type(0); ty < 32; ty++ {
		for s := ipc.Subtype(0); s < 32; s++ {
			m, err := ipc.New(ty, s)
			if err != nil {
				require.ErrorIs(t, err, ipc.ErrUnknownType)
				continue
			}
			n++
			h := m.Header()
			assert.Equal(t, ty, h.Type)
			assert.Equal(t, s, h.Subtype)
			assert.True(t, have[ipc.Header{Type: ty, Subtype: s}], "no sample of %s/%s", ty, ipc.SubtypeName(ty, s))
		}
	}
	assert.Equal(t, 28, n, "catalog size")
}

func TestNames(t *testing.T) {
	assert.Equal(t, "next-hop", ipc.TypeNextHop.String())
	assert.Equal(t, "resolve addr request", ipc.SubResolveAddrRequest.String())
	assert.Equal(t, "register ack", ipc.SubtypeName(ipc.TypeTNP, ipc.SubRegisterAck))
	assert.Equal(t, "route hits", ipc.SubtypeName(ipc.TypeStats, ipc.SubRouteHits))
	assert.Equal(t, "subtype-9", ipc.SubtypeName(ipc.TypeRoute, 9))
	assert.Equal(t, "type-4", ipc.Type(4).String())
	assert.Equal(t, "type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1",
		ipc.Header{Type: 6, Subtype: 14, Length: 20, Opcode: 1}.String())
}

// frame builds a frame by hand: count, then messages given as
// (type, subtype, opcode, body) with the length filled in unless lenOverride.
type rawMsg struct {
	t, s, op uint16
	body     []byte
	length   int // -1: len(body)
}

func rawFrame(count int, bytesOverride int, msgs ...rawMsg) []byte {
	var body []byte
	for _, m := range msgs {
		l := m.length
		if l < 0 {
			l = len(m.body)
		}
		body = append(body, byte(m.t), byte(m.t>>8), byte(m.s), byte(m.s>>8), byte(l), byte(l>>8), byte(m.op), byte(m.op>>8))
		body = append(body, m.body...)
	}
	n := len(body)
	if bytesOverride >= 0 {
		n = bytesOverride
	}
	b := []byte{byte(count), byte(count >> 8), byte(count >> 16), byte(count >> 24), byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	return append(b, body...)
}

func resolveBody() []byte { return seedFrame()[16:] }

func TestDecodeMalformed(t *testing.T) {
	resolve := func(body []byte, length int) rawMsg { return rawMsg{6, 14, 1, body, length} }
	routeAdd := func(mutate func([]byte)) rawMsg {
		b, _ := (&ipc.RouteAdd{Route: hal.Route{Key: hal.SG(source, group), NH: 1048584}}).AppendBody(nil)
		mutate(b)
		return rawMsg{7, 1, 1, b, -1}
	}
	ifl := func(mutate func([]byte)) rawMsg {
		b, _ := (&ipc.IFLAdd{IFL: hal.IFL{Index: 1, Name: "ae0.0", Members: []hal.IFLIndex{2}}}).AppendBody(nil)
		mutate(b)
		return rawMsg{2, 1, 1, b, -1}
	}
	tests := []struct {
		name    string
		in      []byte
		lim     ipc.Limits
		want    string // substring of the error
		unknown bool
		eof     bool
	}{
		{name: "short frame header", in: []byte{1, 0, 0, 0, 28}, eof: true},
		{name: "short frame body", in: seedFrame()[:30], eof: true},
		{name: "oversize bytes", in: rawFrame(1, 99999999), want: "ipc: frame: bytes 99999999 exceeds limit 4194304"},
		{name: "oversize bytes with custom limit", in: seedFrame(), lim: ipc.Limits{MaxFrameBytes: 16},
			want: "ipc: frame: bytes 28 exceeds limit 16"},
		{name: "zero count", in: rawFrame(0, -1), want: "ipc: frame: count 0, want at least 1"},
		{name: "count over limit", in: rawFrame(70000, -1), want: "ipc: frame: count 70000 exceeds limit 65536"},
		{name: "count too large for bytes", in: rawFrame(4, -1, resolve(resolveBody(), -1)),
			want: "ipc: frame: bytes 28 too small for count 4"},
		{name: "count smaller than messages", in: rawFrame(1, -1, resolve(resolveBody(), -1), resolve(resolveBody(), -1)),
			want: "ipc: frame: bytes 56 but count 1 messages take 28"},
		{name: "count larger than messages", in: rawFrame(3, -1, resolve(resolveBody(), -1), rawMsg{6, 3, 1, []byte{1, 2, 3, 4}, -1}),
			want: "ipc: message 3: header needs 8 bytes but 0 left"},
		{name: "unknown type", in: rawFrame(1, -1, rawMsg{42, 1, 1, nil, -1}),
			want: "ipc: message 1: type 42 subtype 1: unknown message type", unknown: true},
		{name: "unknown subtype", in: rawFrame(1, -1, rawMsg{6, 15, 1, nil, -1}),
			want: "ipc: message 1: type 6 subtype 15", unknown: true},
		{name: "body longer than frame", in: rawFrame(3, -1, rawMsg{6, 3, 1, []byte{0, 0, 0, 1}, -1}, rawMsg{6, 3, 1, []byte{0, 0, 0, 2}, -1}, resolve(resolveBody()[:12], 20)),
			want: "ipc: message 3 (type 6 subtype 14): body length 20 but 12 bytes left"},
		{name: "truncated body", in: rawFrame(1, -1, resolve(resolveBody()[:18], -1)),
			want: "ipc: message 1 (next-hop/resolve-addr-request): body length 18, want 20"},
		{name: "long body", in: rawFrame(1, -1, resolve(append(resolveBody(), 0), -1)),
			want: "ipc: message 1 (next-hop/resolve-addr-request): body length 21, want 20"},
		{name: "bad opcode", in: rawFrame(1, -1, rawMsg{6, 14, 2, resolveBody(), -1}),
			want: "ipc: message 1 (next-hop/resolve-addr-request): opcode 2, want 1"},
		{name: "bad keepalive opcode", in: rawFrame(1, -1, rawMsg{1, 3, 0, make([]byte, 12), -1}),
			want: "ipc: message 1 (tnp/keepalive): opcode 0, want 1 or 2"},
		{name: "bad prefix length", in: rawFrame(1, -1, routeAdd(func(b []byte) { b[2] = 40 })),
			want: "ipc: message 1 (route/add): prefix length 40, want 0..32 or 64"},
		{name: "source on prefix route", in: rawFrame(1, -1, routeAdd(func(b []byte) { b[2] = 4 })),
			want: "ipc: message 1 (route/add): source 10.128.1.10 with prefix length 4, want 0.0.0.0"},
		{name: "bad bool", in: rawFrame(1, -1, ifl(func(b []byte) { b[7] = 2 })),
			want: "ipc: message 1 (ifl/add): up 2, want 0 or 1"},
		{name: "name past body", in: rawFrame(1, -1, ifl(func(b []byte) { b[11] = 200 })),
			want: "ipc: message 1 (ifl/add): name: length 200 but"},
		{name: "member count past body", in: rawFrame(1, -1, ifl(func(b []byte) { b[len(b)-5] = 9 })),
			want: "ipc: message 1 (ifl/add): member count 9 needs 36 bytes but 4 left"},
		{name: "bad address family", in: rawFrame(1, -1, ifl(func(b []byte) { b[17] = 6 })),
			want: "ipc: message 1 (ifl/add): address family length 6, want 0 or 4"},
		{name: "trailing bytes in body", in: rawFrame(1, -1, rawMsg{3, 1, 1, []byte{0, 1, 'k', 0, 1, 'v', 0xff}, -1}),
			want: "ipc: message 1 (config/set): 1 trailing bytes after value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := ipc.DecodeFrame(tc.in, tc.lim)
			require.Error(t, err)
			assert.Nil(t, msgs)
			if tc.eof {
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
				return
			}
			assert.ErrorIs(t, err, ipc.ErrMalformed)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, tc.unknown, errors.Is(err, ipc.ErrUnknownType))

			// A Reader reports the same error.
			_, rerr := ipc.NewReader(bytes.NewReader(tc.in), tc.lim).ReadFrame()
			assert.Equal(t, err.Error(), rerr.Error())
		})
	}
}

func TestDecodeBodyErrorWithoutFrame(t *testing.T) {
	var r ipc.ResolveRequest
	err := r.DecodeBody(make([]byte, 18))
	require.ErrorIs(t, err, ipc.ErrMalformed)
	assert.EqualError(t, err, "ipc: next-hop/resolve-addr-request: body length 18, want 20")
}

func TestDecodeFramesTrailingGarbage(t *testing.T) {
	b := append(seedBytes(t), 0xde, 0xad, 0xbe)
	frames, err := ipc.DecodeFrames(b, ipc.Limits{})
	require.Len(t, frames, 1)
	require.ErrorIs(t, err, ipc.ErrMalformed)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "ipc: frame 2 at offset 36: 3 trailing bytes, a frame header needs 8")

	b = append(seedBytes(t), seedBytes(t)[:20]...)
	_, err = ipc.DecodeFrames(b, ipc.Limits{})
	assert.Contains(t, err.Error(), "ipc: frame 2 at offset 36: truncated: 20 bytes, frame needs 36")

	b = append(seedBytes(t), rawFrame(0, -1)...)
	_, err = ipc.DecodeFrames(b, ipc.Limits{})
	assert.EqualError(t, err, "ipc: frame 2 at offset 36: frame: count 0, want at least 1")
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		msgs []ipc.Message
		want string
	}{
		{"no messages", nil, "ipc: frame: no messages"},
		{"long name", []ipc.Message{&ipc.IFLAdd{IFL: hal.IFL{Name: strings.Repeat("x", 256)}}},
			"ipc: ifl/add: name length 256 exceeds 255"},
		{"IPv6 group", []ipc.Message{&ipc.RouteAdd{Route: hal.Route{Key: hal.RouteKey{PrefixLen: 8, Group: netip.MustParseAddr("ff00::")}}}},
			"ipc: route/add: group ff00:: is not IPv4"},
		{"missing source", []ipc.Message{&ipc.RouteDelete{Key: hal.RouteKey{PrefixLen: 64, Group: group}}},
			"ipc: route/delete: source is not set"},
		{"bad prefix length", []ipc.Message{&ipc.RouteAdd{Route: hal.Route{Key: hal.RouteKey{PrefixLen: 33, Group: group}}}},
			"ipc: route/add: prefix length 33, want 0..32 or 64"},
		{"frame too large", []ipc.Message{&ipc.Punt{Frame: make([]byte, 70000)}},
			"ipc: packet/punt: frame length 70000 exceeds 65529"},
		{"resolve NH too large", []ipc.Message{&ipc.ResolveRequest{NH: 70000, Group: group, Source: source}},
			"ipc: next-hop/resolve-addr-request: NH 70000 exceeds 65535"},
		{"sub-millisecond keepalive", []ipc.Message{&ipc.RegisterAck{Keepalive: time.Microsecond}},
			"ipc: tnp/register-ack: keepalive interval 1µs is not"},
		{"too many members", []ipc.Message{&ipc.NHAdd{NH: hal.NextHop{Members: make([]hal.NHID, 70000)}}},
			"ipc: next-hop/add: member count 70000 exceeds 65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ipc.AppendFrame([]byte{9}, tc.msgs...)
			require.ErrorIs(t, err, ipc.ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, []byte{9}, b, "dst unchanged on error")
		})
	}
}

func TestBodyOver64K(t *testing.T) {
	// A message type of another package could produce any body length.
	_, err := ipc.AppendFrame(nil, bigMessage{})
	require.ErrorIs(t, err, ipc.ErrInvalidMessage)
	assert.Contains(t, err.Error(), "body length 65536 exceeds 65535")
}

type bigMessage struct{}

func (bigMessage) Header() ipc.Header { return ipc.Header{Type: 9, Subtype: 1, Opcode: 1} }
func (bigMessage) AppendBody(b []byte) ([]byte, error) {
	return append(b, make([]byte, 65536)...), nil
}
func (bigMessage) DecodeBody([]byte) error { return nil }

func TestDecodeHex(t *testing.T) {
	want := seedBytes(t)
	plain := hex.EncodeToString(want)
	for name, in := range map[string]string{
		"spaced":          seedHex,
		"plain":           plain,
		"0x prefix":       "0x" + plain,
		"0x groups":       "0x0100 0x0000 " + strings.Join(strings.Fields(seedHex)[2:], " "),
		"upper case":      strings.ToUpper(plain),
		"multi-line":      "0100 0000 1c00 0000\n\t0600 0e00 1400 0100\r\n0000 03d7 0000 014b 0040 02ef e800 0701 0a80 010a\n",
		"colon separated": strings.Join(splitEvery(plain, 2), ":"),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ipc.DecodeHex(in)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
	for in, msg := range map[string]string{
		"":           "ipc: hex: no hex digits",
		"   \n":      "ipc: hex: no hex digits",
		"0100 00z0":  "ipc: hex: invalid character 'z' at offset 7",
		"010":        "ipc: hex: odd number of digits (3)",
		"010 0000":   "ipc: hex: odd number of digits in group ending at offset 3",
		"01 x2":      "ipc: hex: invalid character 'x' at offset 3",
		"0100\x00ff": "ipc: hex: invalid character '\\x00' at offset 4",
	} {
		_, err := ipc.DecodeHex(in)
		require.ErrorIs(t, err, ipc.ErrMalformed, "%q", in)
		assert.Contains(t, err.Error(), msg, "%q", in)
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestTNPAddr(t *testing.T) {
	fpc3 := ipc.FPCAddr(3)
	assert.Equal(t, ipc.TNPAddr(0x13), fpc3)
	assert.Equal(t, "0x13", fpc3.String())
	assert.Equal(t, "fpc3", fpc3.Name())
	assert.Equal(t, netip.MustParseAddr("128.0.0.19"), fpc3.IP())
	assert.Equal(t, "02:00:00:00:00:13", fpc3.MAC().String())
	slot, ok := fpc3.Slot()
	assert.True(t, ok)
	assert.Equal(t, hal.Slot(3), slot)

	assert.Equal(t, "master", ipc.TNPMaster.Name())
	assert.Equal(t, "0x1", ipc.TNPMaster.String())
	assert.Equal(t, netip.MustParseAddr("128.0.0.1"), ipc.TNPMaster.IP())
	_, ok = ipc.TNPMaster.Slot()
	assert.False(t, ok)
	assert.Equal(t, "", ipc.TNPAddr(0x5).Name())
}

func TestOps(t *testing.T) {
	for _, m := range sampleMessages() {
		op, ok := ipc.OpFromMessage(m)
		switch m.(type) {
		case *ipc.IFLAdd, *ipc.NHAdd, *ipc.RouteAdd, *ipc.IFLDelete, *ipc.NHDelete, *ipc.RouteDelete, *ipc.TrapAdd, *ipc.TrapDelete:
			require.True(t, ok)
			assert.Equal(t, m, ipc.MessageFromOp(op, false))
		case *ipc.IFLChange, *ipc.NHChange, *ipc.RouteChange:
			require.True(t, ok)
			assert.Equal(t, m, ipc.MessageFromOp(op, true))
		default:
			assert.False(t, ok, "%T", m)
		}
	}
	op, _ := ipc.OpFromMessage(&ipc.RouteDelete{Key: hal.SG(source, group)})
	assert.Equal(t, hal.OpDelRoute, op.Kind)
	assert.Equal(t, hal.SG(source, group), op.Route.Key)
	assert.Nil(t, ipc.MessageFromOp(hal.Op{Kind: 99}, false))
}

func TestFormatEveryMessage(t *testing.T) {
	var out strings.Builder
	ipc.FormatFrame(&out, sampleMessages())
	s := out.String()
	assert.True(t, strings.HasPrefix(s, ipc.FormatBanner+"\nPacket 1:\n\ttype: tnp(1), subtype: register(1), length: "), s)
	for _, want := range []string{
		"slot 3, TNP 0x13, driver trio, PFEs 12 13 14 15, ports xe-3/1/0=veth31 xe-3/3/1=veth33",
		"type: tnp(1), subtype: register ack(2), length: 44, opcode: 2\n\t\terror 1 (slot-in-use), reason \"slot 3 is held by 10.0.0.3:14340\", master TNP 0x1, keepalive 0s",
		"request, seq 7, sent 2012-12-03 17:09:14.564414000 UTC",
		"reply, seq 7",
		"IFL 331 ae90.0, aggregate, PFE 0, up, MTU 1500, MAC 00:1f:12:ab:cd:ef, address 10.128.1.1/24, members 340 341",
		"resolve-rate = \"500\"",
		"NH 1174, Compst(3), members 1179 1182 1241 1341",
		"NH 1048584, Indirect(4), target 1174",
		"type: route(7), subtype: add(1), length: 23, opcode: 1\n\t\t232.0.7.1.10.128.1.10/64, table 1, NH 1048584, RPF IFL 331, flags 0x800e",
		"224/4, table 1, NH 983, RPF IFL 0, flags 0x000a",
		"packets +9156666, bytes +12251618304, IFL 331",
		"IFL 332, expected IFL 331, group 232.0.7.1, source 10.128.1.10",
		"type: packet(9), subtype: punt(1), length: 24, opcode: 1\n\t\tIFL 331, trap 3, frame 18 bytes\n\t\t 0100 5e00 000d 0200 0000 0013 0800 4500\n\t\t 0026\n",
		"type: packet(9), subtype: inject(2), length: 9, opcode: 1\n\t\tIFL 342 (forward as received), frame 3 bytes\n",
		"type: stats(8), subtype: link state(4), length: 5, opcode: 1\n\t\tIFL 395, down\n",
		"type: trap(10), subtype: add(1), length: 13, opcode: 1\n\t\ttrap 5, group 224.0.0.0/24\n",
		"type: trap(10), subtype: delete(3), length: 2, opcode: 1\n\t\ttrap 5\n",
		"Packet 27:\n",
	} {
		assert.Contains(t, s, want)
	}

	// A name cannot forge lines.
	out.Reset()
	ipc.Format(&out, 1, &ipc.IFLAdd{IFL: hal.IFL{Name: "x\n\tPacket 2:"}})
	assert.Equal(t, 3, strings.Count(out.String(), "\n"))

	// A message that cannot be encoded is still printed.
	out.Reset()
	ipc.Format(&out, 1, &ipc.RouteAdd{})
	assert.Contains(t, out.String(), "length: ?")
	assert.Contains(t, out.String(), "encode error: ipc: route/add: group is not set")
}

func TestReaderStream(t *testing.T) {
	var stream []byte
	var want [][]ipc.Message
	for i := range 50 {
		var batch []ipc.Message
		for j := range i%7 + 1 {
			batch = append(batch, &ipc.RouteAdd{Route: hal.Route{Key: hal.SG(source, group), NH: hal.NHID(i*10 + j)}})
		}
		batch = append(batch, sampleMessages()[i%len(sampleMessages())])
		var err error
		stream, err = ipc.AppendFrame(stream, batch...)
		require.NoError(t, err)
		want = append(want, batch)
	}
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": &oneByteReader{bytes.NewReader(stream)},
	} {
		t.Run(name, func(t *testing.T) {
			rd := ipc.NewReader(r, ipc.Limits{})
			for i := range want {
				msgs, err := rd.ReadFrame()
				require.NoError(t, err, "frame %d", i)
				require.Equal(t, want[i], msgs)
			}
			_, err := rd.ReadFrame()
			assert.Equal(t, io.EOF, err)
		})
	}

	rd := ipc.NewReader(bytes.NewReader(stream[:len(stream)-3]), ipc.Limits{})
	var err error
	for err == nil {
		_, err = rd.ReadFrame()
	}
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	// Limits are checked before the body is read (or allocated).
	rd = ipc.NewReader(io.MultiReader(bytes.NewReader(rawFrame(1, 5<<20)), failReader{}), ipc.Limits{})
	_, err = rd.ReadFrame()
	assert.EqualError(t, err, "ipc: frame: bytes 5242880 exceeds limit 4194304")
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { panic("read past the frame header") }
