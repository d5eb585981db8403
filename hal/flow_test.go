package hal

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var (
	seedSource = netip.MustParseAddr("10.128.1.10")
	seedGroup  = netip.MustParseAddr("232.0.7.1")
)

func TestFlowHashPinned(t *testing.T) {
	// Pinned: drivers and tools outside Go reproduce FlowHash bit for bit,
	// and the value must not change silently (it moves every flow).
	if got := FlowHash(seedSource, seedGroup); got != 0x163c2b35 {
		t.Fatalf("FlowHash(10.128.1.10, 232.0.7.1) = %#08x, want 0x163c2b35", got)
	}
	// The documented definition, spelled out.
	x := uint64(0xe8000701)<<32 | 0x0a80010a
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	if got := FlowHash(seedSource, seedGroup); got != uint32(x) {
		t.Fatalf("FlowHash = %#08x, definition gives %#08x", got, uint32(x))
	}
	if a, b := FlowHash4(0x0a80010a, 0xe8000701), FlowHash(seedSource, seedGroup); a != b {
		t.Fatalf("FlowHash4 %#08x != FlowHash %#08x", a, b)
	}
}

func TestFlowHashAddresses(t *testing.T) {
	tests := []struct {
		name          string
		source, group netip.Addr
		wantS, wantG  uint32 // the words hashed
	}{
		{"IPv4", seedSource, seedGroup, 0x0a80010a, 0xe8000701},
		{"IPv4-mapped source", netip.AddrFrom16(seedSource.As16()), seedGroup, 0x0a80010a, 0xe8000701},
		{"IPv4-mapped group", seedSource, netip.AddrFrom16(seedGroup.As16()), 0x0a80010a, 0xe8000701},
		{"IPv6 source hashes as 0", netip.MustParseAddr("2001:db8::1"), seedGroup, 0, 0xe8000701},
		{"invalid addresses hash as 0", netip.Addr{}, netip.Addr{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := FlowHash(tt.source, tt.group), FlowHash4(tt.wantS, tt.wantG); got != want {
				t.Errorf("FlowHash = %#08x, want %#08x", got, want)
			}
		})
	}
}

func TestFlowHashDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		s, g := r.Uint32(), 0xe0000000|r.Uint32()>>4
		a := FlowHash4(s, g)
		if b := FlowHash4(s, g); a != b {
			t.Fatalf("FlowHash4(%#x, %#x) not deterministic: %#x, %#x", s, g, a, b)
		}
		sa, ga := netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}), netip.AddrFrom4([4]byte{byte(g >> 24), byte(g >> 16), byte(g >> 8), byte(g)})
		if b := FlowHash(sa, ga); a != b {
			t.Fatalf("FlowHash(%v, %v) = %#x, FlowHash4 = %#x", sa, ga, b, a)
		}
	}
}

// TestSublistSpread checks that realistic flow sets (a few sources sending
// many groups, many sources sending one group) spread evenly over the
// sublists.
func TestSublistSpread(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const flows = 20000
	for _, n := range []int{2, 3, 4, 5, 8, 16} {
		t.Run(fmt.Sprint("sublists=", n), func(t *testing.T) {
			hist := make([]int, n)
			for i := range flows {
				var s, g uint32
				if i%2 == 0 {
					s, g = 0x0a800100|uint32(r.IntN(4)), 0xe8000000|uint32(r.IntN(1<<16))
				} else {
					s, g = 0x0a000000|uint32(r.IntN(1<<16)), 0xe8000701
				}
				hist[SublistIndex(FlowHash4(s, g), n)]++
			}
			want := float64(flows) / float64(n)
			for j, c := range hist {
				// Within 10% of the mean: about 6 sigma for n=16.
				if d := float64(c) - want; d > want/10 || d < -want/10 {
					t.Errorf("sublist %d of %d: %d flows, want %.0f ± 10%%: %v", j, n, c, want, hist)
				}
			}
		})
	}
}

func TestSublistCount(t *testing.T) {
	tests := []struct {
		name string
		up   []int
		want int
	}{
		{"no entries", nil, 1},
		{"unicast only", []int{1, 1}, 1},
		{"aggregate without Up member", []int{0}, 1},
		{"largest aggregate", []int{2, 3, 1, 0}, 3},
		{"one aggregate", []int{4}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SublistCount(tt.up); got != tt.want {
				t.Errorf("SublistCount(%v) = %d, want %d", tt.up, got, tt.want)
			}
		})
	}
}

