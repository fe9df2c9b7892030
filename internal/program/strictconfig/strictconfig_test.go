package strictconfig

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

type inner struct {
	Count int               `json:"count"`
	Wait  duration.Duration `json:"wait"`
}

type outer struct {
	Name   string            `json:"name"`
	On     bool              `json:"on"`
	Ratio  float64           `json:"ratio"`
	Items  []inner           `json:"items"`
	Opt    *inner            `json:"opt"`
	Labels map[string]string `json:"labels"`
}

func TestCheck(t *testing.T) {
	cases := []struct {
		doc  string
		errs map[string]field.ErrorType
	}{
		{`{"name":"a","on":true,"ratio":0.5,"items":[{"count":1,"wait":"1s"}],"opt":{"count":2},"labels":{"a":"b"}}`, nil},
		{`{"nmae":"a"}`, map[string]field.ErrorType{"o.nmae": field.ErrorTypeNotFound}},
		{`{"items":[{"count":1.5}]}`, map[string]field.ErrorType{"o.items[0].count": field.ErrorTypeTypeInvalid}},
		{`{"items":[{"wait":5}]}`, map[string]field.ErrorType{"o.items[0].wait": field.ErrorTypeTypeInvalid}},
		{`{"items":{"count":1}}`, map[string]field.ErrorType{"o.items": field.ErrorTypeTypeInvalid}},
		{`{"on":"yes","name":1}`, map[string]field.ErrorType{"o.on": field.ErrorTypeTypeInvalid, "o.name": field.ErrorTypeTypeInvalid}},
		{`{"labels":{"a":1}}`, map[string]field.ErrorType{"o.labels[a]": field.ErrorTypeTypeInvalid}},
		{`{"opt":{"cnt":1}}`, map[string]field.ErrorType{"o.opt.cnt": field.ErrorTypeNotFound}},
		{`[1]`, map[string]field.ErrorType{"o": field.ErrorTypeTypeInvalid}},
	}
	for _, tc := range cases {
		var v any
		if err := json.Unmarshal([]byte(tc.doc), &v); err != nil {
			t.Fatal(err)
		}
		errs := Check(field.NewPath("o"), v, reflect.TypeOf(outer{}))
		got := map[string]field.ErrorType{}
		for _, e := range errs {
			got[e.Field] = e.Type
		}
		if len(got) != len(tc.errs) {
			t.Errorf("%s: got %v, want %v", tc.doc, errs, tc.errs)
			continue
		}
		for f, typ := range tc.errs {
			if got[f] != typ {
				t.Errorf("%s: %s got %q, want %q (%v)", tc.doc, f, got[f], typ, errs)
			}
		}
	}
}

func TestUnknownKeySuggests(t *testing.T) {
	e := UnknownKey(field.NewPath("asyncjobs:queues").Index(0).Child("retyr"), []string{"name", "retry"})
	if e.Error() != `asyncjobs:queues[0].retyr: Not found: unknown key (did you mean "retry"?)` {
		t.Errorf("got %q", e.Error())
	}
	e = UnknownKey(field.NewPath("x").Child("zzzzzz"), []string{"name", "retry"})
	if e.Error() != `x.zzzzzz: Not found: unknown key; known keys: name, retry` {
		t.Errorf("got %q", e.Error())
	}
}

type overSpec struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func (s *overSpec) UnmarshalJSON(b []byte) error {
	type plain overSpec
	return DecodeOver(b, s, overSpec{Name: "default", Count: 3}, func(s *overSpec) *plain { return (*plain)(s) })
}

// TestDecodeOver: absent keys keep the defaults, a written zero is kept as
// zero, and a failed decode leaves the value as it was.
func TestDecodeOver(t *testing.T) {
	var s overSpec
	if err := json.Unmarshal([]byte(`{"name": "x"}`), &s); err != nil || s != (overSpec{Name: "x", Count: 3}) {
		t.Errorf("absent count: %+v, %v", s, err)
	}
	if err := json.Unmarshal([]byte(`{"count": 0}`), &s); err != nil || s != (overSpec{Name: "default", Count: 0}) {
		t.Errorf("written zero: %+v, %v", s, err)
	}
	var list []overSpec
	if err := json.Unmarshal([]byte(`[{}, {"count": 1}]`), &list); err != nil || len(list) != 2 ||
		list[0] != (overSpec{"default", 3}) || list[1] != (overSpec{"default", 1}) {
		t.Errorf("list elements: %+v, %v", list, err)
	}
	before := overSpec{Name: "kept", Count: 9}
	s = before
	if err := json.Unmarshal([]byte(`{"count": "nine"}`), &s); err == nil || s != before {
		t.Errorf("failed decode: %+v, %v", s, err)
	}
}

// TestWholeNumberRanges: a whole number is checked against the range of
// the API field it ends up in: an int32 Go field, or any integer field
// tagged api:"int32", holds an int32; other integers an int64.
func TestWholeNumberRanges(t *testing.T) {
	type spec struct {
		Tagged int   `json:"tagged" api:"int32"`
		Narrow int32 `json:"narrow"`
		Wide   int64 `json:"wide"`
		List   []int `json:"list" api:"int32"`
	}
	typ := reflect.TypeOf(spec{})
	for _, tc := range []struct {
		key  string
		v    any
		want string // "" accepted
	}{
		{"tagged", float64(math.MaxInt32), ""},
		{"tagged", float64(math.MinInt32), ""},
		{"tagged", float64(math.MaxInt32) + 1,
			"x.tagged: Invalid value: 2147483648: out of range: a whole number from -2147483648 to 2147483647 (the API field is an int32)"},
		{"tagged", float64(math.MinInt32) - 1, "x.tagged: Invalid value: -2147483649: out of range"},
		{"narrow", float64(math.MaxInt32) + 1,
			"x.narrow: Invalid value: 2147483648: out of range: a whole number from -2147483648 to 2147483647 (an int32, as the API field)"},
		{"wide", float64(math.MaxInt32) + 1, ""},
		{"wide", 1e19, "x.wide: Invalid value: 1e+19: out of range: a whole number from -9223372036854775808 to 9223372036854775807 (a 64-bit integer)"},
		{"wide", -1e30, "out of range"},
		{"tagged", 1.5, "must be a whole number"},
		{"tagged", "5", "must be a whole number"},
		{"list", []any{float64(1), float64(math.MaxInt32) + 1}, "x.list[1]: Invalid value: 2147483648: out of range"},
	} {
		errs := Check(field.NewPath("x"), map[string]any{tc.key: tc.v}, typ)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s = %v refused: %v", tc.key, tc.v, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s = %v: %v, want one error saying %q", tc.key, tc.v, errs, tc.want)
		}
	}
}
