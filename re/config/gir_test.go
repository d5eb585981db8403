package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const girBase = `set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24
set protocols pim interface xe-3/0/0.0
`

func TestGIRStatements(t *testing.T) {
	t.Run("every statement parses and renders back", func(t *testing.T) {
		text := girBase + `set protocols pim graceful-insertion-removal tlv-type 31000
set protocols pim graceful-insertion-removal maintenance start 20
set protocols pim graceful-insertion-removal maintenance stop 600
set protocols pim graceful-insertion-removal insertion-window 0
set protocols pim graceful-insertion-removal announce-interval 30
set protocols pim graceful-insertion-removal announce-copies 5
set protocols pim graceful-insertion-removal advertise-sources
set protocols pim graceful-insertion-removal originator-address 10.0.0.1
set protocols pim graceful-insertion-removal boundary xe-3/0/0.0
set protocols pim graceful-insertion-removal max-message-rate 10
set protocols pim graceful-insertion-removal min-message-gap 500
`
		c, err := Parse("g.conf", strings.NewReader(text))
		require.NoError(t, err)
		g := c.PIM.GIR
		require.Equal(t, uint16(31000), g.TLVType)
		require.NotNil(t, g.Maintenance)
		s, st := g.Maintenance.Window()
		require.Equal(t, []int{20, 600}, []int{s, st})
		require.Equal(t, 0, g.Insertion(), "an explicit 0: fully operational at once")
		require.Equal(t, 30, g.AnnounceInterval)
		require.Equal(t, 5, g.AnnounceCopies)
		require.True(t, g.AdvertiseSources)
		require.Equal(t, netip.MustParseAddr("10.0.0.1"), g.Originator)
		require.Equal(t, []string{"xe-3/0/0.0"}, g.Boundaries)
		require.Equal(t, 10, g.MaxMessageRate)
		require.Equal(t, 500, g.MinMessageGap)
		require.Equal(t, 3, g.Line)
		again, err := Parse("again.conf", strings.NewReader(strings.Join(c.Statements(), "\n")+"\n"))
		require.NoError(t, err)
		require.Equal(t, c.Statements(), again.Statements())
		require.Contains(t, c.Statements(), "set protocols pim graceful-insertion-removal maintenance start 20 stop 600")
	})
	t.Run("defaults: a bare maintenance is the 10/300 s removal window, insertion 300 s", func(t *testing.T) {
		c, err := Parse("g.conf", strings.NewReader(girBase+"set protocols pim graceful-insertion-removal maintenance\n"))
		require.NoError(t, err)
		s, st := c.PIM.GIR.Maintenance.Window()
		require.Equal(t, []int{GIRDefaultStart, GIRDefaultStop}, []int{s, st})
		require.Equal(t, GIRDefaultInsertion, c.PIM.GIR.Insertion())
		require.Equal(t, uint16(0), c.PIM.GIR.TLVType, "0: the codec's default type")
		c, err = Parse("g.conf", strings.NewReader(girBase))
		require.NoError(t, err)
		require.Nil(t, c.PIM.GIR.Maintenance, "not in maintenance without the statement")
	})
	for stmt, want := range map[string]string{
		"set protocols pim graceful-insertion-removal tlv-type 32768":                 "range 2..32767",
		"set protocols pim graceful-insertion-removal tlv-type 1":                     "range 2..32767",
		"set protocols pim graceful-insertion-removal maintenance start 50 stop 40":   "stop 40 s is before start 50 s",
		"set protocols pim graceful-insertion-removal maintenance stop 5":             "stop 5 s is before start 10 s",
		"set protocols pim graceful-insertion-removal maintenance stop 0":             "range 1..86400",
		"set protocols pim graceful-insertion-removal maintenance start":              "needs a value",
		"set protocols pim graceful-insertion-removal maintenance begin 3":            "expected start, stop",
		"set protocols pim graceful-insertion-removal announce-interval 5":            "range 10..3600",
		"set protocols pim graceful-insertion-removal announce-copies 0":              "range 1..10",
		"set protocols pim graceful-insertion-removal advertise-sources yes":          "expecting",
		"set protocols pim graceful-insertion-removal":                                "incomplete statement",
		"set protocols pim graceful-insertion-removal shutdown":                       "unknown graceful-insertion-removal statement",
		"set protocols pim graceful-insertion-removal originator-address 169.254.1.1": "routable unicast",
		"set protocols pim graceful-insertion-removal max-message-rate 61":            "range 1..60",
		"set protocols pim graceful-insertion-removal min-message-gap 50":             "range 100..60000",
	} {
		t.Run("refused: "+stmt, func(t *testing.T) {
			_, err := Parse("bad.conf", strings.NewReader(girBase+stmt+"\n"))
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, want)
			require.ErrorContains(t, err, "bad.conf:3:")
		})
	}
	t.Run("refused: an originator that is not ours, a boundary that is not a PIM interface", func(t *testing.T) {
		_, err := Parse("bad.conf", strings.NewReader(girBase+"set protocols pim graceful-insertion-removal originator-address 10.9.9.9\n"))
		require.ErrorContains(t, err, "not one of this router's addresses")
		_, err = Parse("bad.conf", strings.NewReader(girBase+"set interfaces xe-3/1/0 unit 0 family inet address 10.1.0.1/24\nset protocols pim graceful-insertion-removal boundary xe-3/1/0.0\n"))
		require.ErrorContains(t, err, "is not a PIM interface")
	})
	t.Run("refused: GIR without PIM", func(t *testing.T) {
		_, err := Parse("bad.conf", strings.NewReader("set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24\nset protocols pim graceful-insertion-removal tlv-type 300\n"))
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, "line 2")
		require.ErrorContains(t, err, "needs PIM")
	})
}
