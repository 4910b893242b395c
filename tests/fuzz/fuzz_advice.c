/* libFuzzer target for what the advisor reads from outside: a model's
 * answer (ai_parse_answer, then ai_schema_check against the targeting and
 * changelog answer shapes), a sentence (the deterministic targeting
 * parser), text going into a prompt (the scrubber), and the plan API's
 * documents (plan_adapter.c: a plan status, a plan, a rollback event) fed
 * to the rollout advisors and the auto-apply policy.
 *
 * Invariants checked: a parsed answer is an object; a schema error names a
 * JSON pointer; every constraint the parser proposes has a known operator
 * and values that operator accepts, and a rollout of 0-100; scrubbed text
 * holds nothing the scrubber would remove (it is idempotent); a rollout
 * answer is one of the four recommendations with a percentage of 0-100,
 * ROLLBACK after a guard rollback, and the policy never applies INCREASE
 * or DECREASE; adapter errors name a JSON pointer. */
#include <stdint.h>
#include <string.h>

#include "ai/advisor.h"
#include "fuzz_common.h"

static json_t *schemas[2];
static ai_scrub *scrub;
static vx_scratch *scratch; /* fuzz_init's, unused here but kept */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch = fuzz_init();
    static const char *const src[2] = {
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":["
        "\"rollout\",\"constraints\"],\"properties\":{\"rollout\":{\"type\":"
        "\"integer\",\"minimum\":0,\"maximum\":100},\"constraints\":{"
        "\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
        "\"additionalProperties\":false,\"required\":[\"contextName\","
        "\"operator\",\"values\"],\"properties\":{\"contextName\":{\"enum\":"
        "[\"country\",\"plan\"]},\"operator\":{\"enum\":[\"IN\","
        "\"SEMVER_GTE\"]},\"values\":{\"type\":\"array\",\"items\":{\"type\":"
        "\"string\",\"maxLength\":200}},\"inverted\":{\"type\":\"boolean\"}"
        "}}},\"explanation\":{\"type\":\"string\",\"maxLength\":600}}}",
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":["
        "\"summary\",\"entries\"],\"properties\":{\"summary\":{\"type\":"
        "\"string\",\"maxLength\":600},\"entries\":{\"type\":\"array\","
        "\"items\":{\"type\":\"object\",\"required\":[\"flag\",\"text\"],"
        "\"properties\":{\"flag\":{\"enum\":[\"a\",\"other\"]},\"text\":{"
        "\"type\":\"string\",\"minLength\":1}}}}}}",
    };
    for (int i = 0; i < 2; i++) {
        schemas[i] = json_loads(src[i], 0, NULL);
        FUZZ_CHECK(schemas[i] != NULL);
    }
    scrub = ai_scrub_new();
    json_t *deny =
        json_loads("[\"u-1,u-2\",\"alice\",\"New York\",\"TH\"]", 0, NULL);
    FUZZ_CHECK(ai_scrub_deny_json(scrub, deny) == VX_OK);
    json_decref(deny);
    return 0;
}

static void check_answer(const uint8_t *data, size_t size)
{
    json_t *doc = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (ai_parse_answer((const char *)data, size, &doc, &err) != VX_OK) {
        FUZZ_CHECK(doc == NULL);
        return;
    }
    FUZZ_CHECK(json_is_object(doc));
    for (int i = 0; i < 2; i++) {
        memset(&err, 0, sizeof(err));
        vx_status st = ai_schema_check(schemas[i], doc, &err);
        FUZZ_CHECK(st == VX_OK || st == VX_ESCHEMA);
        FUZZ_CHECK(st == VX_OK || err.path[0] == '\0' || err.path[0] == '/');
    }
    json_decref(doc);
}

static void check_sentence(const char *s)
{
    json_t *p = ai_targeting_parse(s, NULL);
    if (!p)
        return; /* out of memory only */
    json_int_t r = json_integer_value(json_object_get(p, "rollout"));
    FUZZ_CHECK(r >= 0 && r <= 100);
    size_t i;
    const json_t *k;
    json_array_foreach (json_object_get(p, "constraints"), i, k) {
        const char *op = json_string_value(json_object_get(k, "operator"));
        FUZZ_CHECK(op && vx_operator_known(op, strlen(op)));
        const json_t *v = json_object_get(k, "value");
        if (v)
            FUZZ_CHECK(vx_operator_value_ok(
                op, strlen(op), json_string_value(v), json_string_length(v)));
        size_t j;
        const json_t *e;
        json_array_foreach (json_object_get(k, "values"), j, e)
            FUZZ_CHECK(json_is_string(e));
    }
    json_decref(p);
}

static void check_scrub(const char *s)
{
    char *once = ai_scrub_text(scrub, s, NULL, NULL);
    if (!once)
        return;
    FUZZ_CHECK(!ai_scrub_finds(scrub, once));
    vx__free(once);
}

static int applied; /* plan operations the policy called */

static vx_status fake_op(void *ud, const json_t *status, const char *reason,
                         vx_error *err)
{
    (void)ud;
    (void)status;
    (void)reason;
    (void)err;
    applied++;
    return VX_OK;
}

static void check_plan_docs(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    json_t *n = NULL, *a = NULL, *f = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!json_is_object(doc))
        goto out;
    vx_status st = ai_plan_status_normalize(doc, &n, &err);
    FUZZ_CHECK(st == VX_OK || err.path[0] == '\0' || err.path[0] == '/');
    if (st == VX_OK && ai_advise_rollout(NULL, n, NULL, &a, &err) == VX_OK) {
        const char *rec =
            json_string_value(json_object_get(a, "recommendation"));
        double pct = json_number_value(json_object_get(a, "nextPercent"));
        FUZZ_CHECK(rec &&
                   (strcmp(rec, "INCREASE") == 0 || strcmp(rec, "HOLD") == 0 ||
                    strcmp(rec, "DECREASE") == 0 ||
                    strcmp(rec, "ROLLBACK") == 0));
        FUZZ_CHECK(pct >= 0 && pct <= 100);
        const char *act = json_string_value(
            json_object_get(json_object_get(n, "statistics"), "action"));
        if (act && strcmp(act, "rollback") == 0)
            FUZZ_CHECK(strcmp(rec, "ROLLBACK") == 0);
        ai_plan_ops ops = {fake_op, fake_op};
        applied = 0;
        json_t *o = ai_policy_apply(AI_AUTO_HOLD | AI_AUTO_ROLLBACK, a, n, &ops,
                                    NULL, NULL);
        if (strcmp(rec, "INCREASE") == 0 || strcmp(rec, "DECREASE") == 0)
            FUZZ_CHECK(applied == 0 &&
                       !json_is_true(json_object_get(o, "applied")));
        json_decref(o);
    }
    memset(&err, 0, sizeof(err));
    st = ai_plan_from_json(doc, NULL, &err);
    FUZZ_CHECK(st == VX_OK || err.path[0] == '\0' || err.path[0] == '/');
    if (ai_incident_facts(doc, &f, &err) == VX_OK) {
        json_t *i = NULL;
        if (ai_advise_incident(NULL, f, NULL, &i, &err) == VX_OK)
            FUZZ_CHECK(json_is_string(
                json_object_get(json_object_get(i, "incident"), "summary")));
        json_decref(i);
    }
out:
    json_decref(doc);
    json_decref(n);
    json_decref(a);
    json_decref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_answer(data, size);
    check_plan_docs(data, size);
    if (size > 4096)
        return 0;
    char *s = vx__malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_sentence(s);
    check_scrub(s);
    vx__free(s);
    return 0;
}
