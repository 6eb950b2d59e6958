/*
 * The simulator's randomness: xoshiro256** seeded through splitmix64 (the
 * core draws no random number; the simulator does, from a seed it prints),
 * and the service-time distributions a workload names.
 */
#include <math.h>
#include <string.h>

#include "sim/sim.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double
sim_rng_unit(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller; one of the pair is dropped to keep the stream simple. */
double
sim_rng_normal(struct sim_rng *r)
{
	double u1 = 1.0 - sim_rng_unit(r), u2 = sim_rng_unit(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void
sim_dist_const(struct sim_dist *d, double value)
{
	d->kind = SIM_DIST_CONST;
	d->a = value;
	d->b = 0;
}

double
sim_dist_sample(const struct sim_dist *d, struct sim_rng *r)
{
	double v;

	switch (d->kind) {
	case SIM_DIST_EXP:
		v = -d->a * log(1.0 - sim_rng_unit(r));
		break;
	case SIM_DIST_UNIFORM:
		v = d->a + (d->b - d->a) * sim_rng_unit(r);
		break;
	case SIM_DIST_LOGNORMAL:
		v = exp(d->a + d->b * sim_rng_normal(r));
		break;
	case SIM_DIST_CONST:
	default:
		v = d->a;
		break;
	}
	return isfinite(v) && v > 0 ? v : 0;
}

double
sim_dist_mean(const struct sim_dist *d)
{
	switch (d->kind) {
	case SIM_DIST_EXP:
		return d->a;
	case SIM_DIST_UNIFORM:
		return (d->a + d->b) / 2;
	case SIM_DIST_LOGNORMAL:
		return exp(d->a + d->b * d->b / 2);
	case SIM_DIST_CONST:
	default:
		return d->a;
	}
}

static int
num(const json_t *o, const char *key, const char *what, double *out,
    struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return err_set(err, "%s: \"%s\" is missing", what, key);
	if (!json_is_number(v))
		return err_set(err, "%s.%s: expected a number", what, key);
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < 0)
		return err_set(err, "%s.%s: expected a number >= 0", what, key);
	return 0;
}

int
sim_dist_parse(const json_t *j, const char *what, struct sim_dist *d,
    struct err *err)
{
	const char *kind;
	double median;

	memset(d, 0, sizeof *d);
	if (json_is_number(j)) {
		sim_dist_const(d, json_number_value(j));
		if (!isfinite(d->a) || d->a < 0)
			return err_set(err, "%s: expected a number >= 0", what);
		return 0;
	}
	if (!json_is_object(j))
		return err_set(err, "%s: expected a number or {\"dist\": ...}",
		    what);
	kind = json_string_value(json_object_get(j, "dist"));
	if (kind == NULL)
		return err_set(err, "%s.dist: expected \"const\", \"exp\", "
		    "\"uniform\" or \"lognormal\"", what);
	if (strcmp(kind, "const") == 0) {
		d->kind = SIM_DIST_CONST;
		return num(j, "value", what, &d->a, err);
	}
	if (strcmp(kind, "exp") == 0) {
		d->kind = SIM_DIST_EXP;
		return num(j, "mean", what, &d->a, err);
	}
	if (strcmp(kind, "uniform") == 0) {
		d->kind = SIM_DIST_UNIFORM;
		if (num(j, "min", what, &d->a, err) == -1 ||
		    num(j, "max", what, &d->b, err) == -1)
			return -1;
		if (d->b < d->a)
			return err_set(err, "%s: max %g < min %g", what, d->b,
			    d->a);
		return 0;
	}
	if (strcmp(kind, "lognormal") == 0) {
		d->kind = SIM_DIST_LOGNORMAL;
		if (num(j, "median", what, &median, err) == -1 ||
		    num(j, "sigma", what, &d->b, err) == -1)
			return -1;
		if (median <= 0)
			return err_set(err, "%s.median: expected a number > 0",
			    what);
		d->a = log(median);
		return 0;
	}
	return err_set(err, "%s.dist: \"%s\" is not const, exp, uniform or "
	    "lognormal", what, kind);
}
