/* JSON Patch (RFC 6902) over JSON Pointer (RFC 6901), for the admin API's
 * PATCH routes. The operations run in order on a deep copy of the document,
 * so a patch applies whole or not at all: the caller's document is never
 * modified, and *out is set only when every operation succeeded.
 *
 * Errors name the operation's index and member ("/2/path"). A pointer that
 * is malformed or leads nowhere is VX_EINVAL at that member; only a `test`
 * whose target exists but differs is VX_ECONFLICT, at "/<i>". */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"

/* Pointers are quoted in messages up to this many bytes, so that a message
 * quoting two of them still fits the fixed-size vx_error buffer. */
#define JP_QUOTE_MAX 80

typedef enum jp_kind {
    JP_ADD,
    JP_REMOVE,
    JP_REPLACE,
    JP_MOVE,
    JP_COPY,
    JP_TEST,
} jp_kind;

static const struct {
    const char *name; /* the "op" member */
    jp_kind kind;     /* what it does */
    bool value;       /* needs "value" */
    bool from;        /* needs "from" */
} JP_OPS[] = {
    {"add", JP_ADD, true, false},         {"remove", JP_REMOVE, false, false},
    {"replace", JP_REPLACE, true, false}, {"move", JP_MOVE, false, true},
    {"copy", JP_COPY, false, true},       {"test", JP_TEST, true, false},
};
#define JP_NOPS (sizeof(JP_OPS) / sizeof(JP_OPS[0]))

/* The operation being applied: where its errors go, and scratch space. */
typedef struct jp_op {
    svc_ctx *c;   /* errors go to c->err */
    size_t index; /* position of the operation in the patch */
    char *buf;    /* one unescaped token; as long as the longest pointer */
} jp_op;

/* Where a pointer leads. The target itself may not exist yet (add). */
typedef struct jp_loc {
    json_t *parent;     /* object or array holding the target; NULL: root */
    const char *key;    /* last token, unescaped, in jp_op.buf */
    const char *ptr;    /* the pointer as written, for messages */
    const char *member; /* "path" or "from", for error paths */
    size_t parent_len;  /* bytes of ptr naming parent */
    size_t end_len;     /* bytes of ptr naming the target */
} jp_loc;

/* How much of s[0..len) to quote ("%.*s"): at most JP_QUOTE_MAX bytes, cut
 * before a UTF-8 continuation byte so the message stays valid UTF-8. */
static int jp_quote(const char *s, size_t len)
{
    if (len <= JP_QUOTE_MAX)
        return (int)len;
    len = JP_QUOTE_MAX;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return (int)len;
}

