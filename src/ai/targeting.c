/* Targeting rules from a sentence: a flexibleRollout strategy with
 * constraints, from the model (schema-bound, then the service's own
 * strategy validation) or from a small deterministic parser of plain
 * English ("pro and enterprise users in Thailand and Vietnam on app
 * version 2.3 or newer, 10% of them") that says what it did not follow.
 *
 * Invariant: the strategy in an answer has passed the same validation as
 * the admin API's strategy POST; nothing here applies it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "vexil/vexil.h"

#define MAX_WORDS 256
#define WORD_MAX  64

/* ---- the deterministic parser ------------------------------------------ */

static const struct {
    const char *name; /* lower case, words separated by one space */
    const char *code; /* ISO 3166-1 alpha-2 */
} COUNTRIES[] = {
    {"thailand", "TH"},     {"vietnam", "VN"},
    {"viet nam", "VN"},     {"united states", "US"},
    {"usa", "US"},          {"united kingdom", "GB"},
    {"uk", "GB"},           {"germany", "DE"},
    {"france", "FR"},       {"japan", "JP"},
    {"china", "CN"},        {"india", "IN"},
    {"brazil", "BR"},       {"canada", "CA"},
    {"mexico", "MX"},       {"spain", "ES"},
    {"italy", "IT"},        {"netherlands", "NL"},
    {"sweden", "SE"},       {"norway", "NO"},
    {"denmark", "DK"},      {"finland", "FI"},
    {"poland", "PL"},       {"australia", "AU"},
    {"new zealand", "NZ"},  {"singapore", "SG"},
    {"malaysia", "MY"},     {"indonesia", "ID"},
    {"philippines", "PH"},  {"south korea", "KR"},
    {"korea", "KR"},        {"taiwan", "TW"},
    {"switzerland", "CH"},  {"austria", "AT"},
    {"belgium", "BE"},      {"ireland", "IE"},
    {"portugal", "PT"},     {"argentina", "AR"},
    {"chile", "CL"},        {"colombia", "CO"},
    {"south africa", "ZA"}, {"nigeria", "NG"},
    {"egypt", "EG"},        {"turkey", "TR"},
    {"israel", "IL"},       {"ukraine", "UA"},
    {"czechia", "CZ"},      {"czech republic", "CZ"},
    {"cambodia", "KH"},     {"laos", "LA"},
    {"myanmar", "MM"},      {"hong kong", "HK"},
    {"greece", "GR"},       {"romania", "RO"},
    {"hungary", "HU"},      {"kenya", "KE"},
    {"saudi arabia", "SA"}, {"united arab emirates", "AE"},
    {"uae", "AE"},          {"pakistan", "PK"},
    {"bangladesh", "BD"},   {"peru", "PE"},
};

static const char *const PLANS[] = {
    "free", "basic",    "starter", "pro",        "premium", "plus",
    "gold", "business", "team",    "enterprise", "trial",   "paid",
};

/* Words that carry no condition by themselves. */
static const char *const FILLER[] = {
    "users",       "user",         "customers", "customer",
    "people",      "persons",      "in",        "from",
    "and",         "or",           "on",        "the",
    "of",          "them",         "those",     "with",
    "who",         "are",          "is",        "app",
    "apps",        "application",  "a",         "an",
    "to",          "only",         "for",       "at",
    "all",         "everyone",     "roll",      "out",
    "rollout",     "enable",       "show",      "give",
    "release",     "it",           "this",      "feature",
    "flag",        "plan",         "plans",     "version",
    "versions",    "country",      "countries", "living",
    "located",     "based",        "using",     "running",
    "tier",        "tiers",        "accounts",  "account",
    "subscribers", "subscription", "clients",   "percent",
    "but",         "just",         "that",      "have",
    "has",         "their",        "whose",     "across",
    "where",       "any",          "every",     "now",
    "please",      "should",       "get",       "gets",
    "see",         "mobile",       "web",       "be",
    "it's",
};

typedef struct word {
    char w[WORD_MAX]; /* lower case */
    size_t start;     /* byte offset in the sentence */
    size_t end;       /* one past the last byte */
    bool used;        /* consumed by a rule or a filler */
} word;

typedef struct parse {
    word words[MAX_WORDS];
    size_t n;
} parse;

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return true;
    return false;
}

