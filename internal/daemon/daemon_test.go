package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestLogger(t *testing.T) {
	for _, l := range []string{"", "debug", "info", "WARN", "error"} {
		_, err := Logger(l)
		require.NoError(t, err, l)
	}
	_, err := Logger("loud")
	require.ErrorContains(t, err, `invalid log level "loud"`)
}

func TestServeMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := Registry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mxfwd_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	addr, err := ServeMetrics(ctx, "127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "mxfwd_test_total 3")
	require.Contains(t, string(b), "go_goroutines")

	none, err := ServeMetrics(ctx, "", reg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = ServeMetrics(ctx, addr, reg, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "metrics: listen")
}

func TestSocketDir(t *testing.T) {
	t.Setenv("MXFWD_RUN_DIR", "/tmp/x")
	require.Equal(t, "/tmp/x", SocketDir())
	t.Setenv("MXFWD_RUN_DIR", "")
	require.Equal(t, "/tmp/mxfwd", SocketDir())
}
