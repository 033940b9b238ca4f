/*
 * train_opts.c — the model and optimizer flags shared by `mfrec train` and
 * `mfrec eval --folds` (and anything else that trains), and the presets.
 * A preset is a list of flags applied before the command line's own, so any
 * flag given beside a preset overrides it.
 *
 * The flags are the library's table of configuration fields
 * (mfr_config_field_at): their names, ranges, parsing, error messages and
 * help lines all come from there, so a new field needs no change here.
 * Only --preset and --epochs, which are not configuration, are the tool's.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mfrec_softmax.h"

enum { TRAIN_EPOCHS_DEFAULT = 1000, TRAIN_EPOCHS_MAX = 1000000000, HELP_WIDTH = 20,
       HELP_COLUMNS = 86 };

static const struct preset {
    const char *name;
    const char *summary;
    const char *const args[24];
} presets[] = {
    {"notebook", "the teaching notebook's experiment (the defaults)", {NULL}},
    /* Tuned on ML-100K for test RMSE (u1 0.9139, five-fold 0.9038: the
     * limits are 0.915 and 0.905), then for ranking within those limits:
     * the movie biases' prior below the mean and a little gravity on the
     * ranking scores lift five-fold NDCG@10 from 0.132 to 0.188 (popularity
     * 0.198), and the popularity prior of its rankings (not of its
     * predictions) to 0.234; docs/RANKING.md. */
    {"accurate", "biased MF with implicit feedback (SVD++) and L2 on every part, tuned for test RMSE",
     {"--bias", "--implicit", "1", "--l2-bias", "0.05", "--dim", "64", "--l2", "0.12", "--l2-freq",
      "0.05", "--lr", "0.01", "--init-std", "0.05", "--epochs", "400", "--item-prior-drop", "1",
      "--gravity-bias", "0.025", "--rank-prior", "0.3", NULL}},
    /* Tuned on ML-100K: five-fold NDCG@10 0.425 (u1 0.493) vs 0.198 for
     * popularity (docs/RANKING.md). Gravity pulls the scores of unobserved
     * pairs towards 0, which ranking needs; the rating-weighted L2 shrinks
     * the vectors of users and movies with many ratings a little more; the
     * implicit part (SVD++) adds the movies a user rated to the user's
     * vector. */
    {"ndcg", "gravity-regularized MF with implicit feedback, tuned for NDCG@10",
     {"--dim", "48", "--gravity", "15", "--l2", "0.4", "--l2-freq", "0.1", "--implicit", "8", "--lr", "0.01",
      "--init-std", "0.1", "--epochs", "300", NULL}},
    /* Time to accuracy on large data (docs/PERFORMANCE.md): ALS with three
     * conjugate-gradient iterations per row, tuned on the 10M-rating
     * synthetic set of issue 10 (planted rank 10): dim 12-32 and l2-freq
     * 0.02-0.08 tried; dim 32 stopped at RMSE 0.667, dim 12 reaches 0.659. */
    {"fast", "ALS for large data, tuned for time to validation RMSE on a rank-10 synthetic set "
             "(raise --dim for real data)",
     {"--optimizer", "als", "--als-cg", "3", "--bias", "--l2-freq", "0.04", "--init-std", "0.1",
      "--dim", "12", "--epochs", "10", NULL}},
};

void train_opts_init(struct train_opts *o)
{
    memset(o, 0, sizeof *o);
    mfr_config_default(&o->cfg);
    o->epochs = TRAIN_EPOCHS_DEFAULT;
    o->preset = "notebook";
}

void train_opts_print_presets(FILE *f)
{
    for (size_t p = 0; p < sizeof presets / sizeof *presets; p++) {
        fprintf(f, "  %-10s %s:", presets[p].name, presets[p].summary);
        if (!presets[p].args[0]) fputs(" no flags", f);
        for (int x = 0; presets[p].args[x]; x++) fprintf(f, " %s", presets[p].args[x]);
        fputc('\n', f);
    }
}

