// Package metrics is authql's Prometheus instrumentation: the counters an
// operator alerts on, the database pools, the Go runtime and the process,
// served in the Prometheus text format. It implements the narrow observer
// interfaces of the domain (auth.Observer, mail.Observer) and of the GraphQL
// layer, which therefore never import Prometheus.
package metrics

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/mail"
)

// Metrics holds authql's collectors in a registry of its own: nothing that
// registers with Prometheus's global registry leaks into /metrics.
type Metrics struct {
	reg         *prometheus.Registry
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	revoked     *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	mailDepth   prometheus.Gauge
	mailsSent   *prometheus.CounterVec
}

var (
	_ auth.Observer = (*Metrics)(nil)
	_ mail.Observer = (*Metrics)(nil)
)

// MailResults are the outcomes mail.Observer reports.
var MailResults = []string{"sent", "failed", "expired"}

// New builds the collectors. Every label value known in advance (results,
// reasons, rules, operations) is exported from the start at zero, so that a
// rate() or an alert sees the series before its first event.
func New(rateLimitRules, operations []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_logins_total", Help: "Logins by result.",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_token_refreshes_total", Help: "Refresh token presentations by result: rotated, grace (the predecessor within the grace window), reuse_detected (the session was revoked), invalid.",
		}, []string{"result"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_sessions_revoked_total", Help: "Sessions revoked, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_graphql_requests_total", Help: "GraphQL requests by operation: the root field, \"multiple\" for several, \"invalid\" for a request refused before it ran.",
		}, []string{"operation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authql_graphql_request_duration_seconds", Help: "GraphQL request duration by operation (as authql_graphql_requests_total).",
			// Logins spend tens of milliseconds hashing, and may queue for a
			// hasher for seconds.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		mailDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authql_mail_queue_depth", Help: "Mails waiting in the outbox, all instances'.",
		}),
		mailsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authql_mails_sent_total", Help: "Mail delivery attempts by result: sent, failed (retried later), expired (dropped undelivered).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.logins, m.refreshes, m.revoked, m.rateLimited, m.requests, m.duration, m.mailDepth, m.mailsSent,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, v := range auth.LoginResults {
		m.logins.WithLabelValues(v)
	}
	for _, v := range auth.RefreshResults {
		m.refreshes.WithLabelValues(v)
	}
	for _, v := range auth.RevokeReasons {
		m.revoked.WithLabelValues(v)
	}
	for _, v := range rateLimitRules {
		m.rateLimited.WithLabelValues(v)
	}
	for _, v := range operations {
		m.requests.WithLabelValues(v)
		m.duration.WithLabelValues(v)
	}
	for _, v := range MailResults {
		m.mailsSent.WithLabelValues(v)
	}
	return m
}

// AddDB exports the stats of a database pool, named by pool ("write", "read").
func (m *Metrics) AddDB(pool string, db *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, pool))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the collectors are, for tests that read them directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// auth.Observer

func (m *Metrics) Login(result string)   { m.logins.WithLabelValues(result).Inc() }
func (m *Metrics) Refresh(result string) { m.refreshes.WithLabelValues(result).Inc() }
func (m *Metrics) SessionsRevoked(reason string, n int) {
	if n > 0 {
		m.revoked.WithLabelValues(reason).Add(float64(n))
	}
}
func (m *Metrics) RateLimited(rule string) { m.rateLimited.WithLabelValues(rule).Inc() }

// mail.Observer

func (m *Metrics) Sent(result string) { m.mailsSent.WithLabelValues(result).Inc() }
func (m *Metrics) QueueDepth(n int)   { m.mailDepth.Set(float64(n)) }

// GraphQLRequest counts one GraphQL request of operation (a bounded label,
// see graph.Options.Observe) and how long it took.
func (m *Metrics) GraphQLRequest(operation string, took time.Duration) {
	m.requests.WithLabelValues(operation).Inc()
	m.duration.WithLabelValues(operation).Observe(took.Seconds())
}
