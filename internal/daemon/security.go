package daemon

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/mxfwd/mxfwd/ipc"
)

// ReadKeyFile reads the shared IPC key from path: the file's bytes,
// without leading and trailing white space, at least ipc.MinKeyLen of
// them. A key file that group or others may read is refused (chmod 600):
// anyone who reads it can register as a line card.
func ReadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("auth key file %s has mode %04o: refusing a key others may read; chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth key file: %w", err)
	}
	key := bytes.TrimSpace(b)
	if err := ipc.CheckKey(key); err != nil {
		return nil, fmt.Errorf("auth key file %s: %w (e.g. head -c 32 /dev/urandom | base64 > %s)", path, err, path)
	}
	return key, nil
}

// TLSFiles are the --tls-cert, --tls-key and --tls-ca flags.
type TLSFiles struct{ Cert, Key, CA string }

// Set reports whether any of the files is given.
func (f TLSFiles) Set() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

func (f TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return tls.Certificate{}, nil, errors.New("TLS needs --tls-cert, --tls-key and --tls-ca together (mutual TLS)")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", f.CA)
	}
	return cert, pool, nil
}

// ServerTLS is the RE's TLS configuration for the FPC port: its
// certificate, and client certificates required and verified against the
// CA (TLS 1.3).
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// ClientTLS is an FPC's TLS configuration: its certificate, and the RE's
// verified against the CA (TLS 1.3; the server name is the host of --re).
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
