/* Runs every vector of test-vectors/vectors.json through the C ABI and checks that it
 * gives the same decision and code as the Rust verifier, and the same claims (as JSON);
 * then checks the claim accessors on a few vectors and that bad arguments get clear
 * statuses, never a crash. Meant to run under valgrind (bindings/c/ci.sh).
 *
 * Input: the file tests/vectors_to_lines.py writes from vectors.json (see its doc).
 * Output: a line per disagreement; the last line is "N passed, M failed"; exit 1 if any
 * failed. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licet.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                  \
  do {                                                                                    \
    if (cond) {                                                                           \
      passed++;                                                                           \
    } else {                                                                              \
      failed++;                                                                           \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                         \
      printf(__VA_ARGS__);                                                                \
      printf("\n");                                                                       \
    }                                                                                     \
  } while (0)

/* A hex field as bytes, NUL-terminated for convenience; "-" is empty. */
static char *unhex(const char *hex, size_t *len_out) {
  size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
  char *out = malloc(n + 1);
  if (out == NULL) abort();
  for (size_t i = 0; i < n; i++) {
    unsigned int b;
    if (sscanf(hex + 2 * i, "%2x", &b) != 1) abort();
    out[i] = (char)b;
  }
  out[n] = '\0';
  if (len_out) *len_out = n;
  return out;
}

static uint32_t kind_of(const char *name) {
  if (strcmp(name, "license") == 0) return LICET_KIND_LICENSE;
  if (strcmp(name, "machine") == 0) return LICET_KIND_MACHINE;
  if (strcmp(name, "lease") == 0) return LICET_KIND_LEASE;
  fprintf(stderr, "unknown kind %s\n", name);
  exit(2);
}

static int str_is(licet_str s, const char *want) {
  return s.data != NULL && s.len == strlen(want) && memcmp(s.data, want, s.len) == 0 &&
         s.data[s.len] == '\0';
}

static char *hex_of(const uint8_t *b, size_t n) {
  char *s = malloc(2 * n + 1);
  if (s == NULL) abort();
  for (size_t i = 0; i < n; i++) sprintf(s + 2 * i, "%02x", b[i]);
  s[2 * n] = '\0';
  return s;
}

/* The accessors, on vectors whose claims the generator states (test-vectors/src/lib.rs). */
static void check_accessors(const char *name, const licet_claims *c) {
  uint64_t n = 0;
  if (strcmp(name, "license-ed25519") == 0) {
    CHECK(licet_claims_kind(c) == LICET_KIND_LICENSE, "%s kind", name);
    CHECK(str_is(licet_claims_product(c), "acme-studio-pro"), "%s product", name);
    CHECK(str_is(licet_claims_customer(c), "cus_8842"), "%s customer", name);
    CHECK(licet_claims_issuer(c).data == NULL, "%s has no issuer", name);
    CHECK(licet_claims_issued_at(c) == 1790000000u, "%s issued_at", name);
    CHECK(licet_claims_expires_at(c, &n) && n == 1900000000u, "%s expires_at", name);
    CHECK(!licet_claims_not_before(c, &n), "%s has no not_before", name);
    CHECK(licet_claims_license_type(c) == LICET_LICENSE_TYPE_SUBSCRIPTION, "%s type", name);
    CHECK(!licet_claims_max_machines(c, &n) && !licet_claims_max_leases(c, &n), "%s limits", name);
    CHECK(licet_claims_features_len(c) == 3, "%s features_len", name);
    CHECK(str_is(licet_claims_feature(c, 0), "batch-render"), "%s feature 0", name);
    CHECK(str_is(licet_claims_feature(c, 2), "export-pdf"), "%s feature 2", name);
    CHECK(licet_claims_feature(c, 3).data == NULL, "%s feature 3 is out of range", name);
    CHECK(licet_claims_has_feature(c, "export-pdf", 10), "%s has export-pdf", name);
    CHECK(!licet_claims_has_feature(c, "render-farm", 11), "%s lacks render-farm", name);
    CHECK(!licet_claims_has_feature(c, "\xff", 1), "%s: invalid UTF-8 is no feature", name);
    char *id = hex_of(licet_claims_id(c), LICET_ID_LEN);
    CHECK(strcmp(id, "c484e96e83c9fbd1243e28d38d32370f") == 0, "%s id %s", name, id);
    free(id);
    CHECK(licet_claims_license_id(c) == licet_claims_id(c), "%s: a license is its own", name);
    CHECK(licet_claims_fingerprint(c) == NULL, "%s: a license has no fingerprint", name);
  } else if (strcmp(name, "license-ed25519-rich") == 0) {
    CHECK(str_is(licet_claims_issuer(c), "Acme Software GmbH"), "%s issuer", name);
    CHECK(licet_claims_not_before(c, &n) && n == 1790003600u, "%s not_before", name);
    CHECK(licet_claims_license_type(c) == LICET_LICENSE_TYPE_TRIAL, "%s type", name);
    CHECK(licet_claims_max_machines(c, &n) && n == 10, "%s max_machines", name);
    CHECK(licet_claims_max_leases(c, &n) && n == 5, "%s max_leases", name);
    CHECK(!licet_claims_max_leases(c, NULL), "%s: NULL out is false", name);
    char *meta = NULL;
    CHECK(licet_claims_metadata_json(c, &meta) == LICET_OK && meta != NULL &&
              strcmp(meta, "{\"po\":\"PO-2026-117\",\"region\":\"eu\",\"seats-note\":\"lab A\"}") == 0,
          "%s metadata %s", name, meta ? meta : "(null)");
    licet_string_free(meta);
  } else if (strcmp(name, "machine-ed25519") == 0) {
    CHECK(licet_claims_kind(c) == LICET_KIND_MACHINE, "%s kind", name);
    char *fp = hex_of(licet_claims_fingerprint(c), LICET_FINGERPRINT_LEN);
    CHECK(strcmp(fp, "d32b4b1e3990c895de035c5625c7dfc0dde41a60d277af94e3f00bebf928aa35") == 0,
          "%s fingerprint %s", name, fp);
    free(fp);
    char *lic = hex_of(licet_claims_license_id(c), LICET_ID_LEN);
    CHECK(strcmp(lic, "c484e96e83c9fbd1243e28d38d32370f") == 0, "%s license_id %s", name, lic);
    free(lic);
    CHECK(licet_claims_license_type(c) == LICET_LICENSE_TYPE_NONE, "%s has no type", name);
  } else if (strcmp(name, "lease-ed25519") == 0) {
    CHECK(licet_claims_kind(c) == LICET_KIND_LEASE, "%s kind", name);
    CHECK(str_is(licet_claims_client_id(c), "build-agent-7"), "%s client_id", name);
  }
}

