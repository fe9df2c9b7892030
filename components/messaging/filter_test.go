package messaging

import (
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/pstest"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// filterCase is one filter and what Pub/Sub and Google's fake make of it.
//
// The grammar and most examples come from Google's "Filter messages from a
// subscription" page:
// https://cloud.google.com/pubsub/docs/subscription-message-filter
type filterCase struct {
	filter string
	// valid: Pub/Sub accepts the filter, per the documentation.
	valid bool
	// want is part of the error detail for an invalid filter.
	want string
	// fake: pstest.ValidateFilter (AIP-160, go.einride.tech/aip/filtering)
	// accepts the filter.
	fake bool
	// why explains a case where Pub/Sub and the fake disagree.
	why string
}

const (
	whyMixing       = "AIP-160 lets AND and OR mix (OR binds tighter); Pub/Sub needs parentheses around complete expressions to combine them"
	whyOrdering     = "AIP-160 has <, <=, >, >=; Pub/Sub compares only with :, = and !="
	whyKeyFirst     = "AIP-160 type-checks string = string; Pub/Sub requires the key first and a string literal second"
	whySingleQuotes = "AIP-160 accepts single-quoted strings; Google's documentation writes every string literal in double quotes"
	whyKeyChars     = "AIP-160 reads a/b as a bare name; " +
		"Pub/Sub requires a string literal for keys with characters other than letters, digits, hyphens and underscores"
	whyHyphen = "Pub/Sub reads hyphenated keys bare (only other characters need a string literal); the AIP-160 lexer ends a name at '-' and then fails"
)

var filterCases = []filterCase{
	// No filter.
	{filter: "", valid: true, fake: true},

	// The documentation's table of filters on the name attribute.
	{filter: `attributes:name`, valid: true, fake: true},
	{filter: `NOT attributes:name`, valid: true, fake: true},
	{filter: `attributes.name = "com"`, valid: true, fake: true},
	{filter: `attributes.name != "com"`, valid: true, fake: true},
	{filter: `hasPrefix(attributes.name, "co")`, valid: true, fake: true},
	{filter: `NOT hasPrefix(attributes.name, "co")`, valid: true, fake: true},

	// Keys with other characters are string literals; escapes are allowed.
	{filter: `attributes."iana.org/language_tag" = "en"`, valid: true, fake: true},
	{filter: `attributes:"\u307F\u3093\u306A"`, valid: true, fake: true},
	{filter: `attributes:"\x9A\x0B"`, valid: true, fake: true},
	{filter: `attributes:"\234\265"`, valid: true, fake: true},
	{filter: `attributes:a/b`, want: `attribute key a/b at column 12 has characters other than letters, digits, hyphens and underscores; ` +
		`write it as a double-quoted string: attributes."a/b"`, fake: true, why: whyKeyChars},
	{filter: `attributes.iana.org = "en"`, want: `attribute key iana.org at column 12 has characters other than letters`},
	{filter: "attributes:`a.b`", want: "attribute key `a.b` at column 12: backquotes do not quote keys; write it as a double-quoted string: attributes.\"a.b\""},
	{filter: `attributes.a = 'x'`, want: `single-quoted string 'x' at column 16: Pub/Sub string literals use double quotes`, fake: true, why: whySingleQuotes},
	{filter: `attributes:'a'`, want: `single-quoted string 'a' at column 12`, fake: true, why: whySingleQuotes},
	{filter: `attributes.a = "x`, want: "syntax error at column 16: unterminated string"},

	// Hyphens, underscores and digits need no quotes.
	{filter: `attributes.ce-type = "dev.example.created" AND hasPrefix(attributes.ce-source, "baz/")`, valid: true, why: whyHyphen},
	{filter: `attributes:my-key`, valid: true, why: whyHyphen},
	{filter: `attributes.event_type = "1"`, valid: true, fake: true},
	{filter: `attributes.123 = "x"`, valid: true, fake: true},

	// Comparison operators: only :, = and !=, key first, string value.
	{filter: `attributes.type = "report"`, valid: true, fake: true},
	{filter: `attributes.type != "report"`, valid: true, fake: true},
	{filter: `attributes:type`, valid: true, fake: true},
	{filter: `attributes.type == "report"`, want: `"==" at column 17 is not an operator (equality is a single =)`},
	{filter: `type = "report"`,
		want: `"type" at column 1 is not an attribute reference (write attributes.type = "value", or attributes:type to test that the key exists)`},
	{filter: `attributes.a > "1"`, want: `">" at column 14 is not a Pub/Sub operator`, fake: true, why: whyOrdering},
	{filter: `attributes.a >= "1"`, want: `">=" at column 14 is not a Pub/Sub operator`, fake: true, why: whyOrdering},
	{filter: `attributes.a < "1"`, want: `"<" at column 14 is not a Pub/Sub operator`, fake: true, why: whyOrdering},
	{filter: `attributes.a = 1`, want: `number 1 at column 16: values are double-quoted string literals ("1")`},
	{filter: `attributes.a = "1" OR attributes.b = 2`, want: "number 2 at column 38"},
	{filter: `"com" = attributes.name`, want: `the comparison at column 1 starts with the value; the key comes first`, fake: true, why: whyKeyFirst},
	{filter: `attributes.name = attributes.website`, want: "the comparison at column 1 compares two attributes", fake: true, why: whyKeyFirst},
	{filter: `attributes.lang = ("en" OR "de")`, want: "the value at column 20 must be a double-quoted string literal"},
	{filter: `attributes = "x"`, want: `"attributes" at column 1 must be followed by .KEY`},
	{filter: `attributes`, want: `"attributes" at column 1 must be followed by .KEY`},
	{filter: `attributes.a`, want: "attributes.a at column 1 is not a condition"},
	{filter: `attributes.a ! = "x"`, want: `"!" at column 14 is not an operator`},
	{filter: `true`, want: `"true" at column 1 is not an attribute reference`},

	// hasPrefix is the only function.
	{filter: `hasPrefix(attributes.type, "rep")`, valid: true, fake: true},
	{filter: `hasSuffix(attributes.type, "rep")`, want: `unknown function "hasSuffix" at column 1`},
	{filter: `hasPrefix(attributes.type)`, want: `hasPrefix at column 1 takes an attribute and a string`},
	{filter: `hasPrefix("rep", attributes.type)`, want: `hasPrefix at column 1 takes an attribute and a string`, fake: true,
		why: "AIP-160 type-checks hasPrefix(string, string); Pub/Sub's form is hasPrefix(attributes.KEY, \"SUBSTRING\")"},

	// Boolean operators: uppercase, NOT or -, parentheses to mix AND and OR.
	{filter: `NOT attributes:type`, valid: true, fake: true},
	{filter: `-attributes:type`, valid: true, fake: true},
	{filter: `attributes.name = "com" AND -attributes:"iana.org/language_tag"`, valid: true, fake: true},
	{filter: `attributes:"iana.org/language_tag" AND NOT attributes.name = "test"`, valid: true, fake: true},
	{filter: `attributes.a = "1" AND attributes.b = "2"`, valid: true, fake: true},
	{filter: `attributes.a = "1" OR attributes.b = "2"`, valid: true, fake: true},
	{filter: `attributes.a = "1" AND attributes.b = "2" AND attributes.c = "3"`, valid: true, fake: true},
	{filter: `(attributes.a = "1" AND attributes.b = "2") OR attributes.c = "3"`, valid: true, fake: true},
	{filter: `attributes:lang AND (attributes.lang = "en" OR attributes.lang = "de")`, valid: true, fake: true},
	{filter: `(NOT attributes:name) OR attributes.name = "co"`, valid: true, fake: true},
	{filter: `NOT (attributes:name OR attributes.lang = "jp")`, valid: true, fake: true},
	{filter: "  attributes:a\n\tAND attributes:b  ", valid: true, fake: true},
	{filter: `attributes.a = "1" AND attributes.b = "2" OR attributes.c = "3"`,
		want: "AND (at column 20) and OR (at column 43) are mixed without parentheses", fake: true, why: whyMixing},
	{filter: `attributes.a = "1" OR attributes.b = "2" AND attributes.c = "3"`,
		want: "AND (at column 42) and OR (at column 20) are mixed without parentheses", fake: true, why: whyMixing},
	{filter: `attributes:lang AND attributes.lang = "en" OR attributes.lang = "de"`, want: "are mixed without parentheses", fake: true, why: whyMixing},
	{filter: `attributes:a AND (attributes:b OR attributes:c) OR attributes:d`,
		want: "AND (at column 14) and OR (at column 49) are mixed", fake: true, why: whyMixing},
	{filter: `NOT attributes:a AND attributes:b OR attributes:c`, want: "are mixed without parentheses", fake: true, why: whyMixing},
	{filter: "attributes:a AND\nattributes:b OR attributes:c", want: "AND (at line 1, column 14) and OR (at line 2, column 14)", fake: true, why: whyMixing},
	{filter: `attributes:a and attributes:b`, want: `"and" at column 14: AND, OR and NOT must be uppercase`},
	{filter: `not attributes:a`, want: `"not" at column 1: AND, OR and NOT must be uppercase`},
	{filter: `attributes:a attributes:b`, want: "the conditions at column 1 and column 14 are not joined; put AND or OR between them"},

	// Unbalanced parentheses, incomplete filters.
	{filter: `(attributes.a = "1"`, want: `unbalanced parentheses: "(" at column 1 is never closed`},
	{filter: `attributes.a = "1")`, want: `unbalanced parentheses: ")" at column 19 has no matching "("`},
	{filter: `((attributes.a = "1") OR attributes:b`, want: `"(" at column 1 is never closed`},
	{filter: `attributes.a = "1" AND`, want: `the filter ends too early: nothing follows "AND" at column 20`},
	{filter: `attributes.a =`, want: `the filter ends too early: nothing follows "=" at column 14`},
	{filter: `attributes.a = "1" OR attributes:`, want: "the attribute key after \"attributes\" at column 23 is missing"},
	{filter: `attributes.a = "1" AND ()`, want: "syntax error at column 25"},
	{filter: "   ", want: "the filter is only whitespace"},
}

func TestValidateFilter(t *testing.T) {
	path := field.NewPath("spec", "subscriptions").Index(0).Child("filter")
	for _, c := range filterCases {
		t.Run(c.filter, func(t *testing.T) {
			errs := ValidateFilter(path, c.filter)
			if c.valid {
				if len(errs) != 0 {
					t.Fatalf("ValidateFilter(%q) = %v, want no error", c.filter, errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("ValidateFilter(%q) = %v, want one error", c.filter, errs)
			}
			err := errs[0]
			t.Log(err.Detail)
			if err.Type != field.ErrorTypeInvalid || err.Field != path.String() || err.BadValue != c.filter {
				t.Errorf("error = %#v, want Invalid at %s with the filter as the value", err, path)
			}
			if !strings.Contains(err.Detail, c.want) {
				t.Errorf("detail = %q, want it to contain %q", err.Detail, c.want)
			}
			if !strings.HasSuffix(err.Detail, "; "+filterHint) {
				t.Errorf("detail = %q, want it to end with the hint", err.Detail)
			}
		})
	}
}

// TestValidateFilterAgreesWithFake checks every case against Google's Pub/Sub
// fake, which parses and type-checks filters as AIP-160: the fake accepts
// what we accept and rejects what we reject, except in the cases whose why
// documents where Pub/Sub and AIP-160 differ.
func TestValidateFilterAgreesWithFake(t *testing.T) {
	for _, c := range filterCases {
		fakeErr := pstest.ValidateFilter(c.filter)
		if fake := fakeErr == nil; fake != c.fake {
			t.Errorf("pstest.ValidateFilter(%q) = %v, but the case says the fake accepts it: %v", c.filter, fakeErr, c.fake)
		}
		if (c.valid != c.fake) != (c.why != "") {
			t.Errorf("%q: valid=%v, fake=%v: a why is needed exactly when they differ (why=%q)", c.filter, c.valid, c.fake, c.why)
		}
	}
}

// FuzzValidateFilter checks that any filter ValidateFilter accepts is also
// accepted by Google's fake, unless a hyphenated or numeric bare key had to
// be rewritten for the AIP-160 parser, and that at most one error comes back.
func FuzzValidateFilter(f *testing.F) {
	for _, c := range filterCases {
		f.Add(c.filter)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		errs := ValidateFilter(field.NewPath("filter"), filter)
		if len(errs) > 1 {
			t.Fatalf("ValidateFilter(%q) = %v, want at most one error", filter, errs)
		}
		if len(errs) != 0 {
			return
		}
		tokens, _ := lexFilter(filter)
		if rewritten, _ := checkTokens(filter, tokens); filter != "" && rewritten != filter {
			return
		}
		if err := pstest.ValidateFilter(filter); err != nil {
			t.Fatalf("ValidateFilter accepts %q, but pstest.ValidateFilter says %v", filter, err)
		}
	})
}
