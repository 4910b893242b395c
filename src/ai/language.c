/* The deterministic language layer (see language.h): a sentence is cut into
 * words, recognisers mark what they understand as "mentions" (countries,
 * plans, versions, percentages, built-in and known fields), negation
 * ("except", "but not", "outside", "not in", "non-") is given its scope, and
 * what is left must be filler words. Anything else refuses the reading.
 *
 * Invariant: every word is accounted for or the reading is refused; the
 * constraints built from a complete reading hold for exactly the users
 * the sentence names (shares are rounded down, never up). */
#include "ai/language.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "vexil/vexil.h"

#define MAX_TOKS 256
#define TOK_MAX  96
#define MAX_MENT 64
#define N(a)     (sizeof(a) / sizeof((a)[0]))

/* ---- words ---------------------------------------------------------------
 */

/* Common English names for countries that ISO 3166 spells otherwise. Not
 * ISO data: the usual short names (UK, USA, Holland, Turkey...). */
static const struct {
    const char *name;
    const char *code;
} ALIASES[] = {
    {"usa", "US"},          {"u s a", "US"},      {"u s", "US"},
    {"america", "US"},      {"the states", "US"}, {"uk", "GB"},
    {"u k", "GB"},          {"britain", "GB"},    {"great britain", "GB"},
    {"holland", "NL"},      {"turkey", "TR"},     {"russia", "RU"},
    {"ivory coast", "CI"},  {"uae", "AE"},        {"czech", "CZ"},
    {"burma", "MM"},        {"macau", "MO"},      {"vatican", "VA"},
    {"vatican city", "VA"}, {"cape verde", "CV"}, {"swaziland", "SZ"},
    {"east timor", "TL"},   {"brunei", "BN"},     {"macedonia", "MK"},
};

/* Demonyms and adjectives of nationality ("Australians", "British users").
 * Source: the common English forms as listed in Wikipedia's "List of
 * adjectival and demonymic forms for countries and nations"; one country
 * each (forms shared by several countries are left out). */
static const struct {
    const char *word; /* singular, lower case; a plural adds "s" */
    const char *code;
} DEMONYMS[] = {
    {"american", "US"},      {"british", "GB"},       {"brit", "GB"},
    {"irish", "IE"},         {"australian", "AU"},    {"aussie", "AU"},
    {"canadian", "CA"},      {"german", "DE"},        {"french", "FR"},
    {"spanish", "ES"},       {"spaniard", "ES"},      {"italian", "IT"},
    {"portuguese", "PT"},    {"dutch", "NL"},         {"belgian", "BE"},
    {"swiss", "CH"},         {"austrian", "AT"},      {"swedish", "SE"},
    {"swede", "SE"},         {"norwegian", "NO"},     {"danish", "DK"},
    {"dane", "DK"},          {"finnish", "FI"},       {"finn", "FI"},
    {"icelandic", "IS"},     {"icelander", "IS"},     {"polish", "PL"},
    {"pole", "PL"},          {"czech", "CZ"},         {"slovak", "SK"},
    {"hungarian", "HU"},     {"romanian", "RO"},      {"bulgarian", "BG"},
    {"greek", "GR"},         {"turkish", "TR"},       {"ukrainian", "UA"},
    {"russian", "RU"},       {"estonian", "EE"},      {"latvian", "LV"},
    {"lithuanian", "LT"},    {"croatian", "HR"},      {"croat", "HR"},
    {"serbian", "RS"},       {"serb", "RS"},          {"slovenian", "SI"},
    {"japanese", "JP"},      {"chinese", "CN"},       {"korean", "KR"},
    {"south korean", "KR"},  {"north korean", "KP"},  {"taiwanese", "TW"},
    {"vietnamese", "VN"},    {"thai", "TH"},          {"cambodian", "KH"},
    {"laotian", "LA"},       {"malaysian", "MY"},     {"singaporean", "SG"},
    {"indonesian", "ID"},    {"filipino", "PH"},      {"indian", "IN"},
    {"pakistani", "PK"},     {"bangladeshi", "BD"},   {"sri lankan", "LK"},
    {"nepali", "NP"},        {"nepalese", "NP"},      {"mexican", "MX"},
    {"brazilian", "BR"},     {"argentine", "AR"},     {"argentinian", "AR"},
    {"chilean", "CL"},       {"colombian", "CO"},     {"peruvian", "PE"},
    {"venezuelan", "VE"},    {"cuban", "CU"},         {"jamaican", "JM"},
    {"new zealander", "NZ"}, {"kiwi", "NZ"},          {"south african", "ZA"},
    {"nigerian", "NG"},      {"kenyan", "KE"},        {"egyptian", "EG"},
    {"moroccan", "MA"},      {"ghanaian", "GH"},      {"ethiopian", "ET"},
    {"israeli", "IL"},       {"saudi", "SA"},         {"emirati", "AE"},
    {"iranian", "IR"},       {"iraqi", "IQ"},         {"qatari", "QA"},
    {"jordanian", "JO"},     {"lebanese", "LB"},      {"mongolian", "MN"},
    {"kazakh", "KZ"},        {"uzbek", "UZ"},         {"georgian", "GE"},
    {"armenian", "AM"},      {"luxembourgish", "LU"}, {"maltese", "MT"},
    {"cypriot", "CY"},       {"albanian", "AL"},      {"belarusian", "BY"},
};

/* Places a country code cannot express: parts of a country and regions. */
static const char *const SUBNATIONAL[] = {
    "england",    "scotland", "wales",       "northern ireland",
    "california", "texas",    "new york",    "florida",
    "catalonia",  "quebec",   "ontario",     "bavaria",
    "hawaii",     "alaska",   "new england", "british columbia",
};
static const char *const REGIONS[] = {
    "europe",
    "eu",
    "european union",
    "asia",
    "africa",
    "latam",
    "latin america",
    "emea",
    "apac",
    "north america",
    "south america",
    "middle east",
    "scandinavia",
    "nordics",
    "the americas",
    "oceania",
    "southeast asia",
    "south east asia",
    "eea",
    "dach",
    "benelux",
    "asean",
    "mena",
    "the west",
};

/* Upper-case words that are English before they are country codes: they
 * count as codes only right after "in", "from", "outside" or "except". */
static const char *const CODE_WORDS[] = {
    "IN",  "OR",  "AND", "TO",  "AT",  "BE",  "NO",  "ME",  "IT",  "IS",  "AM",
    "AS",  "BY",  "DO",  "MY",  "SO",  "ARE", "CAN", "FOR", "NOT", "ALL", "BUT",
    "PER", "MAR", "NOR", "TON", "HUN", "GIN", "COL", "DOM", "BEL", "GAB", "IND",
    "MEX", "POL", "TUR", "ID",  "PRO", "API", "APP", "NEW",
};

/* Plan and tier names understood anywhere ("pro users"); WEAK ones only
 * next to "plan", "tier", "subscription", "users" or "customers". */
static const char *const PLANS[] = {
    "free",  "basic",    "starter",  "pro",      "premium",
    "gold",  "silver",   "bronze",   "platinum", "enterprise",
    "trial", "ultimate", "business", "freemium",
};
static const char *const WEAK_PLANS[] = {
    "plus",         "team",      "teams",     "personal",
    "family",       "student",   "growth",    "standard",
    "lite",         "scale",     "startup",   "essentials",
    "professional", "developer", "education", "nonprofit",
};
/* Words that are not plan names although people say them like one. */
static const char *const NOT_PLANS[] = {"paid", "paying", "subscribed",
                                        "premium-ish"};

/* Words that carry no condition. "users", "enable", "the"... Never a word
 * that narrows or widens who is meant ("new", "mobile", "internal"). */