/* Bad arguments: each gets its status, nothing is read beyond what the call may read
 * (valgrind would say), and nothing crashes. */
static void check_bad_arguments(const licet_keyring *ring) {
  licet_keyring *k = (licet_keyring *)1;
  CHECK(licet_keyring_from_pem(NULL, 0, &k) == LICET_NULL_ARGUMENT && k == NULL, "NULL pem");
  CHECK(licet_keyring_from_pem("x", 1, NULL) == LICET_NULL_ARGUMENT, "NULL keyring_out");
  CHECK(licet_keyring_from_pem("\xc3\x28", 2, &k) == LICET_INVALID_UTF8, "pem not UTF-8");
  /* A huge length is refused before a byte is read: the buffer is 1 byte long. */
  CHECK(licet_keyring_from_pem("x", SIZE_MAX, &k) == LICET_INVALID_ARGUMENT, "pem SIZE_MAX");
  CHECK(licet_keyring_from_pem("not a key", 9, &k) == LICET_KEYRING_INVALID && k == NULL,
        "pem garbage");

  licet_expectations e;
  memset(&e, 0, sizeof e);
  e.kind = LICET_KIND_LICENSE;
  e.product = "acme-studio-pro";
  e.product_len = strlen(e.product);
  e.now = 1800000000u;
  e.leeway = LICET_DEFAULT_LEEWAY;
  licet_claims *c = (licet_claims *)1;
  const char *tok = "LIC-00";
  CHECK(licet_verify(NULL, tok, 6, &e, &c) == LICET_NULL_ARGUMENT && c == NULL, "NULL keyring");
  CHECK(licet_verify(ring, NULL, 0, &e, &c) == LICET_NULL_ARGUMENT, "NULL token");
  CHECK(licet_verify(ring, tok, 6, NULL, &c) == LICET_NULL_ARGUMENT, "NULL expectations");
  CHECK(licet_verify(ring, "LIC-\xff", 5, &e, &c) == LICET_INVALID_UTF8, "token not UTF-8");
  CHECK(licet_verify(ring, tok, SIZE_MAX, &e, &c) == LICET_TOKEN_TOO_LARGE, "token SIZE_MAX");
  CHECK(licet_verify(ring, tok, LICET_MAX_TOKEN_LEN + 1, &e, &c) == LICET_TOKEN_TOO_LARGE,
        "token one over the cap");
  CHECK(licet_verify(ring, tok, 6, &e, NULL) == LICET_TOKEN_MALFORMED, "decision only");
  e.kind = 7;
  CHECK(licet_verify(ring, tok, 6, &e, &c) == LICET_INVALID_ARGUMENT, "unknown kind");
  e.kind = LICET_KIND_LICENSE;
  e.product = NULL;
  CHECK(licet_verify(ring, tok, 6, &e, &c) == LICET_NULL_ARGUMENT, "NULL product");
  e.product = "\xc3\x28";
  e.product_len = 2;
  CHECK(licet_verify(ring, tok, 6, &e, &c) == LICET_INVALID_UTF8, "product not UTF-8");
  e.product_len = SIZE_MAX;
  CHECK(licet_verify(ring, tok, 6, &e, &c) == LICET_INVALID_ARGUMENT, "product SIZE_MAX");

  /* NULL claims: every accessor answers "absent". */
  uint64_t n = 42;
  char *json = (char *)1;
  CHECK(licet_claims_kind(NULL) == 0 && licet_claims_product(NULL).data == NULL &&
            licet_claims_id(NULL) == NULL && licet_claims_features_len(NULL) == 0 &&
            !licet_claims_expires_at(NULL, &n) && n == 42 &&
            !licet_claims_has_feature(NULL, "x", 1),
        "accessors on NULL claims");
  CHECK(licet_claims_to_json(NULL, &json) == LICET_NULL_ARGUMENT && json == NULL, "json NULL");
  CHECK(licet_claims_to_json(NULL, NULL) == LICET_NULL_ARGUMENT, "json NULL out");
  licet_keyring_free(NULL);
  licet_claims_free(NULL);
  licet_string_free(NULL);

  CHECK(strcmp(licet_status_code(LICET_OK), "OK") == 0, "code of OK");
  CHECK(strcmp(licet_status_code(LICET_TOKEN_EXPIRED), "TOKEN_EXPIRED") == 0, "code");
  CHECK(strcmp(licet_status_code(9999), "UNKNOWN_STATUS") == 0, "code of no status");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s vectors.lines\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "r");
  if (f == NULL) {
    perror(argv[1]);
    return 2;
  }
  char *line = NULL;
  size_t cap = 0;
  licet_keyring *shared = NULL;
  int vectors = 0;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = '\0';
    char *field[13];
    int nf = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t != NULL && nf < 13;
         t = strtok_r(NULL, " ", &save))
      field[nf++] = t;
    if (nf == 2 && strcmp(field[0], "keyring") == 0) {
      size_t len;
      char *pem = unhex(field[1], &len);
      licet_status s = licet_keyring_from_pem(pem, len, &shared);
      free(pem);
      if (s != LICET_OK) {
        fprintf(stderr, "signature.pem: %s\n", licet_status_code(s));
        return 1;
      }
      continue;
    }
    if (nf != 12 || strcmp(field[0], "vector") != 0 || shared == NULL) {
      fprintf(stderr, "bad input line (%d fields)\n", nf);
      return 2;
    }
    vectors++;
    const char *name = field[1];
    size_t product_len, token_len;
    char *product = unhex(field[3], &product_len);
    char *token = unhex(field[11], &token_len);
    uint8_t fp[LICET_FINGERPRINT_LEN];
    uint64_t last_seen = 0;
    licet_expectations e;
    memset(&e, 0, sizeof e);
    e.kind = kind_of(field[2]);
    e.product = product;
    e.product_len = product_len;
    e.now = strtoull(field[4], NULL, 10);
    e.leeway = strtoull(field[5], NULL, 10);
    if (strcmp(field[6], "-") != 0) {
      size_t n;
      char *b = unhex(field[6], &n);
      if (n != sizeof fp) abort();
      memcpy(fp, b, n);
      free(b);
      e.fingerprint = fp;
    }
    if (strcmp(field[7], "-") != 0) {
      last_seen = strtoull(field[7], NULL, 10);
      e.last_seen = &last_seen;
    }

    /* The vector's own keyring when it names one, which may itself be refused. */
    licet_keyring *own = NULL;
    licet_claims *claims = NULL;
    licet_status got;
    if (strcmp(field[8], "none") == 0) {
      got = licet_verify(shared, token, token_len, &e, &claims);
    } else {
      size_t len;
      char *pem = unhex(field[8], &len);
      got = licet_keyring_from_pem(pem, len, &own);
      free(pem);
      if (got == LICET_OK) got = licet_verify(own, token, token_len, &e, &claims);
    }

    const char *want = field[9];
    CHECK(strcmp(licet_status_code(got), want) == 0, "vector %s: expected %s, got %s", name,
          want, licet_status_code(got));
    CHECK((got == LICET_OK) == (claims != NULL), "vector %s: claims iff OK", name);
    if (got == LICET_OK && claims != NULL) {
      char *want_json = unhex(field[10], NULL);
      char *json = NULL;
      CHECK(licet_claims_to_json(claims, &json) == LICET_OK && json != NULL &&
                strcmp(json, want_json) == 0,
            "vector %s: claims differ:\n  got  %s\n  want %s", name, json ? json : "(null)",
            want_json);
      licet_string_free(json);
      free(want_json);
      check_accessors(name, claims);
    }
    licet_claims_free(claims);
    licet_keyring_free(own);
    free(product);
    free(token);
  }
  free(line);
  fclose(f);
  CHECK(vectors >= 40, "only %d vectors read; the manifest lost vectors", vectors);
  check_bad_arguments(shared);
  licet_keyring_free(shared);
  printf("%d vectors; %d passed, %d failed\n", vectors, passed, failed);
  return failed == 0 ? 0 : 1;
}
