package afpacket

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal/haltest"
)

// TestRXFilter runs the socket filter in x/net/bpf's interpreter.
func TestRXFilter(t *testing.T) {
	var raw []bpf.RawInstruction
	for _, f := range rxFilter(nil) {
		raw = append(raw, bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K})
	}
	insns, ok := bpf.Disassemble(raw)
	require.True(t, ok, "filter disassembles")
	vm, err := bpf.NewVM(insns)
	require.NoError(t, err)

	src := netip.MustParseAddr("10.128.1.10")
	build := func(group string, proto uint8) []byte {
		return haltest.BuildFrame(haltest.FrameSpec{Source: src, Group: netip.MustParseAddr(group), TTL: 64, Proto: proto, Payload: 20})
	}
	arp := build("232.0.7.1", 0)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	cases := []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"UDP to an SSM group", build("232.0.7.1", 0), true},
		{"UDP to 224.0.0.251", build("224.0.0.251", 0), true},
		{"UDP to 239.255.255.255", build("239.255.255.255", 0), true},
		{"IGMP to 224.0.0.22", build("224.0.0.22", haltest.ProtoIGMP), true},
		{"unicast PIM register", build("10.0.0.1", haltest.ProtoPIM), true},
		{"unicast IGMP", build("10.0.0.1", haltest.ProtoIGMP), true},
		{"unicast UDP", build("10.0.0.1", 0), false},
		{"unicast UDP to a unicast MAC", unicastMAC(build("10.0.0.1", 0)), false},
		{"UDP to an SSM group, unicast MAC", unicastMAC(build("232.0.7.1", 0)), true},
		{"unicast PIM to a unicast MAC", unicastMAC(build("10.0.0.1", haltest.ProtoPIM)), true},
		{"240/4 is not multicast", build("240.0.0.1", 0), false},
		{"ARP", arp, false},
		{"runt", []byte{1, 2, 3}, false},
	}
	for _, c := range cases {
		n, err := vm.Run(c.frame)
		require.NoError(t, err, c.name)
		// The socket filter and then the RX worker's exact check.
		assert.Equal(t, c.pass, n > 0 && wanted(c.frame), c.name)
	}
}

// unicastMAC gives f a unicast destination MAC.
func unicastMAC(f []byte) []byte {
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	return f
}

// block builds a TPACKET_V3 block holding frames the way the kernel lays
// them out.
func block(size int, frames ...[]byte) []byte {
	b := make([]byte, size)
	off := 48 // after struct tpacket_block_desc, aligned
	binary.NativeEndian.PutUint32(b[blkNumPktsOff:], uint32(len(frames)))
	binary.NativeEndian.PutUint32(b[blkFirstPktOff:], uint32(off))
	for i, f := range frames {
		const mac = 82
		binary.NativeEndian.PutUint32(b[off+p3SnaplenOff:], uint32(len(f)))
		binary.NativeEndian.PutUint32(b[off+p3LenOff:], uint32(len(f)))
		binary.NativeEndian.PutUint16(b[off+p3MacOff:], mac)
		copy(b[off+mac:], f)
		next := (mac + len(f) + 15) &^ 15
		if i < len(frames)-1 {
			binary.NativeEndian.PutUint32(b[off+p3NextOff:], uint32(next))
		}
		off += next
	}
	return b
}

func TestBlockPackets(t *testing.T) {
	f1 := haltest.FrameOfLen(srcAddr, groupSG, 64, 60)
	f2 := haltest.FrameOfLen(srcAddr, groupSG, 9, 1514)
	got, st := blockPackets(block(8192, f1, f2, f1), nil)
	require.Len(t, got, 3)
	assert.Zero(t, st.truncated)
	assert.Equal(t, f1, got[0])
	assert.Equal(t, f2, got[1])
	assert.Equal(t, f1, got[2])
	// A truncated frame (snaplen < len) is skipped and counted.
	b := block(4096, f1)
	binary.NativeEndian.PutUint32(b[48+p3LenOff:], 100)
	got, st = blockPackets(b, nil)
	assert.Empty(t, got)
	assert.Equal(t, 1, st.truncated)
}

// FuzzBlockPackets feeds arbitrary block contents: the ring is written by
// the kernel, but a walk over corrupt offsets must stay inside the block.
func FuzzBlockPackets(f *testing.F) {
	f.Add(block(4096, haltest.FrameOfLen(srcAddr, groupSG, 64, 60)))
	f.Add(block(4096, haltest.FrameOfLen(srcAddr, groupSG, 64, 60), haltest.FrameOfLen(srcAddr, groupSG, 64, 200)))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < unix.SizeofTpacket3Hdr {
			return
		}
		frames, _ := blockPackets(b, nil)
		for _, fr := range frames {
			if len(fr) > len(b) {
				t.Fatalf("frame of %d bytes from a %d-byte block", len(fr), len(b))
			}
		}
	})
}

func TestKeepWanted(t *testing.T) {
	src := netip.MustParseAddr("10.128.1.10")
	build := func(group string) []byte {
		return haltest.BuildFrame(haltest.FrameSpec{Source: src, Group: netip.MustParseAddr(group), TTL: 64, Payload: 20})
	}
	a, b, c := build("232.0.7.1"), build("10.0.0.1"), build("239.1.1.1")
	frames := [][]byte{a, b, c, b[:20]}
	got := keepWanted(frames)
	require.Len(t, got, 2)
	assert.Equal(t, a, got[0])
	assert.Equal(t, c, got[1])
	assert.Nil(t, frames[2], "references past the kept frames are cleared")
	assert.Zero(t, testing.AllocsPerRun(100, func() { keepWanted(frames[:0]) }))
}

// TestRingReadyAtRelease: the worker takes several ready blocks ahead and
// gives them back in ring order, wrapping around.
func TestRingReadyAtRelease(t *testing.T) {
	const bs, nr = 4096, 4
	r := &rxRing{mem: make([]byte, bs*nr), blockSize: bs, blockNr: nr}
	status := func(i int) uint32 { return binary.NativeEndian.Uint32(r.blockAt(i)[blkStatusOff:]) }
	setUser := func(i int) { binary.NativeEndian.PutUint32(r.blockAt(i)[blkStatusOff:], unix.TP_STATUS_USER) }
	r.cur = 3
	setUser(3)
	setUser(0)
	assert.NotNil(t, r.readyAt(0))
	assert.NotNil(t, r.readyAt(1), "wraps to block 0")
	assert.Nil(t, r.readyAt(2))
	r.release(2)
	assert.Equal(t, 1, r.cur)
	assert.Equal(t, uint32(unix.TP_STATUS_KERNEL), status(3))
	assert.Equal(t, uint32(unix.TP_STATUS_KERNEL), status(0))
	assert.Nil(t, r.readyAt(0))
}
