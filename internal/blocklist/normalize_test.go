package blocklist

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 61)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "already canonical", in: "deepseek.com", want: "deepseek.com"},
		{name: "upper case folded", in: "DeepSeek.COM", want: "deepseek.com"},
		{name: "trailing dot dropped", in: "deepseek.com.", want: "deepseek.com"},
		{name: "single label", in: "com", want: "com"},
		{name: "hyphen and underscore", in: "_dmarc.api-docs.deepseek.com", want: "_dmarc.api-docs.deepseek.com"},
		{name: "IDN to punycode", in: "bücher.example", want: "xn--bcher-kva.example"},
		{name: "IDN upper case", in: "BÜCHER.Example.", want: "xn--bcher-kva.example"},
		{name: "IDN next to underscore label", in: "_dmarc.bücher.example", want: "_dmarc.xn--bcher-kva.example"},
		{name: "IDN ideographic full stop", in: "bücher。example", want: "xn--bcher-kva.example"},
		{name: "punycode kept", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "63-octet label", in: label63 + ".test", want: label63 + ".test"},
		{name: "253-octet name", in: name253, want: name253},
		{name: "253-octet name with trailing dot", in: name253 + ".", want: name253},
		{name: "numeric label below a TLD", in: "123.example", want: "123.example"},

		{name: "empty", in: "", wantErr: ErrEmptyName},
		{name: "root", in: ".", wantErr: ErrEmptyName},
		{name: "empty label inside", in: "a..b", wantErr: ErrEmptyLabel},
		{name: "leading dot", in: ".deepseek.com", wantErr: ErrEmptyLabel},
		{name: "two trailing dots", in: "deepseek.com..", wantErr: ErrEmptyLabel},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".test", wantErr: ErrLabelTooLong},
		{name: "254-octet name", in: "c" + name253, wantErr: ErrNameTooLong},
		{name: "wildcard", in: "*.deepseek.com", wantErr: ErrInvalidChar},
		{name: "URL", in: "https://deepseek.com/", wantErr: ErrInvalidChar},
		{name: "path", in: "deepseek.com/chat", wantErr: ErrInvalidChar},
		{name: "space", in: "deep seek.com", wantErr: ErrInvalidChar},
		{name: "backslash escape", in: `chat\.deepseek.com`, wantErr: ErrInvalidChar},
		{name: "IPv4", in: "1.2.3.4", wantErr: ErrIPAddress},
		{name: "IPv4 with trailing dot", in: "127.0.0.1.", wantErr: ErrIPAddress},
		{name: "IPv4 shorthand", in: "10.1", wantErr: ErrIPAddress},
		{name: "IPv6", in: "::1", wantErr: ErrIPAddress},
		{name: "full-width digits", in: "１２７.０.０.１", wantErr: ErrIPAddress},
		{name: "invalid UTF-8", in: "\xff.com", wantErr: ErrIDNA},
		{name: "underscore inside IDN label", in: "ü_x.test", wantErr: ErrIDNA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Normalize(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "invalid domain") {
					t.Errorf("Normalize(%q) error %q does not say which domain", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q) error = %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again, err := Normalize(got); err != nil || again != got {
				t.Errorf("Normalize(%q) = %q, %v; canonical form must be stable", got, again, err)
			}
		})
	}
}
