/*
 * test_cli_checkpoint.c — a real `mfrec train` killed and resumed: SIGKILL
 * early, mid-run and while a checkpoint is being written (the test hook
 * MFREC_TEST_SLOW_CHECKPOINT holds the write open), SIGINT (exit 3 with a
 * checkpoint), a second SIGINT during the save (exit 130, the save
 * completed, no temporary file) and SIGHUP during a save (exit 129, no
 * temporary file); each restart uses another thread count,
 * and the final model file and --log-json (but for elapsed_s) equal an
 * uninterrupted run's. The same sequence runs for a matrix factorization
 * run and a softmax run (`--kind softmax`, resumed with a plain --resume:
 * the checkpoint names its kind).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

static char *g_dir, *g_data, *g_ck;
static const char *g_bin;

/* The run's options; every run of a test trains the same run, g_run. */
static const char *const mf_run[] = {
    "--split", "random:0.2", "--epochs", "300", "--dim", "6", "--lr", "0.02", "--bias",
    "--implicit", "0.5", "--l2", "0.05", "--gravity", "1", "--reduce", "shard",
    "--early-stop", "40", "--log-every", "7", "--quiet", NULL};
static const char *const softmax_run[] = {
    "--kind", "softmax", "--split", "random:0.2", "--epochs", "150", "--dim", "6",
    "--hidden", "8", "--optimizer", "adam", "--lr", "0.01", "--batch-users", "20",
    "--log-every", "7", "--quiet", NULL};
static const char *const *g_run = mf_run;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts `mfrec train --data DATA G_RUN... --threads T EXTRA...` with
 * MFREC_TEST_SLOW_CHECKPOINT=slow_ms; stdout and stderr go to DIR/log. */
static pid_t start(int threads, const char *slow_ms, const char *const *extra)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) return pid;
    char t[16];
    snprintf(t, sizeof t, "%d", threads);
    const char *argv[64] = {g_bin, "train", "--data", g_data};
    int n = 4;
    for (int x = 0; g_run[x]; x++) argv[n++] = g_run[x];
    argv[n++] = "--threads";
    argv[n++] = t;
    for (int x = 0; extra[x]; x++) argv[n++] = extra[x];
    argv[n] = NULL;
    setenv("MFREC_TEST_SLOW_CHECKPOINT", slow_ms, 1);
    /* the signals the tests send act as they would from a terminal, even
     * where this test was started ignoring them (a shell's background job
     * ignores SIGINT and SIGQUIT, nohup SIGHUP), which exec keeps */
    const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) signal(sigs[k], SIG_DFL);
    char *log = tu_path(g_dir, "log");
    if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(99);
    execv(g_bin, (char *const *)argv);
    _exit(98);
}

/* The exit status, or 128 + the signal that killed it. */
static int finish(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* True when a temporary file of the checkpoint ("ck.tmpXXXXXX") exists. */
static bool temp_exists(void)
{
    DIR *d = opendir(g_dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));) found |= strncmp(e->d_name, "ck.tmp", 6) == 0;
    if (d) closedir(d);
    return found;
}

static void remove_temps(void)
{
    DIR *d = opendir(g_dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, "ck.tmp", 6) == 0) {
            char *p = tu_path(g_dir, e->d_name);
            unlink(p);
            free(p);
        }
    if (d) closedir(d);
}

/* Sets the checkpoint's temporary files two minutes back, as if the run
 * that left them had been killed that long ago. */
static void age_temps(void)
{
    DIR *d = opendir(g_dir);
    const struct timespec ago[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, "ck.tmp", 6) == 0) assert_int_equal(utimensat(dirfd(d), e->d_name, ago, 0), 0);
    if (d) closedir(d);
}

/* Waits up to 20 s for cond; fails the test otherwise. */
static void wait_for(bool (*cond)(void), const char *what)
{
    for (int x = 0; x < 2000; x++) {
        if (cond()) return;
        sleep_ms(10);
    }
    fail_msg("timed out waiting for %s", what);
}

static bool ck_exists(void) { return tu_exists(g_ck); }

/* The checkpoint at g_ck loads and has done some epochs of the run. */
static int64_t ck_epochs(void)
{
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    if (mfr_checkpoint_load(g_ck, &c, &err) != MFR_OK) fail_msg("checkpoint: %s", err.message);
    int64_t e = mfr_model_epochs(mfr_checkpoint_model(c));
    mfr_checkpoint_destroy(c);
    return e;
}

/* A checkpoint later than epoch g_past exists: the process that wrote it
 * is training (its signal handlers are in place). */
static int64_t g_past;
static bool ck_past(void) { return tu_exists(g_ck) && ck_epochs() > g_past; }

/* Starts the run fresh, or resumes it when a checkpoint exists. */
static pid_t start_or_resume(int threads, const char *slow_ms)
{
    const char *fresh[] = {"--checkpoint", g_ck, "--checkpoint-every", "10", NULL};
    const char *resume[] = {"--resume", g_ck, NULL};
    return start(threads, slow_ms, tu_exists(g_ck) ? resume : fresh);
}

/* The log without its times: each record's epoch_s, elapsed_s and wall_s
 * (from the first of them to the record's end) and, for
 * matrix factorization, the closing {"timing":...} record (which must be
 * the last line). */
static char *strip_elapsed(char *log)
{
    for (char *p = log; (p = strstr(p, ",\"epoch_s\":")) || (p = strstr(log, ",\"elapsed_s\":"));) {
        char *end = strchr(p, '}');
        memmove(p, end, strlen(end) + 1);
    }
    char *timing = strstr(log, "{\"timing\":");
    if (g_run == softmax_run) {
        assert_null(timing);
        return log;
    }
    assert_non_null(timing);
    char *nl = strchr(timing, '\n');
    assert_true(nl && nl[1] == 0);
    *timing = 0;
    return log;
}

