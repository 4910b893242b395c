/* JSON pointer -> text position: walks the text, skipping values that are
 * not on the path. Never reads past `len`. */
#include "core/jsonpos.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
    const char *t; /* text */
    size_t n;      /* length */
    size_t i;      /* cursor */
} scan;

static void ws(scan *s)
{
    while (s->i < s->n && strchr(" \t\r\n", s->t[s->i]) && s->t[s->i])
        s->i++;
}

/* Skips a string starting at the quote; returns false on truncation. */
static bool skip_string(scan *s)
{
    s->i++;
    while (s->i < s->n) {
        char c = s->t[s->i++];
        if (c == '\\')
            s->i++;
        else if (c == '"')
            return true;
    }
    return false;
}

static bool skip_value(scan *s)
{
    ws(s);
    if (s->i >= s->n)
        return false;
    char c = s->t[s->i];
    if (c == '"')
        return skip_string(s);
    if (c == '{' || c == '[') {
        int depth = 0;
        while (s->i < s->n) {
            c = s->t[s->i];
            if (c == '"') {
                if (!skip_string(s))
                    return false;
                continue;
            }
            s->i++;
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return true;
        }
        return false;
    }
    while (s->i < s->n && !strchr(",]} \t\r\n", s->t[s->i]))
        s->i++;
    return true;
}

/* Compares the JSON string at the cursor (raw, escapes compared literally
 * except \" and \\) with `key`; advances past it. */
static bool key_equals(scan *s, const char *key, size_t klen)
{
    size_t start = s->i + 1;
    if (!skip_string(s))
        return false;
    size_t end = s->i - 1, k = 0;
    for (size_t j = start; j < end; j++, k++) {
        char c = s->t[j];
        if (c == '\\' && j + 1 < end &&
            (s->t[j + 1] == '"' || s->t[j + 1] == '\\' || s->t[j + 1] == '/'))
            c = s->t[++j];
        if (k >= klen || key[k] != c)
            return false;
    }
    return k == klen;
}

/* Decodes the next pointer token into buf; returns its length. */
static size_t next_token(const char **p, char *buf, size_t cap)
{
    size_t n = 0;
    (*p)++; /* the '/' */
    while (**p && **p != '/') {
        char c = **p;
        if (c == '~' && (*p)[1] == '0') {
            c = '~';
            (*p)++;
        } else if (c == '~' && (*p)[1] == '1') {
            c = '/';
            (*p)++;
        }
        if (n + 1 < cap)
            buf[n++] = c;
        (*p)++;
    }
    buf[n] = '\0';
    return n;
}

static bool descend(scan *s, const char *tok, size_t tlen)
{
    ws(s);
    if (s->i >= s->n)
        return false;
    if (s->t[s->i] == '{') {
        s->i++;
        for (;;) {
            ws(s);
            if (s->i >= s->n || s->t[s->i] != '"')
                return false;
            bool hit = key_equals(s, tok, tlen);
            ws(s);
            if (s->i >= s->n || s->t[s->i] != ':')
                return false;
            s->i++;
            ws(s);
            if (hit)
                return true;
            if (!skip_value(s))
                return false;
            ws(s);
            if (s->i >= s->n || s->t[s->i] != ',')
                return false;
            s->i++;
        }
    }
    if (s->t[s->i] == '[') {
        char *end;
        long idx = strtol(tok, &end, 10);
        if (*end || idx < 0)
            return false;
        s->i++;
        for (long k = 0; k < idx; k++) {
            if (!skip_value(s))
                return false;
            ws(s);
            if (s->i >= s->n || s->t[s->i] != ',')
                return false;
            s->i++;
        }
        ws(s);
        return s->i < s->n && s->t[s->i] != ']';
    }
    return false;
}

void vx__json_locate(const char *text, size_t len, const char *pointer,
                     uint32_t *line, uint32_t *column)
{
    scan s = {text, len, 0};
    char tok[256];
    const char *p = pointer;
    ws(&s);
    size_t best = s.i;
    while (*p == '/') {
        size_t tlen = next_token(&p, tok, sizeof(tok));
        size_t save = s.i;
        if (!descend(&s, tok, tlen)) {
            s.i = save;
            break;
        }
        best = s.i;
    }
    vx__json_pos_of(text, len, best, line, column);
}

void vx__json_pos_of(const char *text, size_t len, size_t pos, uint32_t *line,
                     uint32_t *column)
{
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *column = c;
}

void vx__json_error_pos(const char *text, size_t len, size_t pos,
                        uint32_t *line, uint32_t *column)
{
    vx__json_pos_of(text, len, pos, line, column);
    if (*column > 1)
        (*column)--;
}

size_t vx__json_skip_ws(const char *text, size_t len, size_t pos)
{
    scan s = {text, len, pos};
    ws(&s);
    return s.i;
}

size_t vx__json_skip_value(const char *text, size_t len, size_t pos,
                           size_t *start)
{
    scan s = {text, len, pos};
    ws(&s);
    *start = s.i;
    if (!skip_value(&s) || s.i > len || s.i == *start)
        return 0;
    return s.i;
}
