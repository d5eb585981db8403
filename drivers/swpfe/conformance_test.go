package swpfe_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func newTestDriver(t *testing.T, cfg hal.Config) hal.Driver {
	d, err := swpfe.New(t.Context(), cfg)
	require.NoError(t, err)
	return d
}

func TestConformance(t *testing.T) {
	haltest.Run(t, newTestDriver)
}
