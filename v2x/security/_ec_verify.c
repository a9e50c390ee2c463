/* The elliptic-curve half of signature verification, for SM2 (GB/T 32918.5 curve) and NIST P-256.
 *
 * Verification uses only public data, so this code is variable-time on purpose: it is never used
 * for signing (signing stays with a constant-time library).  Both SM2 and ECDSA verification
 * end in the same question, answered here:
 *
 *     does  x(u1 * G + u2 * Q) mod n  equal  v ?
 *
 * (SM2, GB/T 32918.2 7.1: u1 = s, u2 = t = (r + s) mod n, v = (r - e) mod n;
 *  ECDSA, SEC 1 4.1.4: u1 = e / s, u2 = r / s, v = r.)  The scalars and v come from Python
 * (v2x/security/ec_verify.py), which checks the ranges; this file does the point arithmetic.
 *
 * Fixed-base tables with signed window digits: the generator G has a table of every 9-bit window
 * (29 windows of 256 affine points, built at import), a signer's key Q one of every w-bit window
 * (``key_table``), so that u * P is a sum of about 256/w table points and no doublings.  A key
 * without a table is multiplied by a 4-bit fixed window with doublings.  The sum's x is compared
 * projectively (X == v * Z^2), so no field inversion is needed per verification.
 *
 * Field arithmetic: 4 x 64-bit limbs, Montgomery multiplication (CIOS) with unsigned __int128.
 * Points: Jacobian coordinates, a = -3 doubling (both curves have a = -3), additions that handle
 * every exceptional case (equal points, opposite points, the point at infinity).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef unsigned __int128 u128;

typedef struct { u64 v[4]; } fe; /* little-endian limbs */
typedef struct { fe x, y; } affine; /* Montgomery form */
typedef struct { fe x, y, z; int infinity; } jacobian; /* Montgomery form */

enum { PRIME_NONE = 0, PRIME_SM2 = 1, PRIME_P256 = 2 }; /* a field prime with its own multiplication */

typedef struct {
    int prime;  /* PRIME_SM2 or PRIME_P256 for a field prime, else PRIME_NONE */
    fe m;       /* an odd modulus above 2^255: the field prime p or the group order n */
    u64 minv;   /* -m^-1 mod 2^64 */
    fe r2;      /* R^2 mod m, R = 2^256 */
    fe one;     /* R mod m: 1 in Montgomery form */
} modulus;

typedef struct {
    const char *name;
    const char *p_hex, *n_hex, *gx_hex, *gy_hex;
    modulus fp, fn;
    affine *g_table; /* 29 windows x 256 points: k * 2^(9i) * G for k = 1..256 */
} curve;

#define G_WINDOW 9
#define MAGIC 0x5432563845435631ULL /* table header */

static curve CURVES[2] = {
    {"sm2",
     "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
     "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
     "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
     "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", {0, {{0}}, 0, {{0}}, {{0}}}, {0, {{0}}, 0, {{0}}, {{0}}}, NULL},
    {"p256",
     "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
     "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
     "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
     "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5", {0, {{0}}, 0, {{0}}, {{0}}}, {0, {{0}}, 0, {{0}}, {{0}}}, NULL},
};

/* ---- 256-bit integers ---- */

static void fe_from_bytes(fe *r, const unsigned char *b) /* 32 bytes big-endian */
{
    for (int i = 0; i < 4; i++) {
        u64 w = 0;
        for (int j = 0; j < 8; j++) w = (w << 8) | b[(3 - i) * 8 + j];
        r->v[i] = w;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return c - 'a' + 10;
}

static void fe_from_hex(fe *r, const char *h)
{
    unsigned char b[32];
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(hex_value(h[2 * i]) * 16 + hex_value(h[2 * i + 1]));
    fe_from_bytes(r, b);
}

static int fe_is_zero(const fe *a) { return (a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0; }

static int fe_equal(const fe *a, const fe *b)
{
    return ((a->v[0] ^ b->v[0]) | (a->v[1] ^ b->v[1]) | (a->v[2] ^ b->v[2]) | (a->v[3] ^ b->v[3])) == 0;
}

static int fe_less(const fe *a, const fe *b) /* a < b as integers */
{
    for (int i = 3; i >= 0; i--) {
        if (a->v[i] != b->v[i]) return a->v[i] < b->v[i];
    }
    return 0;
}

static u64 fe_add_raw(fe *r, const fe *a, const fe *b) /* r = a + b, returns the carry */
{
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c += (u128)a->v[i] + b->v[i];
        r->v[i] = (u64)c;
        c >>= 64;
    }
    return (u64)c;
}

static u64 fe_sub_raw(fe *r, const fe *a, const fe *b) /* r = a - b, returns the borrow */
{
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 ai = a->v[i], bi = b->v[i];
        u64 d = ai - bi - borrow;
        borrow = (ai < bi) || (ai == bi && borrow) ? 1 : 0;
        r->v[i] = d;
    }
    return borrow;
}

