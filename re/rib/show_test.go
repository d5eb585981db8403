package rib

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// showLab: connected routes, an ECMP static route, an OSPF route that
// loses to it, a kernel route, one hidden static route.
func showLab(t *testing.T) *RIB {
	t.Helper()
	r := New(Options{LocalAS: 65000})
	for _, x := range []struct{ ifl, addr string }{{"xe-3/1/0.0", "10.0.0.1/24"}, {"ae91.0", "10.128.2.1/24"}} {
		_, err := r.SetInterface(x.ifl, pfx(x.addr), t0)
		require.NoError(t, err)
	}
	_, err := r.SetStatic([]StaticRoute{
		{Prefix: pfx("10.9.0.0/16"), NextHops: []netip.Addr{ip("10.0.0.2"), ip("10.128.2.2")}},
		{Prefix: pfx("10.99.0.0/16"), NextHops: []netip.Addr{ip("192.0.2.1")}},
	}, t0.Add(30*time.Second))
	require.NoError(t, err)
	_, err = r.ApplyKernel(KernelUpdate{Routes: []KernelRoute{
		{Prefix: pfx("10.9.0.0/16"), Protocol: RTProtOSPF, Priority: 20, NextHops: []NextHop{{Interface: "ae91.0", Gateway: ip("10.128.2.3")}}},
		{Prefix: pfx("0.0.0.0/0"), Protocol: 3, NextHops: []NextHop{{Interface: "xe-3/1/0.0", Gateway: ip("10.0.0.254")}}},
	}}, t0.Add(60*time.Second))
	require.NoError(t, err)
	return r
}

func render(t *testing.T, tb Table, detail bool) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, RenderTable(&b, tb, detail))
	return b.String()
}

func TestShowRouteTable(t *testing.T) {
	r := showLab(t)
	now := t0.Add(62*time.Second + 24*time.Hour)
	const want = `inet.0: 7 destinations, 8 routes (6 active, 0 holddown, 1 hidden)
+ = Active Route, - = Last Active, * = Both

0.0.0.0/0          *[Kernel/10] 1d 00:00:02
                    > to 10.0.0.254 via xe-3/1/0.0
10.0.0.0/24        *[Direct/0] 1d 00:01:02
                    > via xe-3/1/0.0
10.0.0.1/32        *[Local/0] 1d 00:01:02
                      Local via xe-3/1/0.0
10.9.0.0/16        *[Static/5] 1d 00:00:32
                      to 10.0.0.2 via xe-3/1/0.0
                    > to 10.128.2.2 via ae91.0
                    [OSPF/10] 1d 00:00:02, metric 20
                    > to 10.128.2.3 via ae91.0
10.128.2.0/24      *[Direct/0] 1d 00:01:02
                    > via ae91.0
10.128.2.1/32      *[Local/0] 1d 00:01:02
                      Local via ae91.0
`
	require.Equal(t, want, render(t, r.Table(now), false))
}

func TestShowRouteDetail(t *testing.T) {
	r := showLab(t)
	now := t0.Add(2 * time.Minute)
	const want = `inet.0: 7 destinations, 8 routes (6 active, 0 holddown, 1 hidden)
10.9.0.0/16 (2 entries, 1 announced)
        *Static Preference: 5
                Next hop type: Router
                Next hop: 10.0.0.2 via xe-3/1/0.0
                Next hop: 10.128.2.2 via ae91.0, selected
                State: <Active Int Ext>
                Local AS: 65000
                Age: 1:30
                Task: RT
                Announcement bits (1): 0-KRT
                AS path: I
         OSPF   Preference: 10
                Next hop type: Router
                Next hop: 10.128.2.3 via ae91.0, selected
                State: <Int>
                Inactive reason: Route Preference
                Local AS: 65000
                Age: 1:00 	Metric: 20
                Task: OSPF
                AS path: I
`
	require.Equal(t, want, render(t, r.Show(pfx("10.9.0.0/16"), now), true))

	const local = `inet.0: 7 destinations, 8 routes (6 active, 0 holddown, 1 hidden)
10.0.0.0/24 (1 entry, 1 announced)
        *Direct Preference: 0
                Next hop type: Interface
                Next hop: via xe-3/1/0.0, selected
                State: <Active Int>
                Local AS: 65000
                Age: 2:00
                Task: IF
                Announcement bits (1): 0-KRT
                AS path: I

10.0.0.1/32 (1 entry, 1 announced)
        *Local  Preference: 0
                Next hop type: Local
                Interface: xe-3/1/0.0
                State: <Active NoReadvrt Int>
                Local AS: 65000
                Age: 2:00
                Task: IF
                Announcement bits (1): 0-KRT
                AS path: I
`
	require.Equal(t, local, render(t, r.Show(pfx("10.0.0.0/24"), now), true))
}

func TestShowRouteAddress(t *testing.T) {
	r := showLab(t)
	now := t0.Add(time.Hour)
	// An address: its longest match only.
	tb := r.Show(netip.PrefixFrom(ip("10.0.0.77"), 32), now)
	require.Len(t, tb.Entries, 1)
	require.Equal(t, `inet.0: 7 destinations, 8 routes (6 active, 0 holddown, 1 hidden)
+ = Active Route, - = Last Active, * = Both

10.0.0.0/24        *[Direct/0] 01:00:00
                    > via xe-3/1/0.0
`, render(t, tb, false))
	// The hidden route's destination is skipped: the default answers.
	tb = r.Show(netip.PrefixFrom(ip("10.99.1.1"), 32), now)
	require.Equal(t, pfx("0.0.0.0/0"), tb.Entries[0].Prefix)
	// A prefix with nothing inside: the covering match.
	tb = r.Show(pfx("10.9.4.0/24"), now)
	require.Equal(t, pfx("10.9.0.0/16"), tb.Entries[0].Prefix)
	// A prefix: everything inside.
	tb = r.Show(pfx("10.0.0.0/8"), now)
	require.Len(t, tb.Entries, 5)
	// Nothing at all: nothing is printed.
	empty := New(Options{})
	require.Equal(t, "", render(t, empty.Show(netip.PrefixFrom(ip("10.0.0.1"), 32), now), false))
	require.Equal(t, "", render(t, empty.Show(netip.Prefix{}, now), false))

	// JSON: protocol by name, addresses as text.
	b, err := json.Marshal(r.Show(netip.PrefixFrom(ip("10.9.0.1"), 32), now))
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, "inet.0", back["table-name"])
	d := back["destinations"].([]any)[0].(map[string]any)
	require.Equal(t, "10.9.0.0/16", d["destination"])
	rt := d["routes"].([]any)[0].(map[string]any)
	require.Equal(t, "Static", rt["protocol"])
	require.Equal(t, true, rt["active"])
	nh := rt["next-hops"].([]any)[1].(map[string]any)
	require.Equal(t, map[string]any{"to": "10.128.2.2", "via": "ae91.0", "selected": true}, nh)
}

func TestAgeFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "00:00:00", 62 * time.Second: "00:01:02", 25 * time.Hour: "1d 01:00:00",
		(9*24 + 3) * time.Hour: "1w2d 03:00:00", -time.Second: "00:00:00",
	} {
		require.Equal(t, want, clock(d), d)
	}
	for d, want := range map[time.Duration]string{
		173 * time.Second: "2:53", 3723 * time.Second: "1:02:03", 26 * time.Hour: "1d 2:00:00",
		(8 * 24) * time.Hour: "1w1d 0:00:00",
	} {
		require.Equal(t, want, age(d), d)
	}
}
