package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The real binaries with a shared key: a card with the key registers, a
// card without it does not; an RE asked to serve every address without
// authentication refuses to start and says why.
func TestAuthenticatedCardsEndToEnd(t *testing.T) {
	p := newPlatform(t, seedConfig(t))
	key := filepath.Join(p.dir, "ipc.key")
	require.NoError(t, os.WriteFile(key, []byte("mxhd-e2e-0123456789abcdef\n"), 0o600))

	out, err := p.run("re", "run", "--config", p.cfg, "--listen", "0.0.0.0:0", "--metrics", "", "--cli-socket", filepath.Join(p.dir, "open.sock"))
	require.Error(t, err)
	require.Contains(t, out, "refusing to serve FPCs on a non-loopback address without authentication")

	p.reArgs = []string{"--auth-key-file", key}
	p.startRE()
	p.startFPC(3, "--auth-key-file", key)
	require.Contains(t, p.cli("show chassis fpc"), "hmac")

	// No key: the card keeps trying, the RE refuses it each time.
	p.fpcs[4] = p.start("fpc", "run", "--slot", "4", "--driver", p.driver, "--re", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", "")
	refused := regexp.MustCompile(`auth-failed: +[1-9]`)
	p.eventually("the keyless card refused", func() bool { return refused.MatchString(p.cli("show system statistics ipc")) })
	require.NotContains(t, p.cli("show tnp addresses"), "fpc4")
	require.Contains(t, p.cli("show tnp addresses"), "fpc3")
}
