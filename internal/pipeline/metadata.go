package pipeline

import "maps"

// imageMetadata merges the run's metadata defaults, labels and
// annotations with the plan's labels into the config's labels and the
// manifest's annotations.
//
// Labels: Metadata, then Labels, then the plan's labels (the plan wins).
// Annotations: Metadata, then Annotations.
//
// A key of Metadata given explicitly anywhere (plan label, Labels or
// Annotations) replaces the default in both places, so the label and the
// annotation of one key cannot disagree because one of them kept the
// default: each place takes its own explicit value first (the config: the
// plan's label, then Labels; the manifest: Annotations), then the other
// place's, then the default.
func imageMetadata(metadata, labels, planLabels, annotations map[string]string) (map[string]string, map[string]string) {
	outL := map[string]string{}
	outA := map[string]string{}
	for k, v := range metadata {
		explicitL, okL := first(k, planLabels, labels)
		explicitA, okA := first(k, annotations)
		switch {
		case okL && !okA:
			v = explicitL
		case okA && !okL:
			v = explicitA
		}
		outL[k], outA[k] = v, v
	}
	maps.Copy(outL, labels)
	maps.Copy(outL, planLabels)
	maps.Copy(outA, annotations)
	if len(outA) == 0 {
		outA = nil
	}
	return outL, outA
}

// first is the value of k in the first map that has it.
func first(k string, ms ...map[string]string) (string, bool) {
	for _, m := range ms {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return "", false
}