static const char *const FILLER[] = {
    "users",     "user",     "customers",    "customer",   "people",
    "persons",   "person",   "everyone",     "everybody",  "all",
    "any",       "every",    "the",          "a",          "an",
    "of",        "them",     "those",        "these",      "who",
    "whose",     "which",    "that",         "are",        "is",
    "be",        "being",    "on",           "in",         "from",
    "with",      "for",      "at",           "to",         "only",
    "just",      "enable",   "enabled",      "show",       "give",
    "release",   "roll",     "out",          "rollout",    "turn",
    "it",        "this",     "feature",      "flag",       "please",
    "should",    "get",      "gets",         "see",        "sees",
    "have",      "has",      "having",       "their",      "living",
    "located",   "based",    "using",        "running",    "use",
    "accounts",  "account",  "subscribers",  "subscriber", "members",
    "member",    "clients",  "client",       "plan",       "plans",
    "tier",      "tiers",    "subscription", "version",    "versions",
    "app",       "apps",     "application",  "country",    "countries",
    "now",       "let",      "lets",         "let's",      "want",
    "we",        "i",        "target",       "targeting",  "audience",
    "percent",   "per",      "cent",         "where",      "whom",
    "live",      "lives",    "residents",    "resident",   "based",
    "installs",  "install",  "installed",    "visitors",   "visitor",
    "also",      "there",    "go",           "goes",       "make",
    "available", "too",      "both",         "either",     "folks",
    "across",    "our",      "my",           "will",       "can",
    "may",       "must",     "gradually",    "initially",  "first",
    "start",     "starting", "off",          "via",        "ip",
    "ips",       "address",  "addresses",    "range",      "ranges",
    "ids",       "id",
};

/* Connectors of a list: "British and Irish", "Thailand, Vietnam or Laos". */
static bool is_and(const char *w)
{
    return strcmp(w, "and") == 0 || strcmp(w, "&") == 0 ||
           strcmp(w, "plus") == 0 || strcmp(w, "as") == 0 ||
           strcmp(w, "well") == 0 || strcmp(w, "but") == 0 ||
           strcmp(w, "nor") == 0;
}

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(w, list[i]) == 0)
            return true;
    }
    return false;
}

/* ---- the token list ---------------------------------------------------- */

enum role {
    R_NONE = 0, /* not accounted for (yet) */
    R_FILLER,   /* a word without a condition */
    R_NEG,      /* a negation marker */
    R_AND,      /* a list connector */
    R_OR,       /* "or" */
    R_MENTION,  /* part of a mention */
    R_PUNCT,    /* , ; : . ( ) */
};

typedef struct tok {
    char low[TOK_MAX];  /* lower case */
    char orig[TOK_MAX]; /* as written */
    size_t start, end;  /* bytes in the sentence */
    char punct;         /* the character, for R_PUNCT */
    enum role role;     /* what it was found to be */
    int mention;        /* index into mentions, for R_MENTION */
    bool neg_next;      /* NEG: "but not" already counted (second word) */
} tok;

enum kind { K_PERCENT, K_COUNTRY, K_PLAN, K_VERSION, K_FIELD, K_NKINDS };
static const char *const KIND_NAME[] = {"a share", "a country", "a plan",
                                        "a version", "a field"};

typedef struct mention {
    enum kind kind;
    size_t first, last; /* token range */
    bool neg;           /* negated by a marker in scope */
    char field[TOK_MAX];
    char op[24];         /* VERSION/FIELD: the operator */
    char value[TOK_MAX]; /* the value (code, plan, version...) */
    long percent;        /* K_PERCENT */
} mention;

typedef struct reading {
    const char *s; /* the sentence */
    tok t[MAX_TOKS];
    size_t n;
    mention m[MAX_MENT];
    size_t nm;
    const json_t *fields;
    json_t *problems; /* [{path, message}] */
    json_t *notes;    /* [text] */
    json_t *unknown;  /* assumed field names */
    bool says_tier;   /* the sentence says "tier" */
} reading;

static void problem(reading *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(reading *r, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t i;
    const json_t *p;
    json_array_foreach (r->problems, i, p) {
        if (strcmp(json_string_value(json_object_get(p, "message")), msg) == 0)
            return;
    }
    json_array_append_new(
        r->problems, json_pack("{ss ss}", "path", "/sentence", "message", msg));
}

static void note(reading *r, const char *text)
{
    json_array_append_new(r->notes, json_string(text));
}

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_' || c == '@' ||
           c == '+' || c == '%' || c == '\'' || c == ':' || c == '/' ||
           c >= 0x80;
}

static void add_tok(reading *r, const char *s, size_t i, size_t e)
{
    if (r->n >= MAX_TOKS)
        return;
    tok *t = &r->t[r->n++];
    memset(t, 0, sizeof(*t));
    size_t n = e - i < TOK_MAX - 1 ? e - i : TOK_MAX - 1;
    memcpy(t->orig, s + i, n);
    t->orig[n] = '\0';
    /* lower case, Latin-1 letters folded to ASCII ("Côte" -> "cote"),
     * a typographic apostrophe to ' */
    static const char FOLD[] = "aaaaaaaceeeeiiiidnooooo?ouuuuyts"
                               "aaaaaaaceeeeiiiidnooooo?ouuuuyty";
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[i + k];
        if (c == 0xC3 && k + 1 < n && (unsigned char)s[i + k + 1] >= 0x80 &&
            (unsigned char)s[i + k + 1] <= 0xBF) {
            t->low[o++] = FOLD[(unsigned char)s[i + k + 1] - 0x80];
            k++;
        } else if (c == 0xE2 && k + 2 < n &&
                   (unsigned char)s[i + k + 1] == 0x80 &&
                   (unsigned char)s[i + k + 2] == 0x99) {
            t->low[o++] = '\'';
            k += 2;
        } else {
            t->low[o++] = (char)tolower(c);
        }
    }
    t->low[o] = '\0';
    t->start = i;
    t->end = e;
    t->mention = -1;
}

static void tokenize(reading *r)
{
    const char *s = r->s;
    size_t i = 0, len = strlen(s);
    while (i < len && r->n < MAX_TOKS) {
        unsigned char c = (unsigned char)s[i];
        if (strchr(",;:.()!?&", (int)c)) {
            add_tok(r, s, i, i + 1);
            r->t[r->n - 1].punct = (char)c;
            r->t[r->n - 1].role = c == '&' ? R_AND : R_PUNCT;
            i++;
            continue;
        }
        if (!word_char(c) || c == '\'' || c == '%') {
            if (c == '%' && r->n > 0) { /* "10 %" */
                add_tok(r, s, i, i + 1);
                i++;
                continue;
            }
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && word_char((unsigned char)s[j]))
            j++;
        size_t e = j;
        /* sentence punctuation and closing quotes are not part of it */
        while (e > i && strchr(".:-'", s[e - 1]))
            e--;
        if (e > i + 4 && strncasecmp(s + i, "non-", 4) == 0) {
            add_tok(r, s, i, i + 3); /* "non-free": "non" + "free" */
            add_tok(r, s, i + 4, e);
        } else if (e > i) {
            add_tok(r, s, i, e);
        }
        /* the punctuation after the word is a token of its own ("u.s."
         * keeps its dots) */
        bool dotted = memchr(s + i, '.', e - i) != NULL;
        for (size_t k = e; k < j && !dotted; k++) {
            if (s[k] == '.' || s[k] == ':') {
                add_tok(r, s, k, k + 1);
                r->t[r->n - 1].punct = s[k];
                r->t[r->n - 1].role = R_PUNCT;
            }
        }
        i = j;
    }
    if (r->n >= MAX_TOKS)
        problem(r, "the sentence has more than %d words", MAX_TOKS);
}

static bool is(const reading *r, size_t i, const char *w)
{
    return i < r->n && strcmp(r->t[i].low, w) == 0;
}

