#!/usr/bin/env python3
"""Reference values for tests/unit/guard/test_stats.c and test_plan.c,
computed independently of src/guard with mpmath (50 digits) from the
formulas in docs/guard.md. Run: python3 guard_vectors.py (prints the
values the C tests compare against; the tests carry them inline).

Needs mpmath (Debian: python3-mpmath)."""
from mpmath import mp, mpf, sqrt, log, exp, erfc, findroot, ncdf, npdf, log1p

mp.dps = 50


def Phi(x):
    return erfc(-x / sqrt(2)) / 2


def log_lr_greater(diff, v, tau):
    """log of the one-sided normal mixture (docs/guard.md)."""
    t2 = tau * tau
    return (log(2 * Phi(diff * tau / sqrt(v * (v + t2)))) + log(v / (v + t2)) / 2
            + t2 * diff * diff / (2 * v * (v + t2)))


def boundary_z(r, alpha):
    """z = diff/sqrt(v) at which log_lr_greater = log(1/alpha), r = tau^2/v."""
    v = mpf(1)
    tau = sqrt(r * v)
    f = lambda z: log_lr_greater(z * sqrt(v), v, tau) - log(1 / mpf(alpha))
    lo, hi = mpf(0), mpf(1)
    while f(hi) < 0:
        hi *= 2
    for _ in range(300):
        mid = (lo + hi) / 2
        if f(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return hi


def power_scale(theta, v0, v1, tau, alpha, power):
    """smallest s: theta - z*(tau^2 s/v0) sqrt(v0/s) >= z_p sqrt(v1/s)."""
    zp = sqrt(2) * mp.erfinv(2 * mpf(power) - 1)
    g = lambda x: theta * x - boundary_z(tau * tau * x * x / v0, alpha) * sqrt(v0) - zp * sqrt(v1)
    lo, hi = mpf('1e-6'), mpf(1)
    while g(hi) < 0:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if g(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return hi * hi


def strata_prop(strata, tol, tau_rel, alpha, prior, groups=None, G=64):
    """Stratified proportion test, higher-is-worse. strata: (xc, nc, xt, nt).
    groups: per stratum (gnc, gyc, gnt, gyt) lists of G, or None."""
    f = 1 + mpf(tol)
    xc = sum(s[0] for s in strata); nc = sum(s[1] for s in strata)
    xt = sum(s[2] for s in strata); nt = sum(s[3] for s in strata)
    pc = mpf(xc) / nc
    p_null = mpf(xc + xt) / (f * nt + nc)
    W = ex = df = var = vd = 0
    r = [mpf(0)] * G
    used = [False] * G
    loose = ind = mpf(0)
    anyg = False
    for i, (a, b, c, d) in enumerate(strata):
        if b == 0 or d == 0:
            continue
        a, b, c, d = map(mpf, (a, b, c, d))
        pcs, pts = a / b, c / d
        g = (a + prior) / (b * pc + prior)
        pc0 = min(p_null * g, 1)
        pt0 = min(f * pc0, 1)
        v = pt0 * (1 - pt0) / d + f * f * pc0 * (1 - pc0) / b
        vdi = pts * (1 - pts) / d + pcs * (1 - pcs) / b
        w = d * b / (d + b)
        W += w; ex += w * (pts - f * pcs); df += w * (pts - pcs)
        var += w * w * v; vd += w * w * vdi
        for coef, m, n, s2, gr in ((w, pts, d, pts * (1 - pts), groups[i][2:4] if groups else None),
                                   (-f * w, pcs, b, pcs * (1 - pcs), groups[i][0:2] if groups else None)):
            ind += coef * coef * s2 / n
            grouped = 0
            if gr:
                anyg = True
                for k in range(G):
                    if gr[0][k] > 0:
                        used[k] = True
                        grouped += gr[0][k]
                        r[k] += coef * (gr[1][k] - m * gr[0][k]) / n
            lz = n - grouped
            if lz > 0:
                loose += coef * coef * s2 * lz / (n * n)
    deff = mpf(1)
    if anyg:
        gg = sum(1 for k in range(G) if used[k])
        ss = sum(r[k] ** 2 for k in range(G) if used[k])
        vcl = mpf(gg) / (gg - 1) * ss + loose
        deff = max(mpf(1), vcl / ind)
    excess = ex / W; diff = df / W
    v = var / (W * W) * deff
    vdiff = vd / (W * W) * deff
    tau = tau_rel * min(p_null, 1)
    llr = log_lr_greater(excess, v, tau)
    t2 = tau * tau
    h = sqrt(vdiff * (vdiff + t2) / t2 * (2 * log(1 / mpf(alpha)) + log((vdiff + t2) / vdiff)))
    return dict(excess=excess, diff=diff, variance=v, log_lr=llr, p=min(1, exp(-llr)),
                cs_lo=diff - h, cs_hi=diff + h, deff=deff)


def srm_deff(nc, nt, gnc, gnt, G=64):
    n = mpf(nc + nt); r = mpf(nt) / n
    ss = 0; g = 0; sc = st = 0
    for k in range(G):
        t, c = mpf(gnt[k]), mpf(gnc[k])
        if t + c <= 0:
            continue
        ss += (t - r * (t + c)) ** 2; g += 1; sc += c; st += t
    loose = max(0, nc - sc) + max(0, nt - st)
    v = (mpf(g) / (g - 1) * ss + loose * r * (1 - r)) / (n * n)
    return max(1, v / (r * (1 - r) / n))


def show(name, x):
    print(f"{name} = {mp.nstr(x, 17)}")


if __name__ == "__main__":
    # 1. stratified proportions (test_seq_strata), prior 10 pseudo-events
    s = [(99, 9900, 3, 100), (95, 9500, 15, 500), (110, 7500, 60, 2500)]
    res = strata_prop(s, 0.10, 0.5, 0.05, 10)
    for k in ("excess", "diff", "variance", "log_lr", "p", "cs_lo", "cs_hi"):
        show("strata." + k, res[k])
    # 2. per-user groups: 2 strata; group k holds units of both arms;
    #    deterministic group sums (every third group clusters errors)
    G = 64
    def grp(n_total, x_total, seed):
        gn = [0] * G; gy = [0] * G
        for k in range(G):
            gn[k] = n_total // G + (1 if k < n_total % G else 0)
        left = x_total
        k = seed
        while left > 0:
            add = min(left, 3 if k % 3 == 0 else 1)
            gy[k % G] += min(add, gn[k % G] - gy[k % G])
            left -= add
            k += 7
        return gn, gy
    cs = [(100, 10000, 30, 1000), (150, 10000, 60, 3000)]
    groups = []
    for i, (a, b, c, d) in enumerate(cs):
        gnc, gyc = grp(b, a, 1 + i)
        gnt, gyt = grp(d, c, 5 + i)
        groups.append((gnc, gyc, gnt, gyt))
    res = strata_prop(cs, 0.0, 0.5, 0.05, 10, groups)
    for k in ("excess", "variance", "log_lr", "deff"):
        show("cluster." + k, res[k])
    # print the group sums for the C test
    for i, g in enumerate(groups):
        print(f"cluster.stratum{i}.gyc = {g[1]}")
        print(f"cluster.stratum{i}.gyt = {g[3]}")
    # 3. boundaries and power
    for r, a in ((1.0, 0.05), (10.0, 0.05 * 0.7 / 3), (0.25, 0.01)):
        show(f"boundary_z(r={r}, alpha={a})", boundary_z(mpf(r), mpf(a)))
    # errors 1 % -> 2 %, 1,000 treatment and 3,000 control units, tau 0.5 x 1 %
    pc = mpf('0.01'); nt = mpf(1000); nc = mpf(3000)
    v0 = pc * (1 - pc) / nt + pc * (1 - pc) / nc
    v1 = 2 * pc * (1 - 2 * pc) / nt + pc * (1 - pc) / nc
    show("power_scale(errors)", power_scale(pc, v0, v1, mpf('0.5') * pc, mpf(0.05) * mpf(0.7) / 3, mpf('0.95')))
    show("power_scale(means)", power_scale(mpf('0.0953'), mpf('0.25') / 400, mpf('0.25') / 400, mpf('0.1'), mpf('0.05'), mpf('0.8')))
    # 4. SRM design effect: 20 groups, treatment requests concentrated
    gnc = [0] * G; gnt = [0] * G
    for k in range(20):
        gnc[k] = 90 + k
        gnt[k] = 10 + (k % 4) * 5
    nc = sum(gnc) + 50; nt = sum(gnt)
    show("srm_deff", srm_deff(nc, nt, gnc, gnt))
    print(f"srm.nc = {nc}, srm.nt = {nt}")
