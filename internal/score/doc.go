// Package score turns behavioral evidence into an agent's trust score: six
// dimensions in [0,1], a confidence, a composite from 0 to 1000, a
// certification tier, badges, an OWASP LLM Top 10 posture, the score's
// velocity, and the dimensions of every model version.
//
// Compute is a pure function of its Inputs, a Config and the time it is asked
// about: it does no I/O and never reads the clock, so a score can be
// recomputed for any past instant from the evidence stored up to it. The
// method and every default are specified in docs/scoring.md, whose worked
// example the golden test reproduces:
//
//   - every observation (a graded eval case or a runtime pact check) weighs
//     w·2^(−age/HalfLife), and a quarter of that when it was made on another
//     model version than the agent's current one;
//   - a dimension is the posterior mean (k·m + passed)/(k + evidence) under a
//     weak prior of mean m and strength k, so that little evidence gives
//     neither trust nor condemnation;
//   - confidence is the weighted share of the dimensions that comes from
//     evidence rather than from the prior;
//   - the composite is 1000·Σ weight·dimension, multiplied by
//     2^(−(days since the last eval − grace)/DecayHalfLife) once the last eval
//     is older than the grace period.
package score
