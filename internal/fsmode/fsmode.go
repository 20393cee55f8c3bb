// Package fsmode converts between Unix mode bits (what plans, tar headers
// and the Nix store speak: 0o4755) and Go's fs.FileMode (whose setuid,
// setgid and sticky flags live outside the low 12 bits). It is the only
// place that knows the mapping.
package fsmode

import "io/fs"

// FromUnix converts Unix permission bits, including setuid (0o4000),
// setgid (0o2000) and sticky (0o1000), into fs.FileMode permission and
// special bits. Type bits are not touched.
func FromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// ToUnix converts the permission and special bits of m into Unix mode
// bits. Unix special bits set directly in m's low 12 bits (0o7000, unused
// by fs.FileMode) are accepted too, so ToUnix(0o4755) is 0o4755.
func ToUnix(m fs.FileMode) uint32 {
	mode := uint32(m.Perm()) | uint32(m&0o7000)
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
