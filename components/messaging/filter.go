package messaging

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pub/Sub subscription filters, as documented in "Filter messages from a
// subscription": https://cloud.google.com/pubsub/docs/subscription-message-filter
//
//   - attributes:KEY                      the message has the attribute KEY
//   - attributes.KEY = "VALUE"            ... with that exact value (!= negates)
//   - hasPrefix(attributes.KEY, "PREFIX") ... whose value starts with PREFIX
//     (the only function; no regular expressions)
//   - The only comparison operators are :, = and !=. An equality starts with
//     the key and compares it with a string literal: "com" = attributes.name
//     and attributes.name = attributes.website are invalid.
//   - A key made of letters, digits, hyphens and underscores is written bare;
//     any other key is a string literal: attributes."iana.org/language_tag".
//     String literals may use Unicode, hex and octal escapes.
//   - AND, OR and NOT (uppercase; - is a unary alias of NOT). NOT binds
//     tightest; to combine AND with OR, use parentheses around complete
//     expressions.
//
// Pub/Sub's filter language is a subset of AIP-160 (https://google.aip.dev/160).
// Google's Pub/Sub fake (pstest, in the pinned cloud.google.com/go/pubsub/v2)
// validates filters by parsing and type-checking them with
// go.einride.tech/aip/filtering, declaring attributes as map<string, string>
// and hasPrefix(string, string) bool. This file does the same with the same
// declarations, and adds what AIP-160 allows but Pub/Sub does not: <, >, <=
// and >=, numbers, bare names, two keys compared with each other, a value
// before its key, conditions joined by juxtaposition (AIP-160's implicit AND),
// AND mixed with OR without parentheses (AIP-160 parses a AND b OR c as
// a AND (b OR c)), lowercase operators, unquoted keys with other characters,
// and single-quoted strings (the documentation writes every string literal in
// double quotes). In one place the library is stricter than Pub/Sub: its lexer
// ends a bare key at a hyphen, so hyphenated keys (attributes.ce-type) are
// rewritten, byte for byte, to a plain key before the library sees them.
//
// The filter's length (256 bytes) is checked by Spec.Validate, not here.

const filterHint = `Pub/Sub filters look like attributes.KEY = "value", attributes:KEY, hasPrefix(attributes.KEY, "prefix"), ` +
	`joined with AND / OR (parenthesise to mix them), NOT to negate`

const (
	attributesIdent = "attributes"
	hasPrefixFunc   = "hasPrefix"
)

// bareKey is what a key may be made of without quotes.
var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// filterDeclarations are pstest's: attributes is a map<string, string>,
// hasPrefix(string, string) bool, plus AIP-160's standard functions.
var filterDeclarations = sync.OnceValues(func() (*filtering.Declarations, error) {
	return filtering.NewDeclarations(
		filtering.DeclareFunction(hasPrefixFunc,
			filtering.NewFunctionOverload(hasPrefixFunc, filtering.TypeBool, filtering.TypeString, filtering.TypeString)),
		filtering.DeclareIdent(attributesIdent, filtering.TypeMap(filtering.TypeString, filtering.TypeString)),
		filtering.DeclareStandardFunctions(),
	)
})

// ValidateFilter checks a Pub/Sub subscription filter. An empty filter means
// no filter and is valid. It returns at most one error, naming the first
// problem found and where it is.
func ValidateFilter(path *field.Path, filter string) field.ErrorList {
	if filter == "" {
		return nil
	}
	if problem := filterProblem(filter); problem != "" {
		return field.ErrorList{field.Invalid(path, filter, problem+"; "+filterHint)}
	}
	return nil
}

// filterProblem describes the first thing wrong with a non-empty filter, or
// returns "" when Pub/Sub accepts it.
func filterProblem(filter string) string {
	if strings.TrimSpace(filter) == "" {
		return "the filter is only whitespace (leave it empty for no filter)"
	}
	tokens, problem := lexFilter(filter)
	if problem != "" {
		return problem
	}
	rewritten, problem := checkTokens(filter, tokens)
	if problem != "" {
		return problem
	}
	return checkExpression(filter, rewritten)
}