static bool free_tok(const reading *r, size_t i)
{
    return i < r->n && r->t[i].role == R_NONE;
}

/* Matches the words of `phrase` ("new zealand") at token i; returns how
 * many tokens, 0 when it does not match. Dots in tokens ("u.s.") count as
 * spaces. */
static size_t phrase_at(const reading *r, size_t i, const char *phrase)
{
    size_t k = 0;
    const char *p = phrase;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t wl = sp ? (size_t)(sp - p) : strlen(p);
        if (!free_tok(r, i + k))
            return 0;
        /* "u.s" as one token against "u s" */
        const char *w = r->t[i + k].low;
        char flat[TOK_MAX];
        size_t fl = 0;
        for (; *w && fl + 1 < sizeof(flat); w++)
            flat[fl++] = *w == '.' ? ' ' : *w;
        while (fl > 0 && flat[fl - 1] == ' ')
            fl--;
        flat[fl] = '\0';
        if (strchr(flat, ' ')) {
            size_t pl = strlen(p);
            if (strncmp(p, flat, fl) != 0 || (pl > fl && p[fl] != ' '))
                return 0;
            p += fl;
        } else {
            if (strlen(flat) != wl || strncmp(flat, p, wl) != 0)
                return 0;
            p += wl;
        }
        while (*p == ' ')
            p++;
        k++;
    }
    return k;
}

/* Copies the string `src` into (dst, cap), truncating; the two may lie in
 * one reading, so no snprintf. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memmove(dst, src, n);
    dst[n] = '\0';
}

static int add_mention(reading *r, enum kind kind, size_t first, size_t last)
{
    if (r->nm >= MAX_MENT) {
        problem(r, "the sentence names more than %d conditions", MAX_MENT);
        return -1;
    }
    mention *m = &r->m[r->nm];
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->first = first;
    m->last = last;
    for (size_t k = first; k <= last; k++) {
        r->t[k].role = R_MENTION;
        r->t[k].mention = (int)r->nm;
    }
    return (int)r->nm++;
}

/* The known field among `cands` (case-insensitive), else NULL. */
static const char *known_field(const reading *r, const char *const *cands,
                               size_t n)
{
    for (size_t c = 0; c < n; c++) {
        size_t i;
        const json_t *f;
        json_array_foreach (r->fields, i, f) {
            if (json_is_string(f) &&
                strcasecmp(json_string_value(f), cands[c]) == 0)
                return json_string_value(f);
        }
    }
    return NULL;
}

static const char *field_for(reading *r, const char *const *cands, size_t n,
                             const char *assumed)
{
    const char *f = known_field(r, cands, n);
    if (f)
        return f;
    size_t i;
    const json_t *u;
    json_array_foreach (r->unknown, i, u) {
        if (strcmp(json_string_value(u), assumed) == 0)
            return assumed;
    }
    json_array_append_new(r->unknown, json_string(assumed));
    return assumed;
}

/* ---- percentages ------------------------------------------------------- */

static const char *const SMALL[] = {
    "zero",    "one",     "two",       "three",    "four",
    "five",    "six",     "seven",     "eight",    "nine",
    "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
};
static const char *const TENS[] = {"",       "",      "twenty", "thirty",
                                   "forty",  "fifty", "sixty",  "seventy",
                                   "eighty", "ninety"};

/* A number written in digits or words at token i ("25", "twenty-five",
 * "twenty five", "a hundred"); sets *used to the tokens it took. -1 when
 * there is none. Decimals ("2.5") give *frac. */
static double number_at(const reading *r, size_t i, size_t *used)
{
    *used = 0;
    if (!free_tok(r, i))
        return -1;
    const char *w = r->t[i].low;
    char *end = NULL;
    if (isdigit((unsigned char)w[0])) {
        double v = strtod(w, &end);
        if (*end == '%' && end[1] == '\0') {
            *used = 1;
            return v;
        }
        if (*end != '\0')
            return -1;
        *used = 1;
        return v;
    }
    if (strcmp(w, "hundred") == 0 ||
        (strcmp(w, "a") == 0 && is(r, i + 1, "hundred")) ||
        (strcmp(w, "one") == 0 && is(r, i + 1, "hundred"))) {
        *used = strcmp(w, "hundred") == 0 ? 1 : 2;
        return 100;
    }
    for (size_t t = 2; t < N(TENS); t++) {
        size_t tl = strlen(TENS[t]);
        if (strncmp(w, TENS[t], tl) == 0) {
            if (w[tl] == '\0') {
                *used = 1;
                for (size_t u = 1; u < 10; u++) {
                    if (is(r, i + 1, SMALL[u])) {
                        *used = 2;
                        return (double)(t * 10 + u);
                    }
                }
                return (double)(t * 10);
            }
            if (w[tl] == '-') {
                for (size_t u = 1; u < 10; u++) {
                    if (strcmp(w + tl + 1, SMALL[u]) == 0) {
                        *used = 1;
                        return (double)(t * 10 + u);
                    }
                }
            }
        }
    }
    for (size_t u = 0; u < N(SMALL); u++) {
        if (strcmp(w, SMALL[u]) == 0) {
            *used = 1;
            return (double)u;
        }
    }
    return -1;
}

static const struct {
    const char *phrase;
    int num, den;
} FRACTIONS[] = {
    {"half", 1, 2},          {"a half", 1, 2},      {"one half", 1, 2},
    {"a third", 1, 3},       {"one third", 1, 3},   {"two thirds", 2, 3},
    {"a quarter", 1, 4},     {"one quarter", 1, 4}, {"three quarters", 3, 4},
    {"a fourth", 1, 4},      {"a fifth", 1, 5},     {"one fifth", 1, 5},
    {"a tenth", 1, 10},      {"one tenth", 1, 10},  {"every other", 1, 2},
    {"a hundredth", 1, 100},
};

static void set_percent(reading *r, size_t first, size_t last, double v,
                        const char *how)
{
    for (size_t k = first; k <= last; k++)
        r->t[k].role = R_FILLER; /* reported here if refused */
    if (!(v >= 0 && v <= 100)) {
        problem(r, "a share must be from 0 to 100%%, not %g%%", v);
        return;
    }
    long p = (long)v; /* rounded down: never more than asked */
    if ((double)p != v) {
        if (p == 0) {
            problem(r, "%s is less than the smallest rollout step (1%%)", how);
            return;
        }
        char text[200];
        snprintf(text, sizeof(text),
                 "%s is rounded down to %ld%%: a rollout is a whole percentage",
                 how, p);
        note(r, text);
    }
    int k = add_mention(r, K_PERCENT, first, last);
    if (k >= 0)
        r->m[k].percent = p;
}

static void find_percent(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        size_t used = 0;
        double v = number_at(r, i, &used);
        if (v >= 0) {
            const char *w = r->t[i].low;
            size_t wl = strlen(w);
            if (used == 1 && wl > 1 && w[wl - 1] == '%') {
                set_percent(r, i, i, v, r->t[i].orig);
                continue;
            }
            size_t j = i + used;
            if (is(r, j, "%") || is(r, j, "percent") || is(r, j, "pct")) {
                set_percent(r, i, j, v, "that share");
                continue;
            }
            if (is(r, j, "per") && is(r, j + 1, "cent")) {
                set_percent(r, i, j + 1, v, "that share");
                continue;
            }
            /* "one in ten", "1 in 4", "3 out of 10" */
            size_t k = is(r, j, "in")                            ? j + 1
                       : (is(r, j, "out") && is(r, j + 1, "of")) ? j + 2
                                                                 : 0;
            size_t used2 = 0;
            double d = k ? number_at(r, k, &used2) : -1;
            if (k && d > 0 && v <= d) {
                char how[64];
                snprintf(how, sizeof(how), "%g in %g", v, d);
                set_percent(r, i, k + used2 - 1, 100.0 * v / d, how);
                continue;
            }
        }
        for (size_t f = 0; f < N(FRACTIONS); f++) {
            size_t k = phrase_at(r, i, FRACTIONS[f].phrase);
            if (!k)
                continue;
            set_percent(r, i, i + k - 1,
                        100.0 * FRACTIONS[f].num / FRACTIONS[f].den,
                        FRACTIONS[f].phrase);
            break;
        }
    }
}

