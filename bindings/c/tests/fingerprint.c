/* licet_fingerprint from C: prints this machine's fingerprint hash for each product named
 * on the command line, one line of 64 hex digits each, for bindings/c/ci.sh to compare with
 * `licet fingerprint --product P` (the CLI, i.e. the Rust side); first checks that bad
 * arguments get their status, never a crash. Meant to run under valgrind.
 *
 * Usage: fingerprint PRODUCT...   Exit 1 on any failed check. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "licet.h"

static int failed;

static void expect_status(licet_status got, licet_status want, const char *what) {
  if (got != want) {
    printf("FAIL %s: %s, expected %s\n", what, licet_status_code(got), licet_status_code(want));
    failed++;
  }
}

static int all_zero(const uint8_t *b) {
  for (size_t i = 0; i < LICET_FINGERPRINT_LEN; i++)
    if (b[i] != 0) return 0;
  return 1;
}

int main(int argc, char **argv) {
  uint8_t fp[LICET_FINGERPRINT_LEN];
  char long_product[LICET_MAX_PRODUCT_LEN + 1];
  memset(long_product, 'a', sizeof long_product);

  expect_status(licet_fingerprint(NULL, 3, fp), LICET_NULL_ARGUMENT, "NULL product");
  expect_status(licet_fingerprint("abc", 3, NULL), LICET_NULL_ARGUMENT, "NULL output");
  memset(fp, 0xff, sizeof fp);
  expect_status(licet_fingerprint("ab\xff", 3, fp), LICET_INVALID_UTF8, "bad UTF-8");
  if (!all_zero(fp)) {
    printf("FAIL the output is not zeroed after a refusal\n");
    failed++;
  }
  expect_status(licet_fingerprint("", 0, fp), LICET_INVALID_ARGUMENT, "empty product");
  expect_status(licet_fingerprint(long_product, sizeof long_product, fp), LICET_INVALID_ARGUMENT,
                "product over LICET_MAX_PRODUCT_LEN");
  /* A huge length (a negative size_t) is refused before any byte is read. */
  expect_status(licet_fingerprint("abc", SIZE_MAX, fp), LICET_INVALID_ARGUMENT, "SIZE_MAX length");
  expect_status(licet_fingerprint(long_product, LICET_MAX_PRODUCT_LEN, fp), LICET_OK,
                "product of exactly LICET_MAX_PRODUCT_LEN");

  for (int i = 1; i < argc; i++) {
    licet_status s = licet_fingerprint(argv[i], strlen(argv[i]), fp);
    if (s != LICET_OK) {
      printf("FAIL fingerprint of %s: %s\n", argv[i], licet_status_code(s));
      failed++;
      continue;
    }
    for (size_t j = 0; j < LICET_FINGERPRINT_LEN; j++) printf("%02x", fp[j]);
    printf("\n");
  }
  return failed ? 1 : 0;
}
