package config

import (
	"bytes"
	"testing"
)

func TestDefaultEmbedded(t *testing.T) {
	tests := []struct {
		name string
		want []byte
	}{
		{name: "listen section", want: []byte("\nlisten:\n")},
		{name: "builtin list", want: []byte("builtin:deepseek")},
		{name: "sinkhole action", want: []byte("action: nxdomain")},
	}
	if len(bytes.TrimSpace(Default)) == 0 {
		t.Fatal("embedded default configuration is empty")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(Default, tt.want) {
				t.Errorf("embedded default lacks %q", tt.want)
			}
		})
	}
}
