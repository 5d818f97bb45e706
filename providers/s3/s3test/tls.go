package s3test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// tlsDirName is the directory, inside the server's posix root, that holds
// the certificate and key of a server with Options.TLS. Its name is not a
// valid bucket name, so versitygw never lists it as a bucket.
const tlsDirName = ".s3test-tls"

// serverTLS is what a server with Options.TLS serves and trusts.
type serverTLS struct {
	certFile, keyFile string
	cert              *x509.Certificate
	pool              *x509.CertPool
}

// setupTLS writes a fresh self-signed certificate for 127.0.0.1 (ECDSA
// P-256, valid from an hour ago for a day) and its key into the server's
// directory, for versitygw's --cert and --key.
func (s *Server) setupTLS() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("generating the certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "s3test versitygw", Organization: []string{"switchyard s3test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parsing the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding the TLS key: %w", err)
	}
	dir := filepath.Join(s.Dir, tlsDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st := &serverTLS{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), cert: cert, pool: x509.NewCertPool()}
	st.pool.AddCert(cert)
	if err := os.WriteFile(st.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(st.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	s.tls = st
	return nil
}

// scheme is the URL scheme the server answers on.
func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// tlsArgs are versitygw's global flags for TLS (they go before the
// backend subcommand); none for a plain-HTTP server.
func (s *Server) tlsArgs() []string {
	if s.tls == nil {
		return nil
	}
	return []string{"--cert", s.tls.certFile, "--key", s.tls.keyFile}
}

// clientTLSConfig trusts only the server's certificate; nil for a
// plain-HTTP server.
func (s *Server) clientTLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.tls.pool, MinVersion: tls.VersionTLS12}
}

// Certificate returns the self-signed certificate a server started with
// Options.TLS presents, or nil for a plain-HTTP server. The certificate is
// shared: do not modify it.
func (s *Server) Certificate() *x509.Certificate {
	if s.tls == nil {
		return nil
	}
	return s.tls.cert
}

// CertPool returns a new pool holding only the server's certificate (the
// pool to trust for Options.TLS), or nil for a plain-HTTP server.
func (s *Server) CertPool() *x509.CertPool {
	if s.tls == nil {
		return nil
	}
	return s.tls.pool.Clone()
}

// Transport returns a new transport for talking to the server: a clone of
// http.DefaultTransport that, for a server with Options.TLS, trusts the
// server's certificate and no other. The caller owns it (and should call
// CloseIdleConnections when done); it is safe for concurrent use.
func (s *Server) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = s.clientTLSConfig()
	return tr
}