static void split(parse *p, const char *s)
{
    size_t i = 0, len = strlen(s);
    p->n = 0;
    while (i < len && p->n < MAX_WORDS) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '%' || c >= 0x80)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '.' ||
                           s[j] == '+' || s[j] == '%' || s[j] == '\'' ||
                           s[j] == '-' || (unsigned char)s[j] >= 0x80))
            j++;
        size_t e = j;
        while (e > i && (s[e - 1] == '.' || s[e - 1] == '-'))
            e--; /* sentence punctuation */
        word *w = &p->words[p->n++];
        size_t n = e - i < WORD_MAX - 1 ? e - i : WORD_MAX - 1;
        for (size_t k = 0; k < n; k++)
            w->w[k] = (char)tolower((unsigned char)s[i + k]);
        w->w[n] = '\0';
        w->start = i;
        w->end = e;
        w->used = false;
        i = j;
    }
}

/* True when a comma, semicolon, colon or full stop separates a and b. */
static bool punct_between(const char *s, const word *a, const word *b)
{
    for (size_t k = a->end; k < b->start; k++)
        if (s[k] == ',' || s[k] == ';' || s[k] == ':' || s[k] == '.')
            return true;
    return false;
}

static bool is(const parse *p, size_t i, const char *w)
{
    return i < p->n && strcmp(p->words[i].w, w) == 0;
}

/* Matches the words of `phrase` ("new zealand") at i; returns how many. */
static size_t phrase_at(const parse *p, size_t i, const char *phrase)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", phrase);
    size_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (!is(p, i + k++, t))
            return 0;
    return k;
}

/* The known field among `cands` (case-insensitive), else cands[0]; sets
 * *known. */
static const char *pick_field(const json_t *fields, const char *const *cands,
                              size_t n, bool *known)
{
    for (size_t c = 0; c < n; c++) {
        size_t i;
        const json_t *f;
        json_array_foreach (fields, i, f) {
            if (json_is_string(f) &&
                strcasecmp(json_string_value(f), cands[c]) == 0) {
                *known = true;
                return json_string_value(f);
            }
        }
    }
    *known = false;
    return cands[0];
}

