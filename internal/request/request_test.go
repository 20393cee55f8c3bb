package request

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestKeyValues: both doors trim key and value and refuse an item without
// a key or '=', naming it and its place.
func TestKeyValues(t *testing.T) {
	m, err := KeyValues([]string{"a=1", " b = two words ", "c=", "a=again", "d=x=y"})
	want := map[string]string{"a": "again", "b": "two words", "c": "", "d": "x=y"}
	if err != nil || !reflect.DeepEqual(m, want) {
		t.Errorf("KeyValues = %v, %v; want %v", m, err, want)
	}
	if m, err := KeyValues(nil); m != nil || err != nil {
		t.Errorf("no items: %v, %v", m, err)
	}
	for i, items := range [][]string{{"a=1", "novalue"}, {"a=1", " =x"}, {"a=1", ""}} {
		_, err := KeyValues(items)
		var kv *KeyValueError
		if !errors.As(err, &kv) || kv.Index != 1 || kv.Item != items[1] {
			t.Errorf("case %d: %v, want a *KeyValueError for item 1", i, err)
		}
	}
}

// TestSourceDateEpoch: one strict reading for both doors.
func TestSourceDateEpoch(t *testing.T) {
	if tm, err := SourceDateEpoch(""); err != nil || !tm.IsZero() {
		t.Errorf("unset: %v, %v", tm, err)
	}
	if tm, err := SourceDateEpoch("1700000000"); err != nil || !tm.Equal(time.Unix(1700000000, 0)) || tm.Location() != time.UTC {
		t.Errorf("1700000000: %v, %v", tm, err)
	}
	if tm, err := SourceDateEpoch("0"); err != nil || tm.IsZero() {
		t.Errorf("0 is 1970, not unset: %v, %v", tm, err)
	}
	for _, v := range []string{"-1", "1.5", "x", "253402300800", " 1"} {
		if _, err := SourceDateEpoch(v); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Errorf("%q: %v, want an error naming SOURCE_DATE_EPOCH", v, err)
		}
	}
}
