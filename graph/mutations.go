package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// RepeatLimitError refuses an execution of a root mutation field past the
// most one request may run: each further alias answers it without running
// (no password hashed, no row written). It is a rate limit of one request, so
// a client retries the refused fields in another.
type RepeatLimitError struct {
	Field string
	Most  int
}

func (e *RepeatLimitError) Error() string {
	return fmt.Sprintf("graph: %s run more than %d times in one request", e.Field, e.Most)
}

// mutationRuns counts the executions of each root mutation field of one request.
type mutationRuns struct {
	mu sync.Mutex
	n  map[string]int
}

type mutationRunsKey struct{}

// countMutationRuns gives each mutation its counts of root field executions.
func countMutationRuns(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Mutation {
		ctx = context.WithValue(ctx, mutationRunsKey{}, &mutationRuns{n: make(map[string]int)})
	}
	return next(ctx)
}

// boundMutationRuns lets at most most executions of each root mutation field
// of a request reach its directives and resolver. It runs before @auth.
func boundMutationRuns(most int) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		runs, ok := ctx.Value(mutationRunsKey{}).(*mutationRuns)
		fc := graphql.GetFieldContext(ctx)
		if !ok || fc == nil || fc.Object != "Mutation" {
			return next(ctx)
		}
		runs.mu.Lock()
		runs.n[fc.Field.Name]++
		n := runs.n[fc.Field.Name]
		runs.mu.Unlock()
		if n > most {
			return nil, &RepeatLimitError{Field: fc.Field.Name, Most: most}
		}
		return next(ctx)
	}
}
