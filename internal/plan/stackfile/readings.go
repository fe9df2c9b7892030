package stackfile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ReadingError lists the values of a stack file that a YAML reader takes
// for something other than what is written: a user who writes 0123 for a
// name suffix means the text, not the octal number 83.
type ReadingError struct {
	File string
	Errs field.ErrorList
}

func (e *ReadingError) Error() string {
	lines := []string{fmt.Sprintf("%s: a YAML reader takes %d of its values for something other than what is written:", e.File, len(e.Errs))}
	for _, err := range e.Errs {
		lines = append(lines, "  "+err.Error())
	}
	return strings.Join(lines, "\n")
}

// The plain scalars whose YAML 1.1 reading is not their text (YAML 1.1,
// https://yaml.org/type/: int, float, bool).
var (
	octalLike   = regexp.MustCompile(`^[-+]?0[0-9_]+$`)
	sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$`)
	infinity    = regexp.MustCompile(`^[-+]?\.(inf|Inf|INF)$`)
	notANumber  = regexp.MustCompile(`^\.(nan|NaN|NAN)$`)
	yaml11Bools = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
		"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
	}
)

// readings finds, in a stack file's config section, every plain scalar
// whose YAML reading differs from its text: octal-looking numbers,
// sexagesimal numbers, YAML 1.1's booleans, infinities and NaNs, and any
// value that is not a string where Pulumi.yaml declares a string
// (declared maps a key such as asyncjobs:nameSuffix to its declared type).
// Each is reported at its key path, with its line, what the YAML reader
// makes of it and how to write it. A file that does not parse is left to
// the loader, which says where.
func readings(data []byte, declared map[string]string) field.ErrorList {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var errs field.ErrorList
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "config" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		cfg := root.Content[i+1]
		for j := 0; j+1 < len(cfg.Content); j += 2 {
			key, value := cfg.Content[j].Value, cfg.Content[j+1]
			if t := declared[key]; t == "string" && value.Kind == yaml.ScalarNode && value.Style == 0 && value.Tag != "!!str" {
				errs = append(errs, field.Invalid(field.NewPath(key), value.Value, fmt.Sprintf(
					"line %d: Pulumi.yaml declares a string, and YAML reads %s as %s; quote it: %s", value.Line, value.Value, reading(value), quoted(value.Value))))
				continue
			}
			errs = append(errs, walk(field.NewPath(key), value)...)
		}
	}
	return errs
}

// walk checks the plain scalars under a node.
func walk(path *field.Path, n *yaml.Node) field.ErrorList {
	var errs field.ErrorList
	switch n.Kind {
	case yaml.MappingNode:
		if secureValue(n) {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, walk(path.Child(n.Content[i].Value), n.Content[i+1])...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			errs = append(errs, walk(path.Index(i), c)...)
		}
	case yaml.ScalarNode:
		if n.Style != 0 {
			return nil // quoted or a block scalar: text as written
		}
		if detail := ambiguous(n.Value); detail != "" {
			errs = append(errs, field.Invalid(path, n.Value, fmt.Sprintf("line %d: %s", n.Line, detail)))
		}
	}
	return errs
}

// ambiguous says how a plain scalar's YAML reading differs from its text,
// or "" when it does not.
func ambiguous(s string) string {
	switch {
	case octalLike.MatchString(s):
		digits := strings.ReplaceAll(strings.TrimLeft(s, "+-"), "_", "")
		if n, err := strconv.ParseInt(digits, 8, 64); err == nil {
			return fmt.Sprintf("YAML reads %s as the octal number %d; write %s for the decimal number, or quote it (%s) for the text",
				s, n, strings.TrimLeft(strings.TrimLeft(s, "+-"), "0_"), quoted(s))
		}
		return fmt.Sprintf("YAML 1.1 readers take a leading 0 for octal, and %s is not octal; "+
			"write it without the leading zeros for the number, or quote it (%s) for the text", s, quoted(s))
	case sexagesimal.MatchString(s):
		return fmt.Sprintf("YAML 1.1 reads %s as a base-60 number (1:30 is 90); quote it (%s) for the text", s, quoted(s))
	case infinity.MatchString(s):
		return fmt.Sprintf("YAML reads %s as infinity, which no setting takes; write a number, or quote it (%s) for the text", s, quoted(s))
	case notANumber.MatchString(s):
		return fmt.Sprintf("YAML reads %s as not-a-number, which no setting takes; write a number, or quote it (%s) for the text", s, quoted(s))
	}
	if b, ok := yaml11Bools[s]; ok {
		return fmt.Sprintf("YAML 1.1 reads %s as the boolean %t, YAML 1.2 as the text %s; write %t for the boolean, or quote it (%s) for the text",
			s, b, quoted(s), b, quoted(s))
	}
	return ""
}

// reading names what YAML makes of a plain scalar that is not a string.
func reading(n *yaml.Node) string {
	if d := ambiguous(n.Value); d != "" && octalLike.MatchString(n.Value) {
		if v, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimLeft(n.Value, "+-"), "_", ""), 8, 64); err == nil {
			return fmt.Sprintf("the octal number %d", v)
		}
	}
	switch n.Tag {
	case "!!int":
		return "a whole number"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

// secureValue reports a `{secure: ...}` value: ciphertext, not read here.
func secureValue(n *yaml.Node) bool {
	return len(n.Content) == 2 && n.Content[0].Value == "secure"
}

func quoted(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
