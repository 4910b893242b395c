/* IPv4 and IPv6 addresses and CIDR ranges for the remoteAddress strategy and
 * the IN_CIDR operator. An IPv4 address is kept as its 4 bytes (not mapped
 * into IPv6): the SDKs never match a v4 address against a v6 range. */
#ifndef VX_CORE_IP_H
#define VX_CORE_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx__ip {
    uint8_t bytes[16]; /* network order; first 4 used for IPv4 */
    uint8_t family;    /* 4 or 6 */
    uint8_t prefix;    /* CIDR prefix length; 32 or 128 for a plain address */
} vx__ip;

/* Parses "a.b.c.d", "a.b.c.d/n", an IPv6 address (with "::" and an embedded
 * dotted quad) or "v6/n". Returns false on anything else. */
bool vx__ip_parse(const char *s, size_t len, vx__ip *out);

/* True when `addr` equals `range`'s address or lies inside `range` (and
 * `addr`'s own prefix is at least as long), same family only. */
bool vx__ip_in_range(const vx__ip *addr, const vx__ip *range);

#endif
