/* ISO-8601 / RFC 3339 timestamps to milliseconds since the epoch, with the
 * meaning JavaScript's Date gives them (what the Unleash SDKs compare):
 * fractions are truncated to milliseconds, a date alone is UTC midnight.
 * A date-time without an offset is read as UTC (JavaScript would use the
 * local zone; Vexil servers run in UTC, see docs/semantics.md). */
#include <stdbool.h>
#include <stdint.h>

#include "vexil/vexil.h"

static bool digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
    if (at + n > len)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

VX_API bool vx_time_parse(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, ms = 0;
    size_t i = 0;
    if (!s || !digits(s, len, 0, 4, &y))
        return false;
    i = 4;
    if (i < len && s[i] == '-') {
        if (!digits(s, len, i + 1, 2, &mo))
            return false;
        i += 3;
        if (i < len && s[i] == '-') {
            if (!digits(s, len, i + 1, 2, &d))
                return false;
            i += 3;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    int64_t offset_min = 0;
    if (i < len && (s[i] == 'T' || s[i] == 't')) {
        if (!digits(s, len, i + 1, 2, &h) || i + 3 >= len || s[i + 3] != ':' ||
            !digits(s, len, i + 4, 2, &mi))
            return false;
        i += 6;
        if (i < len && s[i] == ':') {
            if (!digits(s, len, i + 1, 2, &sec))
                return false;
            i += 3;
            if (i < len && s[i] == '.') {
                size_t n = 0;
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    if (n < 3)
                        ms = ms * 10 + (s[i] - '0');
                    n++;
                    i++;
                }
                if (n == 0)
                    return false;
                for (; n < 3; n++)
                    ms *= 10;
            }
        }
        if (h > 24 || mi > 59 || sec > 59 || (h == 24 && (mi || sec || ms)))
            return false;
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            int sign = s[i] == '-' ? -1 : 1;
            if (!digits(s, len, i + 1, 2, &oh))
                return false;
            i += 3;
            if (i < len && s[i] == ':')
                i++;
            if (!digits(s, len, i, 2, &om))
                return false;
            i += 2;
            if (oh > 23 || om > 59)
                return false;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (i != len)
        return false;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return true;
}