int train_opts_flag(struct args *a, struct train_opts *o)
{
    /* Only "--" flags: a positional argument such as "k" is not a field. */
    if (a->flag[0] != '-' || a->flag[1] != '-') return 0;
    const mfr_config_field *f = mfr_config_field_find(a->flag);
    bool preset = flag_is(a, "--preset"), epochs = flag_is(a, "--epochs");
    if (!f && !preset && !epochs) return 0;
    /* A switch such as --bias takes no value: "--bias=0" turned biases on */
    if (f && f->type == MFR_CONFIG_FLAG && a->inline_value) {
        usage_error("%s takes no value, got '%s=%s'", a->flag, a->flag, a->inline_value);
        return -1;
    }
    const char *v = NULL;
    if ((!f || f->type != MFR_CONFIG_FLAG) && !(v = flag_value(a))) return -1;
    if (preset) return 1; /* applied by train_opts_preset before parsing */
    if (epochs) {
        o->epochs_given = true;
        return parse_i64(a->flag, v, 1, TRAIN_EPOCHS_MAX, &o->epochs) ? 1 : -1;
    }
    mfr_error err;
    if (mfr_config_set(&o->cfg, a->flag, v, &err) != MFR_OK) {
        usage_error("%s", err.message);
        return -1;
    }
    if (flag_is(a, "--threads") && !cli_threads_allowed(a->flag, o->cfg.n_threads)) return -1;
    if (flag_is(a, "--init-std") && (float)o->cfg.init_std == 0.0f) {
        /* every gradient of a factor is a product with other factors (and
         * the factors are floats: 1e-300 is 0 too) */
        usage_error("--init-std %s starts every factor at zero, where their gradients are zero: they "
                    "would never move; give a positive std",
                    v);
        return -1;
    }
    for (int i = 0; i < mfr_config_field_count() && i < 64; i++)
        if (mfr_config_field_at(i) == f) o->given_fields |= UINT64_C(1) << i, o->user_fields |= UINT64_C(1) << i;
    return 1;
}

/* One help entry: "  --flag VALUE         text", the text from column
 * HELP_WIDTH + 3 on, wrapped at word boundaries into HELP_COLUMNS. */
static void help_line(FILE *f, const char *flag, const char *metavar, const char *text)
{
    const int indent = HELP_WIDTH + 3;
    int col = fprintf(f, "  %s%s%s", flag, *metavar ? " " : "", metavar);
    int pad = col < indent ? indent - col : 1;
    fprintf(f, "%*s", pad, "");
    col += pad;
    bool line_start = true;
    for (const char *w = text; *w;) {
        int len = (int)strcspn(w, " ");
        if (!line_start && col + 1 + len > HELP_COLUMNS) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
            line_start = true;
        }
        if (!line_start) col += fputc(' ', f) != EOF;
        col += (int)fwrite(w, 1, (size_t)len, f);
        line_start = false;
        for (w += len; *w == ' '; w++) {}
    }
    fputc('\n', f);
}

static void field_help(FILE *f, const mfr_config_field *x)
{
    mfr_config defaults;
    mfr_config_default(&defaults);
    char value[64], text[256];
    if (x->type == MFR_CONFIG_FLAG) {
        snprintf(text, sizeof text, "%s", x->help);
    } else if (x->default_help) {
        snprintf(text, sizeof text, "%s (default: %s)", x->help, x->default_help);
    } else {
        mfr_error err;
        int rc = mfr_config_format(&defaults, x, value, sizeof value, &err);
        MFR_CLI_ASSERT(rc == MFR_OK); /* a table field and room for any value */
        snprintf(text, sizeof text, "%s (default %s)", x->help, value);
    }
    help_line(f, x->flag, x->metavar, text);
}

/* Which fields a help section lists. */
static bool in_section(const mfr_config_field *x, int section)
{
    if (section == 0) return x->group != MFR_CONFIG_GROUP_EXECUTION;
    return x->group == MFR_CONFIG_GROUP_EXECUTION && x->execution_only == (section == 2);
}

