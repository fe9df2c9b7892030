package main

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// The documentation tests read the Markdown of the repository the way GitHub
// shows it: README.md is the front door, every document is reachable from it,
// every relative link lands on a file and a heading that exist, and the
// Layout section lists what the repository holds.

const (
	frontDoor    = "README.md"
	maxFrontDoor = 15 * 1024
)

// TestReadmeSize keeps README.md a front door, not the whole manual.
func TestReadmeSize(t *testing.T) {
	raw, err := os.ReadFile(frontDoor)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= maxFrontDoor {
		t.Errorf("%s is %d bytes, want under %d: move the details to a document under docs/ and link it from the map", frontDoor, len(raw), maxFrontDoor)
	}
}

// TestDocsReachable: every Markdown file is reachable from README.md by
// relative links. Files under testdata/ are fixtures, not documents.
func TestDocsReachable(t *testing.T) {
	docs := markdownFiles(t)
	if !slices.Contains(docs, frontDoor) || len(docs) < 3 {
		t.Fatalf("Markdown files found: %v", docs)
	}
	seen := map[string]bool{frontDoor: true}
	queue := []string{frontDoor}
	for len(queue) > 0 {
		doc := parseDoc(t, queue[0])
		queue = queue[1:]
		for _, l := range doc.links {
			target, _, err := resolve(doc.path, l.dest)
			if err != nil || target == "" {
				continue // TestDocLinks reports it
			}
			if info, err := os.Stat(target); err == nil && info.IsDir() {
				target = path.Join(target, "README.md") // GitHub shows a folder's README
			}
			if strings.HasSuffix(target, ".md") && !seen[target] {
				if _, err := os.Stat(target); err == nil {
					seen[target] = true
					queue = append(queue, target)
				}
			}
		}
	}
	for _, f := range docs {
		if !seen[f] {
			t.Errorf("%s is not reachable by links from %s: link it from the documentation map", f, frontDoor)
		}
	}
}

// TestDocLinks: every relative link and image in every Markdown file names a
// file or folder that exists, and a #fragment names a heading of the target.
func TestDocLinks(t *testing.T) {
	docs := map[string]*doc{}
	for _, f := range markdownFiles(t) {
		docs[f] = parseDoc(t, f)
	}
	checked := 0
	for _, f := range slices.Sorted(maps.Keys(docs)) {
		for _, l := range docs[f].links {
			target, fragment, err := resolve(f, l.dest)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", f, l.line, l.dest, err)
				continue
			}
			if target == "" {
				continue // external
			}
			checked++
			info, err := os.Stat(target)
			if err != nil {
				t.Errorf("%s:%d: link %q: %s does not exist", f, l.line, l.dest, target)
				continue
			}
			if fragment == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(target, ".md") {
				t.Errorf("%s:%d: link %q: a #fragment is checked only on a Markdown file", f, l.line, l.dest)
				continue
			}
			d, ok := docs[target]
			if !ok {
				d = parseDoc(t, target)
				docs[target] = d
			}
			if !slices.Contains(d.anchors, fragment) {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s (anchors: %s)", f, l.line, l.dest, target, fragment, strings.Join(d.anchors, " "))
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d relative links checked", checked)
	}
}

// TestLayout: README.md's Layout section lists every top-level folder git
// tracks (hidden ones aside) and every package under internal/ and cmd/, one
// line each with a description, and nothing that does not exist.
func TestLayout(t *testing.T) {
	src, err := os.ReadFile(frontDoor)
	if err != nil {
		t.Fatal(err)
	}
	block := layoutBlock(t, src)
	listed := map[string]bool{}
	for i, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		name, desc, ok := strings.Cut(line, "  ")
		name = strings.TrimSuffix(name, "/")
		if !ok || name == "" || strings.TrimSpace(desc) == "" || strings.ContainsAny(name, " \t") {
			t.Errorf("Layout line %d %q: want \"path  one-line description\"", i+1, line)
			continue
		}
		if listed[name] {
			t.Errorf("Layout lists %s twice", name)
		}
		listed[name] = true
		if _, err := os.Stat(name); err != nil {
			t.Errorf("Layout lists %s, which does not exist", name)
		}
	}

	var want []string
	pkgs := packageDirs(t)
	for _, p := range pkgs {
		if strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "cmd/") {
			want = append(want, p)
		}
	}
	// internal/ is grouped by purpose: each folder directly under it is
	// listed (with what its group is for), and holds only packages.
	groups, err := filepath.Glob("internal/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if fi, err := os.Stat(g); err == nil && fi.IsDir() && !slices.Contains(pkgs, g) {
			want = append(want, g)
		}
	}
	for name := range listed {
		if (strings.HasPrefix(name, "internal/") || strings.HasPrefix(name, "cmd/")) && !slices.Contains(pkgs, name) && !slices.Contains(want, name) {
			t.Errorf("Layout lists %s, which is no package of go list ./... nor a group under internal/", name)
		}
	}
	if len(want) < 10 {
		t.Fatalf("go list found only %d packages under internal/ and cmd/: %v", len(want), want)
	}
	if dirs, ok := trackedTopDirs(t); ok {
		want = append(want, dirs...)
	}
	for _, w := range want {
		if !listed[w] {
			t.Errorf("Layout does not list %s", w)
		}
	}
}

