package graph

import (
	"slices"

	"github.com/vektah/gqlparser/v2/ast"
)

// The labels of an operation that is not one root field.
const (
	OperationMultiple      = "multiple"      // several root fields
	OperationInvalid       = "invalid"       // refused before it ran: no operation to name
	OperationIntrospection = "introspection" // __schema, __type, __typename
)

func init() {
	// gqlparser declares @defer in every schema it loads, but authql neither
	// declares nor supports it: the served schema is schema.graphql's alone,
	// and a document using @defer is refused by validation.
	delete(parsedSchema.Directives, "defer")
}

// Operations are every label operationLabel gives: the root fields of the
// schema, then the fixed ones.
func Operations() []string {
	var out []string
	for _, def := range []*ast.Definition{parsedSchema.Query, parsedSchema.Mutation} {
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if !isIntrospection(f.Name) {
				out = append(out, f.Name)
			}
		}
	}
	slices.Sort(out)
	return append(out, OperationMultiple, OperationInvalid, OperationIntrospection)
}

// operationLabel names a validated operation for metrics and traces: its
// root field, whatever alias or fragment the client wrapped it in, never
// anything a client can choose freely (operation names, aliases).
func operationLabel(op *ast.OperationDefinition) string {
	if op == nil {
		return OperationInvalid
	}
	names := map[string]bool{}
	collectRootFields(op.SelectionSet, names, 0)
	switch len(names) {
	case 0:
		return OperationInvalid
	case 1:
		for name := range names {
			if isIntrospection(name) {
				return OperationIntrospection
			}
			return name
		}
	}
	return OperationMultiple
}

// collectRootFields gathers the field names of a root selection set,
// through fragments (validation has refused cycles; depth bounds them anyway).
func collectRootFields(set ast.SelectionSet, into map[string]bool, depth int) {
	if depth > 16 {
		return
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			into[s.Name] = true
		case *ast.InlineFragment:
			collectRootFields(s.SelectionSet, into, depth+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				collectRootFields(s.Definition.SelectionSet, into, depth+1)
			}
		}
	}
}

func isIntrospection(name string) bool { return len(name) > 2 && name[:2] == "__" }
