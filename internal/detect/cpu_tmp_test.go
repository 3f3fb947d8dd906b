package detect

import (
	"syscall"
	"testing"
	"time"
)

func utime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCPUTime(t *testing.T) {
	d, _ := New(Options{Canaries: corpusCanaries})
	for _, n := range []int{1 << 10, 1 << 20, 4 << 20} {
		text := repeatTo(modelOutput, n)
		iters := max(1, (20<<20)/n)
		d.Scan(text)
		st := utime()
		for i := 0; i < iters; i++ {
			d.Scan(text)
		}
		per := (utime() - st) / time.Duration(iters)
		t.Logf("%8d bytes: %v CPU per scan, %.1f ns/byte", n, per, float64(per.Nanoseconds())/float64(n))
	}
}
