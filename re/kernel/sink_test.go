package kernel

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// keepingSink keeps every download's slice, as the Sink contract allows.
type keepingSink struct{ got [][]hal.Op }

func (s *keepingSink) Download(ops []hal.Op) { s.got = append(s.got, ops) }

// borrowingSink copies what it sees and says it keeps nothing.
type borrowingSink struct {
	copies [][]hal.Op
	bases  []uintptr
}

func (s *borrowingSink) Download(ops []hal.Op) {
	s.copies = append(s.copies, append([]hal.Op(nil), ops...))
	s.bases = append(s.bases, uintptr(unsafe.Pointer(unsafe.SliceData(ops))))
}
func (s *borrowingSink) BorrowsOps() {}

// A BorrowingSink gets one slice reused across batches, each batch's ops
// exactly what a plain Sink gets; a plain Sink's slices are never written
// after its Download.
func TestDownloadSliceReusedOnlyForBorrowingSinks(t *testing.T) {
	keep, borrow := &keepingSink{}, &borrowingSink{}
	kk, kb := New(Config{Sink: keep}), New(Config{Sink: borrow})
	for _, k := range []*Kernel{kk, kb} {
		_, err := k.SetInterfaces(seedInterfaces())
		require.NoError(t, err)
	}
	keep.got, borrow.copies, borrow.bases = nil, nil, nil

	var snapshots [][]hal.Op
	for i := range 4 {
		joins := benchJoins(i*100, 100)
		require.NoError(t, kk.JoinBatch(joins))
		require.NoError(t, kb.JoinBatch(joins))
		snapshots = append(snapshots, append([]hal.Op(nil), keep.got[len(keep.got)-1]...))
		var ch []Change
		for _, j := range benchJoins(10_000+i*100, 100) {
			ch = append(ch, Change{Owner: OwnerPIM, Entry: SGEntry(j.Source, j.Group),
				Contribution: &Contribution{RPF: j.Upstream, Downstream: j.Downstream}})
		}
		require.NoError(t, kk.Update(ch))
		require.NoError(t, kb.Update(ch))
		snapshots = append(snapshots, append([]hal.Op(nil), keep.got[len(keep.got)-1]...))
	}
	require.Len(t, borrow.copies, len(keep.got))
	for i := range keep.got {
		require.Equal(t, snapshots[i], keep.got[i], "batch %d: a kept slice was written afterwards", i)
		require.Equal(t, keep.got[i], borrow.copies[i], "batch %d: the borrowing sink saw other ops", i)
	}
	reused := 0
	for i := 1; i < len(borrow.bases); i++ {
		if borrow.bases[i] == borrow.bases[i-1] {
			reused++
		}
	}
	require.Positive(t, reused, "the borrowing sink's slice is reused")
}