/* Fails the operation: `member` NULL names the operation itself ("/3"). */
static vx_status jp_fail(const jp_op *o, vx_status st, const char *member,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vx_status jp_fail(const jp_op *o, vx_status st, const char *member,
                         const char *fmt, ...)
{
    char field[64];
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;

    if (member)
        snprintf(field, sizeof(field), "/%zu/%s", o->index, member);
    else
        snprintf(field, sizeof(field), "/%zu", o->index);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    svc__fail(o->c, st, field, "%s", msg);
    return st;
}

static vx_status jp_nomem(const jp_op *o)
{
    return jp_fail(o, VX_ENOMEM, NULL, "out of memory applying the patch");
}

static const char *jp_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* The array index that loc's last token names. RFC 6901: "0" or digits
 * without a leading zero; "-" is the slot after the last element, which
 * only add may use. `add` also allows index == size (append). */
static vx_status jp_index(const jp_op *o, const jp_loc *loc, bool add,
                          size_t *out)
{
    size_t size = json_array_size(loc->parent);
    const char *k = loc->key;
    size_t v = 0;

    *out = 0;
    if (strcmp(k, "-") == 0) {
        if (!add)
            return jp_fail(o, VX_EINVAL, loc->member,
                           "'%.*s' names the slot after the last element, "
                           "which only 'add' may use",
                           jp_quote(loc->ptr, loc->end_len), loc->ptr);
        *out = size;
        return VX_OK;
    }
    if (k[0] == '\0' || (k[0] == '0' && k[1] != '\0'))
        goto bad;
    for (const char *p = k; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        size_t d = (size_t)(*p - '0');
        /* Saturate: anything this large is out of bounds anyway. */
        v = v > (SIZE_MAX - d) / 10 ? SIZE_MAX : v * 10 + d;
    }
    if (add ? v > size : v >= size)
        return jp_fail(o, VX_EINVAL, loc->member,
                       "'%.*s' is out of bounds: the array has %zu "
                       "element%s",
                       jp_quote(loc->ptr, loc->end_len), loc->ptr, size,
                       size == 1 ? "" : "s");
    *out = v;
    return VX_OK;
bad:
    return jp_fail(o, VX_EINVAL, loc->member,
                   "'%.*s': '%.*s' is not an array index (digits without a "
                   "leading zero, or '-')",
                   jp_quote(loc->ptr, loc->end_len), loc->ptr,
                   jp_quote(loc->ptr + loc->parent_len + 1,
                            loc->end_len - loc->parent_len - 1),
                   loc->ptr + loc->parent_len + 1);
}

/* The existing target of loc (borrowed) and, in an array, its index. */
static vx_status jp_find(const jp_op *o, json_t *root, const jp_loc *loc,
                         json_t **out, size_t *idx)
{
    *out = NULL;
    *idx = 0;
    if (!loc->parent) {
        *out = root;
        return VX_OK;
    }
    if (json_is_object(loc->parent)) {
        *out = json_object_get(loc->parent, loc->key);
        if (!*out)
            return jp_fail(o, VX_EINVAL, loc->member, "'%.*s' does not exist",
                           jp_quote(loc->ptr, loc->end_len), loc->ptr);
        return VX_OK;
    }
    vx_status st = jp_index(o, loc, false, idx);
    if (st != VX_OK)
        return st;
    *out = json_array_get(loc->parent, *idx);
    return VX_OK;
}

/* Resolves `ptr` in `root` down to the container of its target, which must
 * exist and be an object or array (the target itself need not exist). */
static vx_status jp_resolve(const jp_op *o, json_t *root, const char *ptr,
                            const char *member, jp_loc *loc)
{
    json_t *cur = root;
    const char *p = ptr; /* at the '/' that starts the next token */

    loc->parent = NULL;
    loc->key = NULL;
    loc->ptr = ptr;
    loc->member = member;
    loc->parent_len = 0;
    loc->end_len = 0;
    if (ptr[0] == '\0')
        return VX_OK; /* the whole document */
    if (ptr[0] != '/')
        return jp_fail(o, VX_EINVAL, member,
                       "'%.*s' is not a JSON pointer: it must be empty or "
                       "start with '/'",
                       jp_quote(ptr, strlen(ptr)), ptr);
    for (;;) {
        size_t start = (size_t)(p - ptr);
        size_t n = 0;

        for (p++; *p != '\0' && *p != '/'; p++) {
            if (*p != '~') {
                o->buf[n++] = *p;
                continue;
            }
            p++;
            if (*p == '0') {
                o->buf[n++] = '~';
            } else if (*p == '1') {
                o->buf[n++] = '/';
            } else {
                return jp_fail(o, VX_EINVAL, member,
                               "'%.*s' is not a JSON pointer: '~' must be "
                               "followed by '0' or '1'",
                               jp_quote(ptr, strlen(ptr)), ptr);
            }
        }
        o->buf[n] = '\0';
        if (!json_is_object(cur) && !json_is_array(cur)) {
            if (start == 0)
                return jp_fail(o, VX_EINVAL, member,
                               "'%.*s': the document is %s, not an object "
                               "or array",
                               jp_quote(ptr, strlen(ptr)), ptr, jp_type(cur));
            return jp_fail(o, VX_EINVAL, member,
                           "'%.*s': '%.*s' is %s, not an object or array",
                           jp_quote(ptr, strlen(ptr)), ptr,
                           jp_quote(ptr, start), ptr, jp_type(cur));
        }
        loc->parent = cur;
        loc->key = o->buf;
        loc->parent_len = start;
        loc->end_len = (size_t)(p - ptr);
        if (*p == '\0')
            return VX_OK;

        size_t idx;
        vx_status st = jp_find(o, root, loc, &cur, &idx);
        if (st != VX_OK)
            return st;
    }
}

/* Adds `value` (stolen, even on failure) at loc: sets an object member,
 * inserts into an array, or replaces the whole document. */
static vx_status jp_add(const jp_op *o, json_t **root, const jp_loc *loc,
                        json_t *value)
{
    if (!loc->parent) {
        json_decref(*root);
        *root = value;
        return VX_OK;
    }
    if (json_is_object(loc->parent)) {
        if (json_object_set_new(loc->parent, loc->key, value) != 0)
            return jp_nomem(o);
        return VX_OK;
    }

    size_t idx;
    vx_status st = jp_index(o, loc, true, &idx);
    if (st != VX_OK) {
        json_decref(value);
        return st;
    }
    if (json_array_insert_new(loc->parent, idx, value) != 0)
        return jp_nomem(o);
    return VX_OK;
}

/* Removes the existing target of loc; the document itself cannot go. */
static vx_status jp_remove(const jp_op *o, json_t *root, const jp_loc *loc)
{
    json_t *target;
    size_t idx;
    vx_status st = jp_find(o, root, loc, &target, &idx);

    if (st != VX_OK)
        return st;
    if (!loc->parent)
        return jp_fail(o, VX_EINVAL, loc->member,
                       "the whole document cannot be removed");
    if (json_is_object(loc->parent))
        json_object_del(loc->parent, loc->key);
    else
        json_array_remove(loc->parent, idx);
    return VX_OK;
}

/* Replaces the existing target of loc with `value` (stolen). */
static vx_status jp_replace(const jp_op *o, json_t **root, const jp_loc *loc,
                            json_t *value)
{
    json_t *target;
    size_t idx;
    vx_status st = jp_find(o, *root, loc, &target, &idx);

    if (st != VX_OK) {
        json_decref(value);
        return st;
    }
    if (!loc->parent) {
        json_decref(*root);
        *root = value;
        return VX_OK;
    }
    int rc = json_is_object(loc->parent)
                 ? json_object_set_new(loc->parent, loc->key, value)
                 : json_array_set_new(loc->parent, idx, value);
    return rc == 0 ? VX_OK : jp_nomem(o);
}

/* An integer and a real are equal when the real is exactly that integer. */
static bool jp_int_is_real(json_int_t i, double d)
{
    if (!(d >= -0x1p63 && d < 0x1p63))
        return false;
    json_int_t t = (json_int_t)d;
    return (double)t == d && t == i;
}

/* RFC 6902 section 4.6 equality: like json_equal, except that numbers
 * compare by value, so 1 and 1.0 are equal. */
static bool jp_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_real(b))
        return jp_int_is_real(json_integer_value(a), json_real_value(b));
    if (json_is_real(a) && json_is_integer(b))
        return jp_int_is_real(json_integer_value(b), json_real_value(a));
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!jp_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        }
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        json_t *va;
        if (json_object_size(a) != json_object_size(b))
            return false;
        /* jansson's iterators take non-const objects; this loop only reads. */
        json_object_foreach ((json_t *)a, key, va) {
            const json_t *vb = json_object_get(b, key);
            if (!vb || !jp_equal(va, vb))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* A string member of the operation, which must be present; NULL after
 * recording the VX_EINVAL error when it is not a usable string. */
static const char *jp_string(const jp_op *o, const json_t *op, const char *name)
{
    const json_t *v = json_object_get(op, name);
    const char *s;

    if (!v) {
        jp_fail(o, VX_EINVAL, name, "'%s' is missing", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        jp_fail(o, VX_EINVAL, name, "'%s' must be a string, not %s", name,
                jp_type(v));
        return NULL;
    }
    s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v)) {
        jp_fail(o, VX_EINVAL, name, "'%s' must not contain NUL characters",
                name);
        return NULL;
    }
    return s;
}

