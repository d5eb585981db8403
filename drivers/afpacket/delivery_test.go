package afpacket

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
)

// TestDelivery runs the shared real-traffic test (issue #12): datagrams
// from an ordinary UDP socket, offload on, counted by receiving sockets.
// The driver's counter proves that the frames did arrive with their
// checksum left to the device and were completed here.
func TestDelivery(t *testing.T) {
	var d *Driver
	porttest.TestDelivery(t, func(t *testing.T, ns string, ports map[string]string, up hal.Upcalls) hal.Driver {
		var err error
		d, err = newDriver(t.Context(), hal.Config{
			Slot: 3, Logger: testLogger(t), Upcalls: up, Now: time.Now,
			Ports: ports, Options: testOptions(ns),
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	})
	var completed uint64
	for _, p := range d.Stats().Ports {
		completed += p.RxCsumCompleted
	}
	assert.NotZero(t, completed, "no frame arrived TP_STATUS_CSUMNOTREADY: the test did not exercise offloading senders")
}
