package main

import (
	"encoding/binary"
	"testing"
)

func TestRespond(t *testing.T) {
	// ID 0x1234, RD, one question www.example.org A IN, one OPT record.
	q := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x03org\x00\x00\x01\x00\x01" +
		"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00")
	out, ok := respond(q, nil, [4]byte{192, 0, 2, 1})
	if !ok {
		t.Fatal("query dropped")
	}
	if binary.BigEndian.Uint16(out) != 0x1234 || out[2] != 0x85 || out[3] != 0x80 {
		t.Errorf("header % x", out[:4])
	}
	if an, ar := binary.BigEndian.Uint16(out[6:]), binary.BigEndian.Uint16(out[10:]); an != 1 || ar != 1 {
		t.Errorf("ANCOUNT %d ARCOUNT %d", an, ar)
	}
	qend := 12 + 17 + 4
	ans := out[qend:]
	if ans[0] != 0xC0 || ans[1] != 0x0C || binary.BigEndian.Uint32(ans[6:]) != 3600 || string(ans[12:16]) != "\xc0\x00\x02\x01" {
		t.Errorf("answer % x", ans[:16])
	}
	if _, ok := respond(q[:20], nil, [4]byte{}); ok {
		t.Error("truncated query answered")
	}
	resp := append([]byte{}, out...)
	if _, ok := respond(resp, nil, [4]byte{}); ok {
		t.Error("a response was answered")
	}
}