/* True if `a` names a proper ancestor of `b` ("/a" of "/a/b", not "/ab").
 * Escaping is unique (RFC 6901), so comparing the text is enough. */
static bool jp_is_ancestor(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '/';
}

/* Applies one operation to *root, which it may replace (a new root). */
static vx_status jp_apply(svc_ctx *c, size_t index, const json_t *op,
                          json_t **root)
{
    jp_op o = {.c = c, .index = index, .buf = NULL};
    json_t *value = NULL; /* owned until handed to jp_add/jp_replace */
    const json_t *given = NULL;
    const char *name;
    const char *path;
    const char *from = NULL;
    size_t k;
    jp_loc loc;
    json_t *target;
    size_t idx;
    vx_status st = VX_OK;

    if (!json_is_object(op))
        return jp_fail(&o, VX_EINVAL, NULL,
                       "an operation must be an object, not %s", jp_type(op));
    name = jp_string(&o, op, "op");
    if (!name)
        return VX_EINVAL;
    for (k = 0; k < JP_NOPS; k++) {
        if (strcmp(name, JP_OPS[k].name) == 0)
            break;
    }
    if (k == JP_NOPS)
        return jp_fail(&o, VX_EINVAL, "op",
                       "unknown operation '%.*s' (expected add, remove, "
                       "replace, move, copy or test)",
                       jp_quote(name, strlen(name)), name);
    path = jp_string(&o, op, "path");
    if (!path)
        return VX_EINVAL;
    if (JP_OPS[k].from) {
        from = jp_string(&o, op, "from");
        if (!from)
            return VX_EINVAL;
    }
    if (JP_OPS[k].value) {
        given = json_object_get(op, "value");
        if (!given)
            return jp_fail(&o, VX_EINVAL, "value",
                           "'value' is missing: '%s' needs one", name);
    }

    size_t len = strlen(path);
    if (from && strlen(from) > len)
        len = strlen(from);
    o.buf = vx__malloc(len + 1);
    if (!o.buf)
        return jp_nomem(&o);

    switch (JP_OPS[k].kind) {
    case JP_ADD:
    case JP_REPLACE:
        value = json_deep_copy(given);
        if (!value) {
            st = jp_nomem(&o);
            goto out;
        }
        st = jp_resolve(&o, *root, path, "path", &loc);
        if (st != VX_OK)
            goto out;
        st = JP_OPS[k].kind == JP_ADD ? jp_add(&o, root, &loc, value)
                                      : jp_replace(&o, root, &loc, value);
        value = NULL;
        break;
    case JP_REMOVE:
        st = jp_resolve(&o, *root, path, "path", &loc);
        if (st == VX_OK)
            st = jp_remove(&o, *root, &loc);
        break;
    case JP_MOVE:
    case JP_COPY:
        assert(from); /* JP_OPS says these need it */
        st = jp_resolve(&o, *root, from, "from", &loc);
        if (st == VX_OK)
            st = jp_find(&o, *root, &loc, &target, &idx);
        if (st != VX_OK)
            goto out;
        if (JP_OPS[k].kind == JP_MOVE) {
            if (strcmp(from, path) == 0)
                break; /* moving a value onto itself changes nothing */
            if (jp_is_ancestor(from, path)) {
                st = jp_fail(&o, VX_EINVAL, "path",
                             "cannot move '%.*s' into its own child '%.*s'",
                             jp_quote(from, strlen(from)), from,
                             jp_quote(path, strlen(path)), path);
                goto out;
            }
            /* Remove, then add: "path" is resolved after the removal. */
            value = json_incref(target);
            st = jp_remove(&o, *root, &loc);
        } else {
            value = json_deep_copy(target);
            if (!value)
                st = jp_nomem(&o);
        }
        if (st == VX_OK)
            st = jp_resolve(&o, *root, path, "path", &loc);
        if (st != VX_OK)
            goto out;
        st = jp_add(&o, root, &loc, value);
        value = NULL;
        break;
    case JP_TEST:
        assert(given); /* JP_OPS says test needs it */
        st = jp_resolve(&o, *root, path, "path", &loc);
        if (st == VX_OK)
            st = jp_find(&o, *root, &loc, &target, &idx);
        if (st == VX_OK && !jp_equal(target, given))
            st = jp_fail(&o, VX_ECONFLICT, NULL,
                         "test failed: '%.*s' is not equal to the given value",
                         jp_quote(path, strlen(path)), path);
        break;
    }
out:
    json_decref(value);
    vx__free(o.buf);
    return st;
}