static bool looks_version(const char *w)
{
    const char *s = w[0] == 'v' ? w + 1 : w;
    if (!isdigit((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '.')
            return false;
    return true;
}

/* "2" -> "2.0.0", "2.3" -> "2.3.0", "v2.3.1" -> "2.3.1". */
static void norm_version(const char *w, char *out, size_t cap)
{
    const char *s = w[0] == 'v' ? w + 1 : w;
    int dots = 0;
    for (const char *q = s; *q; q++)
        dots += *q == '.';
    snprintf(out, cap, "%s%s", s, dots == 0 ? ".0.0" : dots == 1 ? ".0" : "");
}

static void add_constraint(json_t *cons, const char *field, const char *op,
                           json_t *values)
{
    json_t *k = json_pack("{ss ss sb sb}", "contextName", field, "operator", op,
                          "caseInsensitive", 0, "inverted", 0);
    if (vx_operator_takes_list(op, strlen(op)))
        json_object_set_new(k, "values", values);
    else {
        json_object_set(k, "value", json_array_get(values, 0));
        json_decref(values);
    }
    json_array_append_new(cons, k);
}

static const char *const COUNTRY_FIELDS[] = {"country", "countryCode",
                                             "country_code", "region"};
static const char *const PLAN_FIELDS[] = {"plan", "tier", "subscription",
                                          "planName", "plan_name"};
static const char *const VERSION_FIELDS[] = {"appVersion", "version",
                                             "app_version", "clientVersion"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Appends one condition to the explanation in (buf, cap). */
static void explain(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? ", and " : "", text);
}

/* The values of `list` as "a, b or c" into (buf, cap). */
static const char *or_list(const json_t *list, char *buf, size_t cap)
{
    size_t i, n = json_array_size(list), len = 0;
    const json_t *v;
    buf[0] = '\0';
    json_array_foreach (list, i, v) {
        int w = snprintf(buf + len, cap - len, "%s%s",
                         i == 0       ? ""
                         : i + 1 == n ? " or "
                                      : ", ",
                         json_string_value(v));
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    return buf;
}

json_t *ai_targeting_parse(const char *sentence, const json_t *fields)
{
    parse *p = vx__malloc(sizeof(*p));
    json_t *cons = json_array(), *unknown = json_array(),
           *not_understood = json_array(), *out = NULL;
    char expl[1024] = "", part[512];
    long rollout = 100;
    bool known;
    if (!p || !cons || !unknown || !not_understood)
        goto out;
    memset(p, 0, sizeof(*p));
    split(p, sentence);

    /* percentages: "10%", "10 %", "10 percent" */
    for (size_t i = 0; i < p->n; i++) {
        char *w = p->words[i].w;
        size_t n = strlen(w);
        bool pct = n > 1 && w[n - 1] == '%';
        bool next = (is(p, i + 1, "%") || is(p, i + 1, "percent")) &&
                    isdigit((unsigned char)w[0]);
        if (!pct && !next)
            continue;
        char *end = NULL;
        long v = strtol(w, &end, 10);
        if (end == w || (pct ? end != w + n - 1 : *end != '\0') || v < 0 ||
            v > 100)
            continue;
        rollout = v;
        p->words[i].used = true;
        if (next)
            p->words[i + 1].used = true;
    }

    /* countries, with "not in" / "except" / "outside" before the first */
    json_t *codes = json_array();
    bool negate = false;
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t c = 0; c < N(COUNTRIES); c++) {
            size_t k = phrase_at(p, i, COUNTRIES[c].name);
            if (!k)
                continue;
            bool dup = false;
            size_t x;
            const json_t *e;
            json_array_foreach (codes, x, e)
                dup =
                    dup || strcmp(json_string_value(e), COUNTRIES[c].code) == 0;
            if (!dup)
                json_array_append_new(codes, json_string(COUNTRIES[c].code));
            for (size_t m = 0; m < k; m++)
                p->words[i + m].used = true;
            if (first == SIZE_MAX)
                first = i;
            i += k - 1;
            break;
        }
    }
    for (size_t b = first >= 3 ? first - 3 : 0; first != SIZE_MAX && b < first;
         b++) {
        if (is(p, b, "not") || is(p, b, "except") || is(p, b, "outside") ||
            is(p, b, "excluding") || is(p, b, "without")) {
            negate = true;
            p->words[b].used = true;
        }
    }
    if (json_array_size(codes) > 0) {
        const char *f =
            pick_field(fields, COUNTRY_FIELDS, N(COUNTRY_FIELDS), &known);
        if (!known)
            json_array_append_new(unknown, json_string(f));
        char list[256];
        snprintf(part, sizeof(part), "whose %s is %s%s", f,
                 negate ? "not " : "", or_list(codes, list, sizeof(list)));
        explain(expl, sizeof(expl), part);
        add_constraint(cons, f, negate ? "NOT_IN" : "IN", codes);
    } else {
        json_decref(codes);
    }

    /* plans: "pro and enterprise users", "plan pro or enterprise" */
    json_t *plans = json_array();
    for (size_t i = 0; i < p->n; i++) {
        if (p->words[i].used || !in_list(p->words[i].w, PLANS, N(PLANS)))
            continue;
        json_array_append_new(plans, json_string(p->words[i].w));
        p->words[i].used = true;
    }
    if (json_array_size(plans) > 0) {
        const char *f = pick_field(fields, PLAN_FIELDS, N(PLAN_FIELDS), &known);
        if (!known)
            json_array_append_new(unknown, json_string(f));
        char list[256];
        snprintf(part, sizeof(part), "whose %s is %s", f,
                 or_list(plans, list, sizeof(list)));
        explain(expl, sizeof(expl), part);
        add_constraint(cons, f, "IN", plans);
    } else {
        json_decref(plans);
    }

    /* versions: "version 2.3 or newer", "newer than 2.3", "v2.3+" */
    for (size_t i = 0; i < p->n; i++) {
        char *w = p->words[i].w;
        size_t n = strlen(w);
        bool plus = n > 1 && w[n - 1] == '+';
        if (plus)
            w[n - 1] = '\0';
        bool after_kw = i > 0 && (is(p, i - 1, "version") ||
                                  is(p, i - 1, "versions") || w[0] == 'v');
        if (!looks_version(w) || p->words[i].used ||
            (!after_kw && !strchr(w, '.')))
            continue;
        const char *op = "SEMVER_EQ", *words = "is";
        if (plus || ((is(p, i + 1, "or") || is(p, i + 1, "and")) &&
                     (is(p, i + 2, "newer") || is(p, i + 2, "later") ||
                      is(p, i + 2, "above") || is(p, i + 2, "higher") ||
                      is(p, i + 2, "greater") || is(p, i + 2, "up")))) {
            op = "SEMVER_GTE";
            words = "is at least";
        } else if ((is(p, i + 1, "or") || is(p, i + 1, "and")) &&
                   (is(p, i + 2, "older") || is(p, i + 2, "earlier") ||
                    is(p, i + 2, "below") || is(p, i + 2, "lower"))) {
            op = "SEMVER_LTE";
            words = "is at most";
        } else if (i >= 1 && is(p, i - 1, "than") &&
                   (is(p, i - 2, "newer") || is(p, i - 2, "later") ||
                    is(p, i - 2, "higher") || is(p, i - 2, "greater"))) {
            op = "SEMVER_GT";
            words = "is newer than";
            p->words[i - 1].used = p->words[i - 2].used = true;
        } else if (i >= 1 && (is(p, i - 1, "above") || is(p, i - 1, "after"))) {
            op = "SEMVER_GT";
            words = "is newer than";
            p->words[i - 1].used = true;
        } else if (i >= 1 &&
                   ((is(p, i - 1, "than") &&
                     (is(p, i - 2, "older") || is(p, i - 2, "lower") ||
                      is(p, i - 2, "earlier") || is(p, i - 2, "less"))) ||
                    is(p, i - 1, "below") || is(p, i - 1, "before") ||
                    is(p, i - 1, "under"))) {
            op = "SEMVER_LT";
            words = "is older than";
            p->words[i - 1].used = true;
            if (is(p, i - 1, "than"))
                p->words[i - 2].used = true;
        }
        if (strcmp(op, "SEMVER_GTE") == 0 || strcmp(op, "SEMVER_LTE") == 0) {
            if (!plus) {
                p->words[i + 1].used = p->words[i + 2].used = true;
            }
        }
        char v[WORD_MAX + 8];
        norm_version(w, v, sizeof(v));
        if (!vx_operator_value_ok(op, strlen(op), v, strlen(v)))
            continue;
        const char *f =
            pick_field(fields, VERSION_FIELDS, N(VERSION_FIELDS), &known);
        if (!known)
            json_array_append_new(unknown, json_string(f));
        snprintf(part, sizeof(part), "whose %s %s %s", f, words, v);
        explain(expl, sizeof(expl), part);
        json_t *vals = json_array();
        json_array_append_new(vals, json_string(v));
        add_constraint(cons, f, op, vals);
        p->words[i].used = true;
        break; /* one version condition */
    }

    /* what is left, in runs of consecutive words (a run may hold single
     * filler words, and ends at punctuation) */
    for (size_t i = 0; i < p->n; i++) {
        if (p->words[i].used || in_list(p->words[i].w, FILLER, N(FILLER)))
            continue;
        size_t j = i;
        while (j + 1 < p->n && !p->words[j + 1].used &&
               !punct_between(sentence, &p->words[j], &p->words[j + 1]) &&
               (!in_list(p->words[j + 1].w, FILLER, N(FILLER)) ||
                (j + 2 < p->n && !p->words[j + 2].used &&
                 !punct_between(sentence, &p->words[j + 1], &p->words[j + 2]) &&
                 !in_list(p->words[j + 2].w, FILLER, N(FILLER)))))
            j++;
        size_t len = p->words[j].end - p->words[i].start;
        json_array_append_new(
            not_understood,
            json_stringn(sentence + p->words[i].start, len > 200 ? 200 : len));
        i = j;
    }

    {
        char full[1600];
        snprintf(full, sizeof(full), "%ld%% of %s%s.", rollout,
                 json_array_size(cons) ? "the users " : "all users", expl);
        out = json_pack("{si so so so ss}", "rollout", (int)rollout,
                        "constraints", cons, "notUnderstood", not_understood,
                        "unknownFields", unknown, "explanation", full);
    }
    cons = unknown = not_understood = NULL;
out:
    vx__free(p);
    json_decref(cons);
    json_decref(unknown);
    json_decref(not_understood);
    return out;
}

/* ---- the model ------------------------------------------------------------
 */

static const char *const OPERATORS[] = {
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
};

static json_t *operators_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < N(OPERATORS); i++)
        json_array_append_new(a, json_string(OPERATORS[i]));
    return a;
}

