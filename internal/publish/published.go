package publish

import "fmt"

// PublishedError is a failure after the image was published: the image is
// at Ref (by digest), but something that describes it (a report, an SBOM,
// a step output, the job summary) could not be written. Callers exit with
// a status of its own, so a workflow can tell "published, but" from
// "nothing published".
type PublishedError struct {
	Ref string // repository@digest (or the local output's name@digest)
	Err error
}

// Error names the published image first, so it is never lost in the
// failure.
func (e *PublishedError) Error() string {
	return fmt.Sprintf("published %s, but %v", e.Ref, e.Err)
}

// Unwrap returns the failure after publishing.
func (e *PublishedError) Unwrap() error { return e.Err }
