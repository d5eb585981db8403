package ipc

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// Authentication of the registration (both ends prove knowledge of a
// shared key; see Accept and ClientHandshakeAuth).
//
//	FPC -> RE   tnp/register        (unchanged)
//	RE  -> FPC  tnp/auth-challenge  method 1 (HMAC-SHA256), the RE's 32-byte nonce
//	FPC -> RE   tnp/auth-response   the FPC's 32-byte nonce, its proof
//	RE  -> FPC  tnp/auth-confirm    the RE's proof             (or register-ack, error auth)
//	RE  -> FPC  tnp/register-ack
//
// The FPC's proof is HMAC-SHA256(key, "mxfwd tnp auth v1 fpc" 0x00 ||
// RE nonce || FPC nonce || the register body as sent), the RE's the same
// with "re" for "fpc". The register body holds the registration's identity
// fields (slot, TNP address, driver, PFEs, ports), so a proof is bound to
// one identity, one connection (the RE's fresh nonce: no replay) and one
// direction (the labels: no reflection). Each side compares proofs in
// constant time (hmac.Equal). The session after the handshake is not
// protected: TLS (crypto/tls, mutual) does that when configured.

// AuthMethodHMACSHA256 is the only authentication method.
const AuthMethodHMACSHA256 uint8 = 1

// Sizes of the authentication fields.
const (
	NonceLen = 32 // bytes of each nonce (256 bits from crypto/rand)
	ProofLen = sha256.Size
	// MinKeyLen is the shortest shared key accepted: 128 bits.
	MinKeyLen = 16
)

// Proof labels (domain separation between the two directions).
const (
	labelFPC = "mxfwd tnp auth v1 fpc\x00"
	labelRE  = "mxfwd tnp auth v1 re\x00"
)

// AuthChallenge asks the FPC to prove the shared key (tnp/auth-challenge,
// RE -> FPC, after its Register). Body (33 bytes): method u8 (1,
// HMAC-SHA256), the RE's nonce (32 bytes).
type AuthChallenge struct {
	Method uint8
	Nonce  [NonceLen]byte
}

// Header implements Message.
func (m *AuthChallenge) Header() Header { return hdr(TypeTNP, SubAuthChallenge) }

// AppendBody implements Message.
func (m *AuthChallenge) AppendBody(b []byte) ([]byte, error) {
	if m.Method != AuthMethodHMACSHA256 {
		return b, invalid(keyAuthChallenge, "method %d, want %d (HMAC-SHA256)", m.Method, AuthMethodHMACSHA256)
	}
	return append(append(b, m.Method), m.Nonce[:]...), nil
}

// DecodeBody implements Message.
func (m *AuthChallenge) DecodeBody(b []byte) error {
	if err := wantLen(keyAuthChallenge, b, 1+NonceLen); err != nil {
		return err
	}
	if b[0] != AuthMethodHMACSHA256 {
		return malformed(keyAuthChallenge, "method %d, want %d (HMAC-SHA256)", b[0], AuthMethodHMACSHA256)
	}
	m.Method = b[0]
	copy(m.Nonce[:], b[1:])
	return nil
}

// AuthResponse answers AuthChallenge (tnp/auth-response, FPC -> RE, opcode
// 2). Body (64 bytes): the FPC's nonce (32 bytes), its proof (32 bytes).
type AuthResponse struct {
	Nonce [NonceLen]byte
	Proof [ProofLen]byte
}

// Header implements Message.
func (m *AuthResponse) Header() Header {
	return Header{Type: TypeTNP, Subtype: SubAuthResponse, Opcode: OpcodeReply}
}

// AppendBody implements Message.
func (m *AuthResponse) AppendBody(b []byte) ([]byte, error) {
	return append(append(b, m.Nonce[:]...), m.Proof[:]...), nil
}

// DecodeBody implements Message.
func (m *AuthResponse) DecodeBody(b []byte) error {
	if err := wantLen(keyAuthResponse, b, NonceLen+ProofLen); err != nil {
		return err
	}
	copy(m.Nonce[:], b)
	copy(m.Proof[:], b[NonceLen:])
	return nil
}

// AuthConfirm is the RE's proof (tnp/auth-confirm, RE -> FPC, opcode 2),
// sent before a RegisterAck that accepts. Body (32 bytes): the proof.
type AuthConfirm struct {
	Proof [ProofLen]byte
}

// Header implements Message.
func (m *AuthConfirm) Header() Header {
	return Header{Type: TypeTNP, Subtype: SubAuthConfirm, Opcode: OpcodeReply}
}

// AppendBody implements Message.
func (m *AuthConfirm) AppendBody(b []byte) ([]byte, error) { return append(b, m.Proof[:]...), nil }

// DecodeBody implements Message.
func (m *AuthConfirm) DecodeBody(b []byte) error {
	if err := wantLen(keyAuthConfirm, b, ProofLen); err != nil {
		return err
	}
	copy(m.Proof[:], b)
	return nil
}

// proof computes one side's HMAC over the nonces and the register body.
func proof(key []byte, label string, reNonce, fpcNonce *[NonceLen]byte, regBody []byte) [ProofLen]byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	h.Write(reNonce[:])
	h.Write(fpcNonce[:])
	h.Write(regBody)
	var out [ProofLen]byte
	h.Sum(out[:0])
	return out
}

// registerBody is the canonical body of reg, which both ends prove over
// (decoding and re-encoding a Register gives the bytes that were sent).
func registerBody(reg *Register) ([]byte, error) {
	b, err := reg.AppendBody(nil)
	if err != nil {
		return nil, fmt.Errorf("register body: %w", err)
	}
	return b, nil
}

// CheckKey validates a shared key: at least MinKeyLen bytes.
func CheckKey(key []byte) error {
	if len(key) < MinKeyLen {
		return fmt.Errorf("ipc: authentication key of %d bytes, want at least %d", len(key), MinKeyLen)
	}
	return nil
}
