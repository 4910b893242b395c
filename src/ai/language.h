/* The advisor's deterministic language layer: the English a product
 * manager writes about who should get a feature ("10% of British and Irish
 * users on the pro plan below version 2.0, except the free tier") read into
 * the constraints of one flexibleRollout strategy, with no model.
 *
 * Invariant: a reading is either complete (every word of the sentence is
 * accounted for, and the constraints mean exactly what it says) or it is
 * refused with the reasons; it never falls back to a broader rule. What it
 * cannot express exactly (an "or" between a country and a plan, a region, a
 * part of a country, an ambiguous name) is a reason to refuse. */
#ifndef VX_AI_LANGUAGE_H
#define VX_AI_LANGUAGE_H

#include <jansson.h>
#include <stddef.h>

/* One ISO 3166-1 country name (iso3166.c, generated from Debian's
 * iso-codes by tools/gen-iso3166.py). */
typedef struct ai_country {
    const char *alpha2; /* "VN"; "CD/CG" in the ambiguous table */
    const char *alpha3; /* "VNM"; "" in the ambiguous table */
    const char *name;   /* lower-case ASCII words: "viet nam" */
} ai_country;

extern const ai_country AI_ISO3166[];           /* every unambiguous name */
extern const size_t AI_ISO3166_N;               /* entries in AI_ISO3166 */
extern const ai_country AI_ISO3166_AMBIGUOUS[]; /* names of two countries */
extern const size_t AI_ISO3166_AMBIGUOUS_N;     /* entries in it */

/* Reads `sentence` (UTF-8, NUL-terminated) with `fields` (an array of the
 * known context field names, may be NULL) into a new object:
 *   {"understood": bool,
 *    "rollout": 0..100, "constraints": [{contextName, operator,
 *      values | value, caseInsensitive, inverted}],
 *    "explanation": "10% of the users whose country is GB or IE.",
 *    "notUnderstood": ["words it could not map"],
 *    "problems": [{"path": "/sentence", "message": why}],
 *    "unknownFields": [fields it assumed that `fields` lacks],
 *    "notes": ["what a person should know (rounding, no-op exclusions)"]}
 * With "understood" false, "problems" says why (never empty) and the
 * constraints must not be used. Field names: a known field that matches
 * (country, countryCode...; plan, tier...; appVersion, version...), else
 * the assumed custom field "country", "plan" (or "tier" when the sentence
 * says tier) or "appVersion". NULL when out of memory. */
json_t *ai_language_read(const char *sentence, const json_t *fields);

#endif