/* ---- versions --------------------------------------------------------- */

static bool is_ip(const char *w);

static bool looks_version(const char *w, bool *wild)
{
    const char *s = w[0] == 'v' ? w + 1 : w;
    size_t n = strlen(s);
    *wild = false;
    if (n == 0 || !isdigit((unsigned char)s[0]))
        return false;
    if (n > 2 && strcmp(s + n - 2, ".x") == 0) {
        *wild = true;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            return false;
        if (s[i] == '.' && (i + 1 == n || s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* "2" -> "2.0.0", "v2.3" -> "2.3.0"; false past three parts. */
static bool norm_version(const char *w, char *out, size_t cap, int *parts)
{
    const char *s = w[0] == 'v' ? w + 1 : w;
    size_t n = strlen(s);
    if (n > 2 && strcmp(s + n - 2, ".x") == 0)
        n -= 2;
    int dots = 0;
    for (size_t i = 0; i < n; i++)
        dots += s[i] == '.';
    if (dots > 2)
        return false;
    *parts = dots + 1;
    snprintf(out, cap, "%.*s%s", (int)n, s,
             dots == 0   ? ".0.0"
             : dots == 1 ? ".0"
                         : "");
    return vx_operator_value_ok("SEMVER_EQ", 9, out, strlen(out));
}

/* The next version after `v` at its last written part: 2.x -> 3.0.0. */
static void bump(const char *v, int parts, char *out, size_t cap)
{
    long a = 0, b = 0, c = 0;
    sscanf(v, "%ld.%ld.%ld", &a, &b, &c);
    if (parts <= 1)
        snprintf(out, cap, "%ld.0.0", a + 1);
    else
        snprintf(out, cap, "%ld.%ld.0", a, b + 1);
}

static const char *const VERSION_FIELDS[] = {"appVersion", "version",
                                             "app_version", "clientVersion"};

static void add_version(reading *r, size_t first, size_t last, const char *op,
                        const char *value)
{
    int k = add_mention(r, K_VERSION, first, last);
    if (k < 0)
        return;
    copy_str(r->m[k].op, sizeof(r->m[k].op), op);
    copy_str(r->m[k].value, sizeof(r->m[k].value), value);
}

/* Marks tokens [a, b] as part of the mention k (comparator words). */
static void take(reading *r, size_t a, size_t b, int k)
{
    for (size_t i = a; i <= b && i < r->n; i++) {
        r->t[i].role = R_MENTION;
        r->t[i].mention = k;
    }
}

static void find_versions(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        char w[TOK_MAX];
        snprintf(w, sizeof(w), "%s", r->t[i].low);
        size_t wl = strlen(w);
        bool plus = wl > 1 && w[wl - 1] == '+';
        if (plus)
            w[wl - 1] = '\0';
        bool wild;
        if (is_ip(w) || !looks_version(w, &wild))
            continue;
        bool kw =
            (i > 0 && (is(r, i - 1, "version") || is(r, i - 1, "versions") ||
                       is(r, i - 1, "v") || is(r, i - 1, "release"))) ||
            w[0] == 'v' || strchr(w, '.') != NULL;
        if (!kw)
            continue;
        /* "between 2.0 and 3.0" */
        size_t bw =
            i >= 2 && (is(r, i - 1, "version") || is(r, i - 1, "versions"))
                ? i - 2
                : i - 1;
        if (i >= 1 && is(r, bw, "between") && is(r, i + 1, "and")) {
            char w2[TOK_MAX], a[TOK_MAX + 8], b[TOK_MAX + 8];
            bool wild2;
            int pa, pb;
            size_t j = i + 2;
            if (is(r, j, "version") || is(r, j, "v"))
                j++;
            snprintf(w2, sizeof(w2), "%s", j < r->n ? r->t[j].low : "");
            if (looks_version(w2, &wild2) &&
                norm_version(w, a, sizeof(a), &pa) &&
                norm_version(w2, b, sizeof(b), &pb)) {
                add_version(r, bw, j, "SEMVER_GTE", a);
                add_version(r, i, i, "SEMVER_LTE", b);
                /* the second mention shares the tokens of the first */
                take(r, bw, j, (int)r->nm - 2);
                r->m[r->nm - 1].first = r->m[r->nm - 2].first;
                r->m[r->nm - 1].last = r->m[r->nm - 2].last;
                continue;
            }
        }
        char v[TOK_MAX + 8];
        int parts = 3;
        if (!norm_version(w, v, sizeof(v), &parts)) {
            problem(r,
                    "'%s' is not a version Vexil can compare (semantic "
                    "versions: 2, 2.3 or 2.3.1)",
                    r->t[i].orig);
            r->t[i].role = R_FILLER;
            continue;
        }
        const char *op = "SEMVER_EQ";
        size_t first = i, last = i;
        /* words before */
        static const struct {
            const char *phrase;
            const char *op;
        } BEFORE[] = {
            {"older than", "SEMVER_LT"},     {"lower than", "SEMVER_LT"},
            {"less than", "SEMVER_LT"},      {"earlier than", "SEMVER_LT"},
            {"prior to", "SEMVER_LT"},       {"below", "SEMVER_LT"},
            {"under", "SEMVER_LT"},          {"before", "SEMVER_LT"},
            {"up to", "SEMVER_LTE"},         {"at most", "SEMVER_LTE"},
            {"no later than", "SEMVER_LTE"}, {"no newer than", "SEMVER_LTE"},
            {"newer than", "SEMVER_GT"},     {"later than", "SEMVER_GT"},
            {"higher than", "SEMVER_GT"},    {"greater than", "SEMVER_GT"},
            {"more than", "SEMVER_GT"},      {"above", "SEMVER_GT"},
            {"after", "SEMVER_GT"},          {"beyond", "SEMVER_GT"},
            {"at least", "SEMVER_GTE"},      {"since", "SEMVER_GTE"},
            {"from", "SEMVER_GTE"},          {"exactly", "SEMVER_EQ"},
        };
        size_t kwskip = 0; /* "below version 2.0": the keyword between */
        if (i >= 1 && (is(r, i - 1, "version") || is(r, i - 1, "v") ||
                       is(r, i - 1, "versions")))
            kwskip = 1;
        if (i >= 2 && kwskip && is(r, i - 2, "app"))
            kwskip = 2;
        for (size_t b = 0; b < N(BEFORE); b++) {
            size_t words = 1;
            for (const char *p = BEFORE[b].phrase; *p; p++)
                words += *p == ' ';
            if (i < kwskip + words)
                continue;
            size_t at = i - kwskip - words;
            if (phrase_at(r, at, BEFORE[b].phrase) == words) {
                op = BEFORE[b].op;
                first = at;
                break;
            }
        }
        bool from =
            strcmp(op, "SEMVER_GTE") == 0 && first < i && is(r, first, "from");
        /* words after */
        static const char *const UP[] = {
            "newer", "later", "above",   "higher", "greater", "up",
            "more",  "after", "onwards", "onward", "upwards", "beyond"};
        static const char *const DOWN[] = {"older", "earlier", "below",
                                           "lower", "less",    "before",
                                           "down",  "under"};
        if (plus) {
            op = "SEMVER_GTE";
        } else if ((is(r, i + 1, "or") || is(r, i + 1, "and")) &&
                   i + 2 < r->n && free_tok(r, i + 2) &&
                   in_list(r->t[i + 2].low, UP, N(UP))) {
            op = "SEMVER_GTE";
            last = i + 2;
        } else if ((is(r, i + 1, "or") || is(r, i + 1, "and")) &&
                   i + 2 < r->n && free_tok(r, i + 2) &&
                   in_list(r->t[i + 2].low, DOWN, N(DOWN))) {
            op = "SEMVER_LTE";
            last = i + 2;
        } else if (is(r, i + 1, "onwards") || is(r, i + 1, "onward") ||
                   is(r, i + 1, "upwards") || (from && is(r, i + 1, "on"))) {
            op = "SEMVER_GTE";
            last = i + 1;
        } else if (from) {
            op = "SEMVER_EQ"; /* "users from version 2.0" is ambiguous */
            problem(r,
                    "'from %s' does not say whether newer versions count: "
                    "say '%s or newer'",
                    r->t[i].orig, r->t[i].orig);
        }
        if (wild) {
            if (strcmp(op, "SEMVER_EQ") != 0) {
                problem(r,
                        "'%s' with a comparison is unclear: write the "
                        "version without .x",
                        r->t[i].orig);
                continue;
            }
            char hi[TOK_MAX + 8];
            bump(v, parts, hi, sizeof(hi));
            add_version(r, first, last, "SEMVER_GTE", v);
            add_version(r, first, last, "SEMVER_LT", hi);
            take(r, first, last, (int)r->nm - 2);
            r->m[r->nm - 1].first = first;
            r->m[r->nm - 1].last = last;
            continue;
        }
        add_version(r, first, last, op, v);
    }
}

/* ---- countries --------------------------------------------------------- */

static const char *const COUNTRY_FIELDS[] = {"country", "countryCode",
                                             "country_code", "countryIso"};

static void add_country(reading *r, size_t first, size_t last, const char *code)
{
    int k = add_mention(r, K_COUNTRY, first, last);
    if (k >= 0)
        copy_str(r->m[k].value, sizeof(r->m[k].value), code);
}

static bool country_prep(const reading *r, size_t i)
{
    if (i > 0 && (is(r, i - 1, "in") || is(r, i - 1, "from") ||
                  is(r, i - 1, "outside") || is(r, i - 1, "except") ||
                  is(r, i - 1, "excluding")))
        return true;
    /* "DE and AT", "DE, AT": the list goes on */
    if (i >= 2 &&
        (is(r, i - 1, "and") || is(r, i - 1, "or") ||
         r->t[i - 1].punct == ',') &&
        r->t[i - 2].role == R_MENTION &&
        r->m[r->t[i - 2].mention].kind == K_COUNTRY)
        return true;
    return false;
}

/* The ISO code of an upper-case token ("US", "GBR"), or NULL. */
static const char *code_of(const reading *r, size_t i)
{
    const char *o = r->t[i].orig;
    size_t n = strlen(o);
    if (n < 2 || n > 3)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        if (!isupper((unsigned char)o[k]))
            return NULL;
    }
    if (in_list(o, CODE_WORDS, N(CODE_WORDS)) && !country_prep(r, i))
        return NULL;
    for (size_t c = 0; c < AI_ISO3166_N; c++) {
        if (strcmp(o, n == 2 ? AI_ISO3166[c].alpha2 : AI_ISO3166[c].alpha3) ==
            0)
            return AI_ISO3166[c].alpha2;
    }
    if (strcmp(o, "UK") == 0)
        return "GB";
    return NULL;
}

/* The longest country name, alias or demonym at token i. */
static size_t country_at(const reading *r, size_t i, const char **code)
{
    size_t best = 0;
    *code = NULL;
    for (size_t c = 0; c < AI_ISO3166_N; c++) {
        size_t k = phrase_at(r, i, AI_ISO3166[c].name);
        if (k > best) {
            best = k;
            *code = AI_ISO3166[c].alpha2;
        }
    }
    for (size_t c = 0; c < N(ALIASES); c++) {
        size_t k = phrase_at(r, i, ALIASES[c].name);
        if (k > best) {
            best = k;
            *code = ALIASES[c].code;
        }
    }
    for (size_t c = 0; c < N(DEMONYMS); c++) {
        char plural[64];
        size_t k = phrase_at(r, i, DEMONYMS[c].word);
        snprintf(plural, sizeof(plural), "%s%s", DEMONYMS[c].word,
                 DEMONYMS[c].word[strlen(DEMONYMS[c].word) - 1] == 'h' ? "es"
                                                                       : "s");
        if (!k)
            k = phrase_at(r, i, plural);
        if (k > best) {
            best = k;
            *code = DEMONYMS[c].code;
        }
    }
    return best;
}

static void find_countries(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        const char *code = NULL;
        size_t k = country_at(r, i, &code);
        /* a part of a country or a region: refused with the reason */
        size_t sub = 0, reg = 0;
        for (size_t c = 0; c < N(SUBNATIONAL); c++) {
            size_t x = phrase_at(r, i, SUBNATIONAL[c]);
            sub = x > sub ? x : sub;
        }
        for (size_t c = 0; c < N(REGIONS); c++) {
            size_t x = phrase_at(r, i, REGIONS[c]);
            reg = x > reg ? x : reg;
        }
        if (sub > k || reg > k) {
            size_t n = sub > reg ? sub : reg;
            int len = (int)(r->t[i + n - 1].end - r->t[i].start);
            problem(r,
                    sub > reg ? "'%.*s' is a part of a country: a country code "
                                "cannot express it"
                              : "'%.*s' is a region: name its countries",
                    len, r->s + r->t[i].start);
            for (size_t m = 0; m < n; m++)
                r->t[i + m].role = R_FILLER; /* reported once */
            i += n - 1;
            continue;
        }
        for (size_t c = 0; c < AI_ISO3166_AMBIGUOUS_N; c++) {
            size_t x = phrase_at(r, i, AI_ISO3166_AMBIGUOUS[c].name);
            if (x > k) {
                problem(r, "'%s' may mean %s: name the country exactly",
                        AI_ISO3166_AMBIGUOUS[c].name,
                        AI_ISO3166_AMBIGUOUS[c].alpha2);
                for (size_t m = 0; m < x; m++)
                    r->t[i + m].role = R_FILLER;
                k = 0;
                code = NULL;
                i += x - 1;
                break;
            }
        }
        if (!free_tok(r, i))
            continue;
        if (!k) {
            code = code_of(r, i);
            k = code ? 1 : 0;
        }
        if (k) {
            add_country(r, i, i + k - 1, code);
            i += k - 1;
        }
    }
}

/* ---- plans ------------------------------------------------------------- */

static const char *const PLAN_FIELDS[] = {"plan", "tier", "subscription",
                                          "planName", "plan_name"};
static const char *const TIER_FIELDS[] = {"tier", "plan", "subscription"};

static bool plan_marker(const reading *r, size_t i)
{
    return is(r, i, "plan") || is(r, i, "plans") || is(r, i, "tier") ||
           is(r, i, "tiers") || is(r, i, "subscription") ||
           is(r, i, "subscriptions") || is(r, i, "users") ||
           is(r, i, "customers") || is(r, i, "accounts") ||
           is(r, i, "subscribers") || is(r, i, "members") || is(r, i, "user") ||
           is(r, i, "customer");
}

static void add_plan(reading *r, size_t i, const char *value)
{
    int k = add_mention(r, K_PLAN, i, i);
    if (k >= 0)
        copy_str(r->m[k].value, sizeof(r->m[k].value), value);
}

static void find_plans(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (is(r, i, "tier") || is(r, i, "tiers"))
            r->says_tier = true;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        const char *w = r->t[i].low;
        char base[TOK_MAX];
        snprintf(base, sizeof(base), "%s", w);
        size_t bl = strlen(base);
        if (bl > 5 && strcmp(base + bl - 5, "-tier") == 0) { /* "pro-tier" */
            base[bl - 5] = '\0';
            r->says_tier = true;
        }
        if (in_list(base, NOT_PLANS, N(NOT_PLANS))) {
            problem(r,
                    "'%s' is not a plan name: say which plans (\"pro and "
                    "enterprise\")",
                    r->t[i].orig);
            r->t[i].role = R_FILLER;
            continue;
        }
        bool marked = plan_marker(r, i + 1) || strcmp(base, w) != 0 ||
                      (i > 0 && (is(r, i - 1, "plan") || is(r, i - 1, "tier")));
        if (in_list(base, PLANS, N(PLANS)) ||
            (in_list(base, WEAK_PLANS, N(WEAK_PLANS)) && marked)) {
            add_plan(r, i, base);
            continue;
        }
        /* a plan name the lexicon does not know, clearly named: "on the
         * Ultra plan", "tier Gold" */
        bool on = i >= 1 && (is(r, i - 1, "the") || is(r, i - 1, "on"));
        if (on && (is(r, i + 1, "plan") || is(r, i + 1, "tier")) &&
            isalpha((unsigned char)w[0]) && !in_list(w, FILLER, N(FILLER)) &&
            strcmp(w, "release") != 0 && strcmp(w, "rollout") != 0 &&
            strcmp(w, "same") != 0) {
            add_plan(r, i, w);
            continue;
        }
        if (i >= 1 && (is(r, i - 1, "plan") || is(r, i - 1, "tier")) &&
            isupper((unsigned char)r->t[i].orig[0])) {
            add_plan(r, i, w);
        }
    }
}