// link is one link or image destination and the line it is on.
type link struct {
	dest string
	line int
}

// doc is a parsed Markdown file: its relative path from the repository
// root, its links, and the anchors of its headings.
type doc struct {
	path    string
	links   []link
	anchors []string
}

var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

func parseDoc(t *testing.T, file string) *doc {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	root := markdown.Parser().Parse(text.NewReader(src))
	d := &doc{path: file}
	counts := map[string]int{}
	err = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			slug := anchor(plainText(n, src))
			if c := counts[slug]; c > 0 {
				d.anchors = append(d.anchors, fmt.Sprintf("%s-%d", slug, c))
			} else {
				d.anchors = append(d.anchors, slug)
			}
			counts[slug]++
		case *ast.Link:
			d.links = append(d.links, link{string(n.Destination), lineOf(n, src)})
		case *ast.Image:
			d.links = append(d.links, link{string(n.Destination), lineOf(n, src)})
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// plainText is a heading's text as GitHub reads it for the anchor: text,
// code spans and the text of links and emphasis; no markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				b.Write(c.Segment.Value(src))
				if c.SoftLineBreak() || c.HardLineBreak() {
					b.WriteByte(' ')
				}
			case *ast.String:
				b.Write(c.Value)
			case *ast.RawHTML:
				// tags are dropped
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// anchor is GitHub's anchor for a heading: lower case, punctuation dropped
// (letters, marks, numbers, connector punctuation such as _, spaces and
// hyphens kept), spaces turned into hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lineOf is the line of the first text inside an inline node, or of its
// enclosing block.
func lineOf(n ast.Node, src []byte) int {
	for p := n; p != nil; p = p.Parent() {
		for c := p.FirstChild(); c != nil; c = c.NextSibling() {
			if t, ok := c.(*ast.Text); ok {
				return 1 + bytes.Count(src[:t.Segment.Start], []byte("\n"))
			}
		}
		if p.Type() == ast.TypeBlock && p.Lines().Len() > 0 {
			return 1 + bytes.Count(src[:p.Lines().At(0).Start], []byte("\n"))
		}
	}
	return 0
}

// resolve turns a link destination in file into a path from the repository
// root and a fragment (a bare #fragment targets file itself). An external
// link (http, https, mailto) resolves to "".
func resolve(file, dest string) (target, fragment string, err error) {
	u, err := url.Parse(dest)
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "http", "https", "mailto":
		return "", "", nil
	case "":
	default:
		return "", "", fmt.Errorf("scheme %q is neither relative nor http(s) or mailto", u.Scheme)
	}
	if u.Host != "" {
		return "", "", fmt.Errorf("a host without a scheme")
	}
	fragment = u.Fragment
	if u.Path == "" {
		return file, fragment, nil
	}
	if strings.HasPrefix(u.Path, "/") {
		target = path.Clean(strings.TrimPrefix(u.Path, "/"))
	} else {
		target = path.Join(path.Dir(file), u.Path)
	}
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", "", fmt.Errorf("leaves the repository")
	}
	return target, fragment, nil
}

