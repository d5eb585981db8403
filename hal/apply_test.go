package hal

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApplyEach(t *testing.T) {
	ops := []Op{{Kind: OpSetNH, NH: NextHop{ID: 1}}, {Kind: OpSetNH, NH: NextHop{ID: 2}}, {Kind: OpDelNH, NH: NextHop{ID: 3}}}
	var seen []NHID
	n, err := ApplyEach(context.Background(), ops, func(i int, op *Op) error {
		seen = append(seen, op.NH.ID)
		if i == 1 {
			return ErrTableFull
		}
		return nil
	})
	require.Equal(t, 2, n, "keeps going past a failed op")
	require.Equal(t, []NHID{1, 2, 3}, seen)
	require.ErrorIs(t, err, ErrTableFull)
	require.ErrorContains(t, err, "op 1 (set-nh 2(NHType(0))): table full")
	failed := FailedOps(err)
	require.Len(t, failed, 1, "which op failed")
	require.Equal(t, 1, failed[0].Index)
	require.Equal(t, NHID(2), failed[0].Op.NH.ID)
	require.ErrorIs(t, failed[0], ErrTableFull)

	ctx, cancel := context.WithCancel(context.Background())
	n, err = ApplyEach(ctx, ops, func(i int, _ *Op) error {
		cancel()
		return nil
	})
	require.Equal(t, 1, n, "stops before the next op once ctx is done")
	require.True(t, errors.Is(err, context.Canceled))
	require.ErrorContains(t, err, "stopped before op 1")
	require.Empty(t, FailedOps(err), "a stop is not a failed op")

	n, err = ApplyEach(context.Background(), nil, func(int, *Op) error { return nil })
	require.Zero(t, n)
	require.NoError(t, err)
}
