package igmp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/igmp/igmpmsg"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(list ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range list {
		out = append(out, ip(s))
	}
	return out
}

var (
	t0    = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	self  = ip("10.0.0.2")
	lower = ip("10.0.0.1") // wins the querier election against self
	host  = ip("10.0.0.9")
	g1    = ip("239.1.1.1")
	ssmG  = ip("232.1.1.1")
	s1    = ip("10.1.1.1")
	s2    = ip("10.1.1.2")
	s3    = ip("10.1.1.3")
)

func baseConfig() igmp.Config {
	return igmp.Config{Iface: 7, Address: self, SSM: igmp.DefaultSSM}
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// fmtAction prints an action compactly for the timelines below.
func fmtAction(a igmp.Action) string {
	switch a := a.(type) {
	case *igmp.SendQuery:
		q := a.Query
		s := fmt.Sprintf("query v%d %v", q.Version, q.Group)
		if len(q.Sources) > 0 {
			s += fmt.Sprintf(" %v", q.Sources)
		}
		s += fmt.Sprintf(" mrc=%d", q.MaxRespCode)
		if q.Version == 3 {
			s += fmt.Sprintf(" qrv=%d qqic=%d", q.QRV, q.QQIC)
		}
		if q.SuppressRouterSide {
			s += " S"
		}
		return s + " -> " + a.Dst.String()
	case *igmp.MembershipChanged:
		return fmt.Sprintf("member %v %v %v", a.Group, a.Mode, a.Sources)
	case *igmp.QuerierChanged:
		if a.Self {
			return "querier self"
		}
		return "querier " + a.Querier.String()
	}
	return a.String()
}

type step struct {
	at time.Duration
	ev igmp.Event // nil: only let the timers run until at
}

// runTimeline drives an interface with a fake clock: before each event it
// steps a Tick at every deadline up to the event's time, exactly as an
// owner loop waiting on NextDeadline would. It returns the log of actions,
// "<seconds>s: <action>".
func runTimeline(t *testing.T, s *igmp.Interface, steps []step) []string {
	t.Helper()
	var log []string
	record := func(now time.Time, acts []igmp.Action) {
		for _, a := range acts {
			log = append(log, fmt.Sprintf("%gs: %s", now.Sub(t0).Seconds(), fmtAction(a)))
		}
	}
	for _, st := range steps {
		until := t0.Add(st.at)
		for {
			next, ok := s.NextDeadline()
			if !ok || next.After(until) {
				break
			}
			record(next, s.Step(next, igmp.Tick{}))
			n2, ok2 := s.NextDeadline()
			require.False(t, ok2 && !n2.After(next), "deadline %v not in the future after a tick at %v", n2, next)
		}
		if st.ev != nil {
			record(until, s.Step(until, st.ev))
		}
	}
	return log
}

func newIface(t *testing.T, cfg igmp.Config) *igmp.Interface {
	t.Helper()
	s, err := igmp.New(cfg)
	require.NoError(t, err)
	return s
}

func from(src netip.Addr, m igmpmsg.Message) igmp.Event { return igmp.Received{Src: src, Msg: m} }

func v3(recs ...igmpmsg.GroupRecord) *igmpmsg.V3Report { return &igmpmsg.V3Report{Records: recs} }

func rec(t igmpmsg.RecordType, g netip.Addr, srcs ...netip.Addr) igmpmsg.GroupRecord {
	return igmpmsg.GroupRecord{Type: t, Group: g, Sources: srcs}
}

func generalQuery(qrv, qqic uint8) *igmpmsg.Query {
	return &igmpmsg.Query{Version: 3, MaxRespCode: 100, Group: netip.IPv4Unspecified(), QRV: qrv, QQIC: qqic}
}

const (
	gq3 = "query v3 0.0.0.0 mrc=100 qrv=2 qqic=125 -> 224.0.0.1"
	q1  = "query v3 239.1.1.1 mrc=10 qrv=2 qqic=125 -> 239.1.1.1"
)

func TestTimelines(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*igmp.Config)
		steps []step
		want  []string
	}{
		{
			name:  "startup: two queries 31.25 s apart, then every 125 s",
			steps: []step{{0, igmp.Start{}}, {secs(400), nil}},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"31.25s: " + gq3, "156.25s: " + gq3, "281.25s: " + gq3,
			},
		},
		{
			name: "a lower address wins; a higher one does not; other-querier-present 255 s then takeover",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(ip("10.0.0.3"), generalQuery(2, 125))},
				{secs(10), from(lower, generalQuery(2, 125))},
				{secs(266), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"10s: querier 10.0.0.1",
				"265s: querier self", "265s: " + gq3,
			},
		},
		{
			name: "a non-querier adopts the querier's QRV 3 and QQI 60: other-querier-present 3*60+5 = 185 s",
			steps: []step{
				{0, igmp.Start{}},
				{secs(10), from(lower, generalQuery(3, 60))},
				{secs(196), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"10s: querier 10.0.0.1",
				"195s: querier self", "195s: " + gq3, // back to its own QRV 2, QQIC 125
			},
		},
		{
			name: "v2 report, then leave: last member queries at 1 s, membership gone after 2 s",
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(100), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(110), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"1s: member 239.1.1.1 exclude []",
				"31.25s: " + gq3,
				"100s: " + q1, "101s: " + q1,
				"102s: member 239.1.1.1 include []",
			},
		},
		{
			name: "a report after the leave raises the group timer: the retransmission has the S flag and the group stays",
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(100), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(100.5), from(ip("10.0.0.10"), &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(361), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"1s: member 239.1.1.1 exclude []",
				"31.25s: " + gq3,
				"100s: " + q1,
				"101s: query v3 239.1.1.1 mrc=10 qrv=2 qqic=125 S -> 239.1.1.1",
				"156.25s: " + gq3, "281.25s: " + gq3,
				"360.5s: member 239.1.1.1 include []", // 100.5 + 260
			},
		},
		{
			name: "group membership interval 2*125+10 = 260 s without reports",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, v3(rec(igmpmsg.ModeIsExclude, g1)))},
				{secs(300), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 239.1.1.1 exclude []",
				"31.25s: " + gq3, "156.25s: " + gq3,
				"265s: member 239.1.1.1 include []",
				"281.25s: " + gq3,
			},
		},
		{
			name: "INCLUDE: ALLOW two sources, BLOCK one: group-and-source queries, the source goes after LMQT",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, v3(rec(igmpmsg.AllowNewSources, ssmG, s1, s2)))},
				{secs(50), from(host, v3(rec(igmpmsg.BlockOldSources, ssmG, s1)))},
				{secs(60), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 232.1.1.1 include [10.1.1.1 10.1.1.2]",
				"31.25s: " + gq3,
				"50s: query v3 232.1.1.1 [10.1.1.1] mrc=10 qrv=2 qqic=125 -> 232.1.1.1",
				"51s: query v3 232.1.1.1 [10.1.1.1] mrc=10 qrv=2 qqic=125 -> 232.1.1.1",
				"52s: member 232.1.1.1 include [10.1.1.2]",
			},
		},
		{
			name: "group-and-source retransmission splits by S flag when a report raises one source",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, v3(rec(igmpmsg.AllowNewSources, ssmG, s1, s2)))},
				{secs(50), from(host, v3(rec(igmpmsg.BlockOldSources, ssmG, s1, s2)))},
				{secs(50.5), from(ip("10.0.0.10"), v3(rec(igmpmsg.ModeIsInclude, ssmG, s1)))},
				{secs(60), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 232.1.1.1 include [10.1.1.1 10.1.1.2]",
				"31.25s: " + gq3,
				"50s: query v3 232.1.1.1 [10.1.1.1 10.1.1.2] mrc=10 qrv=2 qqic=125 -> 232.1.1.1",
				"51s: query v3 232.1.1.1 [10.1.1.1] mrc=10 qrv=2 qqic=125 S -> 232.1.1.1",
				"51s: query v3 232.1.1.1 [10.1.1.2] mrc=10 qrv=2 qqic=125 -> 232.1.1.1",
				"52s: member 232.1.1.1 include [10.1.1.1]",
			},
		},
		{
			name: "EXCLUDE(X,Y) then TO_IN: Q(G), the group timer runs out into INCLUDE with the requested sources",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, v3(rec(igmpmsg.ModeIsExclude, g1, s1)))},
				{secs(6), from(host, v3(rec(igmpmsg.AllowNewSources, g1, s2)))},
				{secs(100), from(host, v3(rec(igmpmsg.ChangeToInclude, g1, s2)))},
				{secs(400), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 239.1.1.1 exclude [10.1.1.1]",
				"31.25s: " + gq3,
				"100s: " + q1, "101s: " + q1,
				"102s: member 239.1.1.1 include [10.1.1.2]",
				"156.25s: " + gq3, "281.25s: " + gq3,
				"360s: member 239.1.1.1 include []", // s2: 100 + 260
			},
		},
		{
			name: "INCLUDE TO_EX: EXCLUDE(A*B, B-A), A-B deleted, Q(G,A*B) lowers the kept source into Y",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, v3(rec(igmpmsg.AllowNewSources, g1, s1, s2)))},
				{secs(10), from(host, v3(rec(igmpmsg.ChangeToExclude, g1, s2, s3)))},
				{secs(20), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 239.1.1.1 include [10.1.1.1 10.1.1.2]",
				"10s: query v3 239.1.1.1 [10.1.1.2] mrc=10 qrv=2 qqic=125 -> 239.1.1.1",
				"10s: member 239.1.1.1 exclude [10.1.1.3]",
				"11s: query v3 239.1.1.1 [10.1.1.2] mrc=10 qrv=2 qqic=125 -> 239.1.1.1",
				"12s: member 239.1.1.1 exclude [10.1.1.2 10.1.1.3]",
			},
		},
		{
			name: "IGMPv1 host present: leaves ignored for 260 s, then processed",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, &igmpmsg.Report{Version: 1, Group: g1})},
				{secs(10), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(200), from(host, v3(rec(igmpmsg.ModeIsExclude, g1)))},
				{secs(264), from(host, &igmpmsg.Leave{Group: g1})}, // v1 host present until 265
				{secs(300), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(303), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 239.1.1.1 exclude []",
				"31.25s: " + gq3, "156.25s: " + gq3, "281.25s: " + gq3,
				"300s: " + q1, "301s: " + q1,
				"302s: member 239.1.1.1 include []",
			},
		},
		{
			name: "IGMPv2 host present: BLOCK ignored, TO_EX sources ignored",
			steps: []step{
				{0, igmp.Start{}},
				{secs(5), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(10), from(host, v3(rec(igmpmsg.BlockOldSources, g1, s1)))},
				{secs(11), from(host, v3(rec(igmpmsg.ChangeToExclude, g1, s1)))},
				{secs(12), from(host, v3(rec(igmpmsg.AllowNewSources, g1, s2)))},
				{secs(20), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"5s: member 239.1.1.1 exclude []",
			},
		},
		{
			name: "IGMPv2 interface: v2 queries, v3 reports ignored, leave gives v2 group-specific queries",
			cfg:  func(c *igmp.Config) { c.Version = 2 },
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(host, v3(rec(igmpmsg.ModeIsExclude, g1)))},
				{secs(2), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(40), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(45), nil},
			},
			want: []string{
				"0s: querier self", "0s: query v2 0.0.0.0 mrc=100 -> 224.0.0.1",
				"2s: member 239.1.1.1 exclude []",
				"31.25s: query v2 0.0.0.0 mrc=100 -> 224.0.0.1",
				"40s: query v2 239.1.1.1 mrc=10 -> 239.1.1.1", "41s: query v2 239.1.1.1 mrc=10 -> 239.1.1.1",
				"42s: member 239.1.1.1 include []",
			},
		},
		{
			name: "non-querier: sends no queries on a leave, lowers its timer on the querier's group-specific query",
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(lower, generalQuery(2, 125))},
				{secs(2), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(50), from(host, &igmpmsg.Leave{Group: g1})},
				{secs(50), from(lower, &igmpmsg.Query{Version: 3, MaxRespCode: 10, Group: g1, QRV: 2, QQIC: 125, SuppressRouterSide: true})},
				{secs(50.1), from(lower, &igmpmsg.Query{Version: 3, MaxRespCode: 10, Group: g1, QRV: 2, QQIC: 125})},
				{secs(60), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"1s: querier 10.0.0.1",
				"2s: member 239.1.1.1 exclude []",
				"52.1s: member 239.1.1.1 include []", // 50.1 + 2 x 1 s
			},
		},
		{
			name: "SSM range: any-source requests ignored, source-specific accepted",
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: ssmG})},
				{secs(2), from(host, v3(rec(igmpmsg.ChangeToExclude, ssmG), rec(igmpmsg.ModeIsInclude, ssmG, s1)))},
				{secs(3), nil},
			},
			want: []string{
				"0s: querier self", "0s: " + gq3,
				"2s: member 232.1.1.1 include [10.1.1.1]",
			},
		},
		{
			name: "not routable groups are ignored",
			steps: []step{
				{0, igmp.Start{}},
				{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: ip("224.0.0.251")})},
				{secs(2), from(host, &igmpmsg.Report{Version: 2, Group: ip("10.1.1.1")})},
				{secs(3), from(host, v3(igmpmsg.GroupRecord{Type: 9, Group: g1}))},
			},
			want: []string{"0s: querier self", "0s: " + gq3},
		},
		{
			name: "messages before Start are ignored",
			steps: []step{
				{0, from(host, &igmpmsg.Report{Version: 2, Group: g1})},
				{secs(1000), nil},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			s := newIface(t, cfg)
			got := runTimeline(t, s, tt.steps)
			require.Equal(t, tt.want, got, "\n%s", strings.Join(got, "\n"))
		})
	}
}

