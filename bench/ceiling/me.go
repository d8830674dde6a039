package ceiling

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"
)

// MeHandler answers any request as authql answers { me { id email } }, doing
// only what that cannot skip: the HS256 check of the bearer token (alg, typ
// aside, signature, iss, aud, exp) and one primary-key read of its subject.
// It does not check the session: that is the work authql must fold in.
func MeHandler(db *gorm.DB, secret []byte, issuer, audience string) http.Handler {
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired())
	key := func(*jwt.Token) (any, error) { return secret, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var claims jwt.RegisteredClaims
		if !ok {
			unauthenticated(w)
			return
		}
		if _, err := parser.ParseWithClaims(raw, &claims, key); err != nil {
			unauthenticated(w)
			return
		}
		var u struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if err := db.WithContext(r.Context()).Table("users").Select("id", "email").Where("id = ?", claims.Subject).Take(&u).Error; err != nil {
			unauthenticated(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"me": u}})
	})
}

func unauthenticated(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"errors":[{"message":"unauthenticated","extensions":{"code":"UNAUTHENTICATED"}}],"data":null}`)
}
