package score

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate(): got %v, want nil", err)
	}
}

// TestBaselineSuitesBuiltin: the default baseline suites are built-in
// suites (internal/eval/suites/<id>.yaml).
func TestBaselineSuitesBuiltin(t *testing.T) {
	for _, s := range DefaultConfig().BaselineSuites {
		if _, err := os.Stat(filepath.Join("..", "eval", "suites", s+".yaml")); err != nil {
			t.Errorf("baseline suite %q: %v", s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{"weights sum", func(c *Config) { c.Weights.Accuracy = 0.3 }, "weights"},
		{"negative weight", func(c *Config) { c.Weights.Safety, c.Weights.Security = -0.1, 0.5 }, "weights.safety"},
		{"half-life", func(c *Config) { c.HalfLife = 0 }, "halfLife"},
		{"prior mean", func(c *Config) { c.PriorMean = 1.5 }, "priorMean"},
		{"prior strength", func(c *Config) { c.PriorStrength = 0 }, "priorStrength"},
		{"other version weight", func(c *Config) { c.OtherVersionWeight = -1 }, "otherVersionWeight"},
		{"grace", func(c *Config) { c.GracePeriod = -time.Hour }, "gracePeriod"},
		{"decay half-life", func(c *Config) { c.DecayHalfLife = 0 }, "decayHalfLife"},
		{"tier order", func(c *Config) { c.Tiers[1].MinComposite = 950 }, "tiers[1].minComposite"},
		{"tier name", func(c *Config) { c.Tiers[2].Name = "gold" }, "tiers[2].name"},
		{"tier uncertified", func(c *Config) { c.Tiers[0].Name = Uncertified }, "tiers[0].name"},
		{"tier confidence", func(c *Config) { c.Tiers[0].MinConfidence = 2 }, "tiers[0].minConfidence"},
		{"badge window", func(c *Config) { c.BadgeWindow = 0 }, "badgeWindow"},
		{"min injection cases", func(c *Config) { c.MinInjectionCases = 0 }, "minInjectionCases"},
		{"min checks", func(c *Config) { c.MinChecks = 0 }, "minChecks"},
		{"pass rate", func(c *Config) { c.MinEvalPassRate = 1.1 }, "minEvalPassRate"},
		{"baseline suites", func(c *Config) { c.BaselineSuites = nil }, "baselineSuites"},
		{"baseline suite repeated", func(c *Config) { c.BaselineSuites = []string{"safety", "safety"} }, "baselineSuites[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.change(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, probity.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.field+": ") {
				t.Errorf("got %q, want it to name %s", err, c.field)
			}
		})
	}
}

// TestValidateAllAtOnce: every problem is reported, not only the first.
func TestValidateAllAtOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HalfLife, cfg.PriorMean, cfg.Weights.Accuracy = 0, -1, 0.5
	err := cfg.Validate()
	for _, field := range []string{"halfLife", "priorMean", "weights"} {
		if err == nil || !strings.Contains(err.Error(), field+": ") {
			t.Errorf("got %v, want it to name %s", err, field)
		}
	}
}
