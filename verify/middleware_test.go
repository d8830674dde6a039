package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestMiddleware(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	valid := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claimsAt(clock.Now()), nil)
	expired := claimsAt(clock.Now())
	expired["exp"] = clock.Now().Unix() - 1
	invalid := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", expired, nil)

	tests := []struct {
		name          string
		authorization string // "" sends no header
		wantClaims    bool
		// RequireAuth: 0 means next is called (200).
		wantStatus    int
		wantChallenge string
	}{
		{"no header", "", false, http.StatusUnauthorized, "Bearer"},
		{"valid token", "Bearer " + valid, true, 0, ""},
		{"lower-case scheme", "bearer " + valid, true, 0, ""},
		{"upper-case scheme, extra space", "BEARER  " + valid, true, 0, ""},
		{"expired token", "Bearer " + invalid, false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"garbage token", "Bearer xyz", false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"other scheme", "Basic dXNlcjpwYXNz", false, http.StatusUnauthorized, "Bearer"},
		{"scheme without token", "Bearer", false, http.StatusUnauthorized, "Bearer"},
	}
	for _, tt := range tests {
		newRequest := func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/query", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			return r
		}
		// next records whether it ran and with which claims.
		var called bool
		var claims *Claims
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			claims, _ = ClaimsFromContext(r.Context())
		})

		t.Run("Middleware/"+tt.name, func(t *testing.T) {
			called, claims = false, nil
			v.Middleware(next).ServeHTTP(httptest.NewRecorder(), newRequest())
			if !called {
				t.Fatal("next not called")
			}
			if (claims != nil) != tt.wantClaims {
				t.Fatalf("claims = %+v, want claims: %v", claims, tt.wantClaims)
			}
			if claims != nil && claims.Subject != "user-1" {
				t.Errorf("subject = %q", claims.Subject)
			}
		})

		t.Run("RequireAuth/"+tt.name, func(t *testing.T) {
			called, claims = false, nil
			rec := httptest.NewRecorder()
			v.RequireAuth(next).ServeHTTP(rec, newRequest())
			if tt.wantStatus == 0 {
				if !called || claims == nil || rec.Code != http.StatusOK {
					t.Fatalf("called=%v claims=%v status=%d; want next called with claims", called, claims, rec.Code)
				}
				return
			}
			if called {
				t.Fatal("next called for an unauthenticated request")
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
		})
	}
}

func TestClaimsFromContext(t *testing.T) {
	if c, ok := ClaimsFromContext(context.Background()); ok || c != nil {
		t.Errorf("empty context: %v, %v", c, ok)
	}
	if _, ok := ClaimsFromContext(ContextWithClaims(context.Background(), nil)); ok {
		t.Error("nil claims reported as present")
	}
	want := &Claims{Subject: "u"}
	if c, ok := ClaimsFromContext(ContextWithClaims(context.Background(), want)); !ok || c != want {
		t.Errorf("got %v, %v", c, ok)
	}
}