// lexFilter splits the filter into the library's tokens.
func lexFilter(filter string) ([]filtering.Token, string) {
	var lexer filtering.Lexer
	lexer.Init(filter)
	var tokens []filtering.Token
	for {
		token, err := lexer.Lex()
		if errors.Is(err, io.EOF) {
			return tokens, ""
		}
		if err != nil {
			return nil, libraryProblem(filter, 0, err)
		}
		tokens = append(tokens, token)
	}
}

// group is one level of parentheses: where it opens and where its first AND
// and OR are (-1 when absent).
type group struct {
	open, and, or int
}

// checkTokens applies the rules that are about single tokens and their
// neighbours, which the parsed expression no longer shows: operators and
// literals outside Pub/Sub's subset, names other than attributes and
// hasPrefix, how keys are written, and AND/OR mixing within one level of
// parentheses. It returns the filter with hyphenated and numeric bare keys
// replaced by a same-length plain key, ready for the library's parser.
func checkTokens(filter string, tokens []filtering.Token) (string, string) {
	at := func(t filtering.Token) string { return where(filter, int(t.Position.Offset)) }
	rewritten := []byte(filter)
	groups := []group{{open: -1, and: -1, or: -1}}
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		switch t.Type {
		case filtering.TokenTypeString:
			if problem := checkString(filter, t); problem != "" {
				return "", problem
			}
		case filtering.TokenTypeLessThan, filtering.TokenTypeLessEquals,
			filtering.TokenTypeGreaterThan, filtering.TokenTypeGreaterEquals:
			return "", fmt.Sprintf("%q at %s is not a Pub/Sub operator (attributes are compared only with =, != and :)", t.Value, at(t))
		case filtering.TokenTypeExclaim:
			return "", fmt.Sprintf(`"!" at %s is not an operator (write != for "not equal", NOT or - to negate)`, at(t))
		case filtering.TokenTypeEquals:
			if i+1 < len(tokens) && tokens[i+1].Type == filtering.TokenTypeEquals {
				return "", fmt.Sprintf(`"==" at %s is not an operator (equality is a single =)`, at(t))
			}
		case filtering.TokenTypeNumber, filtering.TokenTypeHexNumber:
			return "", fmt.Sprintf("number %s at %s: values are double-quoted string literals (%q)", t.Value, at(t), t.Value)
		case filtering.TokenTypeDot:
			return "", fmt.Sprintf(`unexpected "." at %s (a key containing dots is a double-quoted string, as in attributes."iana.org/language_tag")`, at(t))
		case filtering.TokenTypeComma:
			if len(groups) == 1 {
				return "", fmt.Sprintf(`unexpected "," at %s (commas only separate hasPrefix's arguments)`, at(t))
			}
		case filtering.TokenTypeLeftParen:
			groups = append(groups, group{open: int(t.Position.Offset), and: -1, or: -1})
		case filtering.TokenTypeRightParen:
			if len(groups) == 1 {
				return "", fmt.Sprintf(`unbalanced parentheses: ")" at %s has no matching "("`, at(t))
			}
			groups = groups[:len(groups)-1]
		case filtering.TokenTypeAnd, filtering.TokenTypeOr:
			g := &groups[len(groups)-1]
			if t.Type == filtering.TokenTypeAnd {
				if g.and < 0 {
					g.and = int(t.Position.Offset)
				}
			} else if g.or < 0 {
				g.or = int(t.Position.Offset)
			}
			if g.and >= 0 && g.or >= 0 {
				return "", fmt.Sprintf("AND (at %s) and OR (at %s) are mixed without parentheses; Pub/Sub needs parentheses around complete expressions to combine them",
					where(filter, g.and), where(filter, g.or))
			}
		case filtering.TokenTypeText:
			switch {
			case t.Value == attributesIdent:
				next, problem := checkAttributeKey(filter, tokens, i, rewritten)
				if problem != "" {
					return "", problem
				}
				i = next - 1
			case t.Value == hasPrefixFunc:
				if i+1 >= len(tokens) || tokens[i+1].Type != filtering.TokenTypeLeftParen {
					return "", fmt.Sprintf(`hasPrefix at %s must be called as hasPrefix(attributes.KEY, "prefix")`, at(t))
				}
			case strings.EqualFold(t.Value, "and") || strings.EqualFold(t.Value, "or") || strings.EqualFold(t.Value, "not"):
				return "", fmt.Sprintf("%q at %s: AND, OR and NOT must be uppercase", t.Value, at(t))
			case i+1 < len(tokens) && tokens[i+1].Type == filtering.TokenTypeLeftParen:
				return "", fmt.Sprintf("unknown function %q at %s (hasPrefix is the only function Pub/Sub filters support)", t.Value, at(t))
			default:
				return "", fmt.Sprintf(`%q at %s is not an attribute reference (write attributes.%s = "value", or attributes:%s to test that the key exists)`,
					t.Value, at(t), t.Value, t.Value)
			}
		}
	}
	if len(groups) > 1 {
		return "", fmt.Sprintf(`unbalanced parentheses: "(" at %s is never closed`, where(filter, groups[len(groups)-1].open))
	}
	for i := len(tokens) - 1; i >= 0; i-- {
		switch t := tokens[i]; t.Type {
		case filtering.TokenTypeWhitespace:
			continue
		case filtering.TokenTypeAnd, filtering.TokenTypeOr, filtering.TokenTypeNot, filtering.TokenTypeMinus,
			filtering.TokenTypeEquals, filtering.TokenTypeNotEquals, filtering.TokenTypeHas, filtering.TokenTypeComma:
			return "", fmt.Sprintf("the filter ends too early: nothing follows %q at %s", t.Value, at(t))
		}
		break
	}
	return string(rewritten), ""
}

