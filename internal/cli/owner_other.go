//go:build !unix

package cli

import "os"

// chownToDir does nothing where files have no Unix owner.
func chownToDir(*os.File, string) error { return nil }
