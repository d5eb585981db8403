package nsr

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kv is a replicated test database: the master's updates go through a
// queue its Follow drains; the backup applies records to its copy.
type kv struct {
	mu      sync.Mutex
	m       map[string]string
	updates chan [2]string
	// takeovers records the handler's calls.
	took    []string
	handed  int
	locked  bool
	decoded int
}

func newKV() *kv { return &kv{m: map[string]string{}, updates: make(chan [2]string, 1024)} }

func (d *kv) set(k, v string) {
	d.mu.Lock()
	d.m[k] = v
	d.mu.Unlock()
	d.updates <- [2]string{k, v}
}

func (d *kv) get(k string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[k]
}

func (d *kv) client() Client {
	return Client{
		ID: FirstClient, Name: "KV",
		Lock:   func() { d.mu.Lock(); d.locked = true },
		Unlock: func() { d.locked = false; d.mu.Unlock() },
		Encode: func(emit func(Record)) error {
			for k, v := range d.m {
				emit(Record{Key: k, Data: []byte(v)})
			}
			return nil
		},
		Decode: func(r Record) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.m[r.Key] = string(r.Data)
			d.decoded++
			return nil
		},
		Follow: func(ctx context.Context, p *Peer) error {
			for {
				select {
				case u := <-d.updates:
					if err := p.Send(Record{Type: FirstClient, Key: u[0], Data: []byte(u[1])}); err != nil {
						return err
					}
				case <-ctx.Done():
					return nil
				}
			}
		},
	}
}

func (d *kv) TakeOver(reason string, synced, planned bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.took = append(d.took, fmt.Sprintf("synced=%v planned=%v", synced, planned))
	return nil
}

func (d *kv) HandOver(ctx context.Context, p *Peer) error {
	d.mu.Lock()
	d.handed++
	d.mu.Unlock()
	return nil
}

type runner struct {
	n      *Node
	db     *kv
	cancel context.CancelFunc
	done   chan error
	role   Role
	once   sync.Once
	err    error
}