/* ---- built-in and known fields ------------------------------------------ */

static bool value_like(const char *w)
{
    if (!*w || in_list(w, FILLER, N(FILLER)) || strcmp(w, "and") == 0 ||
        strcmp(w, "or") == 0 || strcmp(w, "not") == 0 ||
        strcmp(w, "except") == 0)
        return false;
    return true;
}

/* Values after a field's name: "a, b and c" / "a or b"; returns how many
 * tokens were taken from i. Each value becomes a mention of `field`. */
static size_t take_values(reading *r, size_t i, const char *field,
                          const char *op)
{
    size_t j = i, taken = 0;
    while (j < r->n) {
        if (!free_tok(r, j) || !value_like(r->t[j].low))
            break;
        int k = add_mention(r, K_FIELD, j, j);
        if (k < 0)
            break;
        copy_str(r->m[k].field, sizeof(r->m[k].field), field);
        copy_str(r->m[k].op, sizeof(r->m[k].op), op);
        copy_str(r->m[k].value, sizeof(r->m[k].value), r->t[j].orig);
        taken++;
        j++;
        if (j < r->n &&
            (r->t[j].punct == ',' || is(r, j, "and") || is(r, j, "or"))) {
            if (r->t[j].punct == ',' &&
                (is(r, j + 1, "and") || is(r, j + 1, "or")))
                j++;
            if (j + 1 < r->n && free_tok(r, j + 1) &&
                value_like(r->t[j + 1].low)) {
                if (r->t[j].role == R_NONE)
                    r->t[j].role = is(r, j, "or") ? R_OR : R_AND;
                j++;
                continue;
            }
        }
        break;
    }
    return taken;
}