func TestRFCTimerValues(t *testing.T) {
	s := newIface(t, baseConfig())
	c := s.Config()
	require.Equal(t, uint8(3), c.Version)
	require.Equal(t, 2, c.Robustness)
	require.Equal(t, 125*time.Second, c.QueryInterval)
	require.Equal(t, 10*time.Second, c.QueryResponseInterval)
	require.Equal(t, time.Second, c.LastMemberQueryInterval)
	require.Equal(t, secs(31.25), c.StartupQueryInterval)
	require.Equal(t, 2, c.StartupQueryCount)

	// The general query carries QRV 2, QQIC 125 and Max Resp 10 s.
	acts := s.Step(t0, igmp.Start{})
	q := acts[1].(*igmp.SendQuery).Query
	require.Equal(t, 10*time.Second, q.MaxResp())
	require.Equal(t, 125*time.Second, q.QQI())
	require.Equal(t, uint8(2), q.QRV)
	pkt, err := igmpmsg.Packet(self, acts[1].(*igmp.SendQuery).Dst, &q)
	require.NoError(t, err, "the query encodes")
	require.Len(t, pkt, 24+12)
}

func TestStaticGroups(t *testing.T) {
	cfg := baseConfig()
	cfg.Static = []igmp.Static{{Group: g1}, {Group: ip("239.2.2.2"), Sources: ips("10.1.1.1")}}
	s := newIface(t, cfg)
	got := runTimeline(t, s, []step{
		{0, igmp.Start{}},
		// Dynamic EXCLUDE {s1} for 239.2.2.2 merged with static (s1, G): s1 is wanted.
		{secs(1), from(host, v3(rec(igmpmsg.ModeIsExclude, ip("239.2.2.2"), s1, s2)))},
		// Dynamic INCLUDE for g1 does not narrow the static (*,G).
		{secs(2), from(host, v3(rec(igmpmsg.ModeIsInclude, g1, s2)))},
		{secs(300), nil}, // dynamic state times out; statics stay
		{secs(301), igmp.SetStatic{Static: []igmp.Static{{Group: ip("239.3.3.3"), Sources: ips("10.1.1.3")}}}},
		{secs(302), igmp.Stop{}},
		{secs(303), igmp.Start{}},
	})
	require.Equal(t, []string{
		"0s: querier self", "0s: " + gq3,
		"0s: member 239.1.1.1 exclude []",
		"0s: member 239.2.2.2 include [10.1.1.1]",
		"1s: member 239.2.2.2 exclude [10.1.1.2]",
		"31.25s: " + gq3, "156.25s: " + gq3,
		"261s: member 239.2.2.2 include [10.1.1.1]",
		"281.25s: " + gq3,
		"301s: member 239.1.1.1 include []",
		"301s: member 239.2.2.2 include []",
		"301s: member 239.3.3.3 include [10.1.1.3]",
		"302s: member 239.3.3.3 include []",
		"303s: querier self", "303s: " + gq3,
		"303s: member 239.3.3.3 include [10.1.1.3]",
	}, got, "\n%s", strings.Join(got, "\n"))
	require.Equal(t, []igmp.Membership{{Group: ip("239.3.3.3"), Mode: igmp.Include, Sources: ips("10.1.1.3")}}, s.Memberships())
	st := s.State()
	require.Len(t, st.Groups, 1)
	require.True(t, st.Groups[0].Static)
}

