package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits bound how much a document may ask of gqlgen's validator before it
// runs. Some of gqlparser's validation rules (OverlappingFieldsCanBeMerged
// above all) are quadratic in the fields and fragments they compare, and gqlgen
// runs them before the complexity limit: a 250 kB document of one alias kept a
// core busy for 25 s. These counts take one linear pass over the parsed
// document, each fragment measured once, and then, for a document within
// them, a pass over its fields with fragments spread out (at most Fields).
//
// The defaults leave room above every legitimate request of the schema
// (TestLegitimateDocumentsMeasure): the largest are GraphiQL's introspection
// query (2 kB, 181 tokens, 468 fields counting its fragments, 15 levels
// deep), sixty aliased logins asking the whole payload (12 kB, 1743 tokens,
// 660 fields) and four hundred aliased logouts (9.5 kB, 3609 tokens, 400
// aliases). None has two fields of one response name in a selection.
type Limits struct {
	// Bytes bounds the length of the document: lexing some single tokens (a
	// block string of a million lines) costs far more than their count says.
	Bytes int
	// Tokens bounds the lexer and the parser (comments count).
	Tokens int
	// Fields counts the fields of every operation and every fragment
	// definition with its fragments spread out: what the validator and the
	// executor walk.
	Fields int
	// Overlaps counts the pairs of fields that share a response name in one
	// selection set (through fragments, the selections of such fields merged
	// and counted the same way): the pairs OverlappingFieldsCanBeMerged
	// compares. Legitimate documents have next to none.
	Overlaps int
	// Aliases counts aliased fields as written.
	Aliases int
	// Fragments counts fragment definitions and inline fragments.
	Fragments int
	// Spreads counts fragment spreads as written.
	Spreads int
	// Depth is how deep fields nest, through fragments.
	Depth int
	// Directives counts directives as written.
	Directives int
	// Operations counts the operations of the document.
	Operations int
	// Variables counts variable definitions.
	Variables int
	// Values counts arguments and variable defaults, and every item and field
	// of the values given to them.
	Values int
	// Errors bounds the validation errors answered; one more says how many
	// were left out.
	Errors int
}

// DefaultLimits fit the schema's legitimate requests (see Limits).
var DefaultLimits = Limits{
	Bytes:      32 << 10,
	Tokens:     10_000,
	Fields:     2000,
	Overlaps:   1000,
	Aliases:    1000,
	Fragments:  50,
	Spreads:    100,
	Depth:      20,
	Directives: 50,
	Operations: 20,
	Variables:  50,
	Values:     1000,
	Errors:     20,
}

// orDefaults fills the limits left at zero from DefaultLimits: a zero limit
// never means unlimited.
func (l Limits) orDefaults() Limits {
	pick := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	d := DefaultLimits
	return Limits{
		Bytes: pick(l.Bytes, d.Bytes), Tokens: pick(l.Tokens, d.Tokens), Fields: pick(l.Fields, d.Fields), Overlaps: pick(l.Overlaps, d.Overlaps),
		Aliases:   pick(l.Aliases, d.Aliases),
		Fragments: pick(l.Fragments, d.Fragments), Spreads: pick(l.Spreads, d.Spreads), Depth: pick(l.Depth, d.Depth),
		Directives: pick(l.Directives, d.Directives), Operations: pick(l.Operations, d.Operations),
		Variables: pick(l.Variables, d.Variables), Values: pick(l.Values, d.Values), Errors: pick(l.Errors, d.Errors),
	}
}

// documentLimits refuses, before gqlgen parses and validates a document, one
// over the Limits. A document already in the query cache passed them.
type documentLimits struct {
	limits Limits
	cache  graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if _, ok := d.cache.Get(ctx, params.Query); ok {
		return nil
	}
	return d.limits.check(params.Query)
}

// check parses query (so a cache miss parses twice: parsing is linear and
// cheap next to what it guards) and measures it against the limits.
func (l Limits) check(query string) *gqlerror.Error {
	if len(query) > l.Bytes {
		return tooComplex("the query is longer than %d bytes", l.Bytes)
	}
	if n := countTokens(query, l.Tokens); n > l.Tokens {
		return tooComplex("the query is longer than %d tokens", l.Tokens)
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.Tokens)
	if err != nil {
		// The very error gqlgen's own parse would answer.
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Wrap(err)
		}
		errcode.Set(gqlErr, CodeParseFailed)
		return gqlErr
	}
	m := newMeasurer(doc)
	s := m.measure(doc)
	if m.cycle != "" {
		err := gqlerror.Errorf("Cannot spread fragment %q within itself.", m.cycle)
		errcode.Set(err, CodeValidationFailed)
		return err
	}
	for _, c := range []struct {
		n, limit int
		what     string
	}{
		{len(doc.Operations), l.Operations, "operations"},
		{s.variables, l.Variables, "variables"},
		{s.fragments, l.Fragments, "fragments (definitions and inline fragments)"},
		{s.spreads, l.Spreads, "fragment spreads"},
		{s.directives, l.Directives, "directives"},
		{s.values, l.Values, "argument values"},
		{s.aliases, l.Aliases, "aliases"},
		{s.fields, l.Fields, "fields (fragments spread out)"},
		{s.depth, l.Depth, "levels of nested fields"},
	} {
		if c.n > c.limit {
			return tooComplex("the query has more than %d %s", c.limit, c.what)
		}
	}
	// Only now, with the fields spread out bounded, spread them out.
	if n := m.overlaps(doc); n > l.Overlaps {
		return tooComplex("the query has more than %d pairs of fields of the same name in one selection", l.Overlaps)
	}
	return nil
}

func tooComplex(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, CodeQueryTooComplex)
	return err
}

