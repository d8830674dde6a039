// Package graphtest holds GraphQL documents that the tests of the graph
// package and the end-to-end tests share: pathological shapes of every kind
// an attacker may send, and the largest legitimate documents.
package graphtest

import (
	"fmt"
	"strings"
)

// Shape is one kind of pathological document.
type Shape struct {
	Name string
	// Build writes the document at size bytes or a little less once
	// JSON-encoded; shapes nesting or spreading past a limit have one size.
	Build func(size int) string
	// Code is the code of the refusal of a document of this shape as large
	// as the body limit allows.
	Code string
}

// Codes the shapes are refused with.
const (
	CodeTooComplex = "COMPLEXITY_LIMIT_EXCEEDED"
	CodeParse      = "GRAPHQL_PARSE_FAILED"
	CodeValidation = "GRAPHQL_VALIDATION_FAILED"
)

// jsonLen is how long s is as a JSON string, without its quotes: the
// shapes use no character that JSON escapes at more than two bytes.
func jsonLen(s string) int {
	return len(s) + strings.Count(s, "\n") + strings.Count(s, `"`) + strings.Count(s, `\`)
}

// fill repeats unit (formatted with its index when it has a %d) between head
// and tail up to size.
func fill(head, unit, tail string) func(size int) string {
	return func(size int) string {
		var b strings.Builder
		b.WriteString(head)
		n := jsonLen(head) + jsonLen(tail)
		for i := 0; ; i++ {
			u := unit
			if strings.Contains(unit, "%d") {
				u = fmt.Sprintf(unit, i)
			}
			if n+jsonLen(u) > size {
				break
			}
			b.WriteString(u)
			n += jsonLen(u)
		}
		b.WriteString(tail)
		return b.String()
	}
}

// nest opens open levels times around mid.
func nest(levels int, head, open, mid, close, tail string) func(int) string {
	doc := head + strings.Repeat(open, levels) + mid + strings.Repeat(close, levels) + tail
	return func(int) string { return doc }
}

func fixed(doc string) func(int) string { return func(int) string { return doc } }

// fragments spreads as many fragments as fit.
func fragments(size int) string {
	var b strings.Builder
	b.WriteString("{")
	n := size / 50
	for i := range n {
		fmt.Fprintf(&b, " ...f%d", i)
	}
	b.WriteString(" }")
	for i := range n {
		fmt.Fprintf(&b, " fragment f%d on Query { __typename }", i)
	}
	return b.String()
}

// bomb spreads 2^40 fields from 41 fragments.
func bomb() string {
	var b strings.Builder
	b.WriteString("{ ...f0 }")
	for i := range 40 {
		fmt.Fprintf(&b, " fragment f%d on Query { ...f%d ...f%d }", i, i+1, i+1)
	}
	b.WriteString(" fragment f40 on Query { __typename }")
	return b.String()
}

// Shapes are the pathological shapes.
func Shapes() []Shape {

	return []Shape{
		// Aliases: the reported attack, quadratic in OverlappingFieldsCanBeMerged.
		{"same alias", fill("{", " a:__typename", " }"), CodeTooComplex},
		{"distinct aliases", fill("{", " a%d:__typename", " }"), CodeTooComplex},
		{"repeated field", fill("{", " __typename", " }"), CodeTooComplex},
		{"aliases with selections", fill("{", " a:me{id}", " }"), CodeTooComplex},
		{"aliases with arguments", fill("{", " a:myAuditEvents(first:%d){pageInfo{hasNextPage}}", " }"), CodeTooComplex},
		{"unterminated", fill("{", " a:__typename", ""), CodeTooComplex},
		// Fragments.
		{"fragments", fragments, CodeTooComplex},
		{"fragment spreads", fill("{", " ...f", " } fragment f on Query { __typename }"), CodeTooComplex},
		{"fragment bomb", fixed(bomb()), CodeTooComplex},
		{"fragment cycle", fixed("{ ...a } fragment a on Query { ...b } fragment b on Query { ...a }"), CodeValidation},
		{"inline fragments", fill("{", " ... on Query { __typename }", " }"), CodeTooComplex},
		{"nested inline fragments", nest(1200, "{", " ... on Query {", " __typename", " }", " }"), CodeParse},
		// Depth.
		{"nested selections", fill("{", " a {", " }"), CodeTooComplex},
		{"selections past the parser's nesting limit", nest(1200, "{", " a {", " b", " }", " }"), CodeParse},
		{"selections within the parser's nesting limit", nest(990, "{", " a {", " b", " }", " }"), CodeTooComplex},
		{"deep introspection", nest(400, "{ __schema { types { fields { type", " { ofType", " { name }", " }", " } } } }"), CodeTooComplex},
		// Operations and variables.
		{"operations", fill("", "query q%d { __typename } ", ""), CodeTooComplex},
		{"anonymous operations", fill("", "{ __typename } ", ""), CodeTooComplex},
		{"variables", fill("query(", "$v%d: Int ", ") { __typename }"), CodeTooComplex},
		{"variable default", fill("query($v: [Int] = [", "1 ", "]) { __typename }"), CodeTooComplex},
		// Arguments.
		{"long argument list", fill("{ __typename(", "a:1 ", ") }"), CodeTooComplex},
		{"wide list argument", fill("{ myAuditEvents(first: [", "1 ", "]) { pageInfo { hasNextPage } } }"), CodeTooComplex},
		{"wide object argument", fill("{ myAuditEvents(after: {", "a%d:1 ", "}) { pageInfo { hasNextPage } } }"), CodeTooComplex},
		{"list past the parser's nesting limit", nest(1200, "{ myAuditEvents(first: ", "[", "1", "]", ") { pageInfo { hasNextPage } } }"), CodeParse},
		{"list within the parser's nesting limit", nest(990, "{ myAuditEvents(first: ", "[", "1", "]", ") { pageInfo { hasNextPage } } }"), CodeValidation},
		{"object past the parser's nesting limit", nest(1100, "{ myAuditEvents(after: ", "{a:", "1", "}", ") { pageInfo { hasNextPage } } }"), CodeParse},
		// Directives.
		{"directives", fill("{ __typename", " @skip(if: false)", " }"), CodeTooComplex},
		{"unknown directives", fill("{ __typename", " @d%d", " }"), CodeTooComplex},
		// Tokens cheap one by one, and single large tokens.
		{"comments", fill("", "#\n", "{ __typename }"), CodeTooComplex},
		{"punctuation", fill("{ __typename(a: [", "[] ", "]) }"), CodeTooComplex},
		{"long string", fill(`{ __typename(a: "`, "x", `") }`), CodeTooComplex},
		{"long block string", fill(`{ __typename(a: """`, "x\n", `""") }`), CodeTooComplex},
		{"long comment", fill("#", "x", "\n{ __typename }"), CodeTooComplex},
		{"whitespace", fill("{ __typename", " ", " }"), CodeTooComplex},
		{"commas", fill("{ __typename", ",", " }"), CodeTooComplex},
		// Within every count, wrong everywhere: validation errors are capped.
		{"unknown fields", fill("{", " m%d", " }"), CodeTooComplex},
		{"unknown fields within the limits", fixed("{" + fill("", " m%d", "")(2380) + " }"), CodeValidation},
		{"one unknown field repeated", fixed("{" + strings.Repeat(" mee", 499) + " }"), CodeTooComplex},
	}
}