void train_opts_print_help(FILE *f)
{
    static const char *const headings[3] = {
        "Model and optimizer:\n",
        "Execution (part of the configuration; recorded in the model):\n",
        "Execution (never changes the result; not recorded):\n",
    };
    for (int section = 0; section < 3; section++) {
        fputs(headings[section], f);
        if (section == 0) {
            char text[64];
            snprintf(text, sizeof text, "full-batch epochs (default %d)", TRAIN_EPOCHS_DEFAULT);
            help_line(f, "--epochs", "N", text);
        }
        for (int i = 0; i < mfr_config_field_count(); i++) {
            const mfr_config_field *x = mfr_config_field_at(i);
            if (in_section(x, section)) field_help(f, x);
        }
    }
}

void train_opts_print_flag_help(FILE *f, const char *flag)
{
    const mfr_config_field *x = mfr_config_field_find(flag);
    MFR_CLI_ASSERT(x != NULL); /* callers name flags of the table */
    field_help(f, x);
}

bool train_opts_user_gave(const struct train_opts *o, const char *flag)
{
    const mfr_config_field *f = mfr_config_field_find(flag);
    for (int i = 0; f && i < mfr_config_field_count() && i < 64; i++)
        if (mfr_config_field_at(i) == f) return o->user_fields >> i & 1;
    return false;
}

/* msg with the configuration's member names (item_prior_drop) written as
 * their flags (--item-prior-drop): the library names members, since its
 * configurations also come from files; "k" and "bias" stay, being words too. */
static void as_flags(const char *msg, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = msg; *p && n + 1 < cap;) {
        size_t w = 0;
        while ((p[w] >= 'a' && p[w] <= 'z') || (p[w] >= '0' && p[w] <= '9') || p[w] == '_') w++;
        const mfr_config_field *hit = NULL;
        for (int i = 0; w > 0 && i < mfr_config_field_count() && !hit; i++) {
            const mfr_config_field *f = mfr_config_field_at(i);
            if (strlen(f->name) == w && !strncmp(p, f->name, w) && strcmp(f->name, "k") && strcmp(f->name, "bias"))
                hit = f;
        }
        const char *src = hit ? hit->flag : p;
        const size_t len = hit ? strlen(hit->flag) : w ? w : 1;
        for (size_t c = 0; c < len && n + 1 < cap; c++) out[n++] = src[c];
        p += w ? w : 1;
    }
    out[n] = 0;
}

/* A preset's values that apply to its optimizer only, when the user gave
 * another --optimizer: left out (back to their defaults, said in a note)
 * rather than refused as if the user had given them. Values the user gave
 * stay, and are checked. */
static void fit_preset_to_optimizer(struct train_opts *o)
{
    mfr_config *c = &o->cfg;
    if (!train_opts_user_gave(o, "--optimizer")) return;
    mfr_config def;
    mfr_config_default(&def);
    /* ALS's conjugate-gradient count; what ALS cannot minimize */
    static const char *const als_only[] = {"--als-cg"};
    static const char *const not_als[] = {"--lr", "--gravity", "--gravity-bias", "--l1-items", "--implicit"};
    const bool als = c->optimizer == MFR_OPTIMIZER_ALS;
    const char *const *list = als ? not_als : als_only;
    const size_t n = als ? sizeof not_als / sizeof *not_als : sizeof als_only / sizeof *als_only;
    char dropped[256] = "";
    for (size_t x = 0; x < n; x++) {
        const mfr_config_field *f = mfr_config_field_find(list[x]);
        char v[64], d[64];
        if (!f || train_opts_user_gave(o, list[x]) || mfr_config_format(c, f, v, sizeof v, NULL) != MFR_OK ||
            mfr_config_format(&def, f, d, sizeof d, NULL) != MFR_OK || !strcmp(v, d))
            continue;
        MFR_CLI_ASSERT(mfr_config_set(c, list[x], d, NULL) == MFR_OK);
        snprintf(dropped + strlen(dropped), sizeof dropped - strlen(dropped), "%s%s %s",
                 *dropped ? ", " : "", list[x], v);
    }
    char opt[64];
    if (*dropped && mfr_config_format(c, mfr_config_field_find("--optimizer"), opt, sizeof opt, NULL) == MFR_OK)
        snprintf(o->notes, sizeof o->notes, "%s: note: --preset %s's %s %s not apply to --optimizer %s: left out\n",
                 g_cmd, o->preset, dropped, strchr(dropped, ',') ? "do" : "does", opt);
    /* a preset's step was tuned for Adam, whose steps are scaled by the
     * moments; plain descent takes it as is: say so rather than reset it */
    if (c->optimizer == MFR_OPTIMIZER_SGD && !train_opts_user_gave(o, "--lr") && c->lr != def.lr) {
        const size_t at = strlen(o->notes);
        snprintf(o->notes + at, sizeof o->notes - at,
                 "%s: note: --preset %s's --lr %g was tuned for Adam: --optimizer sgd takes it as its step "
                 "(--lr sets another)\n",
                 g_cmd, o->preset, c->lr);
    }
}

