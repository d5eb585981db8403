package haltest_test

import (
	"testing"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestFakeConformance(t *testing.T) {
	haltest.Run(t, func(t *testing.T, cfg hal.Config) hal.Driver { return haltest.NewFake(cfg) })
}
