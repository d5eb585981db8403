package changelog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFollowAndOrder(t *testing.T) {
	l := New(100, 1<<20)
	l.Append(2, []byte("ab"), nil)
	head := l.Head()
	require.EqualValues(t, 1, head)
	c, err := l.Follow("fpc3", head)
	require.NoError(t, err)
	defer c.Close()
	l.Append(1, []byte("c"), nil)
	l.Append(3, []byte("def"), nil)
	es, err := c.Next(context.Background())
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.EqualValues(t, 1, es[0].Seq)
	require.EqualValues(t, 2, es[0].Mark)
	require.Equal(t, "c", string(es[0].Msgs))
	require.EqualValues(t, 2, es[1].Seq)
	require.EqualValues(t, 3, es[1].Mark)
	require.Zero(t, c.Lag())

	// Next blocks until an append.
	got := make(chan []Entry)
	go func() {
		es, _ := c.Next(context.Background())
		got <- es
	}()
	select {
	case <-got:
		t.Fatal("Next returned with nothing appended")
	case <-time.After(20 * time.Millisecond):
	}
	l.Append(1, []byte("g"), nil)
	require.Equal(t, "g", string((<-got)[0].Msgs))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestBoundDropsLaggingCursorOnly(t *testing.T) {
	l := New(10, 1<<20)
	slow, err := l.Follow("fpc3", 0)
	require.NoError(t, err)
	fast, err := l.Follow("fpc4", 0)
	require.NoError(t, err)
	var fastGot int
	for range 30 {
		l.Append(1, []byte("x"), nil)
		es, err := fast.Next(context.Background())
		require.NoError(t, err)
		for _, e := range es {
			fastGot += e.N
		}
	}
	require.Equal(t, 30, fastGot)
	select {
	case <-slow.Lagged():
	default:
		t.Fatal("the slow cursor was not told")
	}
	_, err = slow.Next(context.Background())
	require.True(t, errors.Is(err, ErrLagged))
	require.ErrorContains(t, err, "fpc3 is 30 messages behind")
	st := l.Stats()
	require.LessOrEqual(t, st.Messages, 10)
	require.EqualValues(t, 1, st.Lagged)
	_, err = l.Follow("late", 0)
	require.ErrorIs(t, err, ErrLagged)
	// The newest entry stays even when alone it is over the bound.
	l.Append(50, make([]byte, 50), nil)
	require.Equal(t, 50, l.Stats().Messages)
	// An entry without messages (a delta alone) is delivered once.
	c, err := l.Follow("delta", l.Head())
	require.NoError(t, err)
	l.Append(0, nil, nil)
	es, err := c.Next(context.Background())
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Zero(t, c.Lag())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = c.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConcurrentAppendAndFollow(t *testing.T) {
	l := New(0, 0)
	const writers, per = 4, 2000
	var readers sync.WaitGroup
	for r := range 3 {
		c, err := l.Follow("r", 0)
		require.NoError(t, err)
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer c.Close()
			var n uint64
			for n < writers*per {
				es, err := c.Next(context.Background())
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				for _, e := range es {
					if e.Mark != n {
						t.Errorf("reader %d: mark %d, want %d", r, e.Mark, n)
						return
					}
					n += uint64(e.N)
				}
			}
		}()
	}
	var w sync.WaitGroup
	for range writers {
		w.Go(func() {
			for range per {
				l.Append(1, []byte{1}, nil)
			}
		})
	}
	w.Wait()
	readers.Wait()
	require.EqualValues(t, writers*per, l.Head())
}

func BenchmarkAppendFollow(b *testing.B) {
	l := New(0, 0)
	c, _ := l.Follow("b", 0)
	msg := make([]byte, 40*64)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		l.Append(64, msg, nil)
		if _, err := c.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "msgs/s")
}

func TestRecordsAreOrderedAndBounded(t *testing.T) {
	l := New(100, 64)
	c, err := l.Follow("backup", l.Head())
	require.NoError(t, err)
	defer c.Close()
	l.Append(1, []byte("a"), nil)
	l.AppendRecord(17, []byte("pim input"))
	l.Append(1, []byte("b"), nil)
	es, err := c.Next(context.Background())
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.Nil(t, es[0].Record)
	require.EqualValues(t, 17, es[1].Record.Client)
	require.Equal(t, "pim input", string(es[1].Record.Data))
	require.Zero(t, es[1].N, "a record carries no card message")
	require.EqualValues(t, 1, es[2].Mark, "records do not count as messages")

	// Records count towards the byte bound.
	l.AppendRecord(17, make([]byte, 60))
	l.AppendRecord(17, make([]byte, 60))
	st := l.Stats()
	require.LessOrEqual(t, st.Bytes, 64+60)
	require.Positive(t, st.Trimmed)
}
