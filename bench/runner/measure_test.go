package main

import (
	"math"
	"testing"
)

// TestCI95: the interval of identical ratios is that ratio; of spread ones it
// holds their geometric mean and widens with the spread (the values are
// Student's t with 2 degrees of freedom, worked by hand).
func TestCI95(t *testing.T) {
	if ci95([]float64{0.8}) != nil {
		t.Fatal("an interval from one round")
	}
	if ci := ci95([]float64{0.8, 0.8, 0.8}); math.Abs(ci[0]-0.8) > 1e-9 || math.Abs(ci[1]-0.8) > 1e-9 {
		t.Fatalf("identical rounds: %v", ci)
	}
	// ln: -0.5, 0, 0.5; mean 0, sd 0.5, se 0.5/√3, t(2) 4.303: half width 1.2422.
	ci := ci95([]float64{math.Exp(-0.5), 1, math.Exp(0.5)})
	if math.Abs(ci[0]-math.Exp(-1.2422)) > 1e-3 || math.Abs(ci[1]-math.Exp(1.2422)) > 1e-3 {
		t.Fatalf("spread rounds: %v", ci)
	}
}
