/* What the files of the SDK hub share (never included outside src/hub):
 * the bounded byte buffer, the layout of a state, the history index, a
 * subscriber, an environment's slot and the hub itself.
 *
 * Locking: everything in `struct hub` and every subscriber is guarded by
 * hub.mu, which is never held across a database call; a published state is
 * immutable but for its body cache (its own mutex). Internal functions say
 * which lock they expect. */
#ifndef VX_HUB_INTERNAL_H
#define VX_HUB_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/limits.h"
#include "hub/hub.h"

#define ENV_NAME_MAX 128

/* ---- buf.c: a growing byte buffer for bodies (malloc'd, bounded by
 * VX_LIMIT_DOC_BYTES; `fail` sticks once set) ------------------------------ */
/* A growing byte buffer for building bodies (malloc'd; bounded). */
typedef struct sbuf {
    char *p;    /* bytes, NUL-terminated when ok */
    size_t len; /* used */
    size_t cap; /* allocated */
    bool fail;  /* out of memory or over the limit */
} sbuf;

void hub__sb_put(sbuf *b, const char *s, size_t n);
void hub__sb_str(sbuf *b, const char *s);
__attribute__((format(printf, 2, 3))) void hub__sb_fmt(sbuf *b, const char *fmt,
                                                       ...);
/* Appends `j` compact-encoded. */
void hub__sb_json(sbuf *b, const json_t *j);

/* ---- state.c: states ------------------------------------------------------
 */
typedef struct hub_seg {
    int64_t id;    /* segment id */
    char *text;    /* compact JSON */
    uint64_t hash; /* of text */
} hub_seg;

typedef struct cached_body {
    char *key;     /* the scope's key */
    hub_body body; /* plain */
    hub_body gz;   /* gzipped, bytes NULL until asked for */
} cached_body;

/* One flag's bytes (text, name, project, tags, facts) in one block, shared
 * by the states patched from the one that made it. */
typedef struct hub_rec {
    atomic_int refs; /* states holding it */
    char data[];     /* see rec_lay */
} hub_rec;

/* Where a staged flag's parts sit: offsets into its record's data. */
typedef struct rec_lay {
    size_t flag;          /* its index in the state's flags */
    size_t off, size;     /* the record's bytes in the state's stage */
    size_t name, project; /* NUL-terminated */
    size_t tags;          /* ntags "type\0value\0" pairs */
    size_t control;       /* NUL-terminated, or SIZE_MAX for none */
    size_t strategies;    /* [nstrategies] HUB_S_* bits */
    size_t overrides;     /* [overrides_len] packed */
} rec_lay;

struct hub_state {
    atomic_int refs;        /* references */
    char env[ENV_NAME_MAX]; /* environment (fed: the slot) */
    int64_t revision;       /* the environment's SDK revision (hub.h) */
    vx_snapshot *snap;      /* compiled from the same flags */
    hub_flag *flags;        /* [nflags], by name (strcmp) */
    size_t nflags;          /* flags */
    size_t flags_cap;       /* allocated */
    int64_t *by_name;       /* open-addressing index into flags, -1 empty */
    size_t name_slots;      /* power of two */
    hub_seg *segs;          /* [nsegs] */
    size_t nsegs;           /* segments */
    uint64_t content;       /* order-free hash of everything served */
    hub_aside *aside;       /* [naside] set aside (segments, then flags by
                               name), strings owned */
    size_t naside;          /* entries */
    const hub_state *base;  /* while patching: the state patched */
    int64_t *src;           /* while patching: flag i's index in base or
                               -1 (new), [nsrc] */
    size_t nsrc, src_cap;   /* used, allocated */
    sbuf stage;             /* while building: new flags' record bytes */
    rec_lay *lay;           /* while building: where they are, [nlay] */
    size_t nlay, lay_cap;   /* used, allocated */
    pthread_mutex_t mu;     /* guards bodies */
    cached_body bodies[VX_LIMIT_SDK_BODIES]; /* per scope */
    size_t nbodies;                          /* used */
    /* A fed hub (feed.c): */
    char label[ENV_NAME_MAX]; /* the environment it serves (the body's
                                 "query"); "" = env */
};

/* Takes another reference (accepts NULL). */
hub_state *hub__state_ref(hub_state *s);

/* Builds a state from the service's client document `doc`, which it takes
 * over and frees as soon as the flags are staged. */
vx_status hub__state_build_take(const char *env, json_t *doc, int64_t revision,
                                hub_state **out, vx_error *err);

