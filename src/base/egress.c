/* The operator's egress allowlists (see egress.h). URLs are read by a
 * deliberately narrow parser: whatever it cannot read with certainty (a
 * user name, a percent sign or a backslash near the host, a non-ASCII
 * byte) is refused rather than guessed, so that the host checked here is
 * the host libcurl connects to. Hosts are compared as text, lowercased;
 * numeric spellings other than the listed one ("2130706433") do not
 * match, which fails closed. */
#include "base/egress.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"

#define HOST_MAX VX_LIMIT_EGRESS_HOST_BYTES

typedef struct host_entry {
    char host[HOST_MAX]; /* lowercased; "[v6]" keeps its brackets */
    bool wildcard;       /* "*.domain": host is the domain, subdomains match */
    unsigned port;       /* 0 = any port */
} host_entry;

typedef struct key_entry {
    char name[HOST_MAX]; /* the name, or the prefix without its '*' */
    bool prefix;         /* "NAME*" */
} key_entry;

struct vx_egress {
    bool any_host;                             /* "*": no limit */
    size_t nhosts;                             /* used entries */
    host_entry hosts[VX_LIMIT_EGRESS_ENTRIES]; /* allowed hosts */
    size_t nkeys;                              /* used entries */
    key_entry keys[VX_LIMIT_EGRESS_ENTRIES];   /* allowed variables */
};

/* The default policy: loopback hosts, keys from VEXIL_MODEL_KEY_* only
 * (kept in step with VX_EGRESS_*_DEFAULT). */
static const vx_egress default_policy = {
    .nhosts = 3,
    .hosts = {{.host = "localhost"}, {.host = "127.0.0.1"}, {.host = "[::1]"}},
    .nkeys = 1,
    .keys = {{.name = "VEXIL_MODEL_KEY_", .prefix = true}},
};

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static bool v6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           (c >= '0' && c <= '9') || c == ':' || c == '.';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Reads "host[:port]" or "[v6][:port]" of `n` bytes into `host`
 * (lowercased, one trailing dot dropped) and `*port` (0 when absent).
 * Returns NULL or what is wrong. */
static const char *read_authority(const char *s, size_t n, char host[HOST_MAX],
                                  unsigned *port)
{
    size_t h = 0, i = 0;
    *port = 0;
    if (n == 0)
        return "has no host";
    if (s[0] == '[') {
        host[h++] = '[';
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (!v6_char(s[i]) || h + 2 >= HOST_MAX)
                return "has an invalid IPv6 address";
            host[h++] = lower(s[i]);
        }
        if (i >= n || i == 1)
            return "has an invalid IPv6 address";
        host[h++] = ']';
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            if (!host_char(s[i]))
                return "has a host that is not a plain name or address";
            if (h + 1 >= HOST_MAX)
                return "has a host name that is too long";
            host[h++] = lower(s[i]);
        }
        if (h > 1 && host[h - 1] == '.')
            h--;
        if (h == 0 || host[0] == '.')
            return "has no host";
    }
    host[h] = '\0';
    if (i == n)
        return NULL;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return "has an invalid port";
    unsigned p = 0;
    for (i++; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "has an invalid port";
        p = p * 10 + (unsigned)(s[i] - '0');
    }
    if (p == 0 || p > 65535)
        return "has an invalid port";
    *port = p;
    return NULL;
}

/* Splits a plain http(s) URL into its host and port (the scheme's default
 * when absent). Returns NULL or what is wrong. */
static const char *read_url(const char *url, char host[HOST_MAX],
                            unsigned *port)
{
    size_t k;
    unsigned dflt;
    if (strncasecmp(url, "http://", 7) == 0) {
        k = 7;
        dflt = 80;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        k = 8;
        dflt = 443;
    } else {
        return "is not an http:// or https:// URL";
    }
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return "holds a space, a control character, a backslash or a "
                   "non-ASCII byte";
        if (c == '#')
            return "has a fragment (#)";
    }
    const char *a = url + k;
    size_t n = strcspn(a, "/?");
    if (memchr(a, '@', n))
        return "has a user name or password";
    const char *why = read_authority(a, n, host, port);
    if (!why && *port == 0)
        *port = dflt;
    return why;
}

static bool host_matches(const host_entry *e, const char *host, unsigned port)
{
    if (e->port && e->port != port)
        return false;
    if (!e->wildcard)
        return strcmp(e->host, host) == 0;
    size_t hl = strlen(host), el = strlen(e->host);
    return hl > el + 1 && host[hl - el - 1] == '.' &&
           strcmp(host + hl - el, e->host) == 0;
}

/* The server's own secrets: never sent, whatever the list says. */
static bool server_secret(const char *name)
{
    static const char *const exact[] = {"PGPASSWORD", "PGPASSFILE",
                                        "DATABASE_URL"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(name, exact[i]) == 0)
            return true;
    if (strncmp(name, "INIT_", 5) == 0)
        return true; /* INIT_ADMIN_API_TOKENS and its kin */
    return strncmp(name, "VEXIL_", 6) == 0 &&
           strncmp(name, "VEXIL_MODEL_KEY_", 16) != 0;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Calls add(p, entry, n) for every trimmed, non-empty entry of `list`. */
typedef vx_status (*entry_fn)(vx_egress *p, const char *s, size_t n,
                              const char *path, vx_error *err);

static vx_status each_entry(vx_egress *p, const char *list, const char *path,
                            entry_fn add, vx_error *err)
{
    if (strlen(list) > VX_LIMIT_EGRESS_LIST_BYTES)
        return vx__error_set(err, VX_ELIMIT, path,
                             "the list is longer than %d bytes",
                             VX_LIMIT_EGRESS_LIST_BYTES);
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ",");
        const char *e = s + n;
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0) {
            vx_status st = add(p, s, n, path, err);
            if (st != VX_OK)
                return st;
        }
        s = *e ? e + 1 : e;
    }
    return VX_OK;
}