// countTokens counts the tokens of query as the parser does, comments
// included, stopping past limit. A lexical error ends the count: the parser
// reports it.
func countTokens(query string, limit int) int {
	lex := lexer.New(&ast.Source{Input: query})
	n := 0
	for n <= limit {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		n++
	}
	return n
}

// shape is what measure counts of a document.
type shape struct {
	fields, aliases, fragments, spreads, depth, directives, variables, values int
}

// extent is the size of a selection set with its fragments spread out.
type extent struct{ fields, depth int }

type measurer struct {
	defs    map[string]*ast.FragmentDefinition
	extents map[string]extent
	open    map[string]bool // fragments being measured
	cycle   string          // a fragment that spreads itself
	shape
}

func newMeasurer(doc *ast.QueryDocument) *measurer {
	m := &measurer{
		defs:    make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		extents: make(map[string]extent, len(doc.Fragments)),
		open:    make(map[string]bool),
	}
	for _, f := range doc.Fragments {
		if _, ok := m.defs[f.Name]; !ok { // the first of a duplicate name, as gqlparser
			m.defs[f.Name] = f
		}
	}
	return m
}

// measure counts the shape of doc in time linear in its size, however its
// fragments spread one another: each is measured once.
func (m *measurer) measure(doc *ast.QueryDocument) shape {
	m.fragments = len(doc.Fragments)
	for _, op := range doc.Operations {
		m.variables += len(op.VariableDefinitions)
		for _, v := range op.VariableDefinitions {
			m.directives += len(v.Directives)
			if v.DefaultValue != nil {
				m.value(v.DefaultValue)
			}
		}
		m.directives += len(op.Directives)
		m.written(op.SelectionSet)
		e := m.extent(op.SelectionSet)
		m.fields = add(m.fields, e.fields)
		m.depth = max(m.depth, e.depth)
	}
	for _, f := range doc.Fragments {
		m.directiveList(f.Directives)
		m.written(f.SelectionSet)
		e := m.extent(f.SelectionSet)
		m.fields = add(m.fields, e.fields)
		m.depth = max(m.depth, e.depth)
	}
	return m.shape
}

// written counts what set says as written: aliases, inline fragments,
// spreads, directives, argument values.
func (m *measurer) written(set ast.SelectionSet) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != s.Name {
				m.aliases++
			}
			m.directiveList(s.Directives)
			for _, a := range s.Arguments {
				m.value(a.Value)
			}
			m.written(s.SelectionSet)
		case *ast.InlineFragment:
			m.fragments++
			m.directiveList(s.Directives)
			m.written(s.SelectionSet)
		case *ast.FragmentSpread:
			m.spreads++
			m.directiveList(s.Directives)
		}
	}
}

func (m *measurer) directiveList(list ast.DirectiveList) {
	m.directives += len(list)
	for _, d := range list {
		for _, a := range d.Arguments {
			m.value(a.Value)
		}
	}
}

func (m *measurer) value(v *ast.Value) {
	m.values++
	for _, c := range v.Children {
		m.value(c.Value)
	}
}

// extent measures set with its fragments spread out.
func (m *measurer) extent(set ast.SelectionSet) extent {
	var e extent
	for _, sel := range set {
		var sub extent
		switch s := sel.(type) {
		case *ast.Field:
			sub = m.extent(s.SelectionSet)
			sub.fields, sub.depth = add(sub.fields, 1), sub.depth+1
		case *ast.InlineFragment:
			sub = m.extent(s.SelectionSet)
		case *ast.FragmentSpread:
			sub = m.fragment(s.Name)
		}
		e.fields = add(e.fields, sub.fields)
		e.depth = max(e.depth, sub.depth)
	}
	return e
}

func (m *measurer) fragment(name string) extent {
	if e, ok := m.extents[name]; ok {
		return e
	}
	def := m.defs[name]
	if def == nil {
		return extent{} // validation refuses it
	}
	if m.open[name] {
		m.cycle = name
		return extent{}
	}
	m.open[name] = true
	e := m.extent(def.SelectionSet)
	delete(m.open, name)
	m.extents[name] = e
	return e
}

// overlaps counts the pairs of fields of doc that OverlappingFieldsCanBeMerged
// compares (see Limits.Overlaps). It spreads fragments out: call it only on a
// document without cycles and within Limits.Fields.
func (m *measurer) overlaps(doc *ast.QueryDocument) int {
	n := 0
	for _, op := range doc.Operations {
		n = add(n, m.merged([]ast.SelectionSet{op.SelectionSet}))
	}
	for _, f := range doc.Fragments {
		n = add(n, m.merged([]ast.SelectionSet{f.SelectionSet}))
	}
	return n
}

// merged counts the pairs of fields of one response name in sets taken as
// one selection, and then in the merged selections of each response name.
func (m *measurer) merged(sets []ast.SelectionSet) int {
	count := make(map[string]int)
	subs := make(map[string][]ast.SelectionSet)
	var collect func(ast.SelectionSet)
	collect = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				count[s.Alias]++
				if len(s.SelectionSet) > 0 {
					subs[s.Alias] = append(subs[s.Alias], s.SelectionSet)
				}
			case *ast.InlineFragment:
				collect(s.SelectionSet)
			case *ast.FragmentSpread:
				if def := m.defs[s.Name]; def != nil {
					collect(def.SelectionSet)
				}
			}
		}
	}
	for _, set := range sets {
		collect(set)
	}
	n := 0
	for _, c := range count {
		n = add(n, c*(c-1)/2)
	}
	for _, sub := range subs {
		n = add(n, m.merged(sub))
	}
	return n
}

// add saturates: a fragment that spreads another twice, forty times over,
// counts 2^40 fields, which must not wrap around.
func add(a, b int) int {
	const most = 1 << 40
	return min(a+b, most)
}
