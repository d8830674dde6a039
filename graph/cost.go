package graph

import (
	"math"

	"github.com/authql/authql/internal/auth"
)

// DefaultMaxSessions is the most live sessions a user has unless the service
// says otherwise (Options.MaxSessions): the length of a sessions list.
const DefaultMaxSessions = 100

// listCosts makes each list field cost its fields once per item it may hold,
// so that the complexity limit bounds what a query returns and not only how
// it is written: gqlgen counts a list's selection once whatever its length.
func listCosts(c *ComplexityRoot, maxSessions int) {
	c.Query.Sessions = func(child int) int { return listCost(maxSessions, child) }
	c.Query.MyAuditEvents = func(child int, first *int, _ *string) int {
		n := 20 // the schema's default
		if first != nil {
			// Outside [0, MaxAuditPage] the resolver refuses the argument
			// (BAD_USER_INPUT) before any row is read.
			n = min(max(*first, 0), auth.MaxAuditPage)
		}
		return listCost(n, child)
	}
}

// listCost is the field itself plus n times its selection, saturating.
func listCost(n, child int) int {
	if n > 0 && child > (math.MaxInt-1)/n {
		return math.MaxInt
	}
	return 1 + n*child
}