func TestStopWithdrawsEverything(t *testing.T) {
	s := newIface(t, baseConfig())
	got := runTimeline(t, s, []step{
		{0, igmp.Start{}},
		{secs(1), from(host, v3(rec(igmpmsg.ModeIsExclude, g1), rec(igmpmsg.ModeIsInclude, ssmG, s1)))},
		{secs(2), igmp.Stop{}},
	})
	require.Equal(t, []string{
		"0s: querier self", "0s: " + gq3,
		"1s: member 232.1.1.1 include [10.1.1.1]", "1s: member 239.1.1.1 exclude []",
		"2s: member 232.1.1.1 include []", "2s: member 239.1.1.1 include []",
	}, got)
	_, ok := s.NextDeadline()
	require.False(t, ok, "a stopped interface has no timers")
	require.Empty(t, s.Memberships())
}

func TestLateTickFiresOnce(t *testing.T) {
	s := newIface(t, baseConfig())
	s.Step(t0, igmp.Start{})
	acts := s.Step(t0.Add(1000*time.Second), igmp.Tick{})
	require.Len(t, acts, 1, "one general query, not one per missed interval")
	next, ok := s.NextDeadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(1125*time.Second), next)
}

func TestStats(t *testing.T) {
	s := newIface(t, baseConfig())
	runTimeline(t, s, []step{
		{0, from(host, &igmpmsg.Report{Version: 2, Group: g1})},
		{secs(1), igmp.Start{}},
		{secs(2), from(host, &igmpmsg.Report{Version: 2, Group: ip("224.0.0.5")})},
		{secs(3), from(host, &igmpmsg.Report{Version: 1, Group: ssmG})},
		{secs(4), from(host, v3(igmpmsg.GroupRecord{Type: 7, Group: g1}))},
		{secs(5), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
		{secs(6), from(host, v3(rec(igmpmsg.BlockOldSources, g1, s1)))},
		{secs(7), from(ip("10.0.0.3"), &igmpmsg.Query{Version: 2, MaxRespCode: 100, Group: netip.IPv4Unspecified()})},
	})
	require.Equal(t, igmp.Stats{
		QueriesSent: 1, QueriesReceived: 1, OlderQueries: 1,
		V1Reports: 1, V2Reports: 2, V3Reports: 2, // the report before Start counts only as IgnoredDown
		IgnoredDown: 1, IgnoredNotGroup: 1, IgnoredSSM: 1, IgnoredRecordTypes: 1, IgnoredCompat: 1,
	}, s.Stats())
}

func TestConfigValidation(t *testing.T) {
	for _, mut := range []func(*igmp.Config){
		func(c *igmp.Config) { c.Address = netip.Addr{} },
		func(c *igmp.Config) { c.Version = 1 },
		func(c *igmp.Config) { c.QueryResponseInterval = 200 * time.Second },
		func(c *igmp.Config) { c.Version = 2; c.QueryResponseInterval = 30 * time.Second },
		func(c *igmp.Config) { c.Static = []igmp.Static{{Group: ip("224.0.0.5")}} },
		func(c *igmp.Config) { c.Static = []igmp.Static{{Group: g1, Sources: ips("239.9.9.9")}} },
	} {
		cfg := baseConfig()
		mut(&cfg)
		_, err := igmp.New(cfg)
		require.ErrorIs(t, err, igmp.ErrInvalid)
	}
}

func TestRouter(t *testing.T) {
	r := igmp.NewRouter()
	a, b := baseConfig(), baseConfig()
	b.Iface, b.Address = 8, ip("10.0.1.2")
	_, err := r.Add(a)
	require.NoError(t, err)
	_, err = r.Add(b)
	require.NoError(t, err)
	_, err = r.Add(b)
	require.ErrorIs(t, err, igmp.ErrExists)
	_, err = r.Step(t0, 9, igmp.Start{})
	require.ErrorIs(t, err, igmp.ErrNotFound)

	for _, i := range r.Interfaces() {
		_, err := r.Step(t0, i, igmp.Start{})
		require.NoError(t, err)
	}
	_, err = r.Step(t0.Add(time.Second), 8, from(ip("10.0.1.9"), &igmpmsg.Report{Version: 2, Group: g1}))
	require.NoError(t, err)
	next, ok := r.NextDeadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(secs(31.25)), next)
	acts := r.Tick(next)
	require.Len(t, acts, 2, "both interfaces send their second startup query")
	require.Equal(t, []igmp.MembershipChanged{{Iface: 8, Membership: igmp.Membership{Group: g1, Mode: igmp.Exclude}}}, r.Memberships())
	acts, err = r.Remove(next, 8)
	require.NoError(t, err)
	require.Equal(t, []string{"member 239.1.1.1 include []"}, []string{fmtAction(acts[0])})
	require.Equal(t, []igmp.MembershipChanged(nil), r.Memberships())
}

