/*
 * The few C library routines the runtime and the wasm2c output need, written
 * freestanding. no_builtin keeps the compiler from turning these loops back
 * into calls to themselves.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uniwasm/platform.h>
#include <uniwasm/runtime.h>

typedef uint64_t __attribute__((may_alias, aligned(1))) word_u;

__attribute__((no_builtin("memcpy"))) void *memcpy(void *restrict dst, const void *restrict src,
                                                   size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (; n >= 8; n -= 8, d += 8, s += 8)
    *(word_u *)d = *(const word_u *)s;
  while (n--)
    *d++ = *s++;
  return dst;
}

__attribute__((no_builtin("memmove"))) void *memmove(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  if (d == s || n == 0)
    return dst;
  if (d < s || d >= s + n)
    return memcpy(dst, src, n);
  /* overlapping with dst above src: copy backwards */
  d += n;
  s += n;
  for (; n >= 8; n -= 8) {
    d -= 8;
    s -= 8;
    *(word_u *)d = *(const word_u *)s;
  }
  while (n--)
    *--d = *--s;
  return dst;
}

__attribute__((no_builtin("memset"))) void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  uint64_t w = (uint8_t)c * 0x0101010101010101ull;
  for (; n >= 8; n -= 8, d += 8)
    *(word_u *)d = w;
  while (n--)
    *d++ = (uint8_t)c;
  return dst;
}

__attribute__((no_builtin("memcmp"))) int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}

_Noreturn void abort(void) { rt_fail("abort() called by native code", RT_EXIT_RUNTIME); }

int puts(const char *s) {
  rt_puts(s);
  rt_puts("\n");
  return 0;
}

/* ---- rounding: exact for every finite input, NaN and infinities pass
 * through (wasm2c canonicalises NaNs itself). 2^52 (2^23 for float) is where
 * every representable value is already an integer. ---- */

double trunc(double x) {
  if (!(fabs(x) < 0x1p52))
    return x;
  return copysign((double)(int64_t)x, x);
}

float truncf(float x) {
  if (!(fabsf(x) < 0x1p23f))
    return x;
  return copysignf((float)(int32_t)x, x);
}

double floor(double x) {
  double t = trunc(x);
  return t > x ? t - 1.0 : t;
}

float floorf(float x) {
  float t = truncf(x);
  return t > x ? t - 1.0f : t;
}

double ceil(double x) {
  double t = trunc(x);
  return t < x ? t + 1.0 : t;
}

float ceilf(float x) {
  float t = truncf(x);
  return t < x ? t + 1.0f : t;
}

/* Round half to even, as wasm's `nearest` demands: adding and subtracting
 * 2^52 rounds in the default rounding mode. */
double nearbyint(double x) {
  double a = fabs(x);
  if (!(a < 0x1p52))
    return x;
  volatile double r = a + 0x1p52;
  return copysign(r - 0x1p52, x);
}

float nearbyintf(float x) {
  float a = fabsf(x);
  if (!(a < 0x1p23f))
    return x;
  volatile float r = a + 0x1p23f;
  return copysignf(r - 0x1p23f, x);
}

double sqrt(double x) { return __builtin_sqrt(x); }
float sqrtf(float x) { return __builtin_sqrtf(x); }
double fabs(double x) { return __builtin_fabs(x); }
float fabsf(float x) { return __builtin_fabsf(x); }
double copysign(double x, double y) { return __builtin_copysign(x, y); }
float copysignf(float x, float y) { return __builtin_copysignf(x, y); }
double fmin(double x, double y) { return x < y ? x : y; }
float fminf(float x, float y) { return x < y ? x : y; }
double fmax(double x, double y) { return x > y ? x : y; }
float fmaxf(float x, float y) { return x > y ? x : y; }