static vx_status add_host(vx_egress *p, const char *s, size_t n,
                          const char *path, vx_error *err)
{
    if (n == 1 && s[0] == '*') {
        p->any_host = true;
        return VX_OK;
    }
    if (p->nhosts >= VX_LIMIT_EGRESS_ENTRIES)
        return vx__error_set(err, VX_ELIMIT, path, "more than %d entries",
                             VX_LIMIT_EGRESS_ENTRIES);
    for (size_t i = 0; i + 2 < n; i++)
        if (memcmp(s + i, "://", 3) == 0)
            return vx__error_set(err, VX_EINVAL, path,
                                 "'%.*s' is a URL: list hosts (host or "
                                 "host:port), not URLs",
                                 (int)(n > 200 ? 200 : n), s);
    host_entry *h = &p->hosts[p->nhosts];
    if (n > 2 && s[0] == '*' && s[1] == '.') {
        h->wildcard = true;
        s += 2;
        n -= 2;
    }
    const char *why = read_authority(s, n, h->host, &h->port);
    if (why || (h->wildcard && h->host[0] == '['))
        return vx__error_set(err, VX_EINVAL, path,
                             "'%.*s' %s: expected host, host:port, "
                             "*.domain[:port], [v6][:port], * or none",
                             (int)(n > 200 ? 200 : n), s,
                             why ? why : "is not a domain");
    p->nhosts++;
    return VX_OK;
}

static vx_status add_key(vx_egress *p, const char *s, size_t n,
                         const char *path, vx_error *err)
{
    bool prefix = n > 0 && s[n - 1] == '*';
    size_t len = prefix ? n - 1 : n;
    if (p->nkeys >= VX_LIMIT_EGRESS_ENTRIES)
        return vx__error_set(err, VX_ELIMIT, path, "more than %d entries",
                             VX_LIMIT_EGRESS_ENTRIES);
    if (!name_ok(s, len) || len >= HOST_MAX)
        return vx__error_set(err, VX_EINVAL, path,
                             "'%.*s' is not a variable name or a prefix "
                             "ending in * (A-Z, 0-9, _; not * alone)",
                             (int)(n > 200 ? 200 : n), s);
    key_entry *k = &p->keys[p->nkeys];
    memcpy(k->name, s, len);
    k->name[len] = '\0';
    k->prefix = prefix;
    if (!prefix && server_secret(k->name))
        return vx__error_set(err, VX_EINVAL, path,
                             "%s holds the server's own settings or secrets "
                             "and is never sent",
                             k->name);
    p->nkeys++;
    return VX_OK;
}

vx_status vx__egress_new(const char *hosts, const char *keys, vx_egress **out,
                         vx_error *err)
{
    vx_status st = VX_OK;
    vx_egress *p = vx__calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (!hosts)
        hosts = VX_EGRESS_HOSTS_DEFAULT;
    if (!keys)
        keys = VX_EGRESS_KEYS_DEFAULT;
    if (strcasecmp(hosts, "none") != 0)
        st = each_entry(p, hosts, "/egress-allow", add_host, err);
    if (st == VX_OK && strcasecmp(keys, "none") != 0)
        st = each_entry(p, keys, "/gateway-key-env", add_key, err);
    if (st != VX_OK) {
        vx__free(p);
        return st;
    }
    *out = p;
    return VX_OK;
}

void vx__egress_free(vx_egress **e)
{
    if (!e || !*e)
        return;
    vx__free(*e);
    *e = NULL;
}

vx_status vx__egress_url(const vx_egress *e, const char *url, const char *path,
                         vx_error *err)
{
    char host[HOST_MAX];
    unsigned port = 0;
    const vx_egress *p = e ? e : &default_policy;
    if (!path)
        path = "";
    if (!url)
        return vx__error_set(err, VX_EINVAL, path, "the URL is missing");
    const char *why = read_url(url, host, &port);
    if (why)
        return vx__error_set(err, VX_EINVAL, path, "the URL %s", why);
    if (p->any_host)
        return VX_OK;
    for (size_t i = 0; i < p->nhosts; i++)
        if (host_matches(&p->hosts[i], host, port))
            return VX_OK;
    return vx__error_set(err, VX_EINVAL, path,
                         "%s:%u is not a host the operator allows the server "
                         "to call (--egress-allow)",
                         host, port);
}

vx_status vx__egress_key(const vx_egress *e, const char *name, const char *path,
                         vx_error *err)
{
    const vx_egress *p = e ? e : &default_policy;
    if (!path)
        path = "";
    if (!name || !name_ok(name, strlen(name)))
        return vx__error_set(err, VX_EINVAL, path,
                             "not an environment variable name");
    if (server_secret(name))
        return vx__error_set(err, VX_EINVAL, path,
                             "%.200s holds the server's own settings or "
                             "secrets and is never sent",
                             name);
    for (size_t i = 0; i < p->nkeys; i++) {
        const key_entry *k = &p->keys[i];
        size_t n = strlen(k->name);
        if (k->prefix ? strncmp(name, k->name, n) == 0
                      : strcmp(name, k->name) == 0)
            return VX_OK;
    }
    return vx__error_set(err, VX_EINVAL, path,
                         "%.200s is not a variable the operator allows for "
                         "model keys (--gateway-key-env)",
                         name);
}
