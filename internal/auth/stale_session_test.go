package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/totp"
)

// TestOperationsRefuseSessionRevokedAfterCheck: an operation whose @auth
// check passed, and whose session was revoked before its transaction ran (a
// logout on another device in between), is UNAUTHENTICATED and changes
// nothing: it either commits before the revocation or sees it.
func TestOperationsRefuseSessionRevokedAfterCheck(t *testing.T) {
	ctx := context.Background()
	c := auth.Client{}
	// enroll starts an enrollment from the account's other session and
	// returns its secret; confirm completes it.
	enroll := func(t *testing.T, f *fixture, a *account) string {
		t.Helper()
		e, err := f.svc.EnrollTOTP(ctx, c, f.principal(t, a.second))
		if err != nil {
			t.Fatal(err)
		}
		return e.Secret
	}
	code := func(t *testing.T, f *fixture, secret string) string {
		t.Helper()
		f.clock.Advance(30 * time.Second) // a step of its own: never a replay
		s, err := totp.Code(secret, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mfaOn := func(t *testing.T, f *fixture, a *account) bool {
		t.Helper()
		u, err := f.store.UserByEmail(ctx, a.email)
		if err != nil {
			t.Fatal(err)
		}
		return u.MFAEnabled
	}
	tests := []struct {
		name string
		// setup prepares the account from its other session; op runs with the
		// stale principal; after asserts that nothing changed.
		setup func(t *testing.T, f *fixture, a *account) string
		op    func(t *testing.T, f *fixture, p auth.Principal, secret string) error
		after func(t *testing.T, f *fixture, a *account, secret string)
	}{
		{"enrollTotp", nil,
			func(_ *testing.T, f *fixture, p auth.Principal, _ string) error {
				_, err := f.svc.EnrollTOTP(ctx, c, p)
				return err
			},
			func(t *testing.T, f *fixture, a *account, _ string) {
				// No pending factor was stored for the other session to confirm.
				if _, err := f.svc.ConfirmTOTP(ctx, c, f.principal(t, a.second), "000000"); !errors.Is(err, auth.ErrNoTOTPEnrollment) {
					t.Errorf("confirm after the refused enrollment: %v, want ErrNoTOTPEnrollment", err)
				}
			}},
		{"confirmTotp", enroll,
			func(t *testing.T, f *fixture, p auth.Principal, secret string) error {
				_, err := f.svc.ConfirmTOTP(ctx, c, p, code(t, f, secret))
				return err
			},
			func(t *testing.T, f *fixture, a *account, _ string) {
				if mfaOn(t, f, a) {
					t.Error("MFA was turned on by a revoked session")
				}
			}},
		{"disableTotp", func(t *testing.T, f *fixture, a *account) string {
			secret := enroll(t, f, a)
			if _, err := f.svc.ConfirmTOTP(ctx, c, f.principal(t, a.second), code(t, f, secret)); err != nil {
				t.Fatal(err)
			}
			return secret
		},
			func(t *testing.T, f *fixture, p auth.Principal, secret string) error {
				return f.svc.DisableTOTP(ctx, c, p, code(t, f, secret))
			},
			func(t *testing.T, f *fixture, a *account, _ string) {
				if !mfaOn(t, f, a) {
					t.Error("MFA was turned off by a revoked session")
				}
			}},
		{"deleteAccount", nil,
			func(_ *testing.T, f *fixture, p auth.Principal, _ string) error {
				return f.svc.DeleteAccount(ctx, c, p, pw)
			},
			func(t *testing.T, f *fixture, a *account, _ string) {
				if _, err := f.svc.Login(ctx, c, a.email, pw); err != nil {
					t.Errorf("the account no longer logs in: %v", err)
				}
			}},
		{"changePassword", nil,
			func(_ *testing.T, f *fixture, p auth.Principal, _ string) error {
				_, err := f.svc.ChangePassword(ctx, c, p, pw, "a whole new passphrase")
				return err
			},
			func(t *testing.T, f *fixture, a *account, _ string) {
				if _, err := f.svc.Login(ctx, c, a.email, pw); err != nil {
					t.Errorf("the old password no longer logs in: %v", err)
				}
			}},
	}
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, db, cheap)
				a := loggedInTwice(t, f)
				var secret string
				if tc.setup != nil {
					secret = tc.setup(t, f, a)
				}
				p := f.principal(t, a.first) // the @auth check passes
				if err := f.svc.Logout(ctx, c, *a.first.RefreshToken); err != nil {
					t.Fatal(err)
				}
				if err := tc.op(t, f, p, secret); !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("%s on a session revoked after the check: %v, want ErrUnauthenticated", tc.name, err)
				}
				tc.after(t, f, a, secret)
			})
		}
	})
}