/* ---- arithmetic modulo p or n, Montgomery form ---- */

static void f_add(const modulus *M, fe *r, const fe *a, const fe *b)
{
    fe s, t;
    u64 carry = fe_add_raw(&s, a, b);
    u64 borrow = fe_sub_raw(&t, &s, &M->m);
    *r = (carry || !borrow) ? t : s;
}

static void f_sub(const modulus *M, fe *r, const fe *a, const fe *b)
{
    fe d;
    if (fe_sub_raw(&d, a, b)) fe_add_raw(&d, &d, &M->m);
    *r = d;
}

/* Montgomery multiplication (CIOS); inlined with each curve's prime as constants, which the
 * compiler folds (both primes are -1 mod 2^64, so m = t[0], and P-256 has a zero limb). */
static inline __attribute__((always_inline)) void mont_mul(const u64 *p, u64 minv, fe *r, const fe *a, const fe *b)
{
    u64 t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a->v[j] * b->v[i] + t[j];
            t[j] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (u64)c;
        t[5] = (u64)(c >> 64);
        u64 m = t[0] * minv;
        c = (u128)m * p[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * p[j] + t[j];
            t[j - 1] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (u64)c;
        t[4] = t[5] + (u64)(c >> 64);
    }
    fe lo = {{t[0], t[1], t[2], t[3]}}, d, pm = {{p[0], p[1], p[2], p[3]}};
    u64 borrow = fe_sub_raw(&d, &lo, &pm);
    *r = (t[4] || !borrow) ? d : lo;
}

static const u64 P_SM2[4] = {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFF00000000ULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFEFFFFFFFFULL};
static const u64 P_P256[4] = {0xFFFFFFFFFFFFFFFFULL, 0x00000000FFFFFFFFULL, 0x0000000000000000ULL, 0xFFFFFFFF00000001ULL};

static void f_mul(const modulus *M, fe *r, const fe *a, const fe *b)
{
    switch (M->prime) {
    case PRIME_SM2:
        mont_mul(P_SM2, 1, r, a, b);
        return;
    case PRIME_P256:
        mont_mul(P_P256, 1, r, a, b);
        return;
    default:
        mont_mul(M->m.v, M->minv, r, a, b);
    }
}

static void f_sqr(const modulus *M, fe *r, const fe *a) { f_mul(M, r, a, a); }

static void f_to_mont(const modulus *M, fe *r, const fe *a) { f_mul(M, r, a, &M->r2); }

static void f_pow(const modulus *M, fe *r, const fe *a, const fe *e) /* Montgomery a^e, variable time */
{
    fe acc = M->one;
    for (int i = 255; i >= 0; i--) {
        f_sqr(M, &acc, &acc);
        if ((e->v[i / 64] >> (i % 64)) & 1) f_mul(M, &acc, &acc, a);
    }
    *r = acc;
}

static void f_inv(const modulus *M, fe *r, const fe *a) /* a^(p-2), a != 0 */
{
    fe e, two = {{2, 0, 0, 0}};
    fe_sub_raw(&e, &M->m, &two);
    f_pow(M, r, a, &e);
}

static void f_small(const modulus *M, fe *r, const fe *a, int k) /* k * a for small k >= 1 */
{
    fe acc = *a;
    for (int i = 1; i < k; i++) f_add(M, &acc, &acc, a);
    *r = acc;
}

/* ---- points ---- */