func startNode(t *testing.T, path string, id int, prefer Role, opts ...func(*Options)) *runner {
	t.Helper()
	o := Options{REID: id, Path: path, Prefer: prefer, Keepalive: 50 * time.Millisecond, TakeoverAfter: time.Second, NoFence: true}
	for _, f := range opts {
		f(&o)
	}
	n, err := New(o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	role, err := n.Start(ctx)
	require.NoError(t, err)
	r := &runner{n: n, db: newKV(), cancel: cancel, done: make(chan error, 1), role: role}
	go func() { r.done <- n.Run(ctx, []Client{r.db.client()}, r.db) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// wait returns Run's result once it returned.
func (r *runner) wait() error {
	r.once.Do(func() { r.err = <-r.done })
	return r.err
}

func (r *runner) stop() error {
	r.cancel()
	return r.wait()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 5*time.Millisecond, what)
}

func TestPairReplicatesAndTakesOverWhenTheMasterDies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.sock")
	a := startNode(t, path, 0, RoleMaster)
	require.Equal(t, RoleMaster, a.role)
	a.db.set("before", "1") // learned before the backup exists
	b := startNode(t, path, 1, RoleBackup)
	require.Equal(t, RoleBackup, b.role)
	eventually(t, "initial replication", func() bool { return b.n.Status().Peer == "Steady State" && a.n.Status().Peer == "Steady State" })
	require.Equal(t, "1", b.db.get("before"), "initial replication carried the state")
	for i := range 100 {
		a.db.set("k"+strconv.Itoa(i), strconv.Itoa(i))
	}
	eventually(t, "updates follow", func() bool { return b.db.get("k99") == "99" })
	st := a.n.Status()
	require.Equal(t, "Master", st.Role)
	require.Equal(t, 1, st.PeerRE)
	require.Equal(t, []ClientState{{Name: "KV", State: "Complete"}}, st.Clients)
	eventually(t, "keepalives both ways", func() bool { return a.n.Status().KeepalivesRx > 2 && b.n.Status().KeepalivesRx > 2 })

	// The master dies: its lock is released and its connections close;
	// the backup takes over with its replicated state.
	require.NoError(t, a.stop())
	eventually(t, "takeover", func() bool { return b.n.Role() == RoleMaster })
	require.Equal(t, []string{"synced=true planned=false"}, b.db.took)
	require.Equal(t, 1, b.n.Status().Switchovers)

	// The old master comes back: it finds the new master and becomes its
	// backup, and resyncs.
	c := startNode(t, path, 0, RoleMaster)
	require.Equal(t, RoleBackup, c.role, "a restarted master joins the live one")
	eventually(t, "resync to the restarted RE", func() bool { return c.db.get("k99") == "99" || c.n.Status().Peer == "Steady State" })
}

func TestBackupResyncsWhenOnlyTheChannelBreaks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.sock")
	a := startNode(t, path, 0, RoleMaster)
	b := startNode(t, path, 1, RoleBackup)
	// Both sides: the backup sees the end of the initial replication
	// before the master has counted it.
	eventually(t, "sync", func() bool { return b.n.Status().Peer == "Steady State" && a.n.Status().Syncs == 1 })
	// Cut the channel from the master's side; the master stays alive and
	// keeps its lock.
	a.n.mu.Lock()
	p := a.n.peer
	a.n.mu.Unlock()
	require.NotNil(t, p)
	p.cancel()
	eventually(t, "the backup reconnects and resyncs", func() bool {
		return b.n.Status().Peer == "Steady State" && b.n.Role() == RoleBackup && a.n.Status().Syncs >= 2
	})
	require.Empty(t, b.db.took, "no takeover while the master holds the lock")
	a.db.set("after-cut", "x")
	eventually(t, "updates after the resync", func() bool { return b.db.get("after-cut") == "x" })
}

func TestBackupAloneBecomesMaster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.sock")
	start := time.Now()
	b := startNode(t, path, 1, RoleBackup)
	require.Equal(t, RoleMaster, b.role)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "a backup waits for a master first")
}

func TestPlannedSwitchover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.sock")
	short := func(o *Options) { o.Settle, o.Spacing = 300*time.Millisecond, time.Hour }
	a := startNode(t, path, 0, RoleMaster, short)
	err := a.n.Switch(context.Background())
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "no backup routing engine is connected")
	b := startNode(t, path, 1, RoleBackup, short)
	eventually(t, "sync", func() bool { return a.n.Status().Peer == "Steady State" })
	err = a.n.Switch(context.Background())
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "after the initial replication of the sockets")
	time.Sleep(350 * time.Millisecond)
	require.NoError(t, a.n.Switch(context.Background()))
	require.ErrorIs(t, a.wait(), ErrHandedOver)
	eventually(t, "the backup took over", func() bool { return b.n.Role() == RoleMaster })
	require.Equal(t, []string{"synced=true planned=true"}, b.db.took)
	require.Equal(t, 1, a.db.handed)

	// The old master comes back as backup; the new master refuses a
	// switch back within the spacing.
	c := startNode(t, path, 0, RoleMaster, short)
	require.Equal(t, RoleBackup, c.role)
	eventually(t, "sync", func() bool { return b.n.Status().Peer == "Steady State" })
	time.Sleep(350 * time.Millisecond)
	err = b.n.Switch(context.Background())
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "switchovers must be 1h0m0s apart")
}

func TestOptionsChecked(t *testing.T) {
	_, err := New(Options{REID: 2, Path: "x"})
	require.Error(t, err)
	_, err = New(Options{REID: 0})
	require.Error(t, err)
	_, err = New(Options{REID: 0, Path: "x", Keepalive: time.Second, TakeoverAfter: 2 * time.Second})
	require.ErrorContains(t, err, "under five keepalives")
	_ = errors.New
}
