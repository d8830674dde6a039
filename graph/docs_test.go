package graph

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/errcode"
)

// TestAPIReferenceDocumentsEveryCode: every code of codes.go appears in the
// error table of docs/api.md, and every root field of the schema among its
// operations.
func TestAPIReferenceDocumentsEveryCode(t *testing.T) {
	raw, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	_, codesSection, _ := strings.Cut(doc, "\n## Error codes\n")
	codesSection, _, _ = strings.Cut(codesSection, "\n## ")
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	gqlgens := map[string]string{"ParseFailed": errcode.ParseFailed, "ValidationFailed": errcode.ValidationFailed}
	var n int
	ast.Inspect(f, func(node ast.Node) bool {
		spec, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for _, v := range spec.Values {
			var code string
			switch v := v.(type) {
			case *ast.BasicLit:
				code, _ = strconv.Unquote(v.Value)
			case *ast.SelectorExpr:
				code = gqlgens[v.Sel.Name]
			}
			if code == "" {
				t.Errorf("codes.go: a code the test cannot read: %#v", v)
				continue
			}
			n++
			if !strings.Contains(codesSection, "| `"+code+"` |") {
				t.Errorf("%s is not in docs/api.md's error table", code)
			}
		}
		return true
	})
	if n < 15 {
		t.Fatalf("read only %d codes", n)
	}
	_, ops, _ := strings.Cut(doc, "\n## Operations\n")
	ops, _, _ = strings.Cut(ops, "\n## Error codes\n")
	for _, name := range Operations() {
		if name == OperationMultiple || name == OperationInvalid || name == OperationIntrospection {
			continue
		}
		if !strings.Contains(ops, "| `"+name+":") && !strings.Contains(ops, "| `"+name+"(") {
			t.Errorf("operation %s is not in docs/api.md", name)
		}
	}
}