static void point_double(const modulus *F, jacobian *P) /* dbl-2001-b, a = -3 */
{
    if (P->infinity) return;
    if (fe_is_zero(&P->y)) {
        P->infinity = 1;
        return;
    }
    fe delta, gamma, beta, alpha, t1, t2, x3, y3, z3;
    f_sqr(F, &delta, &P->z);
    f_sqr(F, &gamma, &P->y);
    f_mul(F, &beta, &P->x, &gamma);
    f_sub(F, &t1, &P->x, &delta);
    f_add(F, &t2, &P->x, &delta);
    f_mul(F, &alpha, &t1, &t2);
    f_small(F, &alpha, &alpha, 3);
    f_sqr(F, &x3, &alpha);
    f_small(F, &t1, &beta, 8);
    f_sub(F, &x3, &x3, &t1);
    f_add(F, &z3, &P->y, &P->z);
    f_sqr(F, &z3, &z3);
    f_sub(F, &z3, &z3, &gamma);
    f_sub(F, &z3, &z3, &delta);
    f_small(F, &t1, &beta, 4);
    f_sub(F, &t1, &t1, &x3);
    f_mul(F, &y3, &alpha, &t1);
    f_sqr(F, &t2, &gamma);
    f_small(F, &t2, &t2, 8);
    f_sub(F, &y3, &y3, &t2);
    P->x = x3;
    P->y = y3;
    P->z = z3;
}

/* P += (U2, S2) given as already scaled to P's Z (U2 = x2 * Z1^2 * Z2^2-free form), shared tail of
 * the two additions: H = U2 - U1, R = S2 - S1, Z3 = Z1 * Z2 * H. */
static void add_tail(const modulus *F, jacobian *P, const fe *U1, const fe *S1, const fe *U2, const fe *S2, const fe *zz)
{
    fe H, R, HH, HHH, V, t, x3, y3;
    f_sub(F, &H, U2, U1);
    f_sub(F, &R, S2, S1);
    if (fe_is_zero(&H)) {
        if (fe_is_zero(&R)) {
            point_double(F, P);
        } else {
            P->infinity = 1;
        }
        return;
    }
    f_sqr(F, &HH, &H);
    f_mul(F, &HHH, &H, &HH);
    f_mul(F, &V, U1, &HH);
    f_sqr(F, &x3, &R);
    f_sub(F, &x3, &x3, &HHH);
    f_sub(F, &x3, &x3, &V);
    f_sub(F, &x3, &x3, &V);
    f_sub(F, &t, &V, &x3);
    f_mul(F, &y3, &R, &t);
    f_mul(F, &t, S1, &HHH);
    f_sub(F, &y3, &y3, &t);
    P->x = x3;
    P->y = y3;
    f_mul(F, &P->z, zz, &H);
}

static void point_add_affine(const modulus *F, jacobian *P, const affine *Q) /* P += Q, Q not infinity */
{
    if (P->infinity) {
        P->x = Q->x;
        P->y = Q->y;
        P->z = F->one;
        P->infinity = 0;
        return;
    }
    fe z1z1, u2, s2;
    f_sqr(F, &z1z1, &P->z);
    f_mul(F, &u2, &Q->x, &z1z1);
    f_mul(F, &s2, &Q->y, &P->z);
    f_mul(F, &s2, &s2, &z1z1);
    fe u1 = P->x, s1 = P->y, z = P->z;
    add_tail(F, P, &u1, &s1, &u2, &s2, &z);
}

static void point_add(const modulus *F, jacobian *P, const jacobian *Q) /* P += Q */
{
    if (Q->infinity) return;
    if (P->infinity) {
        *P = *Q;
        return;
    }
    fe z1z1, z2z2, u1, u2, s1, s2, zz;
    f_sqr(F, &z1z1, &P->z);
    f_sqr(F, &z2z2, &Q->z);
    f_mul(F, &u1, &P->x, &z2z2);
    f_mul(F, &u2, &Q->x, &z1z1);
    f_mul(F, &s1, &P->y, &Q->z);
    f_mul(F, &s1, &s1, &z2z2);
    f_mul(F, &s2, &Q->y, &P->z);
    f_mul(F, &s2, &s2, &z1z1);
    f_mul(F, &zz, &P->z, &Q->z);
    add_tail(F, P, &u1, &s1, &u2, &s2, &zz);
}