vx_status svc__json_patch(svc_ctx *c, const json_t *doc, const json_t *patch,
                          json_t **out)
{
    json_t *work = NULL;
    vx_status st = VX_OK;

    assert(c && doc && out);
    *out = NULL;
    if (!json_is_array(patch))
        return svc__fail(c, VX_EINVAL, "",
                         "a JSON Patch must be an array of operations");
    size_t n = json_array_size(patch);
    if (n > VX_LIMIT_PATCH_OPS)
        return svc__fail(c, VX_ELIMIT, "",
                         "a JSON Patch may have at most %d operations, not %zu",
                         VX_LIMIT_PATCH_OPS, n);
    work = json_deep_copy(doc);
    if (!work)
        return svc__fail(c, VX_ENOMEM, "",
                         "out of memory copying the document");
    for (size_t i = 0; i < n; i++) {
        st = jp_apply(c, i, json_array_get(patch, i), &work);
        if (st != VX_OK)
            goto out;
    }
    *out = work;
    work = NULL;
out:
    json_decref(work);
    return st;
}

/* The value `ptr` leads to in `root` (borrowed), or NULL. Errors go to
 * c->err, which the caller does not keep. */
static json_t *jp_lookup(svc_ctx *c, json_t *root, const char *ptr)
{
    jp_op o = {c, 0, vx__malloc(strlen(ptr) + 1)};
    jp_loc loc;
    json_t *out = NULL;
    size_t idx;
    if (o.buf && jp_resolve(&o, root, ptr, "path", &loc) == VX_OK &&
        jp_find(&o, root, &loc, &out, &idx) != VX_OK)
        out = NULL;
    vx__free(o.buf);
    return out;
}

