package graph

import (
	"github.com/authql/authql/graph/model"
	"github.com/authql/authql/internal/auth"
)

// auditConnection shapes a page of audit events as a GraphQL connection.
func auditConnection(page *auth.AuditPage, err error) (*model.AuditEventConnection, error) {
	if err != nil {
		return nil, err
	}
	conn := &model.AuditEventConnection{
		Edges:    make([]*model.AuditEventEdge, len(page.Events)),
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage},
	}
	for i := range page.Events {
		conn.Edges[i] = &model.AuditEventEdge{Cursor: auth.EncodeCursor(page.Events[i].ID), Node: &page.Events[i]}
	}
	if page.EndCursor != "" {
		conn.PageInfo.EndCursor = &page.EndCursor
	}
	return conn, nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