void train_opts_notes(const struct train_opts *o) { fputs(o->notes, stderr); }

int train_opts_check(struct train_opts *o)
{
    fit_preset_to_optimizer(o);
    const mfr_config *c = &o->cfg;
    if (c->l2_bias > 0.0 && !c->bias)
        return usage_error("--l2-bias %g regularizes the biases: it needs --bias", c->l2_bias);
    if (c->item_prior_drop > 0.0 && !(c->l2_bias > 0.0))
        return usage_error("--item-prior-drop %g moves where --l2-bias pulls the movie biases: it needs "
                           "--l2-bias > 0",
                           c->item_prior_drop);
    if (c->als_cg > 0 && c->optimizer != MFR_OPTIMIZER_ALS)
        return usage_error("--als-cg %d applies to --optimizer als only", (int)c->als_cg);
    const char *bias_preset = train_opts_user_gave(o, "--bias") ? NULL : o->preset;
    const int dim_rc = check_dim_with_bias("--dim", c->k, c->bias, bias_preset);
    if (dim_rc != EXIT_OK) return dim_rc;
    /* an optimizer's constants given to another, which would ignore them
     * (and record them in the model) */
    static const char *const adam_only[] = {"--beta1", "--beta2", "--eps"};
    const char *opt = c->optimizer == MFR_OPTIMIZER_ALS ? "als" : "sgd";
    for (size_t x = 0; x < sizeof adam_only / sizeof *adam_only; x++)
        if (c->optimizer != MFR_OPTIMIZER_ADAM && train_opts_user_gave(o, adam_only[x]))
            return usage_error("%s is Adam's: it does not apply to --optimizer %s", adam_only[x], opt);
    if (c->optimizer == MFR_OPTIMIZER_ALS && train_opts_user_gave(o, "--lr"))
        return usage_error("--lr does not apply to --optimizer als (each row is solved exactly)");
    if (c->optimizer == MFR_OPTIMIZER_ALS && train_opts_user_gave(o, "--reduce"))
        return usage_error("--reduce chooses the item gradients' reduction: --optimizer als has none "
                           "(it solves each row)");
    mfr_error err;
    if (mfr_config_validate(c, &err) != MFR_OK) { /* the other rules between flags */
        char msg[sizeof err.message + 256];
        as_flags(err.message, msg, sizeof msg);
        return usage_error("%s", msg);
    }
    return EXIT_OK;
}