/* Jacobian points (none at infinity) to affine, with one inversion (Montgomery's trick). */
static int to_affine(const modulus *F, affine *out, const jacobian *in, size_t count)
{
    fe *prefix = malloc(count * sizeof(fe));
    if (prefix == NULL) return -1;
    fe acc = F->one;
    for (size_t i = 0; i < count; i++) {
        prefix[i] = acc;
        f_mul(F, &acc, &acc, &in[i].z);
    }
    fe inv;
    f_inv(F, &inv, &acc);
    for (size_t i = count; i-- > 0;) {
        fe zinv, zinv2, zinv3;
        f_mul(F, &zinv, &inv, &prefix[i]);
        f_mul(F, &inv, &inv, &in[i].z);
        f_sqr(F, &zinv2, &zinv);
        f_mul(F, &zinv3, &zinv2, &zinv);
        f_mul(F, &out[i].x, &in[i].x, &zinv2);
        f_mul(F, &out[i].y, &in[i].y, &zinv3);
    }
    free(prefix);
    return 0;
}

/* Fixed-base tables use signed window digits in [-(2^(w-1) - 1), 2^(w-1)]: a window's row holds
 * k * 2^(w i) * P for k = 1 .. 2^(w-1) only (-Q is (x, -y)), and the last carry needs room for
 * a 257th bit. */
static int windows_of(int w) { return (257 + w - 1) / w; }

static int row_of(int w) { return 1 << (w - 1); }

/* k * 2^(w i) * base for every window i and k = 1 .. 2^(w-1), window by window. */
static int build_table(const modulus *F, affine *out, const affine *base, int w)
{
    int per = row_of(w), windows = windows_of(w);
    jacobian *points = malloc((size_t)windows * per * sizeof(jacobian));
    if (points == NULL) return -1;
    jacobian P = {base->x, base->y, F->one, 0};
    for (int i = 0; i < windows; i++) {
        jacobian *row = points + (size_t)i * per;
        row[0] = P;
        for (int k = 1; k < per; k++) {
            row[k] = row[k - 1];
            point_add(F, &row[k], &P);
        }
        for (int d = 0; d < w; d++) point_double(F, &P);
    }
    int rc = to_affine(F, out, points, (size_t)windows * per);
    free(points);
    return rc;
}

static unsigned window_digit(const fe *k, int i, int w) /* bits [i w, i w + w) of k */
{
    int bit = i * w, limb = bit / 64, off = bit % 64;
    if (limb > 3) return 0;
    u64 d = k->v[limb] >> off;
    if (off + w > 64 && limb < 3) d |= k->v[limb + 1] << (64 - off);
    return (unsigned)(d & ((1u << w) - 1));
}

/* acc += k * P, P given by its signed-digit table of window w. */
static void add_fixed_base(const modulus *F, jacobian *acc, const affine *table, int w, const fe *k)
{
    int per = row_of(w), windows = windows_of(w), half = 1 << (w - 1), carry = 0;
    for (int i = 0; i < windows; i++) {
        int d = (int)window_digit(k, i, w) + carry;
        carry = d > half;
        if (carry) d -= 1 << w;
        if (d > 0) {
            point_add_affine(F, acc, &table[(size_t)i * per + d - 1]);
        } else if (d < 0) {
            affine negated = table[(size_t)i * per - d - 1];
            fe zero = {{0, 0, 0, 0}};
            f_sub(F, &negated.y, &zero, &negated.y);
            point_add_affine(F, acc, &negated);
        }
    }
}

/* x(P) mod n == v, for v < n: X == v Z^2, or X == (v + n) Z^2 where v + n < p. */
static int x_matches(const curve *C, const jacobian *P, const fe *v)
{
    const modulus *F = &C->fp;
    if (P->infinity) return 0;
    fe zz, candidate = *v, m, t;
    f_sqr(F, &zz, &P->z);
    for (int round = 0; round < 2; round++) {
        if (!fe_less(&candidate, &F->m)) return 0;
        f_to_mont(F, &m, &candidate);
        f_mul(F, &t, &m, &zz);
        if (fe_equal(&t, &P->x)) return 1;
        if (fe_add_raw(&candidate, v, &C->fn.m)) return 0;
    }
    return 0;
}

static void mod_n(const curve *C, fe *r, const fe *a) /* a mod n for a < 2^256 < 2n */
{
    fe d;
    *r = fe_sub_raw(&d, a, &C->fn.m) ? *a : d;
}

