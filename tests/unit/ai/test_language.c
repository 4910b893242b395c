/* The deterministic language layer against the sentence table
 * (sentences.json, next to this file): each sentence with the rule it must
 * give, or the reason it must be refused. Data-driven: a new case is a new
 * row, no code. With an argument, prints the reading of that sentence
 * instead (for writing rows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ai/advisor.h"
#include "ai/language.h"
#include "base/alloc.h"

#ifndef VX_AI_DOC
#error "VX_AI_DOC: the path of docs/ai.md"
#endif
#ifndef VX_AI_SENTENCES
#error "VX_AI_SENTENCES: the path of sentences.json"
#endif

/* A constraint in the table's short form:
 * [field, operator, value or [values], inverted?]. */
static bool same(const json_t *want, const json_t *got)
{
    const char *f = json_string_value(json_array_get(want, 0));
    const char *op = json_string_value(json_array_get(want, 1));
    const json_t *v = json_array_get(want, 2);
    bool inv = json_is_true(json_array_get(want, 3));
    if (strcmp(f, json_string_value(json_object_get(got, "contextName"))) ||
        strcmp(op, json_string_value(json_object_get(got, "operator"))) ||
        inv != json_is_true(json_object_get(got, "inverted")))
        return false;
    if (json_is_array(v))
        return json_equal(v, json_object_get(got, "values"));
    return json_equal(v, json_object_get(got, "value"));
}

static char *show(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

static int check_case(const json_t *c, size_t i)
{
    const char *s = json_string_value(json_object_get(c, "sentence"));
    json_t *r = ai_language_read(s, json_object_get(c, "fields"));
    int bad = 0;
    char *text = show(r);
    const json_t *refused = json_object_get(c, "refused");
    bool understood = json_is_true(json_object_get(r, "understood"));
    if (refused) {
        char *probs = show(json_object_get(r, "problems"));
        if (understood) {
            fprintf(stderr, "case %zu: \"%s\" must be refused (%s): %s\n", i, s,
                    json_string_value(refused), text);
            bad = 1;
        } else if (!strstr(probs, json_string_value(refused))) {
            fprintf(stderr,
                    "case %zu: \"%s\": the reason must mention '%s': "
                    "%s\n",
                    i, s, json_string_value(refused), probs);
            bad = 1;
        }
        free(probs);
    } else {
        const json_t *want = json_object_get(c, "constraints");
        const json_t *got = json_object_get(r, "constraints");
        json_int_t roll =
            json_is_integer(json_object_get(c, "rollout"))
                ? json_integer_value(json_object_get(c, "rollout"))
                : 100;
        bool ok = understood &&
                  json_integer_value(json_object_get(r, "rollout")) == roll &&
                  json_array_size(want) == json_array_size(got);
        size_t a, b;
        const json_t *w, *g;
        json_array_foreach (want, a, w) {
            bool found = false;
            json_array_foreach (got, b, g)
                found = found || same(w, g);
            ok = ok && found;
        }
        if (!ok) {
            char *ws = show(want);
            fprintf(stderr, "case %zu: \"%s\": want %lld%% %s, got %s\n", i, s,
                    (long long)roll, ws, text);
            free(ws);
            bad = 1;
        }
    }
    free(text);
    json_decref(r);
    return bad;
}

static void sentence_table(void **state)
{
    (void)state;
    json_error_t e;
    json_t *table = json_load_file(VX_AI_SENTENCES, 0, &e);
    if (!table)
        fail_msg("%s:%d: %s", VX_AI_SENTENCES, e.line, e.text);
    size_t i, refusals = 0;
    const json_t *c;
    int bad = 0;
    json_array_foreach (table, i, c) {
        bad += check_case(c, i);
        refusals += json_object_get(c, "refused") != NULL;
    }
    assert_true(json_array_size(table) >= 60);
    assert_true(refusals >= 10);
    json_decref(table);
    if (bad)
        fail_msg("%d of the sentences read wrongly (above)", bad);
}

/* The vendored ISO table: every code is two upper-case letters and the
 * table holds the 249 countries of ISO 3166-1. */
static void iso_table(void **state)
{
    (void)state;
    json_t *codes = json_object();
    for (size_t i = 0; i < AI_ISO3166_N; i++) {
        assert_int_equal(strlen(AI_ISO3166[i].alpha2), 2);
        assert_int_equal(strlen(AI_ISO3166[i].alpha3), 3);
        json_object_set_new(codes, AI_ISO3166[i].alpha2, json_true());
    }
    assert_int_equal(json_object_size(codes), 249);
    json_decref(codes);
}

/* docs/ai.md shows a prompt as sent: the data block the real gate makes
 * for a targeting question whose sentence holds a private value and an
 * email. This rebuilds it and requires the document to hold it verbatim
 * (run with --doc to print it). */
static char *doc_prompt(void)
{
    ai_scrub *s = ai_scrub_new();
    json_t *deny = json_pack("{s[s]}", "values", "user_007");
    ai_scrub_deny_private(s, deny);
    json_t *map = json_object();
    json_t *data =
        json_pack("{ss s[sssss] s[ss]}", "sentence",
                  "pro users in Vietnam like user_007 or ann@corp.example, 10%",
                  "contextFields", "userId", "sessionId", "remoteAddress",
                  "country", "plan", "operators", "IN", "NOT_IN");
    ai_task task = {"targeting_rule", "", NULL, NULL, NULL, s, map};
    char *user = ai_prompt_user(&task, data);
    json_decref(data);
    json_decref(map);
    json_decref(deny);
    ai_scrub_free(&s);
    return user;
}

static void doc_example(void **state)
{
    (void)state;
    char *user = doc_prompt();
    FILE *f = fopen(VX_AI_DOC, "rb");
    assert_non_null(f);
    static char doc[200000];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    if (!strstr(doc, user))
        fail_msg("docs/ai.md lacks the prompt as sent:\n%s", user);
    vx__free(user);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--doc") == 0) {
        char *user = doc_prompt();
        puts(user);
        vx__free(user);
        return 0;
    }
    if (argc > 1) {
        json_t *fields = argc > 2 ? json_loads(argv[2], 0, NULL) : NULL;
        json_t *r = ai_language_read(argv[1], fields);
        json_dumpf(r, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(r);
        json_decref(fields);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sentence_table),
        cmocka_unit_test(iso_table),
        cmocka_unit_test(doc_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