func TestMemberIndex(t *testing.T) {
	// Aggregates of 2, 3 and 1 Up members: 3 sublists; the member each
	// sublist uses (REFERENCE.md decision 3).
	want := [][]int{{0, 0, 0}, {1, 1, 0}, {0, 2, 0}}
	counts := []int{2, 3, 1}
	for j := range SublistCount(counts) {
		for i, n := range counts {
			if got := MemberIndex(j, n); got != want[j][i] {
				t.Errorf("MemberIndex(%d, %d) = %d, want %d", j, n, got, want[j][i])
			}
		}
	}
	if got := MemberIndex(1, 0); got != -1 {
		t.Errorf("MemberIndex without Up member = %d, want -1", got)
	}
	if got := SublistIndex(0xffffffff, 1); got != 0 {
		t.Errorf("SublistIndex(_, 1) = %d, want 0", got)
	}
	if got := SublistIndex(0xffffffff, 0); got != 0 {
		t.Errorf("SublistIndex(_, 0) = %d, want 0", got)
	}
}

func TestEgressMember(t *testing.T) {
	h := FlowHash(seedSource, seedGroup)
	for sub := 1; sub <= 8; sub++ {
		for n := 0; n <= sub; n++ {
			want := -1
			if n > 0 {
				want = int(h%uint32(sub)) % n
			}
			if got := EgressMember(seedSource, seedGroup, sub, n); got != want {
				t.Errorf("EgressMember(sublists %d, members %d) = %d, want %d", sub, n, got, want)
			}
		}
	}
}

// TestUnevenSpread is the documented uneven spread of decision 3: an OIL
// with aggregates of 2 and 3 Up members has 3 sublists, so the first member
// of the 2-member aggregate carries sublists 0 and 2 (about 2/3 of the
// flows) and its second member sublist 1 (1/3), while each member of the
// 3-member aggregate carries 1/3.
func TestUnevenSpread(t *testing.T) {
	counts := []int{2, 3}
	sub := SublistCount(counts)
	if sub != 3 {
		t.Fatalf("SublistCount(%v) = %d, want 3", counts, sub)
	}
	const flows = 30000
	hist := [][]int{make([]int, 2), make([]int, 3)}
	g := netip.MustParseAddr("232.1.1.1")
	for i := range flows {
		s := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		for a, n := range counts {
			hist[a][EgressMember(s, g, sub, n)]++
		}
	}
	share := func(c int) float64 { return float64(c) / flows }
	t.Logf("2-member aggregate: %.3f %.3f; 3-member aggregate: %.3f %.3f %.3f",
		share(hist[0][0]), share(hist[0][1]), share(hist[1][0]), share(hist[1][1]), share(hist[1][2]))
	// Deterministic hash: the bounds bracket 2/3 and 1/3, not flaky.
	check := func(name string, got, want float64) {
		if got-want > 0.03 || want-got > 0.03 {
			t.Errorf("%s: share %.3f, want %.3f ± 0.03", name, got, want)
		}
	}
	check("2-member aggregate, member 0", share(hist[0][0]), 2.0/3)
	check("2-member aggregate, member 1", share(hist[0][1]), 1.0/3)
	for m := range 3 {
		check(fmt.Sprint("3-member aggregate, member ", m), share(hist[1][m]), 1.0/3)
	}
}

func TestFlowRuleAllocatesNothing(t *testing.T) {
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		sink += EgressMember(seedSource, seedGroup, SublistCount([]int{2, 3}), 2)
		sink += int(FlowHash4(0x0a80010a, 0xe8000701) & 1)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per run, want 0", allocs)
	}
	_ = sink
}

var sinkInt int

func BenchmarkFlowHash4(b *testing.B) {
	s := uint32(0x0a80010a)
	for b.Loop() {
		sinkInt += int(FlowHash4(s, 0xe8000701))
		s++
	}
}

func BenchmarkEgressMember(b *testing.B) {
	for b.Loop() {
		sinkInt += EgressMember(seedSource, seedGroup, 3, 2)
	}
}