func TestLargeSourceQueryIsSplit(t *testing.T) {
	s := newIface(t, baseConfig())
	s.Step(t0, igmp.Start{})
	var srcs []netip.Addr
	for i := 0; i < 400; i++ {
		srcs = append(srcs, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}))
	}
	s.Step(t0.Add(time.Second), from(host, v3(rec(igmpmsg.AllowNewSources, g1, srcs...))))
	acts := s.Step(t0.Add(2*time.Second), from(host, v3(rec(igmpmsg.BlockOldSources, g1, srcs...))))
	var n []int
	for _, a := range acts {
		q := a.(*igmp.SendQuery).Query
		n = append(n, len(q.Sources))
		pkt, err := igmpmsg.Packet(self, a.(*igmp.SendQuery).Dst, &q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(pkt), 1500, "fits a 1500-byte MTU")
	}
	require.Equal(t, []int{366, 34}, n)
}

func TestLosingTheElectionCancelsRetransmissions(t *testing.T) {
	s := newIface(t, baseConfig())
	got := runTimeline(t, s, []step{
		{0, igmp.Start{}},
		{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
		{secs(10), from(host, &igmpmsg.Leave{Group: g1})},
		{secs(10.5), from(lower, generalQuery(2, 125))},
		{secs(20), nil},
	})
	require.Equal(t, []string{
		"0s: querier self", "0s: " + gq3,
		"1s: member 239.1.1.1 exclude []",
		"10s: " + q1,
		"10.5s: querier 10.0.0.1",
		// no retransmission at 11 s; the group timer was already lowered
		// to 12 s by this router as querier
		"12s: member 239.1.1.1 include []",
	}, got)
}

func TestState(t *testing.T) {
	s := newIface(t, baseConfig())
	runTimeline(t, s, []step{
		{0, igmp.Start{}},
		{secs(1), from(host, &igmpmsg.Report{Version: 2, Group: g1})},
		{secs(2), from(ip("10.0.0.10"), v3(rec(igmpmsg.ModeIsInclude, ssmG, s1)))},
	})
	st := s.State()
	require.True(t, st.Up)
	require.True(t, st.Self)
	require.Equal(t, self, st.Querier)
	require.Equal(t, t0.Add(secs(31.25)), st.NextGeneralQuery)
	require.Equal(t, []igmp.GroupState{
		{Group: ssmG, Mode: igmp.Include, Compat: 3, LastReporter: ip("10.0.0.10"),
			Sources:    []igmp.SourceState{{Addr: s1, Expires: t0.Add(262 * time.Second)}},
			Membership: igmp.Membership{Group: ssmG, Mode: igmp.Include, Sources: []netip.Addr{s1}}},
		{Group: g1, Mode: igmp.Exclude, Expires: t0.Add(261 * time.Second), Compat: 2, LastReporter: host,
			Membership: igmp.Membership{Group: g1, Mode: igmp.Exclude}},
	}, st.Groups)
}