/* The next state of `old` with the flags in `changes` ({name: client
 * feature or null}, borrowed) replaced, added or removed; segments and
 * unchanged flags are shared with `old`. */
vx_status hub__state_patch(const hub_state *old, json_t *changes,
                           int64_t revision, hub_state **out, vx_error *err);

/* ---- bodies.c: scopes and bodies ---------------------------------------- */

/* The segment `id` of `s`, or NULL. */
const hub_seg *hub__find_seg(const hub_state *s, int64_t id);
/* The flags `sc` selects, comma-joined: each one's stored text, or with
 * its segments written inline when `inlined`. */
void hub__put_flags(sbuf *b, const hub_state *s, const hub_scope *sc,
                    bool inlined);
/* Every segment's text, comma-joined. */
void hub__put_segments(sbuf *b, const hub_state *s);
/* Flag `f`'s text, with its "tags" added when `tags` (an edge scope). */
void hub__put_flag_text(sbuf *b, const hub_flag *f, bool tags);

/* ---- history.c: what clients at older revisions hold -----------------------
 */
/* The flag names and projects of a state, in order, in one block; shared
 * by consecutive history entries while the flag list does not change
 * (most changes edit flags, not the list), so the history costs about its
 * hashes. */
typedef struct hub_names {
    atomic_int refs;       /* history entries holding it */
    size_t n;              /* entries */
    char *strings;         /* every name and project, NUL-separated */
    const char **names;    /* [n] into strings */
    const char **projects; /* [n] into strings */
} hub_names;

/* What a client at `revision` holds, by hash: enough to diff against a
 * newer state. */
typedef struct hub_index {
    int64_t revision;      /* state revision */
    hub_names *list;       /* the flags' names and projects (shared) */
    size_t nflags;         /* entries */
    const char **names;    /* [nflags] = list->names */
    const char **projects; /* [nflags] = list->projects */
    uint64_t *hashes;      /* [nflags] */
    size_t nsegs;          /* entries */
    int64_t *seg_ids;      /* [nsegs] */
    uint64_t *seg_h;       /* [nsegs] */
} hub_index;

/* What a client at `s` holds, in small copies (NULL when out of memory);
 * `prev` is the newest index before it (may be NULL), whose names it may
 * share. */
hub_index *hub__index_of(const hub_state *s, const hub_index *prev);
void hub__index_free(hub_index *x); /* accepts NULL */

/* ---- the hub (hub.c) and its subscribers (streams.c) -----------------------
 */
struct hub_sub {
    hub_sub *next;          /* in the hub's list */
    hub *hub;               /* whose lock guards this subscriber */
    char env[ENV_NAME_MAX]; /* environment */
    hub_scope scope;        /* strings in `strings` */
    char *strings;          /* owned copies of the scope's strings */
    int64_t last;           /* revision the client has */
    sbuf q;                 /* queued SSE text */
    size_t off;             /* pending = q.p[off..q.len) */
    bool over;              /* the stream is to end */
    bool gone;              /* ... because the peer closed (read: -2) */
    int64_t token_id;       /* the token it was opened with */
    int64_t expires_ms;     /* that token's expiry (wall ms), 0 = none */
    int fd;                 /* the connection's socket, -1 = not watched */
    uint64_t serial;        /* unique among subscribers */
    hub_wake_fn wake;       /* wakes the connection */
    void *wake_ud;          /* passed to wake */
};

typedef struct env_slot {
    char name[ENV_NAME_MAX];               /* environment */
    hub_state *cur;                        /* published state, or NULL */
    hub_index *hist[VX_LIMIT_SDK_HISTORY]; /* oldest first */
    size_t nhist;                          /* used */
    bool wanted;          /* an SDK asked for it: build it (cur is NULL
                             until) */
    uint64_t want_ticket; /* the ticket that asked for it */
    json_t *aside;        /* what it sets aside, as hub_report lists it
                             ({"flags": [...], "segments": [...]}), or
                             NULL before the first check */
} env_slot;