static void killed_and_resumed_run_is_identical(void)
{
    unlink(g_ck);
    char *full = tu_path(g_dir, "full.mfr"), *full_log = tu_path(g_dir, "full.json");
    char *res = tu_path(g_dir, "res.mfr"), *res_log = tu_path(g_dir, "res.json");
    const char *ref[] = {"--out", full, "--log-json", full_log, NULL};
    assert_int_equal(finish(start(1, "0", ref)), 0);

    /* early: before or during the first checkpoint */
    pid_t pid = start_or_resume(2, "50");
    sleep_ms(30);
    kill(pid, SIGKILL);
    assert_int_equal(finish(pid), 128 + SIGKILL);
    /* mid-run: after a few checkpoints */
    pid = start_or_resume(3, "50");
    wait_for(ck_exists, "a checkpoint");
    sleep_ms(300);
    kill(pid, SIGKILL);
    assert_int_equal(finish(pid), 128 + SIGKILL);
    int64_t before = ck_epochs();
    assert_true(before > 0 && before < 300);
    /* during a checkpoint write: the old one stays valid */
    pid = start_or_resume(1, "3000");
    wait_for(temp_exists, "a checkpoint being written");
    kill(pid, SIGKILL);
    assert_int_equal(finish(pid), 128 + SIGKILL);
    assert_true(temp_exists()); /* SIGKILL cannot clean up; the old file is intact */
    assert_int_equal(ck_epochs(), before);
    age_temps(); /* the next write removes a dead writer's temporary file once it is a minute old */

    /* SIGINT: the epoch finishes, a checkpoint is written, exit 3 */
    pid = start_or_resume(2, "50");
    g_past = before;
    wait_for(ck_past, "a new checkpoint");
    kill(pid, SIGINT);
    assert_int_equal(finish(pid), 3);
    assert_false(temp_exists());
    char *log = tu_path(g_dir, "log");
    size_t n;
    char *text = tu_read_file(log, &n);
    tu_expect_in(text, "interrupted by SIGINT");
    tu_expect_in(text, "resume with: mfrec train --resume");
    free(text);
    int64_t after_int = ck_epochs();
    assert_true(after_int >= before);
    /* a second SIGINT during the save: the save completes, then exit 130 */
    pid = start_or_resume(3, "1500");
    wait_for(temp_exists, "a checkpoint being written");
    kill(pid, SIGINT);
    sleep_ms(100);
    kill(pid, SIGINT);
    assert_int_equal(finish(pid), 128 + SIGINT);
    assert_false(temp_exists());
    assert_true(ck_epochs() > after_int);

    /* the rest of the run, with the outputs */
    const char *last[] = {"--resume", g_ck, "--out", res, "--log-json", res_log, NULL};
    assert_int_equal(finish(start(3, "0", last)), 0);
    size_t la, lb;
    char *a = tu_read_file(full, &la), *b = tu_read_file(res, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    b = tu_read_file(res_log, &lb);
    const char *timing = strstr(b, "{\"timing\":");
    if (g_run != softmax_run) { /* this process's times, and the whole run's epochs */
        assert_non_null(timing);
        double load = tu_json_num(timing, "load_s"), epochs = tu_json_num(timing, "epochs_s"),
               total = tu_json_num(timing, "total_s"), run_epochs = tu_json_num(timing, "run_epochs_s");
        assert_true(load > 0 && epochs > 0 && epochs <= total && run_epochs > epochs);
        /* the report's whole-run loop holds those epochs and the loop's
         * evaluations and checkpoint writes: the larger, and said so */
        char *said = tu_read_file(log, NULL);
        const char *tag = " s in the whole run's epoch loop, its evaluations and checkpoints included", *at = NULL;
        for (const char *q = said; q && (q = strstr(q, tag)); q++) at = q; /* the last run's */
        assert_non_null(at);
        const char *num = at;
        while (num > said && (isdigit((unsigned char)num[-1]) || num[-1] == '.')) num--;
        assert_true(atof(num) >= run_epochs - 0.0005);
        free(said);
    }
    free(b);
    a = strip_elapsed(tu_read_file(full_log, &la));
    b = strip_elapsed(tu_read_file(res_log, &lb));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\"epoch\":7,"));
    free(a);
    free(b);
    free(log);
    free(full);
    free(full_log);
    free(res);
    free(res_log);
}

static void test_killed_and_resumed_run_is_identical(void **state)
{
    (void)state;
    g_run = mf_run;
    killed_and_resumed_run_is_identical();
}

static void test_killed_and_resumed_softmax_run_is_identical(void **state)
{
    (void)state;
    g_run = softmax_run;
    killed_and_resumed_run_is_identical();
    g_run = mf_run;
}

/* SIGHUP (a closed terminal or ssh session) while a checkpoint is being
 * written: the process dies of it, as by default, but its temporary file
 * goes with it (it was left behind), and no half-written checkpoint takes
 * the checkpoint's name. */
static void test_sighup_during_a_save_leaves_no_temporary_file(void **state)
{
    (void)state;
    /* and SIGQUIT (Ctrl-\), which left the temporary file; no core file */
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    const int sigs[] = {SIGHUP, SIGQUIT};
    for (int k = 0; k < 2; k++) {
        unlink(g_ck);
        remove_temps();
        pid_t pid = start_or_resume(1, "3000");
        wait_for(temp_exists, "a checkpoint being written");
        kill(pid, sigs[k]);
        assert_int_equal(finish(pid), 128 + sigs[k]);
        assert_false(temp_exists());
        assert_false(tu_exists(g_ck));
    }
}

/* Options that change results are refused, each named; an unreadable
 * checkpoint is a runtime error. */
/* The "resume with:" line quotes the checkpoint for a shell: a name with
 * a quote and a command substitution, pasted, names the file and runs
 * nothing; a name with a newline too stays on the line ($'...', bash), and
 * a tab is written \t (pasted raw, it asks an interactive shell for
 * completions). */