/* Sets o's preset name and applies its flags. */
static void apply_preset(const struct preset *chosen, struct train_opts *o)
{
    o->preset = chosen->name;
    int n = 0;
    while (chosen->args[n]) n++;
    struct args a = {.argc = n, .argv = (char **)chosen->args, .pos = 0};
    const bool epochs_given = o->epochs_given;
    const uint64_t user_fields = o->user_fields;
    while (next_flag(&a)) {
        int r = train_opts_flag(&a, o);
        MFR_CLI_ASSERT(r == 1); /* presets hold valid training flags only */
    }
    /* A preset's --epochs is a default, not the user's: --resume keeps
     * the checkpoint's count unless --epochs itself is given. Nor are its
     * fields the user's (train_opts_check). */
    o->epochs_given = epochs_given;
    o->user_fields = user_fields;
}

int train_opts_preset(int argc, char **argv, struct train_opts *o)
{
    const struct preset *chosen = &presets[0];
    for (int i = 0; i < argc; i++) {
        const char *name = NULL;
        if (!strcmp(argv[i], "--preset")) {
            if (i + 1 >= argc) return usage_error("option --preset needs a value");
            name = argv[i + 1];
        } else if (!strncmp(argv[i], "--preset=", 9)) {
            name = argv[i] + 9;
        }
        if (!name) continue;
        /* the softmax model's preset, replaced by a later one (last wins:
         * as the last, it would have routed to --kind softmax) */
        if (!strcmp(name, "softmax")) continue;
        size_t n = sizeof presets / sizeof *presets, p;
        for (p = 0; p < n && strcmp(presets[p].name, name); p++) {}
        if (p == n)
            return usage_error("--preset must be notebook, accurate, ndcg, fast or softmax, got '%s'", name);
        chosen = &presets[p];
    }
    apply_preset(chosen, o);
    return EXIT_OK;
}

void train_opts_describe(const struct train_opts *o, char *buf, size_t cap)
{
    /* the preset's own values, to name the flags that changed them (a
     * flag restating a preset's value overrides nothing) */
    const struct preset *chosen = &presets[0];
    for (size_t p = 0; p < sizeof presets / sizeof *presets; p++)
        if (!strcmp(presets[p].name, o->preset)) chosen = &presets[p];
    struct train_opts base;
    train_opts_init(&base);
    apply_preset(chosen, &base);
    size_t len = (size_t)snprintf(buf, cap, "preset %s", chosen->name);
    bool any = false;
    if (o->epochs_given && o->epochs != base.epochs && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " with --epochs %lld", (long long)o->epochs);
        any = true;
    }
    for (int i = 0; i < mfr_config_field_count() && i < 64 && len < cap; i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        /* execution fields are no preset's (the header's threads line shows them) */
        if (!(o->user_fields >> i & 1) || f->group == MFR_CONFIG_GROUP_EXECUTION) continue;
        char v[64], pv[64];
        if (mfr_config_format(&o->cfg, f, v, sizeof v, NULL) != MFR_OK ||
            mfr_config_format(&base.cfg, f, pv, sizeof pv, NULL) != MFR_OK || !strcmp(v, pv))
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s %s%s%s", any ? "" : " with", f->flag,
                                f->type == MFR_CONFIG_FLAG ? "" : " ", f->type == MFR_CONFIG_FLAG ? "" : v);
        any = true;
    }
}

/* The number of model and optimizer fields (seed included, execution
 * fields left out: they never change what kind of model it is) on which a
 * and b differ; with out, also appends " --flag value" for the first few. */
static int config_diff(const mfr_config *a, const mfr_config *b, char *out, size_t cap)
{
    int n = 0;
    for (int i = 0; i < mfr_config_field_count(); i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        if (f->group == MFR_CONFIG_GROUP_EXECUTION) continue;
        char va[64], vb[64];
        if (mfr_config_format(a, f, va, sizeof va, NULL) != MFR_OK ||
            mfr_config_format(b, f, vb, sizeof vb, NULL) != MFR_OK || !strcmp(va, vb))
            continue;
        n++;
        size_t len = out ? strlen(out) : 0;
        if (!out || len + 1 >= cap) continue;
        /* a switch (--bias) takes no value: on is the flag, off is "no" it */
        if (n <= 4 && f->type == MFR_CONFIG_FLAG)
            snprintf(out + len, cap - len, " %s%s", strcmp(va, "0") ? "" : "no ", f->flag);
        else if (n <= 4) snprintf(out + len, cap - len, " %s%s%s", f->flag, *f->metavar ? " " : "", va);
        else if (n == 5) snprintf(out + len, cap - len, " ...");
    }
    return n;
}

