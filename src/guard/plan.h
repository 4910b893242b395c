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

#define GUARD_PLAN_MAX_ARMS VX_LIMIT_GUARD_ARMS

typedef struct guard_milestone {
    double percent;         /* rollout percentage, (0, 100] */
    int64_t min_duration_s; /* stay at least this long (seconds, >= 0) */
    uint64_t min_exposures; /* and until the treatment has served this many
                               requests in this milestone */
    uint64_t min_per_arm;   /* evidence floor: units of every metric in each
                               arm in this milestone; 0 = the plan's */
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
    double mde; /* minimum detectable effect, relative (1.0 = the rate
                   doubles, 0.1 = latency +10 %, 0.2 = conversion -20 %;
                   for a quantile: the share of requests above the
                   threshold grows by this); above the tolerance; 0 =
                   the tolerance + guard_metric_default_mde */
} guard_metric;

typedef enum guard_mode {
    GUARD_MODE_AUTO = 0,     /* advance by itself */
    GUARD_MODE_APPROVAL = 1, /* wait for a person before each advance */
} guard_mode;

typedef enum guard_rollback {
    GUARD_ROLLBACK_ZERO = 0,    /* set the rollout to 0 % */
    GUARD_ROLLBACK_DISABLE = 1, /* disable the flag in the environment */
} guard_rollback;

/* What a milestone that ran out of time without its evidence does. */
typedef enum guard_on_timeout {
    GUARD_TIMEOUT_HOLD = 0,     /* stay, and alert (GUARD_STALL) */
    GUARD_TIMEOUT_ROLLBACK = 1, /* roll back as on a regression */
} guard_on_timeout;

typedef struct guard_plan {
    guard_milestone milestones[GUARD_PLAN_MAX_MILESTONES];
    size_t n_milestones; /* 1..GUARD_PLAN_MAX_MILESTONES */
    guard_metric metrics[GUARD_PLAN_MAX_METRICS];
    size_t n_metrics; /* 0..GUARD_PLAN_MAX_METRICS */
    guard_mode mode;
    guard_rollback rollback;
    double alpha;             /* family-wise false-rollback bound (0.05); split
                                 over arms x metrics (Bonferroni) */
    double alpha_margin;      /* the tests run at alpha x this (0.7): the
                                 margin that keeps a 5-second looking cadence
                                 under alpha where the normal approximation
                                 is not exact (docs/guard.md) */
    uint64_t min_per_arm;     /* no statistical verdict below this (100) */
    double srm_alpha;         /* sample-ratio-mismatch threshold (0.001) */
    uint64_t srm_min_per_arm; /* SRM needs this many expected units (8) */
    double srm_tau; /* SRM mixing scale, relative to the treatment share
                       (0.05: a 5 % shortfall of exposures) */
    /* The evidence gate: a milestone advances only when every metric has
     * a verdict and, in this milestone, at least the floor of units per
     * arm (milestone's min_per_arm, else the plan's); a milestone whose
     * next percentage is above `power_beyond` (the last counts as 100 %)
     * also needs, in its own data, the power `power` to detect each
     * metric's MDE. */
    bool gate;           /* the evidence gate on (true) */
    double power;        /* 0.95 */
    double power_beyond; /* percent (25) */
    int64_t max_wait_s;  /* a milestone short of evidence waits this long
                            past its minimum duration (3600 s) ... */
    guard_on_timeout on_timeout; /* ... then holds and alerts, or rolls back */
    bool bounds; /* compute harm_bound for every verdict (true; the
                    simulator turns it off: no decision depends on it) */
} guard_plan;

/* Fills `p` with the defaults above, no milestones and no metrics. */
void guard_plan_init(guard_plan *p);

/* The default tolerance-free mixing scale for a metric kind. */
double guard_metric_default_tau(guard_metric_kind kind);
/* The default minimum detectable effect (relative) of a metric kind. */
double guard_metric_default_mde(guard_metric_kind kind);
/* The MDE a metric's gate uses: its own, else its tolerance plus the
 * kind's default (a drop stays below 100 %). */
double guard_metric_mde(const guard_metric *m);
/* The smallest absolute difference worth gating on for proportions (0.5
 * percentage points): the effect a plan must be able to see is
 * max(mde x the control rate, this), so a service with almost no errors
 * is not held for tens of thousands of requests to detect a doubling of
 * nearly nothing. */
#define GUARD_MDE_ABS_PROPORTION 0.005

/* Checks a plan; on failure returns VX_EINVAL with the JSON pointer of the
 * offending field in `err` ("/milestones/2/percent"), which may be NULL.
 * Percentages must be strictly increasing. */
vx_status guard_plan_validate(const guard_plan *p, vx_error *err);

/* Per-group sums of one arm in one epoch (see GUARD_GROUPS in stats.h):
 * requests, errors, conversions, latency samples, and the sums of latency
 * and of ln(latency), for the requests reported with a unit. */
typedef struct guard_cluster {
    double requests[GUARD_GROUPS];
    double errors[GUARD_GROUPS];
    double conversions[GUARD_GROUPS];
    double lat_n[GUARD_GROUPS];
    double lat_sum[GUARD_GROUPS];
    double loglat_sum[GUARD_GROUPS];
} guard_cluster;

