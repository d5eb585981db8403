package msdpnet

import "github.com/mxfwd/mxfwd/re/msdp"

// Kill stops every connection of t at once, as kill -9 would: from now
// on no goroutine of t makes a system call on a socket, and Close closes
// the descriptors without shutdown(2).
func Kill(t *Transport) { t.killed.Store(true) }

// SetHooks installs test hooks: afterIn runs on a reader after a mirror
// call and before it consumes the bytes, afterWrite on a writer after
// each write of n of want bytes, the stream then written up to end.
func SetHooks(t *Transport, afterIn func(conn msdp.ConnID, off uint64, n int), afterWrite func(conn msdp.ConnID, end uint64, n, want int)) {
	t.hooks.Store(&testHooks{afterIn: afterIn, afterWrite: afterWrite})
}
