/* Strict textual IP parsing (no DNS, no zone ids) and prefix matching. */
#include "core/ip.h"

#include <string.h>

static bool parse_v4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return false; /* leading zeros are refused, as ip-address does */
        out[part] = (uint8_t)v;
    }
    return i == len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_v6(const char *s, size_t len, uint8_t out[16])
{
    uint16_t groups[8];
    int ngroups = 0, gap = -1;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (len >= 1 && s[0] == ':') {
        return false;
    }
    while (i < len) {
        /* An embedded dotted quad ends the address. */
        size_t j = i;
        while (j < len && s[j] != ':' && s[j] != '.')
            j++;
        if (j < len && s[j] == '.') {
            uint8_t v4[4];
            if (ngroups > 6 || !parse_v4(s + i, len - i, v4))
                return false;
            groups[ngroups++] = (uint16_t)(v4[0] << 8 | v4[1]);
            groups[ngroups++] = (uint16_t)(v4[2] << 8 | v4[3]);
            i = len;
            break;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && i - start < 4 && hexval(s[i]) >= 0) {
            v = v * 16 + (unsigned)hexval(s[i]);
            i++;
        }
        if (i == start || ngroups == 8)
            return false;
        groups[ngroups++] = (uint16_t)v;
        if (i == len)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < len && s[i] == ':') {
            if (gap >= 0)
                return false;
            gap = ngroups;
            i++;
        } else if (i == len) {
            return false; /* trailing single colon */
        }
    }
    if (gap < 0 && ngroups != 8)
        return false;
    if (gap >= 0 && ngroups > 7)
        return false;
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, groups, sizeof(full));
    } else {
        int tail = ngroups - gap;
        memcpy(full, groups, (size_t)gap * sizeof(uint16_t));
        memcpy(full + 8 - tail, groups + gap, (size_t)tail * sizeof(uint16_t));
    }
    for (int g = 0; g < 8; g++) {
        out[2 * g] = (uint8_t)(full[g] >> 8);
        out[2 * g + 1] = (uint8_t)full[g];
    }
    return true;
}

bool vx__ip_parse(const char *s, size_t len, vx__ip *out)
{
    memset(out, 0, sizeof(*out));
    size_t alen = len;
    const char *slash = memchr(s, '/', len);
    int prefix = -1;
    if (slash) {
        alen = (size_t)(slash - s);
        size_t i = alen + 1;
        if (i == len || len - i > 3)
            return false;
        prefix = 0;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            prefix = prefix * 10 + (s[i] - '0');
        }
    }
    if (memchr(s, ':', alen)) {
        if (!parse_v6(s, alen, out->bytes) || prefix > 128)
            return false;
        out->family = 6;
        out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
    } else {
        if (!parse_v4(s, alen, out->bytes) || prefix > 32)
            return false;
        out->family = 4;
        out->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
    }
    return true;
}

bool vx__ip_in_range(const vx__ip *addr, const vx__ip *range)
{
    if (addr->family != range->family)
        return false;
    size_t nbytes = addr->family == 4 ? 4 : 16;
    if (memcmp(addr->bytes, range->bytes, nbytes) == 0)
        return true;
    if (addr->prefix < range->prefix)
        return false;
    unsigned bits = range->prefix;
    size_t full = bits / 8;
    if (memcmp(addr->bytes, range->bytes, full) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (addr->bytes[full] & mask) == (range->bytes[full] & mask);
}
