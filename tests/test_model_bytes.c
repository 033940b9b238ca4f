/*
 * test_model_bytes.c — the model bytes of every kind of run are the bytes
 * recorded in this file, whoever built mfrec.
 *
 * The determinism contract (docs/DETERMINISM.md) promises the same model
 * file for any thread count and kernel set, and the libm-free
 * initialization the same bytes on every platform. test_determinism checks
 * runs of one binary against each other; this test checks them against
 * checksums recorded once (from gcc -O3 on x86-64), so that a build that
 * rounds differently fails: another compiler (tools/race-check runs this
 * suite built by clang), another optimization level (the ASan + UBSan
 * build), a kernel set that drifted from the reference. The data are made
 * here by an integer generator (no libm, no `mfrec synth`).
 *
 * A change that is meant to change the arithmetic changes these
 * checksums: the test then prints the whole table with the new values, to
 * be pasted below once the change is understood (and said in the commit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

/* Every run: `mfrec train --data DIR --split random:0.2 --seed 9 FLAGS`,
 * at 1 and 2 threads, each row's kernel sets. */
static const struct model_case {
    const char *flags;
    const char *checksum;
} cases[] = {
    {"--epochs 40", "9482988d8733ae6f"},
    {"--epochs 40 --reduce owner", "85b4e21e3b9b32f4"},
    {"--epochs 30 --dim 13 --l2 0.1 --gravity 1 --l2-freq 0.05 --l1-items 0.01", "487682fb9bcc9098"},
    {"--epochs 30 --dim 13 --l2 0.1 --gravity 1 --l2-freq 0.05 --l1-items 0.01 --reduce owner", "4381b7e79825a5b8"},
    {"--epochs 30 --bias --l2-bias 0.5 --gravity-bias 0.1 --item-prior-drop 0.2", "4f2c7b9c1e86a86a"},
    {"--epochs 30 --dim 8 --implicit 2 --gravity 0.5", "70aa977e5d7152ab"},
    {"--preset ndcg --epochs 20", "7931baad9988f7ff"},
    {"--preset accurate --epochs 20", "b97db3ff0abf9129"},
    {"--optimizer sgd --lr 0.05 --epochs 30 --l2 0.01", "2f020cf09d391b0f"},
    {"--optimizer als --l2 0.1 --epochs 4", "1eccc3f16300e953"},
    {"--optimizer als --als-cg 3 --l2-freq 0.1 --bias --epochs 4", "067300c1794e0567"},
    {"--kind softmax --preset softmax --epochs 3", "e80482c0f5d46c92"},
    {"--kind softmax --hidden 16,8 --features movies,genres,years --epochs 3", "88da7d96e8592c0d"},
    {"--kind softmax --hidden 12 --optimizer adagrad --batch-users 8 --epochs 2", "f15977fd6b398863"},
};

enum { N_USERS = 48, N_ITEMS = 36 };

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = *cap * 2 + (size_t)n;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
}

/* An ML-100K-shaped dataset in dir: each user rates 6 to 23 distinct
 * movies, ratings leaning on a hidden taste (so that training learns
 * something), genres and release years varied for the softmax features. */
