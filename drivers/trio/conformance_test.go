package trio

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestConformance(t *testing.T) {
	haltest.Run(t, func(t *testing.T, cfg hal.Config) hal.Driver {
		d, err := New(context.Background(), cfg)
		require.NoError(t, err)
		return d
	})
}

// TestConformanceUnary runs the suite again with unary trees and a
// no-mcast-replication PFE: forwarding results must not depend on the
// tree shape.
func TestConformanceUnary(t *testing.T) {
	haltest.Run(t, func(t *testing.T, cfg hal.Config) hal.Driver {
		cfg.Options[OptNetworkServices] = "enhanced-ip"
		cfg.Options["fpc.3.pic.1.no-mcast-replication"] = "true"
		d, err := New(context.Background(), cfg)
		require.NoError(t, err)
		return d
	})
}
