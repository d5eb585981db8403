package perf

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Env records where, when and how a run was made. Every result file carries
// it.
type Env struct {
	Date      time.Time `json:"date"`
	GoVersion string    `json:"go_version"`
	GOOS      string    `json:"goos"`
	GOARCH    string    `json:"goarch"`
	CPUModel  string    `json:"cpu_model"`
	Cores     int       `json:"cores"`
	Kernel    string    `json:"kernel"`
	Host      string    `json:"host"`
	Command   string    `json:"command"`
	Commit    string    `json:"commit,omitempty"`
	Root      bool      `json:"root"`
	// LoadAvg is /proc/loadavg at the start: on a shared box it says how
	// busy the machine already was.
	LoadAvg string `json:"loadavg"`
}

// CaptureEnv describes this machine; command is the exact command line.
func CaptureEnv(command string) Env {
	e := Env{
		Date:      time.Now().UTC().Truncate(time.Second),
		GoVersion: runtime.Version(),
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		CPUModel:  cpuModel(),
		Cores:     runtime.NumCPU(),
		Kernel:    kernelRelease(),
		Command:   command,
		Root:      os.Geteuid() == 0,
		LoadAvg:   strings.TrimSpace(readFile("/proc/loadavg")),
	}
	e.Host, _ = os.Hostname()
	e.Commit = vcsRevision()
	return e
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// vcsRevision returns the commit the binary was built from (with "+dirty"
// for a modified tree), from the build info or, for `go run`, from git.
func vcsRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "+dirty"
			}
			return rev
		}
	}
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "+dirty"
	}
	return rev
}

// cpuSample is a snapshot of CPU time: the calling thread's, the process's
// and the whole machine's busy time.
type cpuSample struct {
	wall    time.Time
	thread  time.Duration // RUSAGE_THREAD user+sys
	process time.Duration // RUSAGE_SELF user+sys
	machine time.Duration // /proc/stat busy time over all CPUs
}

// rusageThread is RUSAGE_THREAD (Linux), not exported by package syscall.
const rusageThread = 1

func rusageTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTick = 100

// machineBusy returns the busy time of all CPUs from /proc/stat (everything
// but idle and iowait). Its resolution is one tick (10 ms).
func machineBusy() time.Duration {
	s := readFile("/proc/stat")
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTick
}

// sampleCPU must be called on the thread whose time is wanted (the caller
// locks it with runtime.LockOSThread).
func sampleCPU() cpuSample {
	return cpuSample{
		wall:    time.Now(),
		machine: machineBusy(),
		process: rusageTime(syscall.RUSAGE_SELF),
		thread:  rusageTime(rusageThread),
	}
}

// cpuUse is what happened between two samples.
type cpuUse struct {
	Wall    time.Duration
	Thread  time.Duration
	Process time.Duration
	// OtherPct is the machine's busy time not spent by this process, in
	// percent of one CPU (200 = two CPUs fully used by others).
	OtherPct float64
}

func cpuBetween(a, b cpuSample) cpuUse {
	u := cpuUse{
		Wall:    b.wall.Sub(a.wall),
		Thread:  b.thread - a.thread,
		Process: b.process - a.process,
	}
	if u.Wall > 0 {
		other := (b.machine - a.machine) - u.Process
		u.OtherPct = max(0, 100*other.Seconds()/u.Wall.Seconds())
	}
	return u
}
