package igmp

import "errors"

// Sentinel errors, wrapped with the interface and value that failed.
var (
	// ErrInvalid: a configuration value out of range.
	ErrInvalid = errors.New("invalid configuration")
	// ErrNotFound: no such interface in the Router.
	ErrNotFound = errors.New("interface not found")
	// ErrExists: the interface is already in the Router.
	ErrExists = errors.New("interface already exists")
)