static void write_data(const char *dir)
{
    static const char *const genres[] = {"unknown", "Action", "Adventure", "Animation", "Children's",
                                         "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
                                         "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                                         "Sci-Fi", "Thriller", "War", "Western"};
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    assert_non_null(b);
    for (int g = 0; g < 19; g++) append(&b, &len, &cap, "%s|%d\n", genres[g], g);
    tu_write_file(dir, "u.genre", b, len);
    len = 0;
    for (int i = 1; i <= N_ITEMS; i++) {
        int year = 1950 + (int)(mix((uint64_t)i * 7) % 48);
        append(&b, &len, &cap, "%d|Movie %d (%d)|01-Jan-%d||http://example.invalid/%d", i, i, year, year, i);
        int any = 0;
        for (int g = 0; g < 19; g++) {
            int on = mix((uint64_t)i * 19 + (uint64_t)g) % 6 == 0 || (g == 18 && !any);
            any |= on;
            append(&b, &len, &cap, "|%d", on);
        }
        append(&b, &len, &cap, "\n");
    }
    tu_write_file(dir, "u.item", b, len);
    len = 0;
    for (int u = 1; u <= N_USERS; u++) {
        int n = 6 + (int)(mix((uint64_t)u) % 18);
        unsigned char rated[N_ITEMS + 1] = {0};
        for (int r = 0, draw = 0; r < n; draw++) {
            int i = 1 + (int)(mix((uint64_t)u * 1000 + (uint64_t)draw) % N_ITEMS);
            if (rated[i]) continue;
            rated[i] = 1;
            r++;
            int taste = (u % 3 == i % 3) ? 2 : 0;
            int rating = 1 + (int)((mix((uint64_t)(u * 131 + i)) % 3) + (uint64_t)taste);
            long ts = 880000000L + (long)(mix((uint64_t)(u * 7919 + i)) % 5000000);
            append(&b, &len, &cap, "%d\t%d\t%d\t%ld\n", u, i, rating, ts);
        }
    }
    tu_write_file(dir, "u.data", b, len);
    free(b);
}

/* The checksum `train` prints ("model checksum X, ..." or, for a softmax
 * model, "checksum X, ..."), copied into sum[17]; 0 when absent. */
static int printed_checksum(const char *out, char sum[17])
{
    const char *p = strstr(out, "checksum ");
    if (!p || strspn(p + 9, "0123456789abcdef") != 16) return 0;
    memcpy(sum, p + 9, 16);
    sum[16] = '\0';
    return 1;
}

static void test_recorded_model_bytes(void **state)
{
    (void)state;
    const char *bin = getenv("MFREC_BIN");
    if (!bin) tu_skip_all("MFREC_BIN not set (run through meson test)");
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "data"), *out = NULL, *err = NULL;
    char mk[4096];
    snprintf(mk, sizeof mk, "mkdir '%s'", data);
    assert_int_equal(system(mk), 0);
    write_data(data);
    /* the sets this CPU runs (auto is one of them) */
    const char *kernels[4] = {"auto", "ref"};
    size_t n_kernels = 2;
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) kernels[n_kernels++] = "avx2";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx512f"))
        kernels[n_kernels++] = "avx512";
#endif
    const size_t n_cases = sizeof cases / sizeof *cases;
    char got[sizeof cases / sizeof *cases][17];
    int mismatches = 0;
    for (size_t c = 0; c < n_cases; c++) {
        got[c][0] = '\0';
        /* every kernel set at 1 thread, then 2 threads (test_determinism
         * crosses them all; here each run meets the recorded bytes) */
        for (int threads = 1; threads <= 2; threads++)
            for (size_t k = 0; k < (threads == 1 ? n_kernels : 1); k++) {
                int rc = tu_run_clif(bin, dir, "", &out, &err,
                                     "train --data '%s' --split random:0.2 --seed 9 %s --threads %d "
                                     "--kernels %s --data-cache never --quiet --log-every 0",
                                     data, cases[c].flags, threads, kernels[k]);
                if (rc != 0) fail_msg("`train %s --threads %d --kernels %s` failed (%d): %s", cases[c].flags,
                                      threads, kernels[k], rc, err);
                char sum[17];
                if (!printed_checksum(out, sum)) fail_msg("`train %s` printed no checksum:\n%s", cases[c].flags, out);
                if (!got[c][0]) memcpy(got[c], sum, sizeof sum);
                /* within one build: every thread count and kernel set alike */
                if (strcmp(sum, got[c]))
                    fail_msg("`train %s`: checksum %s at %d threads with kernels %s, %s at 1 thread (auto)",
                             cases[c].flags, sum, threads, kernels[k], got[c]);
            }
        if (strcmp(got[c], cases[c].checksum)) mismatches++;
    }
    if (mismatches) {
        print_message("%d of %zu runs gave other model bytes than recorded; the table as this build "
                      "makes it (paste it only for a change meant to change the arithmetic):\n",
                      mismatches, n_cases);
        for (size_t c = 0; c < n_cases; c++)
            print_message("    {\"%s\", \"%s\"},%s\n", cases[c].flags, got[c],
                          strcmp(got[c], cases[c].checksum) ? "  /* changed */" : "");
        fail_msg("model bytes differ from the recorded ones (see above)");
    }
    free(out);
    free(err);
    free(data);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_model_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
