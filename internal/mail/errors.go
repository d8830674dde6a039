package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/textproto"

	gomail "github.com/wneessen/go-mail"
)

var errUndecryptable = errors.New("mail: the queued body does not open under this server secret")

// describe classes a failed attempt for the outbox row and the log. The class
// is all that is stored. The detail is logged, and left empty for a server's
// reply to a message, which may quote the recipient's address.
func describe(err error) (class, detail string) {
	if errors.Is(err, errUndecryptable) {
		return "undecryptable", ""
	}
	code := 0
	var se *gomail.SendError
	var tp *textproto.Error
	switch {
	case errors.As(err, &se):
		code = se.ErrorCode()
	case errors.As(err, &tp):
		code = tp.Code
	}
	switch {
	case code >= 400 && code < 500:
		return "smtp_4xx", ""
	case code >= 500 && code < 600:
		return "smtp_5xx", ""
	case se != nil:
		return "smtp", ""
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		class = "timeout"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recordErr):
		class = "tls"
	case errors.As(err, &opErr):
		class = "connect"
	default:
		class = "other"
	}
	return class, err.Error()
}
