package token

import "sync"

// verifiedGeneration is how many access tokens one generation of the
// verified cache holds; the cache keeps two, so at most twice this many
// tokens (about 600 bytes each) are remembered.
const verifiedGeneration = 4096

// verified remembers the access tokens that passed verification, so that the
// next request with the same token skips the strict syntax check, the JSON
// decoding of its header and claims and the signature check, which were a
// quarter of an authenticated request's CPU: a client sends the same access
// token with every request for its whole lifetime.
//
// A token is found only by its exact text, so a hit is the same bytes that
// were verified, under the same keys (a Service's keys never change), and
// everything about it that verification decided holds again except time:
// its expiry is compared with the clock on every hit, as verification does.
// Only tokens that verified are remembered, so a client cannot fill the
// cache with garbage; tokens without an nbf only (authql issues none).
//
// The cache is two generations of a map: when the current one is full it
// becomes the old one and the one before is dropped. A token in use is found
// in either and so survives one turnover; memory stays bounded whatever
// clients send. It is not the revocation check: that reads the session on
// every request, hit or not.
type verified struct {
	mu       sync.RWMutex
	cur, old map[string]*AccessClaims
}

// get is the claims of raw if it verified before.
func (v *verified) get(raw string) (*AccessClaims, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c, ok := v.cur[raw]; ok {
		return c, true
	}
	c, ok := v.old[raw]
	return c, ok
}

// put remembers that raw verified with claims c, which must not change.
func (v *verified) put(raw string, c *AccessClaims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cur) >= verifiedGeneration {
		v.old, v.cur = v.cur, nil
	}
	if v.cur == nil {
		v.cur = make(map[string]*AccessClaims, verifiedGeneration)
	}
	v.cur[raw] = c
}
