package remote

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"aead.dev/minisign"
)

// Pin keys inside a source string's fragment.
const (
	pinSHA256   = "sha256"
	pinMinisign = "minisign"
)

// Source is one remote list.
type Source struct {
	// URL is fetched as is; only https:// is accepted, because a list
	// altered in transit would decide what the whole network can reach.
	URL string
	// SHA256 optionally pins the body: 64 hex digits.
	SHA256 string
	// PublicKey optionally requires a minisign signature by this key (the
	// base64 "RW..." line of a minisign .pub file). The signature is
	// fetched from the URL's path + ".minisig", query kept.
	PublicKey string
}

// ParseSource reads a remote list reference from the config:
//
//	https://HOST/PATH[?QUERY][#PIN[&PIN]]
//
// where each PIN is one of
//
//	sha256=HEX       the body's SHA-256, 64 hex digits
//	minisign=KEY     a minisign public key, the base64 "RW..." line
//
// for example
//
//	https://lists.example/ai.txt#sha256=9f86d0...0f00a08
//	https://lists.example/ai.txt#minisign=RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3
//	https://lists.example/ai.txt#sha256=9f86...&minisign=RWQf...
//
// The pins ride in the URL fragment because a fragment is never sent to the
// server, so the request is the same with or without them. A second '#'
// may stand for '&'. Unknown, repeated or empty pins are errors, so a typo
// cannot silently drop a pin. In YAML, quote the string or keep no space
// before '#', which would start a comment.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Source{}, errors.New("remote list: empty source")
	}
	base, fragment, hasFragment := strings.Cut(s, "#")
	src := Source{URL: base}
	if hasFragment {
		if fragment == "" {
			return Source{}, fmt.Errorf("remote list %s: empty '#': give sha256=HEX or minisign=KEY after it", base)
		}
		seen := map[string]bool{}
		for pin := range strings.FieldsFuncSeq(fragment, func(r rune) bool { return r == '&' || r == '#' }) {
			key, value, ok := strings.Cut(pin, "=")
			if !ok || value == "" {
				return Source{}, fmt.Errorf("remote list %s: pin %q: want sha256=HEX or minisign=KEY", base, pin)
			}
			if seen[key] {
				return Source{}, fmt.Errorf("remote list %s: pin %s given twice", base, key)
			}
			seen[key] = true
			switch key {
			case pinSHA256:
				src.SHA256 = strings.ToLower(value)
			case pinMinisign:
				src.PublicKey = value
			default:
				return Source{}, fmt.Errorf("remote list %s: unknown pin %q: want sha256 or minisign", base, key)
			}
		}
		// "#&" or "#&&" yields no pins: as empty as a bare '#'.
		if len(seen) == 0 {
			return Source{}, fmt.Errorf("remote list %s: '#' without a pin", base)
		}
	}
	if err := src.validate(); err != nil {
		return Source{}, err
	}
	return src, nil
}

// String is the source in ParseSource's syntax.
func (s Source) String() string {
	var pins []string
	if s.SHA256 != "" {
		pins = append(pins, pinSHA256+"="+s.SHA256)
	}
	if s.PublicKey != "" {
		pins = append(pins, pinMinisign+"="+s.PublicKey)
	}
	if len(pins) == 0 {
		return s.URL
	}
	return s.URL + "#" + strings.Join(pins, "&")
}

// validate checks a Source however it was built, so Fetch cannot be talked
// into plain http or a pin that would never match.
func (s Source) validate() error {
	if s.URL == "" {
		return errors.New("remote list: empty URL")
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("remote list %s: %w", s.URL, err)
	}
	switch {
	case u.Scheme == "http":
		return fmt.Errorf("remote list %s: http:// refused: use https:// so the list cannot be altered in transit", s.URL)
	case u.Scheme != "https":
		return fmt.Errorf("remote list %s: want an https:// URL", s.URL)
	case u.Hostname() == "":
		return fmt.Errorf("remote list %s: no host", s.URL)
	case u.User != nil:
		// The URL is logged and exported as a metric label.
		return fmt.Errorf("remote list %s: credentials in the URL are refused: they would leak into logs and metrics", redact(u))
	case u.Fragment != "" || strings.Contains(s.URL, "#"):
		return fmt.Errorf("remote list %s: '#' in URL: pins go in SHA256 and PublicKey (ParseSource reads them from the fragment)", s.URL)
	}
	if s.SHA256 != "" {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("remote list %s: sha256 pin %q: want 64 hex digits", s.URL, s.SHA256)
		}
	}
	if s.PublicKey != "" {
		if _, err := s.publicKey(); err != nil {
			return err
		}
	}
	return nil
}

func (s Source) publicKey() (minisign.PublicKey, error) {
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(s.PublicKey)); err != nil {
		return minisign.PublicKey{}, fmt.Errorf("remote list %s: minisign pin: %w", s.URL, err)
	}
	return key, nil
}

// signatureURL is where the minisign signature of s lives: minisign's own
// convention is FILE.minisig, so the suffix goes on the path, not after a
// query.
func (s Source) signatureURL() string {
	u, err := url.Parse(s.URL)
	if err != nil { // validated before; keep the literal rule as a fallback
		return s.URL + ".minisig"
	}
	u.Path += ".minisig"
	if u.RawPath != "" {
		u.RawPath += ".minisig"
	}
	return u.String()
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
