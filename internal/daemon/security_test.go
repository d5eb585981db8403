package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	key, err := ReadKeyFile(write("good", "  s3cret-0123456789abcdef\n", 0o600))
	require.NoError(t, err)
	require.Equal(t, []byte("s3cret-0123456789abcdef"), key)
	_, err = ReadKeyFile(write("open", "s3cret-0123456789abcdef\n", 0o640))
	require.ErrorContains(t, err, "has mode 0640: refusing a key others may read")
	_, err = ReadKeyFile(write("short", "short\n", 0o600))
	require.ErrorContains(t, err, "authentication key of 5 bytes, want at least 16")
	_, err = ReadKeyFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTLSFilesMustComeTogether(t *testing.T) {
	_, err := ServerTLS(TLSFiles{Cert: "c.pem"})
	require.ErrorContains(t, err, "--tls-cert, --tls-key and --tls-ca together")
	_, err = ClientTLS(TLSFiles{Cert: "c.pem", Key: "k.pem", CA: "/nonexistent/ca.pem"})
	require.Error(t, err)
}
