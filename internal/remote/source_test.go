package remote

import (
	"crypto/rand"
	"strings"
	"testing"

	"aead.dev/minisign"
)

func TestParseSource(t *testing.T) {
	pub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := pub.String()
	hash := sha("list")
	tests := []struct {
		name    string
		in      string
		want    Source
		wantErr string
	}{
		{name: "plain", in: "https://lists.example/ai.txt", want: Source{URL: "https://lists.example/ai.txt"}},
		{name: "spaces trimmed", in: "  https://lists.example/ai.txt\n", want: Source{URL: "https://lists.example/ai.txt"}},
		{name: "query and port kept", in: "https://lists.example:8443/get?list=ai&v=2", want: Source{URL: "https://lists.example:8443/get?list=ai&v=2"}},
		{name: "sha256 pin", in: "https://lists.example/ai.txt#sha256=" + hash, want: Source{URL: "https://lists.example/ai.txt", SHA256: hash}},
		{name: "sha256 pin in upper case", in: "https://lists.example/ai.txt#sha256=" + strings.ToUpper(hash), want: Source{URL: "https://lists.example/ai.txt", SHA256: hash}},
		{name: "minisign pin", in: "https://lists.example/ai.txt#minisign=" + key, want: Source{URL: "https://lists.example/ai.txt", PublicKey: key}},
		{name: "both pins with &", in: "https://lists.example/ai.txt#sha256=" + hash + "&minisign=" + key, want: Source{URL: "https://lists.example/ai.txt", SHA256: hash, PublicKey: key}},
		{name: "both pins with #", in: "https://lists.example/ai.txt#minisign=" + key + "#sha256=" + hash, want: Source{URL: "https://lists.example/ai.txt", SHA256: hash, PublicKey: key}},
		{name: "scheme in upper case", in: "HTTPS://lists.example/ai.txt", want: Source{URL: "HTTPS://lists.example/ai.txt"}},

		{name: "empty", in: "", wantErr: "empty source"},
		{name: "blank", in: "   ", wantErr: "empty source"},
		{name: "http refused", in: "http://lists.example/ai.txt", wantErr: "http:// refused"},
		{name: "http refused with a pin", in: "http://lists.example/ai.txt#sha256=" + hash, wantErr: "http:// refused"},
		{name: "other scheme", in: "ftp://lists.example/ai.txt", wantErr: "want an https:// URL"},
		{name: "a path", in: "/etc/dijk/ai.txt", wantErr: "want an https:// URL"},
		{name: "no host", in: "https:///ai.txt", wantErr: "no host"},
		{name: "credentials", in: "https://user:secret@lists.example/ai.txt", wantErr: "credentials"},
		{name: "malformed URL", in: "https://lists.example:port/ai.txt", wantErr: "invalid port"},
		{name: "empty fragment", in: "https://lists.example/ai.txt#", wantErr: "empty '#'"},
		{name: "only separators", in: "https://lists.example/ai.txt#&&", wantErr: "without a pin"},
		{name: "pin without value", in: "https://lists.example/ai.txt#sha256=", wantErr: "want sha256=HEX"},
		{name: "pin without =", in: "https://lists.example/ai.txt#sha256", wantErr: "want sha256=HEX"},
		{name: "unknown pin", in: "https://lists.example/ai.txt#sha512=" + hash, wantErr: `unknown pin "sha512"`},
		{name: "repeated pin", in: "https://lists.example/ai.txt#sha256=" + hash + "&sha256=" + hash, wantErr: "given twice"},
		{name: "short sha256", in: "https://lists.example/ai.txt#sha256=" + hash[:63], wantErr: "64 hex digits"},
		{name: "long sha256", in: "https://lists.example/ai.txt#sha256=" + hash + "00", wantErr: "64 hex digits"},
		{name: "sha256 not hex", in: "https://lists.example/ai.txt#sha256=" + strings.Repeat("g", 64), wantErr: "64 hex digits"},
		{name: "key not base64", in: "https://lists.example/ai.txt#minisign=RW!!", wantErr: "minisign pin"},
		{name: "key too short", in: "https://lists.example/ai.txt#minisign=" + key[:40], wantErr: "minisign pin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSource(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSource(%q) = %+v, %v, want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSource(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSource(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String gives back a string that parses to the same source.
			again, err := ParseSource(got.String())
			if err != nil || again != got {
				t.Errorf("ParseSource(%q) = %+v, %v, want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestSignatureURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "file", url: "https://lists.example/ai.txt", want: "https://lists.example/ai.txt.minisig"},
		{name: "query kept after the suffix", url: "https://lists.example/ai.txt?v=2", want: "https://lists.example/ai.txt.minisig?v=2"},
		{name: "escaped path", url: "https://lists.example/a%2Fb.txt", want: "https://lists.example/a%2Fb.txt.minisig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Source{URL: tt.url}).signatureURL(); got != tt.want {
				t.Errorf("signatureURL(%s) = %s, want %s", tt.url, got, tt.want)
			}
		})
	}
}