// checkString refuses single-quoted strings: Google's documentation writes
// every string literal in double quotes.
func checkString(filter string, t filtering.Token) string {
	if strings.HasPrefix(t.Value, "'") {
		return fmt.Sprintf("single-quoted string %s at %s: Pub/Sub string literals use double quotes", t.Value, where(filter, int(t.Position.Offset)))
	}
	return ""
}

// keyPart reports whether a token can be part of a bare key: the library's
// lexer splits attributes.ce-type into ce, -, type, and attributes.1a into
// 1, a.
func keyPart(t filtering.TokenType) bool {
	switch t {
	case filtering.TokenTypeText, filtering.TokenTypeNumber, filtering.TokenTypeHexNumber, filtering.TokenTypeMinus,
		filtering.TokenTypeAnd, filtering.TokenTypeOr, filtering.TokenTypeNot:
		return true
	}
	return false
}

// checkAttributeKey checks the key after the attributes token at index i
// (attributes.KEY or attributes:KEY) and returns the index of the token after
// the key. A bare key that the library would not read as one token is
// overwritten in rewritten with a plain key of the same length, so positions
// stay the same.
func checkAttributeKey(filter string, tokens []filtering.Token, i int, rewritten []byte) (int, string) {
	attr := tokens[i]
	skipSpace := func(j int) int {
		for j < len(tokens) && tokens[j].Type == filtering.TokenTypeWhitespace {
			j++
		}
		return j
	}
	var k int
	switch j := skipSpace(i + 1); {
	case i+1 < len(tokens) && tokens[i+1].Type == filtering.TokenTypeDot:
		k = i + 2
	case j < len(tokens) && tokens[j].Type == filtering.TokenTypeHas:
		k = skipSpace(j + 1)
	default:
		return 0, fmt.Sprintf(`"attributes" at %s must be followed by .KEY (to compare the value) or :KEY (to test that the key exists)`,
			where(filter, int(attr.Position.Offset)))
	}
	if k >= len(tokens) {
		return 0, fmt.Sprintf("the attribute key after %q at %s is missing", attr.Value, where(filter, int(attr.Position.Offset)))
	}
	first := tokens[k]
	if first.Type == filtering.TokenTypeString {
		if problem := checkString(filter, first); problem != "" {
			return 0, problem
		}
		return k + 1, ""
	}
	if !keyPart(first.Type) {
		return 0, fmt.Sprintf("the attribute key after %q at %s is missing", attr.Value, where(filter, int(attr.Position.Offset)))
	}
	end := k
	for end < len(tokens) && keyPart(tokens[end].Type) {
		end++
	}
	start := int(first.Position.Offset)
	last := tokens[end-1]
	stop := int(last.Position.Offset) + len(last.Value)
	key := filter[start:stop]
	if end < len(tokens) && tokens[end].Type == filtering.TokenTypeDot {
		// attributes.iana.org: the key goes on with dots.
		stop = len(filter)
		if n := strings.IndexFunc(filter[start:], func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune("=!:,()<>", r) }); n >= 0 {
			stop = start + n
		}
		key = filter[start:stop]
	}
	if !bareKey.MatchString(key) {
		if unquoted, ok := strings.CutPrefix(key, "`"); ok {
			unquoted = strings.TrimSuffix(unquoted, "`")
			return 0, fmt.Sprintf(`attribute key %s at %s: backquotes do not quote keys; write it as a double-quoted string: attributes.%q`,
				key, where(filter, start), unquoted)
		}
		return 0, fmt.Sprintf(`attribute key %s at %s has characters other than letters, digits, hyphens and underscores; `+
			`write it as a double-quoted string: attributes.%q`,
			key, where(filter, start), key)
	}
	if end-k > 1 || first.Type != filtering.TokenTypeText {
		copy(rewritten[start:stop], "k"+strings.Repeat("_", stop-start-1))
	}
	return end, ""
}