static int in_range(const curve *C, const fe *k) /* 1 <= k < n */
{
    return !fe_is_zero(k) && fe_less(k, &C->fn.m);
}

/* One signature to verify: the scalars of x(u1 G + u2 Q) mod n == v, and the key Q as a table
 * (window w) or as an affine point (w = 0). */
typedef struct {
    fe e, r, s, u1, u2, v;
    const affine *table;
    affine point;
    int w;
    int ok;
} job;

enum { SCHEME_SM2 = 0, SCHEME_ECDSA = 1 };

/* SM2 (GB/T 32918.2 7.1 B1-B7): t = (r + s) mod n != 0, and R = (e + x1) mod n == r. */
static void sm2_scalars(const curve *C, job *j)
{
    fe t, e;
    u64 carry = fe_add_raw(&t, &j->r, &j->s);
    fe d;
    if (carry || !fe_sub_raw(&d, &t, &C->fn.m)) {
        fe_sub_raw(&t, &t, &C->fn.m);
    }
    if (fe_is_zero(&t)) {
        j->ok = 0;
        return;
    }
    mod_n(C, &e, &j->e);
    j->u1 = j->s;
    j->u2 = t;
    f_sub(&C->fn, &j->v, &j->r, &e); /* (r - e) mod n: plain integers below n */
}

/* ECDSA (SEC 1 4.1.4): w = s^-1, u1 = e w, u2 = r w, x1 mod n == r.  The inversions of a batch
 * share one field inversion (Montgomery's trick). */
static int ecdsa_scalars(const curve *C, job *jobs, Py_ssize_t count)
{
    const modulus *N = &C->fn;
    fe *prefix = malloc((size_t)(count ? count : 1) * sizeof(fe));
    if (prefix == NULL) return -1;
    fe acc = N->one;
    for (Py_ssize_t i = 0; i < count; i++) {
        prefix[i] = acc;
        if (!jobs[i].ok) continue;
        fe sm;
        f_to_mont(N, &sm, &jobs[i].s);
        f_mul(N, &acc, &acc, &sm);
    }
    fe inv; /* (prod s R)^-1 R^2 = prod s^-1 R: Montgomery form of the inverse */
    fe exponent, two = {{2, 0, 0, 0}};
    fe_sub_raw(&exponent, &N->m, &two);
    f_pow(N, &inv, &acc, &exponent);
    for (Py_ssize_t i = count; i-- > 0;) {
        job *j = &jobs[i];
        if (!j->ok) continue;
        fe w, sm, e;
        f_mul(N, &w, &inv, &prefix[i]); /* s^-1 R */
        f_to_mont(N, &sm, &j->s);
        f_mul(N, &inv, &inv, &sm);
        mod_n(C, &e, &j->e);
        f_mul(N, &j->u1, &e, &w); /* e s^-1 (plain: the R cancels) */
        f_mul(N, &j->u2, &j->r, &w);
        j->v = j->r;
    }
    free(prefix);
    return 0;
}

static void verify_job(const curve *C, job *j)
{
    const modulus *F = &C->fp;
    jacobian acc;
    memset(&acc, 0, sizeof acc);
    acc.infinity = 1;
    if (j->w) {
        add_fixed_base(F, &acc, j->table, j->w, &j->u2);
    } else {
        jacobian multiples[16];
        memset(multiples, 0, sizeof multiples);
        multiples[0].infinity = 1;
        multiples[1] = (jacobian){j->point.x, j->point.y, F->one, 0};
        for (int k = 2; k < 16; k++) {
            multiples[k] = multiples[k - 1];
            point_add(F, &multiples[k], &multiples[1]);
        }
        for (int i = 63; i >= 0; i--) {
            for (int d = 0; d < 4; d++) point_double(F, &acc);
            point_add(F, &acc, &multiples[window_digit(&j->u2, i, 4)]);
        }
    }
    add_fixed_base(F, &acc, C->g_table, G_WINDOW, &j->u1);
    j->ok = x_matches(C, &acc, &j->v);
}

/* ---- Python interface ---- */

typedef struct {
    u64 magic;
    u64 curve;
    u64 window;
    u64 reserved;
} table_header;