static bool is_ip(const char *w)
{
    int parts = 0, digits = 0;
    for (const char *p = w; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (++digits > 3)
                return false;
        } else if (*p == '.' && digits) {
            parts++;
            digits = 0;
        } else if (*p == '/') {
            return parts == 3 && digits;
        } else {
            return false;
        }
    }
    return parts == 3 && digits;
}

static bool is_date(const char *w)
{
    return strlen(w) >= 10 && isdigit((unsigned char)w[0]) && w[4] == '-' &&
           w[7] == '-';
}

static void find_fields(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        /* user ids: "user ids u1, u2", "userId u1", "users with id u1" */
        size_t at = 0;
        const char *field = NULL;
        if ((is(r, i, "user") || is(r, i, "users")) &&
            (is(r, i + 1, "id") || is(r, i + 1, "ids")))
            at = i + 2, field = "userId";
        else if (is(r, i, "userid") || is(r, i, "userids"))
            at = i + 1, field = "userId";
        else if ((is(r, i, "session") || is(r, i, "sessions")) &&
                 (is(r, i + 1, "id") || is(r, i + 1, "ids")))
            at = i + 2, field = "sessionId";
        else if (is(r, i, "sessionid") || is(r, i, "sessionids"))
            at = i + 1, field = "sessionId";
        else if (is(r, i, "appname") ||
                 (is(r, i, "app") && is(r, i + 1, "name")))
            at = i + (is(r, i, "appname") ? 1 : 2), field = "appName";
        else if ((is(r, i, "app") || is(r, i, "apps")) &&
                 (is(r, i + 1, "named") || is(r, i + 1, "called")))
            at = i + 2, field = "appName";
        else if (is(r, i, "environment") && !is(r, i - 1, "the"))
            at = i + 1, field = "environment";
        if (field) {
            if (is(r, at, "is") || is(r, at, "of") || is(r, at, "="))
                at++;
            size_t got = take_values(r, at, field, "IN");
            if (got) {
                for (size_t k = i; k < at; k++)
                    r->t[k].role = R_FILLER;
                i = at + got - 1;
                continue;
            }
        }
        /* IP addresses and ranges (with "ip" or "address" nearby) */
        if (is_ip(r->t[i].low)) {
            bool cidr = strchr(r->t[i].low, '/') != NULL;
            int k = add_mention(r, K_FIELD, i, i);
            if (k >= 0) {
                copy_str(r->m[k].field, sizeof(r->m[k].field), "remoteAddress");
                copy_str(r->m[k].op, sizeof(r->m[k].op),
                         cidr ? "IN_CIDR" : "IN");
                copy_str(r->m[k].value, sizeof(r->m[k].value), r->t[i].orig);
            }
            continue;
        }
        /* dates: "after 2026-03-01", "before 2026-04-01T12:00:00Z" */
        if (is_date(r->t[i].low) && i > 0) {
            const char *op = NULL;
            if (is(r, i - 1, "after") || is(r, i - 1, "since") ||
                is(r, i - 1, "from"))
                op = "DATE_AFTER";
            else if (is(r, i - 1, "before") || is(r, i - 1, "until"))
                op = "DATE_BEFORE";
            char v[TOK_MAX + 16];
            snprintf(v, sizeof(v), "%s%s", r->t[i].orig,
                     strlen(r->t[i].orig) == 10 ? "T00:00:00.000Z" : "");
            if (op && vx_operator_value_ok(op, strlen(op), v, strlen(v))) {
                int k = add_mention(r, K_FIELD, i - 1, i);
                if (k >= 0) {
                    copy_str(r->m[k].field, sizeof(r->m[k].field),
                             "currentTime");
                    copy_str(r->m[k].op, sizeof(r->m[k].op), op);
                    copy_str(r->m[k].value, sizeof(r->m[k].value), v);
                }
                continue;
            }
        }
        /* a known field by name: "whose company is acme or globex" */
        size_t fi;
        const json_t *f;
        json_array_foreach (r->fields, fi, f) {
            const char *name = json_string_value(f);
            if (!name || strcasecmp(name, r->t[i].orig) != 0)
                continue;
            if (in_list(r->t[i].low, FILLER, N(FILLER)) ||
                known_field(r, COUNTRY_FIELDS, N(COUNTRY_FIELDS)) == name ||
                known_field(r, PLAN_FIELDS, N(PLAN_FIELDS)) == name ||
                known_field(r, VERSION_FIELDS, N(VERSION_FIELDS)) == name)
                break;
            size_t a = i + 1;
            bool neg = false;
            if (is(r, a, "is") || is(r, a, "=") || is(r, a, "equals") ||
                is(r, a, "in"))
                a++;
            if (is(r, a, "not")) {
                neg = true;
                a++;
            }
            if (is(r, a, "one") && is(r, a + 1, "of"))
                a += 2;
            size_t got = take_values(r, a, name, "IN");
            if (got) {
                for (size_t k = i; k < a; k++)
                    r->t[k].role = R_FILLER;
                if (neg)
                    for (size_t k = 0; k < r->nm; k++)
                        if (r->m[k].first >= a && r->m[k].kind == K_FIELD)
                            r->m[k].neg = true;
                i = a + got - 1;
            }
            break;
        }
    }
}