// checkExpression parses the (rewritten) filter with the library, refuses
// expressions outside Pub/Sub's shapes and type-checks the rest with pstest's
// declarations.
func checkExpression(filter, rewritten string) string {
	// The parser trims the filter; its offsets start after leading space.
	lead := len(rewritten) - len(strings.TrimLeftFunc(rewritten, unicode.IsSpace))
	var parser filtering.Parser
	parser.Init(rewritten)
	parsed, err := parser.Parse()
	if err != nil {
		return libraryProblem(filter, lead, err)
	}
	shapes := shapeChecker{filter: filter, lead: lead, positions: parsed.GetSourceInfo().GetPositions()}
	if problem := shapes.condition(parsed.GetExpr()); problem != "" {
		return problem
	}
	declarations, err := filterDeclarations()
	if err != nil {
		return fmt.Sprintf("the filter declarations are broken: %v", err)
	}
	var checker filtering.Checker
	checker.Init(parsed.GetExpr(), parsed.GetSourceInfo(), declarations)
	if _, err := checker.Check(); err != nil {
		return fmt.Sprintf("type error: %v", err)
	}
	return ""
}

// shapeChecker walks a parsed filter and refuses what Pub/Sub does not accept.
type shapeChecker struct {
	filter    string
	lead      int
	positions map[int64]int32
}

func (c shapeChecker) at(e *expr.Expr) string {
	return where(c.filter, c.lead+int(c.positions[e.GetId()]))
}

// condition checks an expression that must be true or false.
func (c shapeChecker) condition(e *expr.Expr) string {
	call := e.GetCallExpr()
	if call == nil {
		return fmt.Sprintf("%s at %s is not a condition (compare a key with = or !=, test it with :, or use hasPrefix)", describe(e), c.at(e))
	}
	args := call.GetArgs()
	switch call.GetFunction() {
	case filtering.FunctionAnd, filtering.FunctionOr:
		for _, arg := range args {
			if problem := c.condition(arg); problem != "" {
				return problem
			}
		}
		return ""
	case filtering.FunctionNot:
		if len(args) != 1 {
			return fmt.Sprintf("NOT at %s takes one condition", c.at(e))
		}
		return c.condition(args[0])
	case filtering.FunctionFuzzyAnd:
		return fmt.Sprintf("the conditions at %s and %s are not joined; put AND or OR between them", c.at(args[0]), c.at(args[1]))
	case filtering.FunctionEquals, filtering.FunctionNotEquals:
		op := call.GetFunction()
		switch {
		case len(args) != 2:
			return fmt.Sprintf("%s at %s needs a key and a value", op, c.at(e))
		case isAttributeKey(args[0]) && isString(args[1]):
			return ""
		case isString(args[0]) && isAttributeKey(args[1]):
			return fmt.Sprintf(`the comparison at %s starts with the value; the key comes first: attributes.KEY %s "value"`, c.at(e), op)
		case isAttributeKey(args[0]) && isAttributeKey(args[1]):
			return fmt.Sprintf("the comparison at %s compares two attributes; the value must be a double-quoted string literal", c.at(e))
		case isAttributeKey(args[0]):
			return fmt.Sprintf("the value at %s must be a double-quoted string literal", c.at(args[1]))
		default:
			return fmt.Sprintf("the comparison at %s must start with attributes.KEY", c.at(e))
		}
	case filtering.FunctionHas:
		if len(args) == 2 && isIdent(args[0], attributesIdent) && isString(args[1]) {
			return ""
		}
		return fmt.Sprintf(`":" at %s tests that a key exists and is written attributes:KEY`, c.at(e))
	case hasPrefixFunc:
		if len(args) == 2 && isAttributeKey(args[0]) && isString(args[1]) {
			return ""
		}
		return fmt.Sprintf(`hasPrefix at %s takes an attribute and a string: hasPrefix(attributes.KEY, "prefix")`, c.at(e))
	default:
		return fmt.Sprintf("%q at %s is not supported by Pub/Sub filters", call.GetFunction(), c.at(e))
	}
}

