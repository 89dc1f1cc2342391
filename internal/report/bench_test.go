package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// genStream produces n hit-log lines on the fly, so that millions of lines
// need no memory or disk. Line i, at start + i*step, comes from device
// d = i%devices, whose j-th line (j = i/devices) asks for name
// (d + j%perDevice) % names: each device cycles through perDevice names.
type genStream struct {
	n, devices, names, perDevice int
	start, step                  time.Duration // since the Unix epoch; between lines

	i    int
	line []byte
	off  int

	// every, when set, is called after each sampleEvery lines.
	sampleEvery int
	every       func(lines int)
}

func (g *genStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.off == len(g.line) {
			if g.i == g.n {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
			if g.every != nil && g.i > 0 && g.i%g.sampleEvery == 0 {
				g.every(g.i)
			}
			g.line = g.appendLine(g.line[:0], g.i)
			g.off = 0
			g.i++
		}
		c := copy(p[n:], g.line[g.off:])
		g.off += c
		n += c
	}
	return n, nil
}

func (g *genStream) appendLine(b []byte, i int) []byte {
	d := i % g.devices
	ts := time.Unix(0, int64(g.start+time.Duration(i)*g.step)).UTC()
	b = append(b, `{"@timestamp":"`...)
	b = ts.AppendFormat(b, "2006-01-02T15:04:05.000000000Z07:00")
	b = append(b, `","ecs":{"version":"8.11.0"},"event":{"kind":"event","category":["network"],"type":["denied"],"action":"nxdomain","dataset":"dijk.hits","module":"dijk"},"client":{"ip":"10.`...)
	b = strconv.AppendInt(b, int64(d>>16&255), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(d>>8&255), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(d&255), 10)
	b = append(b, `","port":53124},"network":{"transport":"udp","protocol":"dns","type":"ipv4"},"observer":{"product":"dijk","type":"dns","hostname":"dns-1","version":"1.0.0"},"dns":{"id":4660,"type":"query","question":{"name":"n`...)
	b = strconv.AppendInt(b, int64((d+i/g.devices%g.perDevice)%g.names), 10)
	b = append(b, `.deepseek.com","type":"AAAA","class":"IN"},"response_code":"NXDOMAIN"},"rule":{"name":"deepseek.com","ruleset":"builtin:deepseek","id":"builtin:deepseek:31"},"dijk":{"list":"builtin:deepseek","entry":"deepseek.com","match":"suffix","line":31,"group":"staff"}}`...)
	return append(b, '\n')
}

func ipOf(d int) string { return fmt.Sprintf("10.%d.%d.%d", d>>16&255, d>>8&255, d&255) }

// TestReportBoundedMemory streams a million generated lines and checks
// that the heap stays small and stops growing once every device and name
// has been seen, and that the counts are exact.
func TestReportBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a million lines")
	}
	n, devices, names, limitMB := 1_000_000, 5000, 50, uint64(64)
	if raceEnabled {
		n, devices = 200_000, 1000
	}
	heap := map[int]uint64{} // lines read -> HeapInuse after GC
	measure := func(lines int) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heap[lines] = m.HeapInuse
	}
	start := 1795000000 * time.Second // 2026-11-18
	g := &genStream{n: n, devices: devices, names: names, perDevice: names, start: start, step: 10 * time.Millisecond, sampleEvery: n / 4, every: measure}
	a := New(Options{Group: "staff", List: "builtin:deepseek"})
	if err := a.Read("gen", g); err != nil {
		t.Fatal(err)
	}
	measure(n)
	r := a.Result()

	for lines, h := range heap {
		if h > limitMB<<20 {
			t.Errorf("HeapInuse %d MB after %d lines, want under %d MB", h>>20, lines, limitMB)
		}
	}
	// Every device/name pair is seen by line devices*names = n/4; from
	// then on nothing may grow per line.
	if grew := int64(heap[n]) - int64(heap[n/2]); grew > 4<<20 {
		t.Errorf("heap grew %d KB from line %d to %d, want bounded", grew>>10, n/2, n)
	}
	t.Logf("HeapInuse after GC by lines read: %v", heap)

	if r.LinesRead != int64(n) || r.Hits != int64(n) || r.LinesSkipped != 0 || r.LinesFiltered != 0 {
		t.Fatalf("read %d hits %d skipped %d filtered %d, want %d hits", r.LinesRead, r.Hits, r.LinesSkipped, r.LinesFiltered, n)
	}
	if len(r.Devices) != devices {
		t.Fatalf("%d devices, want %d", len(r.Devices), devices)
	}
	// n is a multiple of devices: each device has n/devices hits, at
	// lines d, d+devices, ..., so every device saw every name.
	for i, d := range r.Devices {
		// Equal hits: sorted by address, which is the device number.
		wantFirst := time.Unix(0, int64(start+time.Duration(i)*g.step)).UTC()
		wantLast := time.Unix(0, int64(start+time.Duration(n-devices+i)*g.step)).UTC()
		if d.IP != ipOf(i) || d.Hits != int64(n/devices) || !d.First.Equal(wantFirst) || !d.Last.Equal(wantLast) {
			t.Fatalf("device %d = %s %d hits %v..%v, want %s %d hits %v..%v", i, d.IP, d.Hits, d.First, d.Last, ipOf(i), n/devices, wantFirst, wantLast)
		}
		if len(d.Names) != DefaultNamesPerDevice || d.More != names-DefaultNamesPerDevice {
			t.Fatalf("device %s lists %d names +%d, want %d +%d", d.IP, len(d.Names), d.More, DefaultNamesPerDevice, names-DefaultNamesPerDevice)
		}
		for _, nc := range d.Names {
			if nc.Hits != int64(n/devices/names) {
				t.Fatalf("device %s name %s %d hits, want %d", d.IP, nc.Name, nc.Hits, n/devices/names)
			}
		}
	}
	if r.DistinctNames != names || len(r.TopNames) != DefaultTop {
		t.Errorf("%d distinct names, %d top names", r.DistinctNames, len(r.TopNames))
	}
	for _, nm := range r.TopNames {
		if nm.Hits != int64(n/names) || nm.Devices != devices {
			t.Errorf("name %s: %d hits from %d devices, want %d from %d", nm.Name, nm.Hits, nm.Devices, n/names, devices)
		}
	}
	var sum int64
	for _, h := range r.PerHour {
		sum += h.Hits
	}
	wantHours := int((start+time.Duration(n-1)*g.step)/time.Hour-start/time.Hour) + 1
	if sum != int64(n) || len(r.PerHour) != wantHours {
		t.Errorf("per hour: %d hits in %d hours, want %d in %d", sum, len(r.PerHour), n, wantHours)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %q, want none", r.Notes)
	}
}

