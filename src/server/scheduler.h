/* The release-plan scheduler: a thread that calls svc_scheduler_tick every
 * interval (the service holds the plans, the lease and the decisions) and
 * then makes the webhook calls the tick returned, one POST each with a
 * timeout and no retry.
 *
 * Invariant: the thread never touches the store except through the
 * service; stopping it waits for the tick in progress. */
#ifndef VX_SERVER_SCHEDULER_H
#define VX_SERVER_SCHEDULER_H

#include <stdint.h>

#include "service/service.h"

typedef struct server_scheduler server_scheduler;

typedef void (*server_scheduler_log)(void *ud, const char *level,
                                     const char *msg);
/* Called after a tick in which this process held the lease (the SDK hub
 * then picks up what the tick changed). */
typedef void (*server_scheduler_changed)(void *ud);

#define SERVER_SCHEDULER_INTERVAL_DEFAULT 5000 /* ms between ticks */

/* Starts the thread. `svc` is borrowed and must outlive the scheduler.
 * interval_ms 0 = SERVER_SCHEDULER_INTERVAL_DEFAULT. VX_ENOMEM or VX_EIO
 * (no thread). */
vx_status server_scheduler_start(service *svc, unsigned interval_ms,
                                 server_scheduler_log log,
                                 server_scheduler_changed changed, void *ud,
                                 server_scheduler **out);

/* Stops and joins the thread; clears *s; accepts NULL and *s == NULL. */
void server_scheduler_stop(server_scheduler **s);

#endif
