package blocklist

import "errors"

// Reasons Normalize rejects a name. They are wrapped together with the
// offending name, so test with errors.Is.
var (
	ErrEmptyName    = errors.New("empty name")
	ErrEmptyLabel   = errors.New("empty label")
	ErrLabelTooLong = errors.New("label longer than 63 octets")
	ErrNameTooLong  = errors.New("name longer than 253 octets")
	ErrInvalidChar  = errors.New("invalid character")
	ErrIPAddress    = errors.New("IP address, not a domain name")
	ErrIDNA         = errors.New("invalid internationalised name")
)