// generate returns n generated lines in memory.
func generate(tb testing.TB, n, devices, names, perDevice int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	g := &genStream{n: n, devices: devices, names: names, perDevice: perDevice, start: 1795000000 * time.Second, step: 10 * time.Millisecond}
	if _, err := io.Copy(&buf, g); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkReport aggregates 100,000 in-memory lines per iteration, from
// 5,000 devices each asking for 10 of 50 names, and renders nothing.
func BenchmarkReport(b *testing.B) {
	const n = 100_000
	data := generate(b, n, 5000, 50, 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runs := 0
	for b.Loop() {
		a := New(Options{})
		if err := a.Read("bench", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if r := a.Result(); r.Hits != n {
			b.Fatalf("%d hits", r.Hits)
		}
		runs++
	}
	b.ReportMetric(float64(n*runs)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParse compares the scanner with encoding/json on one line; the
// gap is why scan.go exists.
func BenchmarkParse(b *testing.B) {
	line := []byte(sampleLine)
	b.Run("scanner", func(b *testing.B) {
		var s scanner
		var f fields
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if !s.parse(line, &f) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			var o oracle
			if err := json.Unmarshal(line, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReport10M streams ten million generated lines from 50,000
// devices, each asking for 10 of 200 names (500,000 device/name pairs, under
// the pair cap). The time includes generating the lines, which
// BenchmarkGenerate10M measures alone. Run both once, with peak memory:
//
//	go test -c -o /tmp/report.test ./internal/report/
//	/usr/bin/time -v /tmp/report.test -test.run '^$' -test.bench 'Report10M' -test.benchtime 1x
//	/tmp/report.test -test.run '^$' -test.bench 'Generate10M' -test.benchtime 1x
func BenchmarkReport10M(b *testing.B) {
	const n = 10_000_000
	b.ReportAllocs()
	runs := 0
	for b.Loop() {
		a := New(Options{})
		g := &genStream{n: n, devices: 50_000, names: 200, perDevice: 10, start: 1795000000 * time.Second, step: time.Millisecond}
		if err := a.Read("gen", g); err != nil {
			b.Fatal(err)
		}
		r := a.Result()
		if r.Hits != n || len(r.Devices) != 50_000 || len(r.Notes) != 0 {
			b.Fatalf("%d hits, %d devices, notes %q", r.Hits, len(r.Devices), r.Notes)
		}
		runs++
	}
	b.ReportMetric(float64(n*runs)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkGenerate10M is the generator's share of BenchmarkReport10M.
func BenchmarkGenerate10M(b *testing.B) {
	const n = 10_000_000
	b.ReportAllocs()
	for b.Loop() {
		g := &genStream{n: n, devices: 50_000, names: 200, perDevice: 10, start: 1795000000 * time.Second, step: time.Millisecond}
		if _, err := io.Copy(io.Discard, g); err != nil {
			b.Fatal(err)
		}
	}
}
