package store

// DefaultMaxConns is the size of a MySQL store's connection pool unless
// WithMaxConns says otherwise. Measured on 2 cores: rotations peaked at about
// 8 connections and more only added lock waits and tail latency; 16 leaves
// room for reads beside them.
const DefaultMaxConns = 16

// WithMaxConns bounds a MySQL store's connections (open and idle) at n: the
// server's max_connections must cover every instance's n. SQLite ignores it:
// its one writer connection is what bounds it, and its read pool follows the
// cores.
func WithMaxConns(n int) Option {
	return func(o *options) { o.maxConns = n }
}