static json_t *targeting_schema(const json_t *fields)
{
    return json_pack(
        "{ss sb s[ssss] s{s{ss si si} s{ss si s{ss sb s[sss] s{s{sO} "
        "s{so} s{ss si s{ss si}} s{ss}}}} s{ss si} s{ss si s{ss si}}}}",
        "type", "object", "additionalProperties", 0, "required", "rollout",
        "constraints", "explanation", "notUnderstood", "properties", "rollout",
        "type", "integer", "minimum", 0, "maximum", 100, "constraints", "type",
        "array", "maxItems", VX_LIMIT_AI_CONSTRAINTS, "items", "type", "object",
        "additionalProperties", 0, "required", "contextName", "operator",
        "values", "properties", "contextName", "enum", fields, "operator",
        "enum", operators_json(), "values", "type", "array", "maxItems",
        VX_LIMIT_AI_VALUES, "items", "type", "string", "maxLength", 200,
        "inverted", "type", "boolean", "explanation", "type", "string",
        "maxLength", VX_LIMIT_AI_TEXT_BYTES, "notUnderstood", "type", "array",
        "maxItems", 10, "items", "type", "string", "maxLength", 200);
}

static const char TARGETING_SYSTEM[] =
    "You turn a person's description of who should get a feature into "
    "targeting rules for Vexil, a feature-flag server. Answer with: rollout, "
    "the percentage (0-100) of matching users who get the feature (100 when "
    "the description gives none); constraints, conditions that must all "
    "hold, each on one field of contextFields (never another field) with one "
    "operator of operators; IN and NOT_IN take a list of values, the other "
    "operators exactly one value; countries are ISO 3166-1 alpha-2 codes "
    "(TH, VN), versions are semantic versions (2.3.0), plan names are lower "
    "case; \"2.3 or newer\" is SEMVER_GTE 2.3.0. Values written like <v1> "
    "are placeholders: copy them unchanged. explanation: one or two plain "
    "sentences saying who gets the feature. notUnderstood: the parts of the "
    "description you could not express with these fields and operators.";

