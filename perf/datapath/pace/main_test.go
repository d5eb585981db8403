package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestRunRejectsBadArguments(t *testing.T) {
	for name, c := range map[string]struct {
		src, group           string
		rate, count, payload int
	}{
		"source not IPv4":   {"::1", "239.1.1.1", 1, 1, 18},
		"source garbage":    {"x", "239.1.1.1", 1, 1, 18},
		"group not a group": {"10.0.0.1", "10.0.0.2", 1, 1, 18},
		"zero rate":         {"10.0.0.1", "239.1.1.1", 0, 1, 18},
		"zero count":        {"10.0.0.1", "239.1.1.1", 1, 0, 18},
		"payload too big":   {"10.0.0.1", "239.1.1.1", 1, 1, 1473},
		"negative payload":  {"10.0.0.1", "239.1.1.1", 1, 1, -1},
	} {
		var out bytes.Buffer
		err := run(&out, "lo", c.src, c.group, 5000, c.rate, c.count, c.payload, 1, time.Millisecond)
		assert.Error(t, err, name)
		assert.Empty(t, out.String(), name)
	}
}

// inNS runs fn on a locked OS thread switched into namespace ns (a name
// under /run/netns); the thread is dropped afterwards.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// TestRunSendsCount: in a namespace of its own (prefix xt), pace sends
// exactly count datagrams of the payload size to the group, which a socket
// joined in the peer namespace receives, and reports them.
func TestRunSendsCount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces and a veth pair)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
	snd, rcv := fmt.Sprintf("xt%d-pace-s", os.Getpid()), fmt.Sprintf("xt%d-pace-r", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %v: %s", args, out)
	}
	for _, ns := range []string{snd, rcv} {
		ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	ip("-n", snd, "link", "add", "snd0", "type", "veth", "peer", "name", "rcv0", "netns", rcv)
	ip("-n", snd, "addr", "add", "10.98.0.1/24", "dev", "snd0")
	ip("-n", rcv, "addr", "add", "10.98.0.2/24", "dev", "rcv0")
	ip("-n", snd, "link", "set", "snd0", "up")
	ip("-n", rcv, "link", "set", "rcv0", "up")

	var fd int
	require.NoError(t, inNS(rcv, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 500000})
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 5000, Addr: [4]byte{239, 1, 1, 1}}); err != nil {
			return err
		}
		return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreqn{Multiaddr: [4]byte{239, 1, 1, 1}, Address: [4]byte{10, 98, 0, 2}})
	}))
	defer unix.Close(fd)

	const count, payload = 500, 40
	var out bytes.Buffer
	require.NoError(t, inNS(snd, func() error {
		return run(&out, "snd0", "10.98.0.1", "239.1.1.1", 5000, 20000, count, payload, 1, 100*time.Microsecond)
	}))
	var rep struct {
		Sent        int     `json:"sent"`
		Seconds     float64 `json:"seconds"`
		AchievedPPS float64 `json:"achieved_pps"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), "%s", out.String())
	assert.Equal(t, count, rep.Sent)
	assert.Positive(t, rep.Seconds)
	assert.Positive(t, rep.AchievedPPS)

	got, buf := 0, make([]byte, 2048)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break // the timeout: nothing more is coming
		}
		require.Equal(t, payload, n)
		assert.Equal(t, [4]byte{10, 98, 0, 1}, from.(*unix.SockaddrInet4).Addr)
		got++
	}
	assert.Equal(t, count, got, "datagrams received")
}