/* One treatment arm: a variant, or the whole treatment of a flag without
 * variants. Everything borrowed; arrays have the state's n_epochs entries. */
typedef struct guard_arm {
    const char *name;           /* variant name for the report, may be NULL */
    const guard_counts *epochs; /* this arm's counts per epoch */
    const guard_sketch *const *latency; /* sketches per epoch (entries may
                                           be NULL), or NULL: none */
    const guard_cluster *clusters;      /* per-group sums per epoch, or NULL:
                                           requests independent */
    bool retired; /* rolled back on its own: no longer tested or gated (its
                     share of alpha stays spent) */
} guard_arm;

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
    /* Per-variant arms (n_arms > 0, at most GUARD_PLAN_MAX_ARMS): each is
     * tested against the control, alpha split over arms x metrics; they
     * need epoch_control, and then replace treatment / epoch_treatment /
     * treatment_latency (treatment and stage_treatment stay the totals). */
    const guard_arm *arms;
    size_t n_arms;
    const guard_sketch *const *epoch_control_latency; /* per epoch, or NULL */
    const guard_cluster *epoch_control_clusters;      /* per epoch, or NULL */
    /* The first epoch of the current milestone: epochs from it on are the
     * milestone's own data (the evidence gate counts them). Without
     * epochs, the cumulative counts are taken as the milestone's. */
    size_t milestone_epoch;
} guard_state;

typedef enum guard_action {
    GUARD_HOLD = 0,          /* stay: time, samples or evidence pending */
    GUARD_ADVANCE = 1,       /* go to the next milestone */
    GUARD_WAIT_APPROVAL = 2, /* ready to advance, waiting for a person */
    GUARD_PAUSE_SRM = 3,     /* traffic split is off: stop until resolved */
    GUARD_ROLLBACK = 4,      /* a guard metric regressed */
    GUARD_COMPLETE = 5,      /* the last milestone is done */
    GUARD_STALL = 6,         /* the milestone waited max_wait past its duration
                                without its evidence: hold, and alert once */
} guard_action;

/* Stable lowercase names ("hold", "advance", ...) for audit and JSON. */
const char *guard_action_name(guard_action a);
const char *guard_metric_kind_name(guard_metric_kind k);
/* The kind named `name` (as guard_metric_kind_name spells it) into `*out`;
 * false for NULL or an unknown name. */
bool guard_metric_kind_parse(const char *name, guard_metric_kind *out);

/* The evidence gate's view of one (arm, metric) in this milestone. */
typedef struct guard_evidence {
    bool checked;       /* the gate looked (after the minimum duration) */
    bool met;           /* floor, verdict and (if required) power are met */
    bool power_needed;  /* this milestone must show power to advance */
    double units_t;     /* the arm's units of the metric in this milestone */
    double units_c;     /* the control's */
    double need_t;      /* units the arm needs here (floor or power) */
    double power_scale; /* guard_power_scale of this milestone's data (<= 1:
                           enough); 0 when not computed */
    double mde_abs;     /* the effect to detect, on the test's excess scale */
} guard_evidence;

typedef struct guard_verdict {
    guard_metric_kind kind;  /* copied from the plan */
    size_t metric;           /* index of the metric in the plan */
    size_t arm;              /* index of the arm (0 without variants) */
    double alpha;            /* the per-(arm, metric) alpha used */
    guard_seq_result seq;    /* the sequential test */
    guard_evidence evidence; /* the gate's view */
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
    size_t culprit_arm;      /* ROLLBACK: the arm of the culprit */
    bool insufficient;       /* ROLLBACK / STALL / HOLD: the evidence gate
                                (not a regression) decided */
    /* One per (active arm, metric), arm-major; at most
     * GUARD_PLAN_MAX_METRICS in all (guard_plan_decide refuses more). */
    guard_verdict verdicts[GUARD_PLAN_MAX_METRICS];
    size_t n_verdicts;
    size_t n_arms; /* arms in the family (retired included) */
    const char *arm_names[GUARD_PLAN_MAX_ARMS]; /* borrowed from the state */
} guard_decision;

/* Decides the next action at time `now` (unix seconds). Order: a milestone
 * at 100 % is COMPLETE (no control is left to compare with); a sample-ratio
 * mismatch pauses; a regression of any (arm, metric) rolls back (the one
 * with the smallest always-valid p is the culprit; `culprit_arm` says
 * which variant); unmet time holds; unmet exposures or evidence hold, and
 * past max_wait STALL or ROLLBACK (`insufficient`); approval mode waits;
 * else ADVANCE, or COMPLETE from the last milestone.
 *
 * VX_EINVAL if the plan is invalid, the state's milestone index is out of
 * range, or an arm's counts are impossible (more errors or conversions than
 * requests, non-finite moments); `err` names the field ("/treatment/errors").
 * `out` is always written (HOLD on error). */
vx_status guard_plan_decide(const guard_plan *plan, const guard_state *state,
                            int64_t now, guard_decision *out, vx_error *err);

#endif
