package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/internal/daemon"
	"github.com/mxfwd/mxfwd/ipc"
)

// testPKI writes a CA, an RE certificate for 127.0.0.1 and an FPC client
// certificate (and a second CA's client certificate) into a directory.
type testPKI struct {
	dir              string
	re, fpc, foreign daemon.TLSFiles
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	serial := int64(1)
	mkCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, k, writePEM(name+".pem", "CERTIFICATE", der)
	}
	mkLeaf := func(name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (string, string) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		kb, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return writePEM(name+".pem", "CERTIFICATE", der), writePEM(name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	ca, caKey, caFile := mkCA("mxhd-ca")
	other, otherKey, _ := mkCA("mxhd-other-ca")
	p := testPKI{dir: dir}
	p.re.Cert, p.re.Key = mkLeaf("re0", ca, caKey, true)
	p.fpc.Cert, p.fpc.Key = mkLeaf("fpc3", ca, caKey, false)
	p.foreign.Cert, p.foreign.Key = mkLeaf("intruder", other, otherKey, false)
	p.re.CA, p.fpc.CA, p.foreign.CA = caFile, caFile, caFile
	return p
}

// With mutual TLS the whole session is encrypted and the card
// authenticated by its certificate; a peer without a certificate of the
// CA does not get as far as registering.
func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	srvTLS, err := daemon.ServerTLS(pki.re)
	require.NoError(t, err)
	s := startHardened(t, func(o *Options) {
		o.TLS = srvTLS
		o.Listen = "0.0.0.0:0" // authenticated: allowed off loopback
	})
	_, port, _ := net.SplitHostPort(s.Addr())
	addr := net.JoinHostPort("127.0.0.1", port)
	cliTLS, err := daemon.ClientTLS(pki.fpc)
	require.NoError(t, err)
	f3 := startCard(t, fpc.Config{Slot: 3, RE: addr, TLS: cliTLS})
	eventually(t, "card 3 registered over TLS", func() bool { return f3.Connected() && len(s.FPCs()) == 1 && s.FPCs()[0].Synced })
	assert.Equal(t, "tls", s.FPCs()[0].Auth)
	eventually(t, "routes on the card", func() bool { _, err := f3.Driver().Route(sgKey); return err == nil })

	// A client certificate from another CA: refused in the TLS handshake.
	foreign, err := daemon.ClientTLS(pki.foreign)
	require.NoError(t, err)
	foreign.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", addr, foreign)
	if err == nil {
		// TLS 1.3: the server's refusal arrives with the first read.
		_, err = ipc.ClientHandshake(c, &ipc.Register{Slot: 4, Addr: ipc.FPCAddr(4)}, 5*time.Second)
		c.Close()
	}
	require.Error(t, err)
	// Plain TCP: not a TLS client.
	raw, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = ipc.ClientHandshake(raw, &ipc.Register{Slot: 4, Addr: ipc.FPCAddr(4)}, 5*time.Second)
	raw.Close()
	require.Error(t, err)
	eventually(t, "both dropped before registering", func() bool { return s.stats.HandshakeFailed.Load() == 2 })
	assert.Len(t, s.FPCs(), 1)
}

func TestTLSConfigMustVerifyClients(t *testing.T) {
	_, err := New(Options{TLS: &tls.Config{}})
	require.ErrorContains(t, err, "must require and verify client certificates")
}

func TestListenPolicy(t *testing.T) {
	for _, tc := range []struct {
		listen   string
		key      []byte
		insecure bool
		refused  bool
	}{
		{listen: "127.0.0.1:0"},
		{listen: "[::1]:0"},
		{listen: "localhost:0"},
		{listen: "0.0.0.0:6234", refused: true},
		{listen: ":6234", refused: true},
		{listen: "10.0.0.1:6234", refused: true},
		{listen: "re.example.net:6234", refused: true},
		{listen: "0.0.0.0:6234", key: testKey},
		{listen: "0.0.0.0:6234", insecure: true},
	} {
		_, err := New(Options{Listen: tc.listen, AuthKey: tc.key, Insecure: tc.insecure})
		if tc.refused {
			require.ErrorIs(t, err, ErrInsecureListen, tc.listen)
		} else {
			require.NoError(t, err, tc.listen)
		}
	}
	_, err := New(Options{AuthKey: []byte("short")})
	require.ErrorContains(t, err, "at least 16")
}

// A card given two routing engines' addresses authenticates to each with
// the same key and TLS configuration: the one that does not know its key
// refuses it, the other accepts it over TLS.
func TestAuthenticationAppliesToEveryREAddress(t *testing.T) {
	pki := newTestPKI(t)
	srvTLS, err := daemon.ServerTLS(pki.re)
	require.NoError(t, err)
	other := startHardened(t, func(o *Options) { o.TLS, o.AuthKey = srvTLS, []byte("mxhd-another-key-0123456789") })
	s := startHardened(t, func(o *Options) { o.TLS, o.AuthKey = srvTLS, testKey })
	cliTLS, err := daemon.ClientTLS(pki.fpc)
	require.NoError(t, err)
	f3 := startCard(t, fpc.Config{Slot: 3, RE: other.Addr() + "," + s.Addr(), TLS: cliTLS, AuthKey: testKey})
	eventually(t, "card 3 registered with the RE that knows its key", func() bool {
		return f3.Connected() && len(s.FPCs()) == 1 && s.FPCs()[0].Synced
	})
	assert.Equal(t, "hmac+tls", s.FPCs()[0].Auth)
	assert.Empty(t, other.FPCs())
	assert.NotZero(t, other.stats.AuthFailed.Load(), "the first RE refused the card's key")
	assert.Zero(t, other.stats.HandshakeFailed.Load(), "TLS with the first RE succeeded")
}