static void test_resume_hint_is_shell_safe(void **state)
{
    (void)state;
    char *saved = g_ck;
    const char *names[] = {"a'$(touch PWNED)'b.ckpt", "n\nl'\\x41$(touch PWNED)\t.ckpt", "t\tab.ckpt"};
    for (int x = 0; x < 3; x++) {
        g_ck = tu_path(g_dir, names[x]);
        char *log = tu_path(g_dir, "log"), *pwned = tu_path(g_dir, "PWNED");
        remove(log);
        const char *extra[] = {"--checkpoint", g_ck, "--checkpoint-every", "5", NULL};
        pid_t pid = start(1, "0", extra);
        wait_for(ck_exists, "a checkpoint");
        kill(pid, SIGINT);
        assert_int_equal(finish(pid), 3);
        char *text = tu_read_file(log, NULL);
        const char *hint = strstr(text, "resume with: mfrec train --resume ");
        assert_non_null(hint);
        hint += strlen("resume with: mfrec train --resume ");
        const char *end = strstr(hint, " (with the same");
        assert_non_null(end);
        assert_null(memchr(hint, '\n', (size_t)(end - hint))); /* one line */
        assert_null(memchr(hint, '\t', (size_t)(end - hint)));
        if (x > 0) assert_int_equal(strncmp(hint, "$'", 2), 0);
        const char *tab_tail = "/t\\tab.ckpt'"; /* the directory, then the name */
        if (x == 2) assert_memory_equal(end - strlen(tab_tail), tab_tail, strlen(tab_tail));
        /* and the interruption's own line shows the name escaped */
        if (x == 1) tu_expect_in(text, "checkpoint written to ");
        if (x == 1) tu_expect_in(text, "n\\x0Al'\\x41$(touch PWNED)\t.ckpt\n");
        /* pasted into bash (which reads $'...'), as a script of its own */
        char *script = tu_path(g_dir, "hint.sh"), cmd[4096];
        FILE *f = fopen(script, "w");
        assert_non_null(f);
        fprintf(f, "test -f %.*s\n", (int)(end - hint), hint);
        assert_int_equal(fclose(f), 0);
        snprintf(cmd, sizeof cmd, "cd '%s' && bash hint.sh", g_dir);
        free(script);
        assert_int_equal(system(cmd), 0);
        assert_false(tu_exists(pwned));
        remove(g_ck);
        free(text);
        free(log);
        free(pwned);
        free(g_ck);
    }
    g_ck = saved;
}

static int train_plain(const char *const *args);

static void test_resume_refuses_differences(void **state)
{
    (void)state;
    char *ck2 = tu_path(g_dir, "ck2");
    const char *make[] = {"--epochs", "20", "--checkpoint", ck2, "--checkpoint-every", "5", NULL};
    assert_int_equal(finish(start(1, "0", make)), 0);
    const char *bad[] = {"--resume", ck2, "--dim", "7", "--split", "random:0.3", "--init-from",
                         "a.npy,b.npy", NULL};
    char *log = tu_path(g_dir, "log");
    unlink(log);
    assert_int_equal(finish(start(2, "0", bad)), 2);
    size_t n;
    char *text = tu_read_file(log, &n);
    tu_expect_in(text, "--dim is 7, the checkpoint's 6");
    tu_expect_in(text, "split is 'random:0.3'");
    tu_expect_in(text, "--init-from cannot be combined with --resume");
    free(text);
    const char *missing[] = {"--resume", log, NULL}; /* not a checkpoint */
    assert_int_equal(finish(start(2, "0", missing)), 1);
    /* a resumed run writes its checkpoints to the file it resumed from: a
     * symbolic link there is refused before any epoch, not when the first
     * checkpoint is due (which lost every epoch since the resume) */
    char *link = tu_path(g_dir, "ck2.link"), *out = tu_path(g_dir, "ck2.model");
    unlink(link);
    assert_int_equal(symlink(ck2, link), 0);
    const char *via_link[] = {"--resume", link, "--epochs", "40", "--log-every", "1", "--out", out, NULL};
    unlink(log);
    assert_int_equal(finish(start(1, "0", via_link)), 1);
    text = tu_read_file(log, &n);
    tu_expect_in(text, "--resume ");
    tu_expect_in(text, "ck2.link (the checkpoint this resumed run replaces) is a symbolic link");
    assert_null(strstr(text, "epoch")); /* refused before training */
    free(text);
    assert_false(tu_exists(out));
    const char *named[] = {"--resume", ck2, "--checkpoint", link, "--epochs", "40", NULL};
    unlink(log);
    assert_int_equal(finish(start(1, "0", named)), 1);
    /* the path is --checkpoint's, not --resume's (which names ck2) */
    text = tu_read_file(log, &n);
    tu_expect_in(text, "--checkpoint ");
    tu_expect_in(text, "ck2.link (the checkpoint this resumed run replaces) is a symbolic link");
    assert_null(strstr(text, "--resume "));
    free(text);
    /* the same for a softmax run, whose resume defaults --checkpoint to
     * the --resume path before the check */
    char *ck_sm = tu_path(g_dir, "ck2_sm");
    unlink(ck_sm);
    unlink(link);
    const char *make_sm[] = {"--data", g_data, "--kind", "softmax", "--epochs", "2", "--checkpoint", ck_sm,
                             "--checkpoint-every", "1", "--quiet", NULL};
    assert_int_equal(train_plain(make_sm), 0);
    assert_int_equal(symlink(ck_sm, link), 0);
    const char *sm_link[] = {"--resume", link, "--epochs", "4", NULL};
    assert_int_equal(train_plain(sm_link), 1);
    text = tu_read_file(log, &n);
    tu_expect_in(text, "--resume ");
    tu_expect_in(text, "ck2.link (the checkpoint this resumed run replaces) is a symbolic link");
    assert_null(strstr(text, "--checkpoint "));
    free(text);
    const char *sm_named[] = {"--resume", ck_sm, "--checkpoint", link, "--epochs", "4", NULL};
    assert_int_equal(train_plain(sm_named), 1);
    text = tu_read_file(log, &n);
    tu_expect_in(text, "--checkpoint ");
    assert_null(strstr(text, "--resume "));
    free(text);
    free(ck_sm);
    unlink(link);
    free(link);
    free(out);
    free(log);
    free(ck2);
}

/* Runs `mfrec train ARGS...` (no g_run) with output to DIR/log,
 * which is emptied first; returns the exit status. */
static int train_plain(const char *const *args)
{
    char *log = tu_path(g_dir, "log");
    unlink(log);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[32] = {g_bin, "train"};
        int n = 2;
        for (int x = 0; args[x] && n < 31; x++) argv[n++] = args[x];
        argv[n] = NULL;
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(99);
        execv(g_bin, (char *const *)argv);
        _exit(98);
    }
    free(log);
    return finish(pid);
}

/* test_softmax_resume_refusals: a resume refuses movies whose genres
 * changed (`log`: the run's output). */
