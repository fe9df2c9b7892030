package stackfile

import (
	"strings"
	"testing"
)

// TestReadings: one case per class of plain scalar whose YAML reading is
// not its text, each reported at its key path and line; quoted and block
// scalars, secure values and ordinary values are left alone.
func TestReadings(t *testing.T) {
	declared := map[string]string{"p:suffix": "string", "p:n": "integer", "p:obj": "object"}
	for _, tc := range []struct {
		name, yaml string
		want       []string // one error each: substrings
	}{
		{"octal where a string is declared", "config:\n  p:suffix: 0123\n",
			[]string{`p:suffix: Invalid value: "0123": line 2: Pulumi.yaml declares a string, and YAML reads 0123 as the octal number 83`}},
		{"a number where a string is declared", "config:\n  p:suffix: 12\n", []string{`line 2: Pulumi.yaml declares a string, and YAML reads 12 as a whole number`}},
		{"a float where a string is declared", "config:\n  p:suffix: 1.5\n", []string{`YAML reads 1.5 as a number`}},
		{"a boolean where a string is declared", "config:\n  p:suffix: false\n", []string{`YAML reads false as a boolean`}},
		{"null where a string is declared", "config:\n  p:suffix: ~\n", []string{`YAML reads ~ as null`}},
		{"octal in an object", "config:\n  p:obj:\n    a:\n      - 0755\n",
			[]string{`p:obj.a[0]: Invalid value: "0755": line 4: YAML reads 0755 as the octal number 493; write 755`}},
		{"not octal, leading zero", "config:\n  p:obj:\n    a: 089\n",
			[]string{`p:obj.a: Invalid value: "089": line 3: YAML 1.1 readers take a leading 0 for octal`}},
		{"sexagesimal", "config:\n  p:obj:\n    t: 1:30\n", []string{`p:obj.t: Invalid value: "1:30": line 3: YAML 1.1 reads 1:30 as a base-60 number`}},
		{"YAML 1.1 booleans", "config:\n  p:obj:\n    a: yes\n    b: Off\n    c: n\n",
			[]string{`p:obj.a: Invalid value: "yes": line 3: YAML 1.1 reads yes as the boolean true`,
				`p:obj.b: Invalid value: "Off": line 4: YAML 1.1 reads Off as the boolean false`, `p:obj.c: Invalid value: "n": line 5`}},
		{"infinity", "config:\n  p:obj:\n    r: -.inf\n", []string{`p:obj.r: Invalid value: "-.inf": line 3: YAML reads -.inf as infinity`}},
		{"not a number", "config:\n  p:n: .NaN\n", []string{`p:n: Invalid value: ".NaN": line 2: YAML reads .NaN as not-a-number`}},
		{"quoted, block, secure and ordinary values", "config:\n  p:suffix: '0123'\n  p:n: 5\n  p:obj:\n    a: \"yes\"\n    b: |\n      1:30\n" +
			"    c: 0\n    d: 0.5\n    e: 0x1F\n    f: worker\n    g: true\n  p:secret:\n    secure: v1:0123\n", nil},
		{"no config section", "environment:\n  - x\n", nil},
		{"not YAML: left to the loader", "config: [\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := readings([]byte(tc.yaml), declared)
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors, want %d: %v", len(errs), len(tc.want), errs)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q lacks %q", errs[i].Error(), w)
				}
			}
		})
	}
}
