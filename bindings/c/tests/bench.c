/* Time per licet_verify from C (the figure in docs/benchmarks.md, "From C"); not run in CI,
 * which never asserts a time. Usage: bench signature.pem token-file now [iterations]
 * Build: cc -O2 -Ibindings/c/include bindings/c/tests/bench.c target/release/liblicet_c.a \
 *          -lpthread -ldl -lm -o bench */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "licet.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  char *buf = malloc(1 << 20);
  if (buf == NULL) abort();
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s signature.pem token-file now [iterations]\n", argv[0]);
    return 2;
  }
  size_t pem_len, token_len;
  char *pem = slurp(argv[1], &pem_len);
  char *token = slurp(argv[2], &token_len);
  long n = argc > 4 ? atol(argv[4]) : 20000;
  licet_keyring *ring = NULL;
  if (licet_keyring_from_pem(pem, pem_len, &ring) != LICET_OK) return 1;
  licet_expectations e;
  memset(&e, 0, sizeof e);
  e.kind = LICET_KIND_LICENSE;
  e.product = "acme-studio-pro";
  e.product_len = strlen(e.product);
  e.now = strtoull(argv[3], NULL, 10);
  e.leeway = LICET_DEFAULT_LEEWAY;
  double best = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = seconds();
    for (long i = 0; i < n; i++) {
      licet_claims *c = NULL;
      if (licet_verify(ring, token, token_len, &e, &c) != LICET_OK) return 1;
      licet_claims_free(c);
    }
    double per = (seconds() - t0) / (double)n;
    if (per < best) best = per;
  }
  printf("%.1f us per licet_verify (claims included), best of 5 rounds of %ld\n", best * 1e6, n);
  licet_keyring_free(ring);
  free(pem);
  free(token);
  return 0;
}