// markdownFiles lists the repository's Markdown files, relative to its
// root, testdata and hidden folders aside.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "build" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".md") {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// layoutBlock is the code block under README.md's "Layout" heading.
func layoutBlock(t *testing.T, src []byte) string {
	t.Helper()
	root := markdown.Parser().Parse(text.NewReader(src))
	for n := root.FirstChild(); n != nil; n = n.NextSibling() {
		h, ok := n.(*ast.Heading)
		if !ok || h.Level != 2 || plainText(h, src) != "Layout" {
			continue
		}
		for c := h.NextSibling(); c != nil; c = c.NextSibling() {
			if _, ok := c.(*ast.Heading); ok {
				break
			}
			if cb, ok := c.(*ast.FencedCodeBlock); ok {
				return string(cb.Lines().Value(src))
			}
		}
	}
	t.Fatalf("%s has no code block under a \"## Layout\" heading", frontDoor)
	return ""
}

// packageDirs is every package of the module (go list ./...) as a folder
// relative to the repository root.
func packageDirs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(wd, dir)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, filepath.ToSlash(rel))
	}
	return dirs
}

// trackedTopDirs is every top-level folder git tracks a file in, hidden ones
// aside. Without git it reports false, and fails the test under CI=true.
func trackedTopDirs(t *testing.T) ([]string, bool) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not found (CI=true: a missing tool is a failure)")
		}
		t.Log("git not found: top-level folders not checked")
		return nil, false
	}
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var dirs []string
	for _, f := range strings.Split(string(out), "\n") {
		top, _, nested := strings.Cut(f, "/")
		if nested && !strings.HasPrefix(top, ".") && !slices.Contains(dirs, top) {
			dirs = append(dirs, top)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("git ls-files lists no folder")
	}
	return dirs, true
}

// TestAnchorsAndLinks holds the parsing to GitHub's rules on a small
// document: anchors, duplicates numbered, links in code not links.
func TestAnchorsAndLinks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "doc.md")
	src := "# Exit status\n\n## Exit status\n\n### `make plan` (offline)!\n\n## Rehearsal: the real engine, the_real one\n\n" +
		"## Exit status\n\nSee [here](other.md#x) and ![img](a.png).\n\n```\n[not a link](nowhere.md)\n```\n\n    [indented](nowhere.md)\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d := parseDoc(t, file)
	wantAnchors := []string{"exit-status", "exit-status-1", "make-plan-offline", "rehearsal-the-real-engine-the_real-one", "exit-status-2"}
	if !slices.Equal(d.anchors, wantAnchors) {
		t.Errorf("anchors %q, want %q", d.anchors, wantAnchors)
	}
	if len(d.links) != 2 || d.links[0] != (link{"other.md#x", 11}) || d.links[1].dest != "a.png" {
		t.Errorf("links %+v, want other.md#x on line 11 and a.png", d.links)
	}
	for _, tc := range []struct{ dest, target, fragment string }{
		{"#a", "docs/x.md", "a"},
		{"y.md#b", "docs/y.md", "b"},
		{"../README.md", "README.md", ""},
		{"/policy/", "policy", ""},
		{"https://example.com/a.md", "", ""},
		{"mailto:someone@example.com", "", ""},
	} {
		target, fragment, err := resolve("docs/x.md", tc.dest)
		if err != nil || target != tc.target || fragment != tc.fragment {
			t.Errorf("resolve(%q) = %q, %q, %v; want %q, %q", tc.dest, target, fragment, err, tc.target, tc.fragment)
		}
	}
	if _, _, err := resolve("docs/x.md", "../../outside.md"); err == nil {
		t.Error("a link leaving the repository resolved")
	}
}
