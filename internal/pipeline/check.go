package pipeline

// checkConfig checks the config against the layers as written (or
// reused), logs what it finds and adds the warnings to the report's.
func (r *run) checkConfig() error {
	found, err := r.res.CheckWritten(r.entries)
	if err != nil {
		return err
	}
	for _, w := range found.Warnings {
		r.log.printf("warning: %s", w)
	}
	for _, n := range found.Notes {
		r.log.printf("note: %s", n)
	}
	r.res.Warnings = append(r.res.Warnings, found.Warnings...)
	return nil
}
