package xdp

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// starter returns a porttest.StartFunc for the driver in mode (and keeps
// the driver in *d for the caller's checks).
func starter(mode Mode, d **Driver, extra ...string) porttest.StartFunc {
	return func(t *testing.T, ns string, ports map[string]string, up hal.Upcalls) hal.Driver {
		opts := map[string]string{"netns": ns, "mode": string(mode)}
		for i := 0; i+1 < len(extra); i += 2 {
			opts[extra[i]] = extra[i+1]
		}
		drv, err := newDriver(context.Background(), hal.Config{
			Slot: 3, Logger: testLogger(t), Upcalls: up, Now: time.Now, Ports: ports, Options: opts,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = drv.Close() })
		if d != nil {
			*d = drv
		}
		return drv
	}
}
