package mail

import (
	"bytes"
	"errors"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
)

// The links carry the token in the fragment, which browsers never send: it
// reaches neither a server log nor a Referer header.
const (
	verifyPath = "/verify-email#token="
	resetPath  = "/reset-password#token="
)

type content struct {
	subject string
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// The text part puts the link on a line of its own, so that any client makes
// it clickable and a reader can copy it whole.
var (
	verifyContent = content{
		subject: "Verify your email address",
		text: texttemplate.Must(texttemplate.New("verify").Parse(`Hello,

please confirm that {{.To}} is your email address by opening this link:

{{.Link}}

The link can be used once, for a limited time. If you did not create an account, you can ignore this mail.
`)),
		html: htmltemplate.Must(htmltemplate.New("verify").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Verify your email address</title></head>
<body>
<p>Hello,</p>
<p>please confirm that {{.To}} is your email address:</p>
<p><a href="{{.Link}}">Verify my email address</a></p>
<p>Or copy this link into your browser:<br>{{.Link}}</p>
<p>The link can be used once, for a limited time. If you did not create an account, you can ignore this mail.</p>
</body></html>
`)),
	}
	resetContent = content{
		subject: "Reset your password",
		text: texttemplate.Must(texttemplate.New("reset").Parse(`Hello,

someone asked to reset the password of the account of {{.To}}. To choose a new password, open this link:

{{.Link}}

The link can be used once, for a limited time. If you did not ask for this, you can ignore this mail: your password stays as it is.
`)),
		html: htmltemplate.Must(htmltemplate.New("reset").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Reset your password</title></head>
<body>
<p>Hello,</p>
<p>someone asked to reset the password of the account of {{.To}}.</p>
<p><a href="{{.Link}}">Choose a new password</a></p>
<p>Or copy this link into your browser:<br>{{.Link}}</p>
<p>The link can be used once, for a limited time. If you did not ask for this, you can ignore this mail: your password stays as it is.</p>
</body></html>
`)),
	}
)

// VerificationMail is the mail that proves an address: its link is
// <appURL>/verify-email#token=<token>.
func VerificationMail(appURL, to, token string) (Message, error) {
	return verifyContent.build(KindVerifyEmail, appURL, verifyPath, to, token)
}

// ResetMail is the mail that lets an account's owner choose a new password:
// its link is <appURL>/reset-password#token=<token>.
func ResetMail(appURL, to, token string) (Message, error) {
	return resetContent.build(KindPasswordReset, appURL, resetPath, to, token)
}

func (c content) build(kind, appURL, path, to, token string) (Message, error) {
	base, err := url.Parse(appURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.RawQuery != "" || base.Fragment != "" {
		return Message{}, errors.New("mail: the app URL must be an absolute http(s) URL without query or fragment")
	}
	if addr, err := netmail.ParseAddress(to); err != nil || addr.Address != to || addr.Name != "" {
		return Message{}, errors.New("mail: the recipient must be a bare email address")
	}
	if token == "" {
		return Message{}, errors.New("mail: no token")
	}
	data := struct{ To, Link string }{
		To:   to,
		Link: strings.TrimRight(appURL, "/") + path + url.QueryEscape(token),
	}
	var text, html bytes.Buffer
	if err := c.text.Execute(&text, data); err != nil {
		return Message{}, err
	}
	if err := c.html.Execute(&html, data); err != nil {
		return Message{}, err
	}
	return Message{Kind: kind, To: to, Subject: c.subject, Text: text.String(), HTML: html.String()}, nil
}