/* ---- negation, connectors and what is left -------------------------------
 */

static const char *const NEG_WORDS[] = {
    "not",   "except", "excluding", "exclude", "outside", "non",
    "isn't", "aren't", "don't",     "doesn't", "never",   "excepting",
};
static const char *const NEG_PHRASES[] = {"other than", "apart from",
                                          "aside from", "except for",
                                          "with the exception of"};

static void find_markers(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!free_tok(r, i))
            continue;
        bool done = false;
        for (size_t p = 0; p < N(NEG_PHRASES) && !done; p++) {
            size_t k = phrase_at(r, i, NEG_PHRASES[p]);
            if (k) {
                r->t[i].role = R_NEG;
                for (size_t m = 1; m < k; m++)
                    r->t[i + m].role = R_FILLER;
                i += k - 1;
                done = true;
            }
        }
        if (done)
            continue;
        const char *w = r->t[i].low;
        if (in_list(w, NEG_WORDS, N(NEG_WORDS))) {
            r->t[i].role = R_NEG;
            /* "but not": one marker */
            if (i > 0 && is(r, i - 1, "but"))
                r->t[i - 1].role = R_FILLER;
        } else if (strcmp(w, "or") == 0) {
            r->t[i].role = R_OR;
        } else if (is_and(w)) {
            r->t[i].role = R_AND;
        } else if (in_list(w, FILLER, N(FILLER))) {
            r->t[i].role = R_FILLER;
        }
    }
}

static void mention_text(const reading *r, const mention *m, char *buf,
                         size_t cap)
{
    int len = (int)(r->t[m->last].end - r->t[m->first].start);
    snprintf(buf, cap, "%.*s", len, r->s + r->t[m->first].start);
}

/* Gives each negation marker its scope: the next mention, and the mentions
 * of the same kind listed right after it ("except Germany and France"). A
 * mention of another kind, or ; : . ends the scope. */
static void scope(reading *r)
{
    bool pending = false, active = false;
    size_t marker = 0;
    enum kind kind = K_NKINDS;
    int last = -1;
    for (size_t i = 0; i < r->n; i++) {
        tok *t = &r->t[i];
        if (t->role == R_PUNCT && t->punct != ',') {
            if (pending)
                problem(r,
                        "'%s' is not followed by anything Vexil can "
                        "exclude",
                        r->t[marker].orig);
            pending = active = false;
            continue;
        }
        if (t->role == R_NEG) {
            if (pending)
                problem(r,
                        "'%s %s' is a double negative: say who should get "
                        "the feature",
                        r->t[marker].orig, t->orig);
            pending = true;
            active = false;
            marker = i;
            continue;
        }
        if (t->role != R_MENTION || t->mention == last)
            continue;
        last = t->mention;
        mention *m = &r->m[t->mention];
        if (pending) {
            if (m->kind == K_PERCENT) {
                problem(r, "'%s' before a share cannot be expressed",
                        r->t[marker].orig);
                pending = false;
                continue;
            }
            if (m->neg) {
                problem(r,
                        "'%s' before a negated condition is a double "
                        "negative",
                        r->t[marker].orig);
            }
            m->neg = true;
            pending = false;
            active = true;
            kind = m->kind;
            continue;
        }
        if (active && m->kind == kind && m->kind != K_VERSION) {
            m->neg = true;
            continue;
        }
        active = false;
    }
    if (pending)
        problem(r, "'%s' is not followed by anything Vexil can exclude",
                r->t[marker].orig);
}

/* "or" joins alternatives of one kind only: a strategy's constraints all
 * hold at once, so "in Germany or on the pro plan" needs two strategies. */
static void check_or(reading *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->t[i].role != R_OR)
            continue;
        int a = -1, b = -1;
        for (size_t k = i; k-- > 0;) {
            if (r->t[k].role == R_MENTION) {
                a = r->t[k].mention;
                break;
            }
        }
        for (size_t k = i + 1; k < r->n; k++) {
            if (r->t[k].role == R_MENTION) {
                b = r->t[k].mention;
                break;
            }
        }
        if (a < 0 || b < 0)
            continue; /* an "or" next to words not understood: reported */
        const mention *x = &r->m[a], *y = &r->m[b];
        bool same = x->kind == y->kind &&
                    (x->kind != K_FIELD || strcmp(x->field, y->field) == 0);
        if (!same) {
            char ta[200], tb[200];
            mention_text(r, x, ta, sizeof(ta));
            mention_text(r, y, tb, sizeof(tb));
            problem(r,
                    "'or' between %s ('%s') and %s ('%s') cannot be one "
                    "strategy (its constraints must all hold): ask for each "
                    "separately",
                    KIND_NAME[x->kind], ta, KIND_NAME[y->kind], tb);
        } else if (x->kind == K_VERSION) {
            problem(r, "'or' between two versions cannot be one strategy: ask "
                       "for each separately");
        } else if (x->neg != y->neg) {
            problem(r, "'or' between an included and an excluded value is "
                       "unclear: say who should get the feature");
        }
    }
}

static void leftovers(reading *r, json_t *not_understood)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->t[i].role != R_NONE)
            continue;
        size_t j = i;
        while (j + 1 < r->n &&
               (r->t[j + 1].role == R_NONE ||
                ((r->t[j + 1].role == R_FILLER || r->t[j + 1].role == R_AND) &&
                 j + 2 < r->n && r->t[j + 2].role == R_NONE)))
            j++;
        int len = (int)(r->t[j].end - r->t[i].start);
        if (len > 200)
            len = 200;
        json_array_append_new(not_understood,
                              json_stringn(r->s + r->t[i].start, (size_t)len));
        i = j;
    }
}

/* ---- building the constraints -------------------------------------------- */