typedef struct tctx {
    const ai_targeting_req *req;
    const json_t *map; /* placeholder -> original value */
    json_t *strategy;  /* the checked strategy of the last valid answer */
} tctx;

/* Builds the strategy of a proposal ({rollout, constraints}) and runs the
 * service's validation on it. */
static vx_status build_strategy(const ai_targeting_req *req,
                                const json_t *proposal, const json_t *map,
                                bool from_model, json_t **out, vx_error *err)
{
    char roll[16];
    snprintf(
        roll, sizeof(roll), "%lld",
        (long long)json_integer_value(json_object_get(proposal, "rollout")));
    json_t *cons = json_array();
    size_t i;
    const json_t *k;
    vx_status st = VX_OK;
    json_array_foreach (json_object_get(proposal, "constraints"), i, k) {
        json_t *c = json_deep_copy(k);
        if (!c) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            break;
        }
        json_t *vals = json_object_get(c, "values");
        size_t j;
        json_t *v;
        json_array_foreach (vals, j, v) {
            const json_t *orig =
                json_is_string(v) ? json_object_get(map, json_string_value(v))
                                  : NULL;
            if (orig)
                json_array_set(vals, j, (json_t *)orig);
        }
        const char *op = json_string_value(json_object_get(c, "operator"));
        if (from_model && op && !vx_operator_takes_list(op, strlen(op))) {
            if (json_array_size(vals) != 1) {
                json_decref(c);
                st = vx__error_set(err, VX_ESCHEMA, "",
                                   "constraint %zu: %s takes exactly one value",
                                   i, op);
                break;
            }
            json_object_set(c, "value", json_array_get(vals, 0));
            json_object_del(c, "values");
        }
        json_array_append_new(cons, c);
    }
    json_t *strategy = NULL;
    if (st == VX_OK)
        strategy =
            json_pack("{ss s{ss ss ss} sO}", "name", "flexibleRollout",
                      "parameters", "rollout", roll, "stickiness", "default",
                      "groupId", req->group_id, "constraints", cons);
    json_decref(cons);
    if (st == VX_OK && !strategy)
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (st == VX_OK)
        st = req->check(req->check_ud, strategy, out, err);
    json_decref(strategy);
    return st;
}

static vx_status model_check(void *ud, const json_t *answer, vx_error *err)
{
    tctx *t = ud;
    json_t *s = NULL;
    vx_status st = build_strategy(t->req, answer, t->map, true, &s, err);
    if (st != VX_OK)
        return st == VX_ENOMEM ? st : VX_ESCHEMA;
    json_decref(t->strategy);
    t->strategy = s;
    return VX_OK;
}

