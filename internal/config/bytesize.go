package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes, written as a whole number with an optional
// unit: "100MB", "1GiB", "512 KiB", or a bare number of bytes.
type ByteSize int64

// byteUnits maps each accepted unit, lower-cased, to its factor: the SI
// units are powers of 1000 and the IEC units powers of 1024, as their
// standards define them.
func byteUnits() map[string]int64 {
	return map[string]int64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}
}

// String writes the size with the largest unit that divides it exactly.
func (b ByteSize) String() string {
	units := []struct {
		name   string
		factor int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}}
	if b != 0 {
		for _, u := range units {
			if int64(b)%u.factor == 0 {
				return strconv.FormatInt(int64(b)/u.factor, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// parseByteSize parses a ByteSize; s is trimmed.
func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits == 0 {
		return 0, fmt.Errorf("invalid size %q; write a whole number with a unit, e.g. \"100MB\" or \"1GiB\"", s)
	}
	unit := strings.ToLower(strings.TrimSpace(s[digits:]))
	factor, ok := byteUnits()[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q; want B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)", s, s[digits:])
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil || n > math.MaxInt64/factor {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n * factor), nil
}

// byteSizeHook parses sizes from strings and takes YAML integers as bytes.
func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[ByteSize]() || from == reflect.TypeFor[ByteSize]() {
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch from.Kind() {
	case reflect.String:
		return parseByteSize(v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() < 0 {
			return nil, fmt.Errorf("size %d is negative", v.Int())
		}
		return ByteSize(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("size %d is too large", v.Uint())
		}
		return ByteSize(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		// YAML reads 1e9 as a float; accept it when it is a whole number.
		f := v.Float()
		if f < 0 || f != math.Trunc(f) || f >= math.MaxInt64 {
			return nil, fmt.Errorf("size %v is not a whole number of bytes", data)
		}
		return ByteSize(f), nil
	}
	return nil, fmt.Errorf("expected a size such as \"100MB\", got %s", describe(data))
}
