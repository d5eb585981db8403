package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Both daemons serve Prometheus metrics: FPC sessions on the RE, resolve
// outcomes and per-interface counters on the FPC.
func TestMetrics(t *testing.T) {
	p := newPlatform(t, seedConfig(t))
	rePort, fpcPort := freePort(t), freePort(t)
	p.reArgs = []string{"--metrics", fmt.Sprintf("127.0.0.1:%d", rePort)}
	p.startRE()
	p.startFPC(3, "--metrics", fmt.Sprintf("127.0.0.1:%d", fpcPort))
	p.eventually("RE metrics", func() bool {
		return strings.Contains(scrape(t, rePort), `mxfwd_re_fpc_connected{driver="swpfe",slot="3"} 1`)
	})
	p.vty(3, "test traffic source 10.128.1.10 group 232.0.8.1 interface ae90.0 count 10")
	defer func() {
		if t.Failed() {
			t.Log(scrape(t, fpcPort))
		}
	}()
	p.eventually("FPC metrics", func() bool {
		m := scrape(t, fpcPort)
		return strings.Contains(m, `mxfwd_fpc_re_connected{slot="3"} 1`) &&
			strings.Contains(m, `mxfwd_fpc_resolve_total{outcome="sent",slot="3"} 1`) &&
			strings.Contains(m, `mxfwd_fpc_ifl_packets_total{counter="rx",ifl="ae90.0",slot="3"} 10`)
	})
	require.Contains(t, scrape(t, rePort), `mxfwd_re_routes{kind="mdiscard"} 1`)
}
