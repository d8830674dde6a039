package token

// VerifiedGeneration is how many tokens one generation of the verified
// cache holds.
const VerifiedGeneration = verifiedGeneration

// Remembered is how many access tokens s remembers as verified.
func Remembered(s *Service) int {
	s.verified.mu.RLock()
	defer s.verified.mu.RUnlock()
	return len(s.verified.cur) + len(s.verified.old)
}