/* Where operation `op` put a value of its own ("value" of add or replace)
 * in `res`, the document right after it, with an appending "-" replaced by
 * the index it took. False when it put none (remove, move, copy, test). */
static bool jp_target(svc_ctx *c, const json_t *op, json_t *res, char *out,
                      size_t cap)
{
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *ptr = json_string_value(json_object_get(op, "path"));
    if (!kind || !ptr ||
        (strcmp(kind, "add") != 0 && strcmp(kind, "replace") != 0))
        return false;
    size_t n = strlen(ptr);
    if (strcmp(kind, "add") != 0 || n < 2 || strcmp(ptr + n - 2, "/-") != 0) {
        snprintf(out, cap, "%s", ptr);
        return true;
    }
    char *parent = vx__malloc(n - 1);
    if (!parent)
        return false;
    memcpy(parent, ptr, n - 2);
    parent[n - 2] = '\0';
    json_t *arr = jp_lookup(c, res, parent);
    bool ok = json_is_array(arr) && json_array_size(arr) > 0;
    if (ok)
        snprintf(out, cap, "%s/%zu", parent, json_array_size(arr) - 1);
    vx__free(parent);
    return ok;
}

void svc__json_patch_blame(svc_ctx *c, const json_t *doc, const json_t *patch,
                           svc_patch_check check, void *ud)
{
    vx_error want = *c->err, scratch;
    vx_error *keep = c->err;
    json_t *prefix = json_array();
    size_t n = json_array_size(patch), found = n;
    char target[VX_ERROR_PATH_MAX] = "";
    bool puts = false;
    c->err = &scratch;
    /* The first operation after which the document is refused the same
     * way: the one that brought the offending value in. */
    for (size_t i = 0; prefix && i < n && found == n; i++) {
        json_t *res = NULL;
        json_array_append(prefix, json_array_get(patch, i));
        memset(&scratch, 0, sizeof(scratch));
        if (svc__json_patch(c, doc, prefix, &res) != VX_OK)
            continue;
        memset(&scratch, 0, sizeof(scratch));
        vx_status st = check(c, res, ud);
        if (st == want.code && strcmp(scratch.path, want.path) == 0 &&
            strcmp(scratch.message, want.message) == 0) {
            found = i;
            puts = jp_target(c, json_array_get(patch, i), res, target,
                             sizeof(target));
        }
        json_decref(res);
    }
    c->err = keep;
    json_decref(prefix);
    if (found == n)
        return; /* left as a pointer into the patched document */
    const char *e = want.path;
    size_t tl = strlen(target);
    bool inside =
        puts && strncmp(e, target, tl) == 0 && (e[tl] == '\0' || e[tl] == '/');
    if (inside)
        snprintf(c->err->path, sizeof(c->err->path), "/%zu/value%s", found,
                 e + tl);
    else
        snprintf(c->err->path, sizeof(c->err->path), "/%zu", found);
}
