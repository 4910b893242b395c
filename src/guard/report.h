/* Renders a plan decision as one JSON object, for the audit entry of an
 * automatic action (and for logs): the action, why, the sample-ratio check
 * and every metric's verdict with the statistics that justify it.
 *
 * Pure and allocation-free: writes into a caller-owned buffer. */
#ifndef VX_GUARD_REPORT_H
#define VX_GUARD_REPORT_H

#include <stddef.h>

#include "guard/plan.h"

/* Enough for a decision with GUARD_PLAN_MAX_METRICS verdicts (arm names
 * included). */
#define GUARD_REPORT_MAX 32768

/* Writes the decision `d` (taken under `plan`) as a NUL-terminated JSON
 * object into buf[0, cap) and sets *len to its length without the NUL.
 * Field names are camelCase, numbers are finite (null where a value is not
 * defined). VX_ELIMIT (and buf = "") if cap is too small. Example:
 *   {"action":"rollback","reason":"...","milestone":2,"elapsedSeconds":60,
 *    "rollback":"zero","culprit":0,"srm":{...},"metrics":[{"kind":
 *    "error_rate","regression":true,"control":0.01,"treatment":0.02,
 *    "p":0.0004,...}]} */
vx_status guard_decision_json(const guard_plan *plan, const guard_decision *d,
                              char *buf, size_t cap, size_t *len);

#endif
