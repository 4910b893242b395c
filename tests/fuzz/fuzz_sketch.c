/* libFuzzer target for guard_sketch_decode: arbitrary bytes as a stored
 * latency sketch (the server keeps one per variant and minute).
 *
 * On failure the sketch must be empty and the error filled. On success the
 * invariants must hold (count == zero_count + sum of buckets; min <= max;
 * quantiles monotonic and within [min, max]), the sketch must re-encode to
 * the same bytes (the encoding is canonical), and merging it into an empty
 * sketch must give the same quantiles. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/sketch.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static guard_sketch s, m;
    static uint8_t buf[GUARD_SKETCH_ENCODED_MAX];
    vx_error err;
    memset(&err, 0, sizeof err);
    if (guard_sketch_decode(data, size, &s, &err) != VX_OK) {
        check(s.count == 0 && err.code == VX_EPARSE && err.message[0]);
        return 0;
    }
    uint64_t sum = s.zero_count;
    for (size_t i = 0; i < GUARD_SKETCH_BINS; i++)
        sum += s.bins[i];
    check(sum == s.count);
    check(s.min <= s.max);
    double prev = -1.0;
    for (int i = 0; i <= 100; i++) {
        double q = guard_sketch_quantile(&s, i / 100.0);
        check(q >= prev && (s.count == 0 || (q >= s.min && q <= s.max)));
        prev = q;
    }
    size_t len = 0;
    check(guard_sketch_encode(&s, buf, sizeof buf, &len) == VX_OK);
    check(len == size && memcmp(buf, data, size) == 0);
    guard_sketch_init(&m);
    guard_sketch_merge(&m, &s);
    check(m.count == s.count);
    for (int i = 0; i <= 10; i++)
        check(guard_sketch_quantile(&m, i / 10.0) ==
              guard_sketch_quantile(&s, i / 10.0));
    return 0;
}