static int parse_curve(int index, curve **C)
{
    if (index < 0 || index > 1) {
        PyErr_SetString(PyExc_ValueError, "curve must be 0 (SM2) or 1 (P-256)");
        return -1;
    }
    *C = &CURVES[index];
    return 0;
}

/* A point given as x || y (64 bytes, big-endian) that the caller checked is on the curve. */
static int parse_point(const curve *C, const unsigned char *xy, affine *out)
{
    fe px, py;
    fe_from_bytes(&px, xy);
    fe_from_bytes(&py, xy + 32);
    if (!fe_less(&px, &C->fp.m) || !fe_less(&py, &C->fp.m)) {
        PyErr_SetString(PyExc_ValueError, "coordinate not below p");
        return -1;
    }
    f_to_mont(&C->fp, &out->x, &px);
    f_to_mont(&C->fp, &out->y, &py);
    return 0;
}

static size_t table_size(int w) { return sizeof(table_header) + (size_t)windows_of(w) * row_of(w) * sizeof(affine); }

/* The key of a job: a table made by key_table for this curve, or a 64-byte point x || y. */
static int parse_key(const curve *C, int index, const char *buf, Py_ssize_t len, job *j)
{
    if (len == 64) {
        j->w = 0;
        return parse_point(C, (const unsigned char *)buf, &j->point);
    }
    table_header h;
    if ((size_t)len >= sizeof h) {
        memcpy(&h, buf, sizeof h);
        if (h.magic == MAGIC && h.curve == (u64)index && h.window >= 2 && h.window <= 8 && (size_t)len == table_size((int)h.window)) {
            j->w = (int)h.window;
            j->table = (const affine *)(buf + sizeof h);
            return 0;
        }
    }
    PyErr_SetString(PyExc_ValueError, "a key is neither a 64-byte point nor a key table of this curve");
    return -1;
}

static PyObject *py_key_table(PyObject *self, PyObject *args)
{
    int index, w;
    const char *xy;
    Py_ssize_t len;
    curve *C;
    affine base;
    if (!PyArg_ParseTuple(args, "iy#i", &index, &xy, &len, &w)) return NULL;
    if (parse_curve(index, &C)) return NULL;
    if (len != 64) {
        PyErr_SetString(PyExc_ValueError, "the point must be 64 bytes, x || y");
        return NULL;
    }
    if (parse_point(C, (const unsigned char *)xy, &base)) return NULL;
    if (w < 2 || w > 8) {
        PyErr_SetString(PyExc_ValueError, "window must be 2 to 8 bits");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)table_size(w));
    if (result == NULL) return NULL;
    char *buf = PyBytes_AS_STRING(result);
    table_header h = {MAGIC, (u64)index, (u64)w, 0};
    memcpy(buf, &h, sizeof h);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = build_table(&C->fp, (affine *)(buf + sizeof h), &base, w);
    Py_END_ALLOW_THREADS
    if (rc) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    return result;
}

/* verify(curve, scheme, keys, ers) -> bytes: for each i, 1 if the signature (r_i, s_i) over the
 * digest e_i verifies with keys[i], else 0.  ``ers`` is e || r || s (32 bytes each, big-endian)
 * per signature; keys[i] is bytes (a key table or x || y). */
