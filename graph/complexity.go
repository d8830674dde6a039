package graph

import (
	"context"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit refuses, before execution, an operation whose complexity
// is over limit, as gqlgen's extension.FixedComplexityLimit does (same
// message, same code), but remembers the complexity of an operation that
// has no variables, per document and operation name: it depends on nothing
// else, and walking the document again cost every request (me's among
// them) several allocations. With variables it is computed each time, since
// they may change a list's length.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	known *lru.Cache[complexityKey, int]
}

type complexityKey struct{ query, operation string }

// complexityCacheSize matches the query cache: the documents worth
// remembering a complexity for are those whose parse is remembered.
const complexityCacheSize = 1000

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*complexityLimit)(nil)

func newComplexityLimit(limit int) *complexityLimit {
	known, err := lru.New[complexityKey, int](complexityCacheSize)
	if err != nil {
		panic(err) // only for a size that is not positive
	}
	return &complexityLimit{limit: limit, known: known}
}

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	key := complexityKey{op.RawQuery, op.OperationName}
	// A request without a document text (a persisted query) has no key.
	cacheable := len(op.Variables) == 0 && op.RawQuery != ""
	cost, ok := 0, false
	if cacheable {
		cost, ok = c.known.Get(key)
	}
	if !ok {
		cost = complexity.Calculate(ctx, c.es, op.Doc.Operations.ForName(op.OperationName), op.Variables)
		if cacheable {
			c.known.Add(key, cost)
		}
	}
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}