void config_describe(const mfr_config *cfg, char *buf, size_t cap)
{
    /* The nearest preset: the one with the fewest differing fields. */
    size_t best = 0;
    int best_n = -1;
    for (size_t p = 0; p < sizeof presets / sizeof *presets; p++) {
        struct train_opts o;
        train_opts_init(&o);
        apply_preset(&presets[p], &o);
        int n = config_diff(cfg, &o.cfg, NULL, 0);
        if (best_n < 0 || n < best_n) {
            best = p;
            best_n = n;
        }
    }
    struct train_opts o;
    train_opts_init(&o);
    apply_preset(&presets[best], &o);
    snprintf(buf, cap, "preset %s%s", presets[best].name, best_n ? " with" : "");
    config_diff(cfg, &o.cfg, buf, cap);
}

void model_describe(const mfr_model *m, const char *path, char *buf, size_t cap)
{
    mfr_config cfg;
    char what[160] = "";
    if (mfr_model_kind(m) == MFR_MODEL_KIND_SOFTMAX) /* its MF configuration is a placeholder */
        snprintf(what, sizeof what, "softmax model");
    else if (mfr_model_config(m, &cfg, NULL) == MFR_OK)
        config_describe(&cfg, what, sizeof what);
    snprintf(buf, cap, "%s (%s%sk %d, %lld epoch%s)", path, what, *what ? ", " : "",
             (int)mfr_model_k(m), (long long)mfr_model_epochs(m), PL(mfr_model_epochs(m)));
}

const char *train_optimizer_text(const mfr_config *c, bool with_betas, char *buf, size_t cap)
{
    if (c->optimizer == MFR_OPTIMIZER_SGD)
        snprintf(buf, cap, "gradient descent lr %g", c->lr);
    else if (c->optimizer == MFR_OPTIMIZER_ALS)
        snprintf(buf, cap, "alternating least squares");
    else if (with_betas)
        snprintf(buf, cap, "Adam lr %g (beta1 %g, beta2 %g, eps %g)", c->lr, c->beta1, c->beta2, c->eps);
    else
        snprintf(buf, cap, "Adam lr %g", c->lr);
    return buf;
}

void train_print_regularizers(const mfr_config *c, const char *tail)
{
    printf("l2 %g, l2-freq %g, gravity %g, biases %s (l2-bias %g), implicit %g%s\n", c->l2, c->l2_freq, c->gravity,
           c->bias ? "on" : "off", c->l2_bias, c->implicit, tail);
    if (c->l1_items > 0 || c->gravity_bias > 0 || c->item_prior_drop > 0 || c->rank_prior > 0)
        printf("l1-items %g, gravity-bias %g, item-prior-drop %g, rank-prior %g (lists only)\n", c->l1_items,
               c->gravity_bias, c->item_prior_drop, c->rank_prior);
}

int resume_checkpoint_every_check(const char *path, int64_t every)
{
    if (every >= 1) return EXIT_OK;
    return runtime_error("%s: run state checkpoint_every = %lld: mfrec train needs 1 or more "
                         "(give --checkpoint-every N)",
                         path, (long long)every);
}

int resume_log_append(struct json_log *jl, const char *path, const mfr_run_state *run)
{
    const char *nul = run->log_len ? memchr(run->log, 0, run->log_len) : NULL;
    if (nul)
        return runtime_error("%s: the log section holds a NUL byte at offset %lld: not a log of mfrec train",
                             path, (long long)(nul - run->log));
    const size_t before = jl->len;
    if (run->log_len) jlog_printf(jl, "%.*s", (int)run->log_len, run->log);
    return jl->len - before == run->log_len ? EXIT_OK : runtime_error("out of memory");
}