static PyObject *py_verify(PyObject *self, PyObject *args)
{
    int index, scheme;
    PyObject *keys;
    const char *ers;
    Py_ssize_t ers_len;
    curve *C;
    if (!PyArg_ParseTuple(args, "iiO!y#", &index, &scheme, &PyList_Type, &keys, &ers, &ers_len)) return NULL;
    if (parse_curve(index, &C)) return NULL;
    if (scheme != SCHEME_SM2 && scheme != SCHEME_ECDSA) {
        PyErr_SetString(PyExc_ValueError, "scheme must be 0 (SM2) or 1 (ECDSA)");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    if (ers_len != 96 * count) {
        PyErr_SetString(PyExc_ValueError, "ers must hold e || r || s (96 bytes) per key");
        return NULL;
    }
    job *jobs = calloc((size_t)(count ? count : 1), sizeof(job));
    if (jobs == NULL) return PyErr_NoMemory();
    /* the keys stay referenced by the list, which this call holds, while the GIL is released;
       hold our own references in case another thread empties the list meanwhile */
    PyObject **held = calloc((size_t)(count ? count : 1), sizeof(PyObject *));
    PyObject *result = NULL;
    if (held == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        if (!PyBytes_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "keys must be bytes");
            goto done;
        }
        Py_INCREF(key);
        held[i] = key;
        job *j = &jobs[i];
        if (parse_key(C, index, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), j)) goto done;
        fe_from_bytes(&j->e, (const unsigned char *)ers + 96 * i);
        fe_from_bytes(&j->r, (const unsigned char *)ers + 96 * i + 32);
        fe_from_bytes(&j->s, (const unsigned char *)ers + 96 * i + 64);
        j->ok = in_range(C, &j->r) && in_range(C, &j->s);
    }
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    if (scheme == SCHEME_ECDSA) {
        rc = ecdsa_scalars(C, jobs, count);
    } else {
        for (Py_ssize_t i = 0; i < count; i++) {
            if (jobs[i].ok) sm2_scalars(C, &jobs[i]);
        }
    }
    if (rc == 0) {
        for (Py_ssize_t i = 0; i < count; i++) {
            if (jobs[i].ok) verify_job(C, &jobs[i]);
        }
    }
    Py_END_ALLOW_THREADS
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count);
    if (result != NULL) {
        char *out = PyBytes_AS_STRING(result);
        for (Py_ssize_t i = 0; i < count; i++) out[i] = (char)jobs[i].ok;
    }
done:
    if (held != NULL) {
        for (Py_ssize_t i = 0; i < count; i++) Py_XDECREF(held[i]);
        free(held);
    }
    free(jobs);
    return result;
}

static void setup_modulus(modulus *M, const char *hex)
{
    fe_from_hex(&M->m, hex);
    u64 inv = 1; /* -m^-1 mod 2^64 by Newton's iteration (m odd) */
    for (int i = 0; i < 6; i++) inv *= 2 - M->m.v[0] * inv;
    M->minv = (u64)0 - inv;
    fe zero = {{0, 0, 0, 0}};
    fe_sub_raw(&M->one, &zero, &M->m); /* R mod m = 2^256 - m, as m > 2^255 */
    fe r2 = M->one;
    for (int i = 0; i < 256; i++) f_add(M, &r2, &r2, &r2);
    M->r2 = r2;
}

static int setup_curve(curve *C, int prime)
{
    setup_modulus(&C->fp, C->p_hex);
    fe check;
    fe_from_hex(&check, C->p_hex);
    const u64 *constants = prime == PRIME_SM2 ? P_SM2 : P_P256;
    if (memcmp(check.v, constants, sizeof check.v) != 0) return -2; /* the folded constants must be p */
    C->fp.prime = prime;
    setup_modulus(&C->fn, C->n_hex);
    fe gx, gy;
    fe_from_hex(&gx, C->gx_hex);
    fe_from_hex(&gy, C->gy_hex);
    affine g;
    f_to_mont(&C->fp, &g.x, &gx);
    f_to_mont(&C->fp, &g.y, &gy);
    C->g_table = malloc((size_t)windows_of(G_WINDOW) * row_of(G_WINDOW) * sizeof(affine));
    if (C->g_table == NULL) return -1;
    return build_table(&C->fp, C->g_table, &g, G_WINDOW);
}

static PyMethodDef METHODS[] = {
    {"key_table", py_key_table, METH_VARARGS, "key_table(curve, xy, window) -> bytes: the fixed-base table of a public key"},
    {"verify", py_verify, METH_VARARGS, "verify(curve, scheme, keys, ers) -> bytes: 1 where a signature verifies, else 0"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_ec_verify", "Point arithmetic of SM2 and ECDSA P-256 verification (public data only).", -1, METHODS};

PyMODINIT_FUNC PyInit__ec_verify(void)
{
    for (int i = 0; i < 2; i++) {
        int rc = CURVES[i].g_table == NULL ? setup_curve(&CURVES[i], i == 0 ? PRIME_SM2 : PRIME_P256) : 0;
        if (rc == -2) {
            PyErr_SetString(PyExc_SystemError, "_ec_verify: a curve's prime constants disagree");
            return NULL;
        }
        if (rc) return PyErr_NoMemory();
    }
    return PyModule_Create(&MODULE);
}
