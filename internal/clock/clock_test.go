package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFakeTimersFireInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	a := f.NewTimer(3 * time.Second)
	b := f.NewTimer(time.Second)
	stopped := f.NewTimer(2 * time.Second)
	require.True(t, stopped.Stop())
	require.False(t, stopped.Stop())
	require.Equal(t, 2, f.Timers())
	f.Advance(999 * time.Millisecond)
	select {
	case <-b.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	require.Equal(t, t0.Add(time.Second), <-b.C())
	f.Advance(5 * time.Second)
	require.Equal(t, t0.Add(3*time.Second), <-a.C())
	select {
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	a.Reset(time.Second)
	armed := f.Armed()
	b.Reset(0)
	<-armed
	require.Equal(t, f.Now(), <-b.C(), "a zero reset fires at once")
	require.Equal(t, 1, f.Timers())
}

func TestRealClock(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	require.False(t, tm.Stop())
	st := c.NewTimer(-1)
	require.False(t, st.Stop())
	require.WithinDuration(t, time.Now(), c.Now(), time.Second)
}
