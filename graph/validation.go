package graph

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// validationRules is gqlparser's rule set as this server runs it. With
// introspection off, no rule suggests names ("Did you mean ...?"), which would
// spell the schema out, and __schema and __type are refused here, before
// execution, rather than failing as unexpected errors at run time. Either way
// at most maxErrors errors are answered, and one more saying so: a document
// within the Limits can still be wrong in hundreds of places.
//
// The rules keep the names gqlgen looks for when it swaps its suggestion rules
// in or out (SetDisableSuggestion), so that it leaves these in place.
func validationRules(introspection bool, maxErrors int) func() *rules.Rules {
	return func() *rules.Rules {
		set := rules.NewDefaultRules()
		if !introspection {
			for _, swap := range [][2]core.Rule{
				{rules.FieldsOnCorrectTypeRule, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
				{rules.KnownArgumentNamesRule, rules.KnownArgumentNamesRuleWithoutSuggestions},
				{rules.KnownTypeNamesRule, rules.KnownTypeNamesRuleWithoutSuggestions},
				{rules.ScalarLeafsRule, rules.ScalarLeafsRuleWithoutSuggestions},
				{rules.ValuesOfCorrectTypeRule, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
			} {
				set.RemoveRule(swap[0].Name)
				set.AddRule(swap[1].Name, swap[1].RuleFunc)
			}
			set.AddRule(noIntrospection.Name, noIntrospection.RuleFunc)
		}
		reported := 0
		capped := rules.NewRules()
		for name, rule := range set.GetInner() {
			capped.AddRule(name, func(observers *core.Events, addError core.AddErrFunc) {
				rule(observers, func(options ...core.ErrorOption) {
					reported++
					switch {
					case reported <= maxErrors:
						addError(options...)
					case reported == maxErrors+1:
						addError(core.Message("too many validation errors: only the first %d are reported", maxErrors))
					}
				})
			})
		}
		return capped
	}
}

// noIntrospection refuses the introspection fields; __typename stays.
var noIntrospection = core.Rule{
	Name: "NoIntrospection",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnField(func(_ *core.Walker, field *ast.Field) {
			if field.Name == "__schema" || field.Name == "__type" {
				addError(core.Message("introspection is disabled"), core.At(field.Position))
			}
		})
	},
}
