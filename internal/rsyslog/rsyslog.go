// Package rsyslog runs a private rsyslogd that listens on a loopback TCP
// port it picks and writes every message it receives, as received, one per
// line, to a file: the real receiver the syslog tests and the demo deliver
// CEF to.
package rsyslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotInstalled means no rsyslogd was found.
var ErrNotInstalled = errors.New("rsyslogd is not installed (apt-get install rsyslog)")

// Daemon is a running rsyslogd.
type Daemon struct {
	Addr string // 127.0.0.1:port, TCP with octet-counting framing
	File string // where it writes what it receives
	cmd  *exec.Cmd
	done chan error
}

// find returns rsyslogd's path.
func find() (string, error) {
	if bin, err := exec.LookPath("rsyslogd"); err == nil {
		return bin, nil
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Start runs rsyslogd with its configuration, work files and output in
// dir, and returns once it listens (or ctx ends).
func Start(ctx context.Context, dir string) (*Daemon, error) {
	bin, err := find()
	if err != nil {
		return nil, err
	}
	d := &Daemon{File: filepath.Join(dir, "received.log"), done: make(chan error, 1)}
	portFile := filepath.Join(dir, "port")
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="16k")
module(load="imtcp")
template(name="raw" type="string" string="%%rawmsg%%\n")
ruleset(name="probity") {
  action(type="omfile" file=%q template="raw")
}
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=%q ruleset="probity")
`, dir, d.File, portFile)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	d.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	d.cmd.Stdout, d.cmd.Stderr = &stderr, &stderr
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting rsyslogd: %w", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	// rsyslogd says it listens only by writing the port file: it is
	// polled, with a deadline.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if b, err := os.ReadFile(portFile); err == nil {
			if port := strings.TrimSpace(string(b)); port != "" && port != "0" {
				d.Addr = "127.0.0.1:" + port
				return d, nil
			}
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("rsyslogd exited: %v: %s", err, stderr.String())
		case <-deadline.C:
			d.Stop()
			return nil, fmt.Errorf("rsyslogd did not start listening within 10s: %s", stderr.String())
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// Lines returns the messages received so far, one per line; complete is
// false while the last line is still being written.
func (d *Daemon) Lines() (lines []string, complete bool) {
	b, err := os.ReadFile(d.File)
	if err != nil || len(b) == 0 {
		return nil, true
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), bytes.HasSuffix(b, []byte("\n"))
}

// Stop ends rsyslogd.
func (d *Daemon) Stop() {
	d.cmd.Process.Kill()
	<-d.done
}