static bool has_str(const json_t *a, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach (a, i, v) {
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void explain(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    if (n < cap)
        snprintf(buf + n, cap - n, "%s%s", n ? ", and " : "", text);
}

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

static json_t *constraint(const char *field, const char *op, json_t *values,
                          bool inverted)
{
    json_t *k = json_pack("{ss ss sb sb}", "contextName", field, "operator", op,
                          "caseInsensitive", 0, "inverted", inverted);
    if (vx_operator_takes_list(op, strlen(op))) {
        json_object_set_new(k, "values", values);
    } else {
        json_object_set(k, "value", json_array_get(values, 0));
        json_decref(values);
    }
    return k;
}

/* One IN / NOT_IN constraint from the mentions of `kind` (and `field` for
 * K_FIELD): included minus excluded, or NOT_IN the excluded. */
static void set_constraint(reading *r, enum kind kind, const char *mfield,
                           const char *op_in, const char *field,
                           const char *what, json_t *cons, char *expl,
                           size_t cap)
{
    json_t *inc = json_array(), *exc = json_array();
    for (size_t i = 0; i < r->nm; i++) {
        const mention *m = &r->m[i];
        if (m->kind != kind || (mfield && strcmp(m->field, mfield) != 0) ||
            strcmp(m->op, op_in) != 0)
            continue;
        json_t *set = m->neg ? exc : inc;
        if (!has_str(set, m->value))
            json_array_append_new(set, json_string(m->value));
    }
    char list[400], part[600];
    if (!*op_in)
        op_in = "IN";
    if (json_array_size(inc) > 0) {
        json_t *left = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach (inc, i, v) {
            if (!has_str(exc, json_string_value(v)))
                json_array_append(left, (json_t *)v);
        }
        json_array_foreach (exc, i, v) {
            if (!has_str(inc, json_string_value(v))) {
                char text[300];
                snprintf(text, sizeof(text),
                         "excluding %s changes nothing: it is not among the "
                         "%ss named",
                         json_string_value(v), what);
                note(r, text);
            }
        }
        if (json_array_size(left) == 0) {
            problem(r, "every %s named is also excluded: nobody is left", what);
            json_decref(left);
        } else {
            snprintf(part, sizeof(part), "whose %s is %s", field,
                     or_list(left, list, sizeof(list)));
            explain(expl, cap, part);
            json_array_append_new(cons, constraint(field, op_in, left, false));
        }
    } else if (json_array_size(exc) > 0) {
        snprintf(part, sizeof(part), "whose %s is not %s", field,
                 or_list(exc, list, sizeof(list)));
        explain(expl, cap, part);
        bool list_op = strcmp(op_in, "IN") == 0;
        json_array_append_new(cons,
                              constraint(field, list_op ? "NOT_IN" : op_in,
                                         json_incref(exc), !list_op));
    }
    json_decref(inc);
    json_decref(exc);
}

static const char *flip(const char *op, bool *inverted)
{
    *inverted = false;
    if (strcmp(op, "SEMVER_LT") == 0)
        return "SEMVER_GTE";
    if (strcmp(op, "SEMVER_LTE") == 0)
        return "SEMVER_GT";
    if (strcmp(op, "SEMVER_GT") == 0)
        return "SEMVER_LTE";
    if (strcmp(op, "SEMVER_GTE") == 0)
        return "SEMVER_LT";
    *inverted = true;
    return op;
}

static const char *op_words(const char *op)
{
    return strcmp(op, "SEMVER_LT") == 0     ? "is older than"
           : strcmp(op, "SEMVER_LTE") == 0  ? "is at most"
           : strcmp(op, "SEMVER_GT") == 0   ? "is newer than"
           : strcmp(op, "SEMVER_GTE") == 0  ? "is at least"
           : strcmp(op, "DATE_AFTER") == 0  ? "is after"
           : strcmp(op, "DATE_BEFORE") == 0 ? "is before"
                                            : "is";
}

static void build(reading *r, json_t *cons, char *expl, size_t cap,
                  long *rollout)
{
    /* the share */
    long pct = -1;
    for (size_t i = 0; i < r->nm; i++) {
        if (r->m[i].kind != K_PERCENT)
            continue;
        if (pct >= 0 && pct != r->m[i].percent)
            problem(r,
                    "the sentence gives two shares (%ld%% and %ld%%): one "
                    "strategy has one rollout",
                    pct, r->m[i].percent);
        pct = r->m[i].percent;
    }
    *rollout = pct >= 0 ? pct : 100;
    bool any_country = false, any_plan = false;
    for (size_t i = 0; i < r->nm; i++) {
        any_country |= r->m[i].kind == K_COUNTRY;
        any_plan |= r->m[i].kind == K_PLAN;
    }
    if (any_country)
        set_constraint(
            r, K_COUNTRY, NULL, "",
            field_for(r, COUNTRY_FIELDS, N(COUNTRY_FIELDS), "country"),
            "country", cons, expl, cap);
    if (any_plan) {
        const char *f = r->says_tier
                            ? field_for(r, TIER_FIELDS, N(TIER_FIELDS), "tier")
                            : field_for(r, PLAN_FIELDS, N(PLAN_FIELDS), "plan");
        set_constraint(r, K_PLAN, NULL, "", f, "plan", cons, expl, cap);
    }
    /* named fields, in the order they appear */
    for (size_t i = 0; i < r->nm; i++) {
        const mention *m = &r->m[i];
        if (m->kind != K_FIELD)
            continue;
        bool first = true;
        for (size_t k = 0; k < i; k++)
            first = first && !(r->m[k].kind == K_FIELD &&
                               strcmp(r->m[k].field, m->field) == 0 &&
                               strcmp(r->m[k].op, m->op) == 0);
        if (!first)
            continue;
        if (vx_operator_takes_list(m->op, strlen(m->op))) {
            set_constraint(r, K_FIELD, m->field, m->op, m->field, "value", cons,
                           expl, cap);
        } else {
            bool inv = m->neg;
            char part[400];
            snprintf(part, sizeof(part), "whose %s %s%s %s", m->field,
                     inv ? "not " : "", op_words(m->op), m->value);
            explain(expl, cap, part);
            json_array_append_new(
                cons,
                constraint(m->field, m->op, json_pack("[s]", m->value), inv));
        }
    }
    /* versions: one constraint each */
    const char *vf = NULL;
    for (size_t i = 0; i < r->nm; i++) {
        const mention *m = &r->m[i];
        if (m->kind != K_VERSION)
            continue;
        if (!vf)
            vf = field_for(r, VERSION_FIELDS, N(VERSION_FIELDS), "appVersion");
        bool inv = false;
        const char *op = m->neg ? flip(m->op, &inv) : m->op;
        char part[400];
        snprintf(part, sizeof(part), "whose %s %s%s %s", vf,
                 inv ? "is not " : "", inv ? "" : op_words(op), m->value);
        explain(expl, cap, part);
        json_array_append_new(
            cons, constraint(vf, op, json_pack("[s]", m->value), inv));
    }
    if (json_array_size(cons) > VX_LIMIT_AI_CONSTRAINTS)
        problem(r, "more than %d conditions", VX_LIMIT_AI_CONSTRAINTS);
}

json_t *ai_language_read(const char *sentence, const json_t *fields)
{
    reading *r = vx__calloc(1, sizeof(*r));
    json_t *cons = json_array(), *nu = json_array(), *out = NULL;
    char expl[1200] = "", full[1400];
    long rollout = 100;
    if (!r || !cons || !nu)
        goto out;
    r->s = sentence;
    r->fields = fields;
    r->problems = json_array();
    r->notes = json_array();
    r->unknown = json_array();
    tokenize(r);
    find_percent(r);
    find_versions(r);
    find_fields(r);
    find_countries(r);
    find_plans(r);
    find_markers(r);
    scope(r);
    check_or(r);
    leftovers(r, nu);
    if (json_array_size(nu) > 0) {
        char list[600] = "";
        size_t i, len = 0;
        const json_t *v;
        json_array_foreach (nu, i, v) {
            int w = snprintf(list + len, sizeof(list) - len, "%s'%s'",
                             i ? ", " : "", json_string_value(v));
            if (w < 0 || (size_t)w >= sizeof(list) - len)
                break;
            len += (size_t)w;
        }
        problem(r, "not understood: %s", list);
    }
    build(r, cons, expl, sizeof(expl), &rollout);
    snprintf(full, sizeof(full), "%ld%% of %s%s.", rollout,
             json_array_size(cons) ? "the users " : "all users", expl);
    out = json_pack("{sb si sO ss sO sO sO sO}", "understood",
                    json_array_size(r->problems) == 0, "rollout", (int)rollout,
                    "constraints", cons, "explanation", full, "notUnderstood",
                    nu, "problems", r->problems, "unknownFields", r->unknown,
                    "notes", r->notes);
out:
    if (r) {
        json_decref(r->problems);
        json_decref(r->notes);
        json_decref(r->unknown);
    }
    vx__free(r);
    json_decref(cons);
    json_decref(nu);
    return out;
}