func isIdent(e *expr.Expr, name string) bool {
	return e.GetIdentExpr() != nil && e.GetIdentExpr().GetName() == name
}

// isAttributeKey matches attributes.KEY.
func isAttributeKey(e *expr.Expr) bool {
	s := e.GetSelectExpr()
	return s != nil && !s.GetTestOnly() && isIdent(s.GetOperand(), attributesIdent)
}

func isString(e *expr.Expr) bool {
	_, ok := e.GetConstExpr().GetConstantKind().(*expr.Constant_StringValue)
	return ok
}

func describe(e *expr.Expr) string {
	switch {
	case isAttributeKey(e):
		return "attributes." + e.GetSelectExpr().GetField()
	case e.GetIdentExpr() != nil:
		return fmt.Sprintf("%q", e.GetIdentExpr().GetName())
	case isString(e):
		return fmt.Sprintf("the string %q", e.GetConstExpr().GetStringValue())
	}
	return "the expression"
}

// libraryProblem turns a lexer or parser error into a message with the
// position of its innermost cause; offsets in err count from lead.
func libraryProblem(filter string, lead int, err error) string {
	type positioned interface {
		Position() filtering.Position
		Message() string
	}
	var inner positioned
	for e := err; e != nil; e = errors.Unwrap(e) {
		if p, ok := e.(positioned); ok {
			inner = p
		}
	}
	if inner == nil {
		return fmt.Sprintf("syntax error: %v", err)
	}
	place := where(filter, lead+int(inner.Position().Offset))
	if errors.Is(err, io.EOF) {
		return fmt.Sprintf("the filter ends too early (after %s)", place)
	}
	message := inner.Message()
	if strings.HasPrefix(message, "unexpected token ") {
		message = "unexpected " + tokenName(strings.TrimPrefix(message, "unexpected token "))
	} else if strings.HasPrefix(message, "unexpected trailing token ") {
		message = "unexpected " + tokenName(strings.TrimPrefix(message, "unexpected trailing token "))
	}
	return fmt.Sprintf("syntax error at %s: %s", place, message)
}

func tokenName(t string) string {
	switch filtering.TokenType(t) {
	case filtering.TokenTypeWhitespace:
		return "space"
	case filtering.TokenTypeText:
		return "name"
	case filtering.TokenTypeString:
		return "string"
	case filtering.TokenTypeNumber, filtering.TokenTypeHexNumber:
		return "number"
	}
	return fmt.Sprintf("%q", t)
}

// where names a byte offset of the filter as a column (and line, for filters
// that span lines), counting characters from 1.
func where(filter string, offset int) string {
	if offset > len(filter) {
		offset = len(filter)
	}
	before := filter[:offset]
	column := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	if strings.Contains(filter, "\n") {
		return fmt.Sprintf("line %d, column %d", strings.Count(before, "\n")+1, column)
	}
	return fmt.Sprintf("column %d", column)
}
