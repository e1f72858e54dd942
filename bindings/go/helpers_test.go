package omendb

// splitmix64, also in bench/direct_c.c, so that Go and C benchmarks search the same data.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform float32 in [-1, 1).
func (r *rng) float() float32 { return float32(r.next()>>40)/float32(1<<24)*2 - 1 }

func randomVectors(seed uint64, n, dim int) []float32 {
	r := rng{s: seed}
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = r.float()
	}
	return v
}