static void check_resume_sees_genres(const char *log, const char *ck_sm)
{
    /* the movies' genres changed (u.item): the ratings' fingerprint does
     * not see it, the resume must (movie 1's first genre flag flipped) */
    char *regenred = tu_path(g_dir, "data_genres"), cmd[2048];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s'/.mfrec-cache* && "
             "awk -F'|' 'BEGIN { OFS = \"|\" } NR == 1 { $6 = 1 - $6 } { print }' '%s/u.item' > '%s/u.item.new' && "
             "mv '%s/u.item.new' '%s/u.item'",
             regenred, g_data, regenred, regenred, g_data, regenred, regenred, regenred);
    assert_int_equal(system(cmd), 0);
    const char *moved[] = {"--quiet", "--resume", ck_sm, "--data", regenred, "--features", "movies,genres", NULL};
    g_run = softmax_run;
    char *ck_g = tu_path(g_dir, "ck_genres");
    const char *make_g[] = {"--epochs", "4", "--features", "movies,genres", "--checkpoint", ck_g,
                            "--checkpoint-every", "2", NULL};
    assert_int_equal(finish(start(1, "0", make_g)), 0);
    g_run = mf_run;
    moved[2] = ck_g;
    assert_int_equal(train_plain(moved), 2);
    char *gtext = tu_read_file(log, NULL);
    tu_expect_in(gtext, "the movies' genres or release years differ from the checkpoint's (movie 1 first)");
    free(gtext);
    free(ck_g);
    free(regenred);
}

/* test_softmax_resume_refusals: a resume from a copy of the data. */
static void check_resume_from_data_copy(void)
{
    char cmd[2048];
    /* the same data in another place (--data a copy): the resumed model is
     * the uninterrupted run's, byte for byte, recording the original
     * directory as matrix factorization's does */
    char *copy = tu_path(g_dir, "data_copy"), *ck_c = tu_path(g_dir, "ck_copy");
    char *whole = tu_path(g_dir, "copy_whole.mfr"), *resumed = tu_path(g_dir, "copy_resumed.mfr");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", copy, g_data, copy);
    assert_int_equal(system(cmd), 0);
    const char *run_whole[] = {"--quiet", "--kind", "softmax", "--data", g_data, "--epochs", "4", "--out", whole, NULL};
    assert_int_equal(train_plain(run_whole), 0);
    const char *run_half[] = {"--quiet", "--kind", "softmax", "--data", g_data, "--epochs", "2", "--checkpoint", ck_c,
                              "--checkpoint-every", "2", NULL};
    assert_int_equal(train_plain(run_half), 0);
    const char *run_rest[] = {"--quiet", "--resume", ck_c, "--data", copy, "--epochs", "4", "--out", resumed, NULL};
    assert_int_equal(train_plain(run_rest), 0);
    size_t n_whole, n_resumed;
    char *bytes_whole = tu_read_file(whole, &n_whole), *bytes_resumed = tu_read_file(resumed, &n_resumed);
    assert_true(n_whole == n_resumed && memcmp(bytes_whole, bytes_resumed, n_whole) == 0);
    free(bytes_whole);
    free(bytes_resumed);
    free(copy);
    free(ck_c);
    free(whole);
    free(resumed);
}