static json_t *fields_used_unknown(const json_t *strategy, const json_t *fields)
{
    json_t *out = json_array();
    size_t i, j;
    const json_t *k, *f;
    json_array_foreach (json_object_get(strategy, "constraints"), i, k) {
        const char *name = json_string_value(json_object_get(k, "contextName"));
        bool found = false;
        json_array_foreach (fields, j, f)
            found = found || (json_is_string(f) && name &&
                              strcmp(json_string_value(f), name) == 0);
        if (!found && name)
            json_array_append_new(out, json_string(name));
    }
    return out;
}

vx_status ai_advise_targeting(ai_llm *llm, const ai_targeting_req *req,
                              json_t **answer, vx_error *err)
{
    vx_status st = VX_OK;
    json_t *proposal = NULL, *strategy = NULL, *map = NULL, *schema = NULL,
           *data = NULL, *warnings = json_array();
    char *scrubbed = NULL, *data_text = NULL, *user = NULL;
    char label[300];
    int attempts = 0;
    tctx t = {req, NULL, NULL};
    uint64_t failures = vx__alloc_failures();
    *answer = NULL;
    size_t slen = req->sentence ? strlen(req->sentence) : 0;
    if (slen == 0) {
        st = vx__error_set(err, VX_EINVAL, "/sentence", "sentence is required");
        goto out;
    }
    if (slen > VX_LIMIT_AI_SENTENCE_BYTES) {
        st = vx__error_set(err, VX_ELIMIT, "/sentence",
                           "sentence is longer than %d bytes",
                           VX_LIMIT_AI_SENTENCE_BYTES);
        goto out;
    }
    if (!llm) {
        proposal = ai_targeting_parse(req->sentence, req->fields);
        if (!proposal) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        st = build_strategy(req, proposal, NULL, false, &strategy, err);
        if (st != VX_OK)
            goto out;
    } else {
        /* Identifiers in the sentence become placeholders; the model sees
         * "<v1>" and the answer is mapped back here. */
        map = json_object();
        scrubbed = map ? ai_scrub_text(NULL, req->sentence, map, NULL) : NULL;
        data = scrubbed ? json_pack("{ss sO so}", "sentence", scrubbed,
                                    "contextFields", req->fields, "operators",
                                    operators_json())
                        : NULL;
        data_text = data ? json_dumps(data, JSON_INDENT(1)) : NULL;
        size_t n = data_text ? strlen(data_text) + 32 : 0;
        user = data_text ? vx__malloc(n) : NULL;
        schema = targeting_schema(req->fields);
        if (!user || !schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        snprintf(user, n, "<data>\n%s\n</data>", data_text);
        t.map = map;
        ai_task task = {"targeting_rule", TARGETING_SYSTEM, user,
                        schema,           model_check,      &t};
        st = ai_ask(llm, &task, &proposal, &attempts, err);
        if (st != VX_OK)
            goto out;
        strategy = t.strategy;
        t.strategy = NULL;
    }
    json_t *unknown = fields_used_unknown(strategy, req->fields);
    size_t i;
    const json_t *f;
    json_array_foreach (unknown, i, f) {
        char w[300];
        snprintf(w, sizeof(w),
                 "no flag of this project uses the context field '%s' yet: "
                 "check that your SDKs send it under this name",
                 json_string_value(f));
        json_array_append_new(warnings, json_string(w));
    }
    json_t *nu = json_object_get(proposal, "notUnderstood");
    st = ai_answer_take(
        json_pack("{ss sO sO so so so si}", "advisor",
                  ai_advisor_label(llm, label, sizeof(label)), "strategy",
                  strategy, "explanation",
                  json_object_get(proposal, "explanation"), "notUnderstood",
                  nu ? json_incref(nu) : json_array(), "unknownFields", unknown,
                  "warnings", warnings, "attempts", attempts),
        failures, answer, err);
    warnings = NULL;
out:
    json_decref(t.strategy);
    json_decref(proposal);
    json_decref(strategy);
    json_decref(map);
    json_decref(schema);
    json_decref(data);
    json_decref(warnings);
    vx__free(scrubbed);
    free(data_text); /* jansson's */
    vx__free(user);
    return st;
}
