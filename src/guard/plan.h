/* Release plans: the pure decision of what a guarded rollout should do
 * next. The caller (the server's scheduler, or `vexil simulate`) owns the
 * clock, the storage and the flag; it passes the plan, the current state and
 * "now", and applies the returned action.
 *
 * guard_plan_decide is pure and deterministic: the same inputs give the same
 * decision, so a scheduler on several replicas can recompute it safely. */
#ifndef VX_GUARD_PLAN_H
#define VX_GUARD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "guard/bucket.h"
#include "guard/stats.h"
#include "vexil/status.h"

#define GUARD_PLAN_MAX_MILESTONES VX_LIMIT_GUARD_MILESTONES
#define GUARD_PLAN_MAX_METRICS    VX_LIMIT_GUARD_METRICS

typedef struct guard_milestone {
    double percent;         /* rollout percentage, (0, 100] */
    int64_t min_duration_s; /* stay at least this long (seconds, >= 0) */
    uint64_t min_exposures; /* and until the treatment has served this many
                               requests since the plan started */
} guard_milestone;

typedef enum guard_metric_kind {
    GUARD_METRIC_ERROR_RATE = 0,   /* errors / requests */
    GUARD_METRIC_LATENCY = 1,      /* geometric mean of latency (log moments) */
    GUARD_METRIC_CONVERSION = 2,   /* conversions / requests */
    GUARD_METRIC_LATENCY_MEAN = 3, /* arithmetic mean of latency */
    /* A latency quantile (from the sketches): "p99 of the treatment not
     * above (1 + tolerance) x p99 of the control", tested as "at most
     * 1 - quantile of treatment requests are slower than that". */
    GUARD_METRIC_LATENCY_QUANTILE = 4,
} guard_metric_kind;
#define GUARD_METRIC_KINDS 5 /* kinds above, numbered 0 to 4 */

typedef struct guard_metric {
    guard_metric_kind kind;
    guard_direction direction; /* which way is harm */
    double tolerance;          /* relative worsening allowed, >= 0 */
    double tau;                /* mixing scale (relative); 0 = default */
    double quantile;           /* LATENCY_QUANTILE only: 0.5..0.999; 0 = 0.99 */
} guard_metric;

typedef enum guard_mode {
    GUARD_MODE_AUTO = 0,     /* advance by itself */
    GUARD_MODE_APPROVAL = 1, /* wait for a person before each advance */
} guard_mode;

typedef enum guard_rollback {
    GUARD_ROLLBACK_ZERO = 0,    /* set the rollout to 0 % */
    GUARD_ROLLBACK_DISABLE = 1, /* disable the flag in the environment */
} guard_rollback;

typedef struct guard_plan {
    guard_milestone milestones[GUARD_PLAN_MAX_MILESTONES];
    size_t n_milestones; /* 1..GUARD_PLAN_MAX_MILESTONES */
    guard_metric metrics[GUARD_PLAN_MAX_METRICS];
    size_t n_metrics; /* 0..GUARD_PLAN_MAX_METRICS */
    guard_mode mode;
    guard_rollback rollback;
    double alpha;             /* family-wise false-rollback bound (0.05); split
                                 over the metrics (Bonferroni) */
    uint64_t min_per_arm;     /* no statistical verdict below this (100) */
    double srm_alpha;         /* sample-ratio-mismatch threshold (0.001) */
    uint64_t srm_min_per_arm; /* SRM needs this many expected units (8) */
    double srm_tau; /* SRM mixing scale, relative to the treatment share
                       (0.05: a 5 % shortfall of exposures) */
} guard_plan;

/* Fills `p` with the defaults above, no milestones and no metrics. */
void guard_plan_init(guard_plan *p);

/* The default tolerance-free mixing scale for a metric kind. */
double guard_metric_default_tau(guard_metric_kind kind);

/* Checks a plan; on failure returns VX_EINVAL with the JSON pointer of the
 * offending field in `err` ("/milestones/2/percent"), which may be NULL.
 * Percentages must be strictly increasing. */