/* test_softmax_resume_refusals: --shards on a softmax resume. */
static void check_resume_ignores_shards(const char *log)
{
    /* --shards changes nothing for the softmax trainer: a resume with
     * another count runs, says it ignores the flag, and writes the model
     * of a resume without it (two checkpoints of one run: each resume
     * moves its own) */
    char *ck_a = tu_path(g_dir, "ck_sh_a"), *ck_b = tu_path(g_dir, "ck_sh_b");
    char *out_a = tu_path(g_dir, "sh_a.mfr"), *out_b = tu_path(g_dir, "sh_b.mfr");
    g_run = softmax_run;
    const char *make_a[] = {"--epochs", "6", "--checkpoint", ck_a, "--checkpoint-every", "3", NULL};
    const char *make_b[] = {"--epochs", "6", "--checkpoint", ck_b, "--checkpoint-every", "3", NULL};
    assert_int_equal(finish(start(1, "0", make_a)), 0);
    assert_int_equal(finish(start(1, "0", make_b)), 0);
    g_run = mf_run;
    const char *res_a[] = {"--resume", ck_a, "--shards", "3", "--epochs", "9", "--out", out_a,
                           "--quiet", NULL};
    const char *res_b[] = {"--resume", ck_b, "--epochs", "9", "--out", out_b, "--quiet", NULL};
    assert_int_equal(train_plain(res_a), 0);
    char *text = tu_read_file(log, NULL);
    tu_expect_in(text, "--shards 3 is ignored on resume");
    free(text);
    assert_int_equal(train_plain(res_b), 0);
    size_t la, lb;
    char *a = tu_read_file(out_a, &la), *b = tu_read_file(out_b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    free(ck_a);
    free(ck_b);
    free(out_a);
    free(out_b);
}

/* A softmax checkpoint: the same refusals, and the kinds are not mixed up
 * (an MF checkpoint given to --kind softmax, a softmax one to --kind mf). */
static void test_softmax_resume_refusals(void **state)
{
    (void)state;
    char *ck_sm = tu_path(g_dir, "ck_sm"), *ck_mf = tu_path(g_dir, "ck_mf");
    char *log = tu_path(g_dir, "log");
    g_run = softmax_run;
    const char *make[] = {"--epochs", "10", "--checkpoint", ck_sm, "--checkpoint-every", "5", NULL};
    assert_int_equal(finish(start(1, "0", make)), 0);
    g_run = mf_run;
    const char *make_mf[] = {"--epochs", "10", "--checkpoint", ck_mf, "--checkpoint-every", "5",
                             NULL};
    assert_int_equal(finish(start(1, "0", make_mf)), 0);
    struct {
        const char *args[12];
        int rc;
        const char *msg[2];
    } cases[] = {
        {{"--resume", ck_sm, "--lr", "0.02", "--split", "random:0.3", NULL}, 2,
         {"--lr is 0.02, the checkpoint's 0.01", "split is 'random:0.3', the checkpoint's 'random:0.2'"}},
        {{"--resume", ck_sm, "--hidden", "9", "--all-pairs", NULL}, 2,
         {"--hidden is 9, the checkpoint's 8", "--all-pairs here, no --all-pairs in the checkpoint"}},
        /* flags in their own words, not the configuration's codes */
        {{"--resume", ck_sm, "--optimizer", "adagrad", "--features", "movies,genres", NULL}, 2,
         {"--optimizer is adagrad, the checkpoint's adam", "--features is movies,genres, the checkpoint's movies"}},
        {{"--resume", ck_sm, "--hidden", "none", "--hidden-init", "he", NULL}, 2,
         {"--hidden is none, the checkpoint's 8", "--hidden-init is he, the checkpoint's colab"}},
        {{"--resume", ck_sm, "--epochs", "4", NULL}, 2, {"--epochs 4 is fewer than the 10", NULL}},
        {{"--resume", ck_sm, "--init-from", "a.npy,b.npy", NULL}, 2,
         {"--init-from does not apply to --kind softmax", NULL}},
        {{"--kind", "softmax", "--resume", ck_mf, NULL}, 2,
         {"checkpoint of a matrix factorization run", NULL}},
        {{"--kind", "mf", "--resume", ck_sm, NULL}, 2, {"the checkpoint is of a softmax run", "--resume FILE alone takes the checkpoint's kind"}},
        /* restated values and execution flags are accepted */
        {{"--resume", ck_sm, "--lr", "0.01", "--hidden", "8", "--threads", "3", "--epochs", "12",
          "--quiet", NULL}, 0, {NULL, NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *args[16] = {"--quiet"};
        int n = 1;
        for (int x = 0; cases[c].args[x]; x++) args[n++] = cases[c].args[x];
        args[n] = NULL;
        assert_int_equal(train_plain(args), cases[c].rc);
        char *text = tu_read_file(log, NULL);
        for (int m = 0; m < 2; m++)
            if (cases[c].msg[m] && !strstr(text, cases[c].msg[m]))
                fail_msg("case %zu: '%s' not in: %s", c, cases[c].msg[m], text);
        free(text);
    }
    check_resume_sees_genres(log, ck_sm);
    check_resume_from_data_copy();
    check_resume_ignores_shards(log);
    free(ck_sm);
    free(ck_mf);
    free(log);
}

/* A flag beside --resume that restates the checkpoint's value is accepted
 * alone (--l2-bias without --bias: the rule between the two holds for the
 * checkpoint's configuration); one that differs is refused and named, and
 * so is one that the checkpoint's configuration does not allow. */
static void test_resume_accepts_restated_options(void **state)
{
    (void)state;
    char *ck = tu_path(g_dir, "ck3"), *ck_plain = tu_path(g_dir, "ck4"), *log = tu_path(g_dir, "log");
    const char *make[] = {"--data", g_data, "--epochs", "6", "--bias", "--l2-bias", "0.05",
                          "--dim", "5", "--checkpoint", ck, "--checkpoint-every", "3", "--quiet",
                          NULL};
    assert_int_equal(train_plain(make), 0);
    const char *same[] = {"--resume", ck, "--l2-bias", "0.05", "--dim", "5", "--quiet", NULL};
    assert_int_equal(train_plain(same), 0);
    /* every field of the configuration table, restated alone with the
     * checkpoint's value, is accepted; skipped: a switch that is off, the
     * machine's fields (not recorded) and values no flag can give (the
     * shard count 0, "derived from the data") */
    mfr_checkpoint *c = NULL;
    mfr_config cfg;
    assert_int_equal(mfr_checkpoint_load(ck, &c, NULL), MFR_OK);
    assert_int_equal(mfr_model_config(mfr_checkpoint_model(c), &cfg, NULL), MFR_OK);
    int restated = 0;
    for (int i = 0; i < mfr_config_field_count(); i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        char v[64];
        assert_int_equal(mfr_config_format(&cfg, f, v, sizeof v, NULL), MFR_OK);
        mfr_config probe;
        mfr_config_default(&probe);
        if (f->execution_only || (f->type == MFR_CONFIG_FLAG && !strcmp(v, "0")) ||
            (f->type != MFR_CONFIG_FLAG && mfr_config_set(&probe, f->flag, v, NULL) != MFR_OK))
            continue;
        const char *one[] = {"--resume", ck, f->flag, f->type == MFR_CONFIG_FLAG ? "--quiet" : v,
                             "--quiet", NULL};
        if (train_plain(one) != 0) fail_msg("--resume with %s %s was refused", f->flag, v);
        restated++;
    }
    assert_true(restated >= 15);
    mfr_checkpoint_destroy(c);
    char *text;
    /* the shard count and reduction the run derived (the checkpoint
     * records 0 and auto), restated: no difference; others are named with
     * what was derived */
    char derived[16] = "";
    const char *probe_run[] = {"--resume", ck, "--quiet", NULL};
    assert_int_equal(train_plain(probe_run), 0);
    text = tu_read_file(log, NULL);
    const char *sh = strstr(text, ", shards ");
    assert_non_null(sh);
    snprintf(derived, sizeof derived, "%d", atoi(sh + strlen(", shards ")));
    const bool owner = strstr(text, "reduce owner") != NULL;
    free(text);
    const char *restate[] = {"--resume", ck, "--shards", derived, "--reduce", owner ? "owner" : "shard",
                             "--quiet", NULL};
    assert_int_equal(train_plain(restate), 0);
    char more[16];
    snprintf(more, sizeof more, "%d", atoi(derived) + 1);
    const char *differ[] = {"--resume", ck, "--shards", more, "--reduce", owner ? "shard" : "owner",
                            "--quiet", NULL};
    assert_int_equal(train_plain(differ), 2);
    text = tu_read_file(log, NULL);
    char want[96];
    snprintf(want, sizeof want, "--shards is %s, the checkpoint's derived from the data (%s)", more, derived);
    tu_expect_in(text, want);
    snprintf(want, sizeof want, "--reduce is %s, the checkpoint's auto (%s)", owner ? "shard" : "owner",
             owner ? "owner" : "shard");
    tu_expect_in(text, want);
    free(text);
    const char *other[] = {"--resume", ck, "--l2-bias", "0.07", "--quiet", NULL};
    assert_int_equal(train_plain(other), 2);
    text = tu_read_file(log, NULL);
    tu_expect_in(text, "--l2-bias is 0.07, the checkpoint's 0.05");
    free(text);
    const char *plain[] = {"--data", g_data, "--epochs", "6", "--dim", "5", "--checkpoint",
                           ck_plain, "--checkpoint-every", "3", "--quiet", NULL};
    assert_int_equal(train_plain(plain), 0);
    const char *needs_bias[] = {"--resume", ck_plain, "--l2-bias", "0.05", "--quiet", NULL};
    assert_int_equal(train_plain(needs_bias), 2);
    text = tu_read_file(log, NULL);
    tu_expect_in(text, "--l2-bias is 0.05, the checkpoint's 0");
    free(text);
    const char *with_bias[] = {"--resume", ck_plain, "--bias", "--quiet", NULL}; /* a switch, named as typed */
    assert_int_equal(train_plain(with_bias), 2);
    text = tu_read_file(log, NULL);
    tu_expect_in(text, "the run differs from the checkpoint's: --bias here, no --bias in the checkpoint");
    free(text);
    free(ck);
    free(ck_plain);
    free(log);
}

/* A preset beside --resume restates the configuration; its --epochs is
 * the preset's default, not a given --epochs: the run keeps the
 * checkpoint's count (the model equals the uninterrupted run's), and only
 * an explicit --epochs extends it. */
static void test_resume_with_preset_keeps_epochs(void **state)
{
    (void)state;
    char *ck = tu_path(g_dir, "ck5"), *full = tu_path(g_dir, "full5.mfr"), *res = tu_path(g_dir, "res5.mfr");
    char *six = tu_path(g_dir, "six5.mfr"), *log = tu_path(g_dir, "log");
    const char *make[] = {"--data", g_data, "--preset", "accurate", "--epochs", "4", "--checkpoint", ck,
                          "--checkpoint-every", "2", "--out", full, "--quiet", NULL};
    assert_int_equal(train_plain(make), 0);
    /* without --preset (the default's notebook) the header names the
     * checkpoint's configuration: it said "preset notebook | dim 64" */
    const char *bare[] = {"--resume", ck, "--out", res, NULL};
    assert_int_equal(train_plain(bare), 0);
    char *text = tu_read_file(log, NULL);
    tu_expect_in(text, "\npreset accurate | dim 64, epochs 4, Adam lr 0.01");
    assert_null(strstr(text, "preset notebook"));
    free(text);
    const char *again[] = {"--resume", ck, "--preset", "accurate", "--out", res, NULL};
    assert_int_equal(train_plain(again), 0);
    text = tu_read_file(log, NULL);
    tu_expect_in(text, "after epoch 4 of 4\n");
    /* a resumed run's ms/epoch is this process's: none ran here, so none is
     * timed (it said "0.0000 ms/epoch, 0 ratings/s") */
    tu_expect_in(text, "(resumed at epoch 4, the run's last: no epoch ran; ");
    assert_null(strstr(text, "ms/epoch,"));
    free(text);
    size_t n_full, n_res;
    char *a = tu_read_file(full, &n_full), *b = tu_read_file(res, &n_res);
    assert_int_equal(n_full, n_res);
    assert_memory_equal(a, b, n_full);
    free(b);
    const char *longer[] = {"--resume", ck, "--preset", "accurate", "--epochs", "6", "--out", res, "--quiet", NULL};
    assert_int_equal(train_plain(longer), 0);
    const char *straight[] = {"--data", g_data, "--preset", "accurate", "--epochs", "6", "--out", six, "--quiet", NULL};
    assert_int_equal(train_plain(straight), 0);
    size_t n_six;
    char *c = tu_read_file(six, &n_six);
    b = tu_read_file(res, &n_res);
    assert_int_equal(n_six, n_res);
    assert_memory_equal(c, b, n_six);
    assert_true(n_full != n_six || memcmp(a, c, n_six) != 0); /* six epochs are not four */
    free(a), free(b), free(c);
    free(ck), free(full), free(res), free(six), free(log);
}

/* The model and the --log-json of the run in `a` equal those of `b`
 * (the logs without their times). */
static void expect_same_run(const char *model_a, const char *model_b, const char *log_a,
                            const char *log_b)
{
    size_t la, lb;
    char *a = tu_read_file(model_a, &la), *b = tu_read_file(model_b, &lb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a), free(b);
    a = strip_elapsed(tu_read_file(log_a, &la));
    b = strip_elapsed(tu_read_file(log_b, &lb));
    assert_string_equal(a, b);
    free(a), free(b);
}

/* The run `straight` against `part` (ending in a checkpoint) resumed by
 * `rest`: the same model and log (expect_same_run). */
static void expect_resumed_run(const char **straight, const char **part, const char **rest,
                               const char *full, const char *res, const char *full_log,
                               const char *res_log)
{
    assert_int_equal(train_plain(straight), 0);
    assert_int_equal(train_plain(part), 0);
    assert_int_equal(train_plain(rest), 0);
    expect_same_run(full, res, full_log, res_log);
}

/* What a run records beyond its configuration carries over a resume:
 * --no-train-eval (the log's training metrics stay null, not given
 * again), and an early stop that fired at a checkpoint's epoch (the
 * resume trains nothing more; a crash during the final save leaves just
 * that checkpoint). */
static void test_resume_keeps_run_flags(void **state)
{
    (void)state;
    char *ck = tu_path(g_dir, "ck6"), *log = tu_path(g_dir, "log");
    char *full = tu_path(g_dir, "full6.mfr"), *full_log = tu_path(g_dir, "full6.json");
    char *res = tu_path(g_dir, "res6.mfr"), *res_log = tu_path(g_dir, "res6.json");
    const char *straight[] = {"--data", g_data, "--epochs", "8", "--log-every", "2", "--no-train-eval",
                              "--out", full, "--log-json", full_log, "--quiet", NULL};
    const char *part[] = {"--data", g_data, "--epochs", "4", "--log-every", "2", "--no-train-eval",
                          "--checkpoint", ck, "--checkpoint-every", "2", "--quiet", NULL};
    const char *rest[] = {"--resume", ck, "--epochs", "8", "--out", res, "--log-json", res_log,
                          "--quiet", NULL};
    expect_resumed_run(straight, part, rest, full, res, full_log, res_log);
    char *text = tu_read_file(res_log, NULL);
    assert_null(strstr(text, "\"train_mse\":0")); /* never a number: null at every epoch */
    assert_null(strstr(text, "\"train_mse\":1"));
    tu_expect_in(text, "\"train_mse\":null");
    free(text);

    /* the epoch early stopping fires at, from a run without checkpoints */
    const char *es_full[] = {"--data", g_data, "--epochs", "400", "--bias", "--lr", "0.05",
                             "--init-std", "0.1", "--early-stop", "3", "--log-every", "50",
                             "--out", full, "--log-json", full_log, NULL};
    assert_int_equal(train_plain(es_full), 0);
    text = tu_read_file(log, NULL);
    const char *at = strstr(text, "early stop after epoch ");
    assert_non_null(at);
    const long stop = atol(at + strlen("early stop after epoch "));
    assert_true(stop > 3 && stop < 400);
    free(text);
    char every[24];
    snprintf(every, sizeof every, "%ld", stop);
    unlink(ck);
    const char *es_ck[] = {"--data", g_data, "--epochs", "400", "--bias", "--lr", "0.05",
                           "--init-std", "0.1", "--early-stop", "3", "--log-every", "50",
                           "--checkpoint", ck, "--checkpoint-every", every, "--quiet", NULL};
    assert_int_equal(train_plain(es_ck), 0);
    const char *es_rest[] = {"--resume", ck, "--out", res, "--log-json", res_log, NULL};
    assert_int_equal(train_plain(es_rest), 0);
    text = tu_read_file(log, NULL);
    char want[64];
    snprintf(want, sizeof want, "early stop after epoch %ld: keeping epoch ", stop);
    tu_expect_in(text, want);
    free(text);
    expect_same_run(full, res, full_log, res_log);
    free(ck), free(log), free(full), free(full_log), free(res), free(res_log);
}

/* A run on every rating (--split none) has no validation: its log's
 * val_mse is null, which a resume with --plot reads back (it took every
 * record for a number and refused the checkpoint's log as not mfrec's). */
static void test_resume_without_validation(void **state)
{
    (void)state;
    char *ck = tu_path(g_dir, "ck9"), *plot = tu_path(g_dir, "plot9");
    char *full = tu_path(g_dir, "full9.mfr"), *full_log = tu_path(g_dir, "full9.json");
    char *res = tu_path(g_dir, "res9.mfr"), *res_log = tu_path(g_dir, "res9.json");
    const char *straight[] = {"--data", g_data, "--split", "none", "--epochs", "6", "--log-every", "2",
                              "--out", full, "--log-json", full_log, "--quiet", NULL};
    const char *part[] = {"--data", g_data, "--split", "none", "--epochs", "4", "--log-every", "2",
                          "--checkpoint", ck, "--checkpoint-every", "2", "--quiet", NULL};
    const char *rest[] = {"--resume", ck, "--epochs", "6", "--out", res, "--log-json", res_log,
                          "--plot", plot, "--quiet", NULL};
    unlink(ck);
    expect_resumed_run(straight, part, rest, full, res, full_log, res_log);
    char *text = tu_read_file(res_log, NULL);
    tu_expect_in(text, "{\"epoch\":2,\"train_mse\":");
    tu_expect_in(text, ",\"val_mse\":null,\"train_rmse\":");
    free(text);
    char *png = tu_path(plot, "learning_curve.png");
    assert_true(tu_exists(png));
    free(png);
    tu_rmtree(plot);
    free(ck), free(plot), free(full), free(full_log), free(res), free(res_log);
}

/* A run cut short to its checkpoint's epoch (--epochs at the epochs done,
 * the checkpoint written at an epoch that was not logged, as after a
 * signal) trains nothing, but logs its last epoch as the uninterrupted run
 * does: the record was missing, and a softmax run's record lacked the
 * test metrics of a logged epoch. */
static void resumed_at_its_last_epoch(const char *kind)
{
    char *ck = tu_path(g_dir, "ck7");
    char *full = tu_path(g_dir, "full7.mfr"), *full_log = tu_path(g_dir, "full7.json");
    char *res = tu_path(g_dir, "res7.mfr"), *res_log = tu_path(g_dir, "res7.json");
    const char *straight[] = {"--data", g_data, "--kind", kind, "--epochs", "3", "--log-every", "4",
                              "--out", full, "--log-json", full_log, "--quiet", NULL};
    const char *part[] = {"--data", g_data, "--kind", kind, "--epochs", "5", "--log-every", "4",
                          "--checkpoint", ck, "--checkpoint-every", "3", "--quiet", NULL};
    const char *rest[] = {"--resume", ck, "--epochs", "3", "--out", res, "--log-json", res_log,
                          "--quiet", NULL};
    unlink(ck);
    expect_resumed_run(straight, part, rest, full, res, full_log, res_log);
    char *text = tu_read_file(res_log, NULL);
    tu_expect_in(text, "{\"epoch\":3,");
    free(text);
    free(ck), free(full), free(full_log), free(res), free(res_log);
}

static void test_resumed_at_its_last_epoch_logs_it(void **state)
{
    (void)state;
    resumed_at_its_last_epoch("mf");
    g_run = softmax_run; /* its log has no timing record */
    resumed_at_its_last_epoch("softmax");
    g_run = mf_run;
}

/* `mfrec train ARGS...`, which must succeed: its stdout and stderr. */
static char *train_ok(const char *const *args)
{
    assert_int_equal(train_plain(args), 0);
    char *log = tu_path(g_dir, "log"), *text = tu_read_file(log, NULL);
    free(log);
    return text;
}

/* The final report says which epoch --checkpoint FILE holds, or that the
 * run wrote none: `--epochs 2 --checkpoint FILE` (the first checkpoint
 * due at epoch 100) left no file and said nothing. */
static void checkpoint_line(const char *kind)
{
    char *ck = tu_path(g_dir, "ck8");
    unlink(ck);
    const char *none[] = {"--data", g_data, "--kind", kind, "--epochs", "2", "--checkpoint", ck,
                          "--quiet", NULL};
    char *text = train_ok(none);
    assert_false(tu_exists(ck));
    tu_expect_in(text, "no checkpoint written to ");
    tu_expect_in(text, ": the next was due at epoch 100 (--checkpoint-every 100)\n");
    free(text);
    const char *some[] = {"--data", g_data, "--kind", kind, "--epochs", "5", "--checkpoint", ck,
                          "--checkpoint-every", "2", "--quiet", NULL};
    text = train_ok(some);
    assert_true(tu_exists(ck));
    tu_expect_in(text, "checkpoint of epoch 4 in ");
    tu_expect_in(text, "; epoch 5 is not in it (--checkpoint-every 2)\n");
    free(text);
    /* a resume that writes none: FILE still holds the epoch resumed from
     * (it said "no checkpoint written to FILE", as if there were no file) */
    const char *past[] = {"--resume", ck, "--epochs", "5", "--checkpoint-every", "100", "--quiet", NULL};
    text = train_ok(past);
    tu_expect_in(text, "checkpoint of epoch 4 in ");
    tu_expect_in(text, "; epoch 5 is not in it (--checkpoint-every 100)\n");
    assert_null(strstr(text, "no checkpoint written"));
    free(text);
    const char *cut[] = {"--resume", ck, "--epochs", "4", "--quiet", NULL};
    text = train_ok(cut);
    tu_expect_in(text, "checkpoint of epoch 4 in ");
    assert_null(strstr(text, "not in it"));
    assert_null(strstr(text, "no checkpoint written"));
    free(text);
    const char *more[] = {"--resume", ck, "--epochs", "9", "--checkpoint-every", "5", "--quiet", NULL};
    text = train_ok(more);
    tu_expect_in(text, "checkpoint of epoch 5 in ");
    tu_expect_in(text, "; epochs 6-9 are not in it (--checkpoint-every 5)\n");
    free(text);
    const char *last[] = {"--resume", ck, "--epochs", "10", "--quiet", NULL};
    text = train_ok(last);
    tu_expect_in(text, "checkpoint of epoch 10 in ");
    assert_null(strstr(text, "not in it"));
    free(text);
    free(ck);
}

static void test_final_report_names_the_checkpoint(void **state)
{
    (void)state;
    checkpoint_line("mf");
    checkpoint_line("softmax");
}

static uint64_t le_bytes(const unsigned char *p, int w)
{
    uint64_t v = 0;
    for (int k = w - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* Rewrites the checkpoint at path as a library caller could have written
 * it (the format takes these values): the run record `tag` set to
 * `value` (tag 0: none) and, when nul_log, the log's first byte made a
 * NUL; then the file's checksum (FNV-1a 64 of every byte before it) is
 * made right again. */
static void patch_checkpoint(const char *path, uint32_t tag, int64_t value, bool nul_log)
{
    size_t n;
    unsigned char *b = (unsigned char *)tu_read_file(path, &n);
    assert_true(n > 24 && memcmp(b, "MFRECCKP", 8) == 0);
#define LE(at, w) le_bytes(b + (at), (w))
    uint32_t n_sec = (uint32_t)LE(12, 4);
    size_t at = 16;
    bool patched_run = tag == 0, patched_log = !nul_log;
    for (uint32_t x = 0; x < n_sec; x++) {
        uint32_t sec = (uint32_t)LE(at, 4);
        uint64_t len = LE(at + 8, 8);
        size_t body = at + 16;
        if (sec == 2 && tag) /* run state: count, then tag, length (8), value */
            for (size_t r = body + 4; r < body + len; r += 16)
                if (LE(r, 4) == tag) {
                    for (int k = 0; k < 8; k++) b[r + 8 + k] = (unsigned char)((uint64_t)value >> (8 * k));
                    patched_run = true;
                }
        if (sec == 4 && nul_log) {
            b[body] = 0;
            patched_log = true;
        }
        at = body + len;
    }
#undef LE
    assert_true(patched_run && patched_log && at + 8 == n);
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < at; i++) h = (h ^ b[i]) * 0x100000001b3u;
    for (int k = 0; k < 8; k++) b[at + k] = (unsigned char)(h >> (8 * k));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(b);
}

/* A checkpoint whose run state says checkpoint_every 0 (the library
 * saves it) made `mfrec train --resume` divide by zero (SIGFPE): it is
 * refused naming the file and the flag that overrides it, exit 1. One
 * whose log holds a NUL byte (the library keeps any bytes) was answered
 * "out of memory": it is refused naming the file and the offset. */
static void check_odd_library_checkpoint(const char *kind)
{
    char *ck = tu_path(g_dir, "ck_odd"), *log = tu_path(g_dir, "log");
    unlink(ck);
    const char *make[] = {"--data", g_data, "--kind", kind, "--epochs", "4", "--checkpoint", ck,
                          "--checkpoint-every", "2", "--quiet", NULL};
    free(train_ok(make));
    patch_checkpoint(ck, 6, 0, false); /* checkpoint_every */
    const char *resume[] = {"--resume", ck, "--epochs", "6", "--quiet", NULL};
    assert_int_equal(train_plain(resume), 1);
    char *text = tu_read_file(log, NULL);
    tu_expect_in(text, "ck_odd: run state checkpoint_every = 0: mfrec train needs 1 or more (give --checkpoint-every N)");
    free(text);
    const char *given[] = {"--resume", ck, "--epochs", "6", "--checkpoint-every", "3", "--quiet", NULL};
    free(train_ok(given));
    unlink(ck);
    free(train_ok(make));
    patch_checkpoint(ck, 0, 0, true);
    assert_int_equal(train_plain(resume), 1);
    text = tu_read_file(log, NULL);
    tu_expect_in(text, "ck_odd: the log section holds a NUL byte at offset 0: not a log of mfrec train");
    assert_null(strstr(text, "out of memory"));
    free(text);
    free(log);
    free(ck);
}

static void test_resume_refuses_odd_library_checkpoints(void **state)
{
    (void)state;
    check_odd_library_checkpoint("mf");
    check_odd_library_checkpoint("softmax");
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    g_ck = tu_path(g_dir, "ck");
    return tu_synth(g_data, 150, 90, 4000, 5, NULL);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir);
    free(g_data);
    free(g_ck);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_and_resumed_run_is_identical),
        cmocka_unit_test(test_killed_and_resumed_softmax_run_is_identical),
        cmocka_unit_test(test_sighup_during_a_save_leaves_no_temporary_file),
        cmocka_unit_test(test_softmax_resume_refusals),
        cmocka_unit_test(test_resume_hint_is_shell_safe),
        cmocka_unit_test(test_resume_refuses_differences),
        cmocka_unit_test(test_resume_accepts_restated_options),
        cmocka_unit_test(test_resume_with_preset_keeps_epochs),
        cmocka_unit_test(test_resume_keeps_run_flags),
        cmocka_unit_test(test_resume_without_validation),
        cmocka_unit_test(test_resumed_at_its_last_epoch_logs_it),
        cmocka_unit_test(test_final_report_names_the_checkpoint),
        cmocka_unit_test(test_resume_refuses_odd_library_checkpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
