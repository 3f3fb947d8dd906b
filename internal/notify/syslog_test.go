package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/rsyslog"
	"github.com/probity-dev/probity/internal/store"
)

// rfc5424 matches the messages Probity writes: PRI, version, timestamp,
// host, app, procid, msgid, the origin element, and a CEF message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) probity - (\S+) \[origin software="Probity" swVersion="[^"]*"\] (CEF:0\|.*)$`)

// syslogEvent carries agent-controlled text in every field it can reach.
func syslogEvent(i int) Event {
	ev := incident(i)
	ev.Severity = SeverityCritical
	ev.Title = fmt.Sprintf("event %d %s", i, hostile)
	ev.Detail = hostile
	ev.AgentID = "agent" + hostile
	return ev
}

// checkLine parses one received message and checks that nothing in it
// was forged: one line, the header Probity wrote, seven CEF header fields
// and exactly the extensions it wrote.
func checkLine(t *testing.T, line string) (deliveryID, title string) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not a Probity RFC 5424 message: %q", line)
	}
	if m[1] != strconv.Itoa(16*8+2) { // local0.crit
		t.Errorf("PRI: got %s, want %d", m[1], 16*8+2)
	}
	if _, err := time.Parse(time.RFC3339Nano, m[2]); err != nil {
		t.Errorf("timestamp %q: %v", m[2], err)
	}
	if m[3] != "probity-test" || m[4] != IncidentOpened {
		t.Errorf("host and msgid: got %q %q", m[3], m[4])
	}
	header, ext := cefFields(t, m[5])
	if header[1] != "Probity" || header[2] != "Probity" || header[4] != "composite.drop" || header[6] != "10" {
		t.Errorf("CEF header: got %q", header)
	}
	if ext["cs1"] != "agent"+strings.Map(func(r rune) rune {
		if r != '\n' && r != '\r' && unsafeRune(r) {
			return ' '
		}
		return r
	}, hostile) {
		t.Errorf("cs1 (agent): got %q", ext["cs1"])
	}
	if ext["act"] != "" || len(ext) != 14 {
		t.Errorf("extensions: got %d keys %v, want the 14 Probity writes", len(ext), ext)
	}
	return ext["cs3"], header[5]
}

func TestSyslogTransports(t *testing.T) {
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			st := openStore(t)
			lines := make(chan string, 100)
			spec := Spec{Kind: KindSyslog, Network: network}
			switch network {
			case "udp":
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pc.Close() })
				go func() {
					buf := make([]byte, 65536)
					for {
						n, _, err := pc.ReadFrom(buf)
						if err != nil {
							return
						}
						lines <- string(buf[:n])
					}
				}()
				spec.Address = pc.LocalAddr().String()
			case "tcp":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				go acceptFramed(ln, lines)
				spec.Address = ln.Addr().String()
			case "tls":
				cert, pemCert := selfSigned(t)
				ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				go acceptFramed(ln, lines)
				spec.Address, spec.CAPEM = ln.Addr().String(), pemCert
			}
			sk, _ := addSink(t, st, spec)
			const n = 5
			queue(t, st, n, syslogEvent)
			run(t, st, fastConfig(), nil)
			seen := map[string]bool{}
			timeout := time.After(30 * time.Second)
			for len(seen) < n {
				select {
				case line := <-lines:
					id, title := checkLine(t, line)
					if !strings.HasPrefix(title, "event ") {
						t.Errorf("CEF name: got %q", title)
					}
					seen[id] = true
				case <-timeout:
					t.Fatalf("got %d messages, want %d", len(seen), n)
				}
			}
			waitFor(t, "every delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
		})
	}
}

// TestSyslogTLSVerifies: a receiver whose certificate the sink cannot
// verify gets nothing, and the log says why.
func TestSyslogTLSVerifies(t *testing.T) {
	st := openStore(t)
	cert, _ := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lines := make(chan string, 10)
	go acceptFramed(ln, lines)
	_, otherCA := selfSigned(t)
	sk, _ := addSink(t, st, Spec{Kind: KindSyslog, Network: "tls", Address: ln.Addr().String(), CAPEM: otherCA})
	queue(t, st, 1, syslogEvent)
	cfg := fastConfig()
	cfg.MaxAttempts = 2
	run(t, st, cfg, nil)
	waitFor(t, "the delivery to die", func() bool { return countStatus(t, st, sk.ID, store.DeliveryDead) == 1 })
	ds, _ := deliveries(t, st, sk.ID)
	if !strings.Contains(ds[0].LastError, "certificate") {
		t.Errorf("got error %q, want one about the certificate", ds[0].LastError)
	}
	select {
	case l := <-lines:
		t.Errorf("an unverified receiver got %q", l)
	default:
	}
}

// acceptFramed reads octet-counted messages (RFC 6587 3.4.1) from every
// connection to ln.
func acceptFramed(ln net.Listener, lines chan<- string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				size, err := r.ReadString(' ')
				if err != nil {
					return
				}
				n, err := strconv.Atoi(strings.TrimSuffix(size, " "))
				if err != nil || n <= 0 || n > maxStream {
					lines <- "bad frame length " + size
					return
				}
				msg := make([]byte, n)
				if _, err := io.ReadFull(r, msg); err != nil {
					return
				}
				lines <- string(msg)
			}
		}()
	}
}

// selfSigned makes a certificate for 127.0.0.1 and returns it with its PEM.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "syslog receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestRsyslog delivers CEF over TCP to a real rsyslogd, started by the test
// on a port it picks, which writes each message as received to a file;
// the test reads that file. Hostile agent text must leave one line per
// event with the fields Probity wrote.
func TestRsyslog(t *testing.T) {
	d, err := rsyslog.Start(t.Context(), t.TempDir())
	if errors.Is(err, rsyslog.ErrNotInstalled) {
		if os.Getenv("CI") != "" {
			t.Fatal("rsyslogd is not installed, and CI must run this test (apt-get install rsyslog)")
		}
		t.Skip("rsyslogd is not installed; skipping the real-rsyslog test (apt-get install rsyslog)")
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)

	st := openStore(t)
	sk, _ := addSink(t, st, Spec{Kind: KindSyslog, Network: "tcp", Address: d.Addr})
	const n = 20
	queue(t, st, n, syslogEvent)
	run(t, st, fastConfig(), nil)
	waitFor(t, "every delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
	var lines []string
	waitFor(t, "rsyslog to write every message", func() bool {
		var complete bool
		lines, complete = d.Lines()
		return len(lines) >= n && complete
	})
	if len(lines) != n {
		t.Fatalf("rsyslog wrote %d lines for %d events: the text split a message:\n%s", len(lines), n, strings.Join(lines, "\n"))
	}
	ds, _ := deliveries(t, st, sk.ID)
	want := map[string]bool{}
	for _, d := range ds {
		want[d.ID] = true
	}
	var mu sync.Mutex
	for _, line := range lines {
		id, _ := checkLine(t, line)
		mu.Lock()
		if !want[id] {
			t.Errorf("rsyslog got delivery %q, which is not one of the sink's (or came twice)", id)
		}
		delete(want, id)
		mu.Unlock()
	}
}
