package ipctest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/ipc"
)

func TestPipeCarriesMessagesBothWays(t *testing.T) {
	ina, inb := NewInbox(8), NewInbox(8)
	p := Pipe(t, ipc.SessionConfig{Local: ipc.TNPMaster, Peer: ipc.FPCAddr(3), Handler: ina.Handler},
		ipc.SessionConfig{Local: ipc.FPCAddr(3), Peer: ipc.TNPMaster, Handler: inb.Handler})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.A.Send(ctx, &ipc.ResyncBegin{Generation: 7}))
	require.NoError(t, p.B.Send(ctx, &ipc.ResyncEnd{Generation: 9}))
	select {
	case m := <-inb.C:
		require.Equal(t, uint32(7), m.(*ipc.ResyncBegin).Generation)
	case <-ctx.Done():
		t.Fatal("B got nothing")
	}
	select {
	case m := <-ina.C:
		require.Equal(t, uint32(9), m.(*ipc.ResyncEnd).Generation)
	case <-ctx.Done():
		t.Fatal("A got nothing")
	}
	p.Stop()
}