vx_status guard_plan_validate(const guard_plan *p, vx_error *err);

typedef struct guard_state {
    size_t milestone;          /* index of the current milestone */
    int64_t milestone_started; /* unix seconds when it began */
    bool approved;             /* a person approved leaving this milestone */
    guard_counts control;      /* since the plan started */
    guard_counts treatment;    /* since the plan started */
    /* Counts per rollout epoch, borrowed, may be NULL: [i] holds what
     * arrived while the i-th percentage was in force (i < n_epochs, at
     * most GUARD_MAX_STRATA). When given, the error, conversion and latency
     * tests are stratified by epoch, which keeps a baseline that drifts
     * over time from looking like a regression (docs/guard.md); when not,
     * control / treatment are tested as one epoch. */
    const guard_counts *epoch_control;
    const guard_counts *epoch_treatment;
    size_t n_epochs;
    uint64_t stage_control;   /* control exposures in this milestone (SRM) */
    uint64_t stage_treatment; /* treatment exposures in this milestone */
    /* Latency sketches since the plan started, borrowed; only the
     * LATENCY_QUANTILE metrics read them, and hold while they are NULL. */
    const guard_sketch *control_latency;
    const guard_sketch *treatment_latency;
} guard_state;

typedef enum guard_action {
    GUARD_HOLD = 0,          /* stay: time, samples or evidence pending */
    GUARD_ADVANCE = 1,       /* go to the next milestone */
    GUARD_WAIT_APPROVAL = 2, /* ready to advance, waiting for a person */
    GUARD_PAUSE_SRM = 3,     /* traffic split is off: stop until resolved */
    GUARD_ROLLBACK = 4,      /* a guard metric regressed */
    GUARD_COMPLETE = 5,      /* the last milestone is done */
} guard_action;

/* Stable lowercase names ("hold", "advance", ...) for audit and JSON. */
const char *guard_action_name(guard_action a);
const char *guard_metric_kind_name(guard_metric_kind k);
/* The kind named `name` (as guard_metric_kind_name spells it) into `*out`;
 * false for NULL or an unknown name. */
bool guard_metric_kind_parse(const char *name, guard_metric_kind *out);

typedef struct guard_verdict {
    guard_metric_kind kind; /* copied from the plan */
    double alpha;           /* the per-metric alpha used */
    guard_seq_result seq;   /* the sequential test */
} guard_verdict;

typedef struct guard_decision {
    guard_action action;
    const char *reason;      /* one static sentence for the audit entry */
    size_t milestone;        /* the milestone the decision was taken in */
    size_t next_milestone;   /* ADVANCE: the target index */
    double next_percent;     /* ADVANCE: its percentage */
    guard_rollback rollback; /* ROLLBACK: what to do to the flag */
    size_t culprit;          /* ROLLBACK: index of the deciding metric */
    int64_t elapsed_s;       /* time spent in the milestone */
    guard_srm_result srm;    /* the always-valid sample-ratio check of
                                this milestone's exposures */
    guard_verdict verdicts[GUARD_PLAN_MAX_METRICS]; /* one per plan metric */
    size_t n_verdicts;
} guard_decision;

/* Decides the next action at time `now` (unix seconds). Order: a milestone
 * at 100 % is COMPLETE (no control is left to compare with); a sample-ratio
 * mismatch pauses; a regression of any metric rolls back (the one with the
 * smallest always-valid p is the culprit); unmet time or exposures hold;
 * approval mode waits; else ADVANCE, or COMPLETE from the last milestone.
 *
 * VX_EINVAL if the plan is invalid, the state's milestone index is out of
 * range, or an arm's counts are impossible (more errors or conversions than
 * requests, non-finite moments); `err` names the field ("/treatment/errors").
 * `out` is always written (HOLD on error). */
vx_status guard_plan_decide(const guard_plan *plan, const guard_state *state,
                            int64_t now, guard_decision *out, vx_error *err);

#endif
