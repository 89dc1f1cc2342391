package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// DNS response codes the runner checks for.
const (
	rcodeNoError  = 0
	rcodeNXDomain = 3
)

// buildQuery packs a recursive A query for name with the given ID.
func buildQuery(id uint16, name string) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	b[2] = 0x01                          // RD
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(l) == 0 || len(l) > 63 {
			return nil, fmt.Errorf("bad name %q", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0, 0, 1, 0, 1) // root, A, IN
	return b, nil
}

// answer is what the probe learned from one response.
type answer struct {
	rcode   int
	answers int
}

// query sends one A query for name to addr over UDP and waits up to wait.
func query(addr, name string, wait time.Duration) (answer, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	id := uint16(rand.Uint32())
	q, err := buildQuery(id, name)
	if err != nil {
		return answer{}, err
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(q); err != nil {
		return answer{}, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return answer{}, err
		}
		if n < 12 || binary.BigEndian.Uint16(buf) != id || buf[2]&0x80 == 0 {
			continue
		}
		return answer{rcode: int(buf[3] & 0x0F), answers: int(binary.BigEndian.Uint16(buf[6:]))}, nil
	}
}

// want describes the answer a probe waits for.
type want struct {
	name  string
	rcode int
}

func (w want) ok(a answer) bool {
	if a.rcode != w.rcode {
		return false
	}
	return w.rcode != rcodeNoError || a.answers > 0
}

// waitAnswer polls addr every few milliseconds until it answers w correctly,
// the process exits, or limit passes. It returns the time since p started.
func waitAnswer(p *process, addr string, w want, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return 0, fmt.Errorf("%s exited while starting:\n%s", p.name, p.logTail())
		}
		a, err := query(addr, w.name, 100*time.Millisecond)
		if err == nil && w.ok(a) {
			return time.Since(p.started), nil
		}
		if err == nil {
			last = fmt.Errorf("%s answered rcode %d with %d answers", w.name, a.rcode, a.answers)
		} else {
			last = err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s not answering %s correctly after %s (last: %v)", p.name, w.name, limit, last)
}

// waitHTTP polls url until it answers 200, and returns the time since p started.
func waitHTTP(p *process, url string, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			return 0, errors.New(p.name + " exited")
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.started), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s not healthy at %s after %s", p.name, url, limit)
}

// httpGet returns a body, for /metrics.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b), err
}

// portFree reports whether a UDP and a TCP socket can be bound on addr.
func portFree(addr string) error {
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	u.Close()
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	t.Close()
	return nil
}