struct hub {
    service *svc;            /* borrowed */
    hub_log_fn log;          /* may be NULL */
    void *log_ud;            /* passed to log */
    unsigned poll_ms;        /* backstop revision check period */
    unsigned fresh_ms;       /* longest wait for a write answered before */
    unsigned max_streams;    /* subscribers in all */
    unsigned max_per_token;  /* ... per token */
    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t kick;     /* wakes the hub thread */
    pthread_cond_t built;    /* a rebuild finished */
    pthread_cond_t calm;     /* wakes the streams thread (to stop) */
    env_slot *envs;          /* [nenvs] */
    size_t nenvs;            /* environments */
    int64_t revision;        /* newest database revision seen */
    uint64_t asked, done;    /* sync tickets: asked by writers, done */
    uint64_t given_up;       /* a wait for this ticket ran out: no request
                                waits until it is done */
    bool stop;               /* the threads are to end */
    bool streams_closed;     /* no new subscribers */
    bool tokens_due;         /* a token changed here: check subscribers */
    pthread_t thread;        /* the hub thread */
    bool started;            /* thread runs */
    pthread_t streamer;      /* the streams thread (streams.c) */
    bool streaming;          /* streamer runs */
    hub_sub *subs;           /* streaming subscribers */
    size_t nsubs;            /* count */
    uint64_t next_serial;    /* for the next subscriber */
    svc_token_state *tokens; /* [ntokens] by id, as last read */
    size_t ntokens;          /* entries */
    int64_t rebuilds;        /* counter */
    int64_t streams_refused; /* counter */
    int64_t streams_ended;   /* counter */
    double last_build_sec;   /* last rebuild's duration */
    double last_build_end;   /* monotonic time it ended */
    bool trim_due;           /* states were replaced since the last trim
                                (only the hub thread uses it) */
    double last_trim;        /* monotonic time of the last trim (same) */
    bool notified;           /* the watcher saw a newer revision */
    bool db_down;            /* the last revision check failed (logged) */
    pthread_t watcher;       /* waits for commit announcements */
    bool watching;           /* watcher runs */
};

/* Sets up `h` (zeroed) from `cfg`: fields, lock and condition variables;
 * starts no thread (hub.c). */
void hub__init(hub *h, const hub_config *cfg);
/* Publishes `s` (taken) for `e`: history, subscribers, what it sets aside
 * (under h->mu). */
void hub__publish(hub *h, env_slot *e, hub_state *s);

/* The slot of `env`, or NULL. Under h->mu. */
env_slot *hub__slot_find(hub *h, const char *env);
/* The remembered index of `e` at `rev`, or NULL. Under h->mu. */
const hub_index *hub__hist_find(const env_slot *e, int64_t rev);
/* The delta body from `old` (NULL: a hydration) to `s` for `sc` into `b`;
 * `*empty` when there is nothing to send. */
void hub__build_delta(sbuf *b, const hub_index *old, const hub_state *s,
                      const hub_scope *sc, bool *empty);

/* Queues SSE text for `sub` (under h->mu); past the bound the stream ends. */
void hub__sub_put(hub_sub *sub, const char *s, size_t n);
/* Queues what `sub` has not seen of `s` (under h->mu). */
void hub__sub_feed(env_slot *e, hub_sub *sub, const hub_state *s);
/* Wakes every subscriber with something to read (under h->mu). */
void hub__wake_all(hub *h);
/* Ends the subscribers whose token `tokens` ([n], by id) lists as revoked
 * or expired, and notes the others' expiry (under h->mu). */
void hub__check_tokens(hub *h, const svc_token_state *tokens, size_t n);
/* Starts and stops the streams thread, which ends subscribers whose peer
 * closed or whose token expired (within VX_LIMIT_SSE_CHECK_MS) and sends
 * heartbeats. Stop after h->stop is set. */
vx_status hub__streams_start(hub *h, vx_error *err);
void hub__streams_stop(hub *h);

/* ---- report.c: what is set aside ---------------------------------------- */

/* What `s` sets aside, as a slot keeps it ({"flags": [{"name", "project",
 * "path", "message"}], "segments": [{"id", "path", "message"}]}); NULL
 * when out of memory. */
json_t *hub__aside_json(const hub_state *s);
/* Replaces the list of `e` with `now` (taken; NULL keeps the list),
 * logging each entry that comes or goes (under h->mu). */
void hub__aside_note(hub *h, env_slot *e, json_t *now);
/* Updates the list of `e`, which no SDK loaded, for the flags of `flags`
 * ({name: client feature or null}), each compiled alone (under h->mu). */
void hub__aside_flags(hub *h, env_slot *e, const json_t *flags);

/* Compiles `text[0..len)` as the only flag (or, when `segment`, the only
 * segment) of a document: VX_OK, or libvexil's refusal in `err` with the
 * path made relative to it (state.c). */
vx_status hub__compile_alone(const char *text, size_t len, bool segment,
                             vx_error *err);

/* Monotonic and wall clocks; `now` plus `ms` for a timed wait on one of
 * the hub's condition variables (which use the monotonic clock). */
double hub__mono_sec(void);
struct timespec hub__deadline_in(unsigned ms);

#endif
