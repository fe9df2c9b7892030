package fakegcp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const gcpSDK = "github.com/pulumi/pulumi-gcp/sdk/v7"

// TestProgramTypesAreModelled finds every pulumi-gcp resource constructor
// and function the programs call (stacks, components, bootstrap), resolves
// its type token from the SDK source, and requires the stand-in to model
// it: a new resource type in the program must be noticed here, not in a
// rehearsal.
func TestProgramTypesAreModelled(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", gcpSDK).Output()
	if err != nil {
		t.Fatalf("locate %s: %v", gcpSDK, err)
	}
	sdkDir := filepath.Join(strings.TrimSpace(string(out)), "go", "gcp")
	root := filepath.Join("..", "..", "..")

	calls := map[string]string{} // "pkg.Func" → where
	for _, dir := range []string{"stacks", "components", "bootstrap"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			aliases := map[string]string{}
			for _, imp := range file.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				sub, ok := strings.CutPrefix(p, gcpSDK+"/go/gcp/")
				if !ok {
					continue
				}
				name := filepath.Base(sub)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				aliases[name] = sub
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok || aliases[x.Name] == "" {
					return true
				}
				fn := sel.Sel.Name
				if strings.HasPrefix(fn, "New") || strings.HasPrefix(fn, "Lookup") || strings.HasPrefix(fn, "Get") {
					calls[aliases[x.Name]+"."+fn] = fset.Position(sel.Pos()).String()
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(calls) == 0 {
		t.Fatal("found no pulumi-gcp calls in the programs")
	}

	tokenRe := regexp.MustCompile(`(?:RegisterResource|Invoke)\("(gcp:[^"]+)"`)
	modelled := ResourceTypes()
	resolved := map[string]bool{}
	for call, where := range calls {
		pkg, fn, _ := strings.Cut(call, ".")
		fn = strings.TrimSuffix(fn, "Output")
		files, _ := filepath.Glob(filepath.Join(sdkDir, pkg, "*.go"))
		var tok string
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^func ` + fn + `\(`).Match(src) {
				continue
			}
			if m := tokenRe.FindSubmatch(src); m != nil {
				tok = string(m[1])
				break
			}
		}
		if tok == "" {
			// Not a constructor or data source (e.g. a Get... helper type).
			continue
		}
		resolved[tok] = true
		if !slices.Contains(modelled, tok) && !slices.Contains(Functions, tok) {
			t.Errorf("%s (%s at %s) is not modelled by the stand-in", tok, call, where)
		}
	}
	// The scan itself must work: the programs use at least these.
	for _, tok := range []string{tTopic, tSubscription, tAccount, tRun, tQueue, "gcp:organizations/getProject:getProject"} {
		if !resolved[tok] {
			t.Errorf("scan did not find %s in the programs (found %d types)", tok, len(resolved))
		}
	}
	t.Logf("programs use %d gcp types/functions, all modelled", len(resolved))
}
