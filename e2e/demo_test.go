package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// `make demo` (scripts/demo.sh) runs seed 003's walkthrough to the end on
// both drivers with in-memory ports.
func TestDemoScript(t *testing.T) {
	for _, driver := range []string{"swpfe", "trio"} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "../scripts/demo.sh")
			cmd.Env = append(os.Environ(), "BIN="+binDir, "DRIVER="+driver, "MXFWD_RUN_DIR=")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			s := string(out)
			require.Contains(t, s, "demo complete (driver "+driver+")")
			require.Contains(t, s, "232.0.7.1.10.128.1.10/64                          Indirect ")
			require.Contains(t, s, "224/4                                              Resolve   983 RT-ifl 0")
			require.Contains(t, s, "232.0.8.1.10.128.1.10/64                          mdiscard    35 RT-ifl 331")
			require.Contains(t, s, "requests-sent:           2")
			if driver == "trio" {
				require.Contains(t, s, "#sublists: 2\n#fwd-nhs per sublist: 1\n")
				require.True(t, strings.Contains(s, "mcast-tree:\nnfes:1, hash:0\n13,\n        Root\n    13\n"), s)
			}
		})
	}
}
