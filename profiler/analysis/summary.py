"""Text rendering of an ``analyze_frame`` result (rich tables)."""

from __future__ import annotations

from profiler.analysis.verdict import fmt_p


def _f(x: float | None, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def _f100(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}"


def _console():
    """A terminal's console (at least 120 wide); redirected to a file or a pipe, one so wide that every table is
    printed at its natural width and no number is cut (``0.471±0…``) or wrapped."""
    from rich.console import Console

    term = Console()
    width = max(term.width, 120) if term.is_terminal else 10_000
    return Console(width=width, highlight=False, markup=False)


def _print_verdict(con, v: dict, stability: dict) -> None:
    """The verdict, its caveats and its noise check."""
    con.print(f"Verdict: {v['text']}")
    for cav in v["caveats"]:
        con.print(f"  caveat: {cav}")
    if r := v.get("robustness"):
        con.print(
            f"Noise check: the same words in {100 * r['agreement']:.0f} % of {r['n_resamples']} refits on "
            f"resampled timings ({'FRAGILE, below' if v.get('fragile') else 'at least'} "
            f"{100 * stability['min_agreement']:.0f} %); unstable rows: {v.get('unstable_rows', 0)}"
        )
    elif stability.get("noise_check", "done") != "done":
        con.print(f"Noise check: {stability['noise_check']}")


def render(result: dict, console=None) -> None:
    """Print the summary: per cell the verdict, fits, tests and held-out errors."""
    from rich.table import Table

    con = console or _console()
    con.print(f"Claim: {result['claim']}")
    con.print("Forms: " + "  ".join(f"{k}: {v}" for k, v in result["forms"].items()))
    con.print(
        "Units: F in GMAC per image, A in M activations, P in M params, N in k ops launched per inference, B in MB "
        "of memory traffic per image at the cell's batch and dtype; t = latency_ms per batch (per image in a "
        "batch=per-image cell).\n"
    )
    for note in result.get("notes", []):
        con.print(f"note: {note}")
    for c in result["cells"]:
        v = c["verdict"]
        title = (
            f"cell {c['label']}  (n = {c['n']}, {c['n_families']} families; t in "
            f"{c.get('latency_unit', 'ms per batch')})"
        )
        con.rule(title) if con.is_terminal else con.print(f"───── {title} ─────")
        _print_verdict(con, v, result.get("stability") or {})
        if c.get("explanation"):
            con.print(f"Regime: {c['explanation']['text']}")
        mech = c.get("mechanistic") or {}
        if mech.get("available"):
            eff = "n/a" if mech["efficiency"] is None else f"{100 * mech['efficiency']:.0f} %"
            con.print(
                f"Mechanistic ({mech['formula']}): k = {mech['k']:.3g} (roofline efficiency {eff}), launch "
                f"{mech['launch_us']:.2f} µs/op ({mech['launch_source']}); peak {mech['peak_tflops']:.1f} TFLOP/s, "
                f"bandwidth {mech['bandwidth_gbs']:.0f} GB/s ({mech['peaks_source']}, {mech['peaks_device']}); "
                f"in-sample rms rel {mech['rms_rel_resid']:.3f}"
            )
        else:
            con.print(f"Mechanistic model: unavailable ({mech.get('reason', 'not computed')})")
        _print_opclass(con, c.get("opclass") or {})

        fits = Table(title="Fits (WLS, weights 1/t̂²): coefficient ± SE", show_lines=False)
        for col in ("form", "const", "F", "sqrtF", "A", "P", "N", "B", "R²w", "AIC", "BIC", "rms rel", "log rms"):
            fits.add_column(col, justify="right")
        for name, f in c["forms"].items():
            w = f["wls"]
            cells = [
                f"{_f(w['coef'][k])}±{_f(w['se'][k], '.2g')}" if k in w["coef"] else ""
                for k in ("const", "F", "sqrtF", "A", "P", "N", "B")
            ]
            fits.add_row(
                name,
                *cells,
                _f(w["r2"], ".4f"),
                _f(w["aic"], ".1f"),
                _f(w["bic"], ".1f"),
                _f(w["rms_rel_resid"], ".3f"),
                _f(f["log"]["rms_log_resid"], ".3f"),
            )
        con.print(fits)

        held = c["heldout"]
        ho = Table(title=f"Leave-one-family-out ({held.get('n', 0)} models, {held.get('n_families', 0)} families)")
        for col in ("form", "MAPE [95 % CI]", "median APE", "RMS log err", "within ±10 %", "t̂ ≤ 0"):
            ho.add_column(col)
        for name, m in held.get("forms", {}).items():
            lo, hi = m["ci95"]["mape"]
            ho.add_row(
                name,
                f"{100 * m['mape']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]",
                f"{100 * m['median_ape']:.1f} %",
                _f(m["rms_log"], ".3f"),
                f"{100 * m['within10']:.0f} %",
                str(m.get("n_nonpositive", 0)),
            )
        con.print(ho)
        for note in held.get("notes", []):
            con.print(f"  note: {note}")
        for key, comp in held.get("comparisons", {}).items():
            lo, hi = comp["mape_reduction_ci"]
            llo, lhi = comp["rms_log_reduction_ci"]
            rl = comp["rms_log_reduction"]
            con.print(
                f"  {key}: MAPE reduction {100 * comp['mape_reduction']:.0f} % (95 % CI {_f100(lo)}–{_f100(hi)}),"
                f" RMS-log reduction {_f100(rl)} % ({_f100(llo)}–{_f100(lhi)})"
            )

        t = c["tests"]
        con.print("Tests (p_holm: Holm across cells)")
        for r in t["nested_hc3"]:
            con.print(
                f"  F-test (HC3) {r['small']} ⊂ {r['big']} [{'+'.join(r['terms'])}]: F = {r['F']:.2f}, "
                f"{fmt_p(r['p'])}, holm {fmt_p(r['p_holm'])}"
            )
        for r in t["j"]:
            con.print(
                f"  J test of {r['null']} vs {r['alt']}: t = {r['t']:.2f}, {fmt_p(r['p'])}, holm {fmt_p(r['p_holm'])}"
            )
        for r in t["encompassing"]:
            con.print(
                f"  encompassing {r['a']} vs {r['b']}: {r['a']} rejected {fmt_p(r['p_a'])}; "
                f"{r['b']} rejected {fmt_p(r['p_b'])}"
            )
        for r in t["vuong"]:
            con.print(f"  Vuong {r['a']} vs {r['b']}: z = {_f(r['z'], '.2f')} (> 0 favours {r['a']}), {fmt_p(r['p'])}")
        d = t["diagnostics"]
        con.print("  Breusch–Pagan: " + ", ".join(f"{k} {fmt_p(v['breusch_pagan']['p'])}" for k, v in d.items()))
        con.print("  RESET: " + ", ".join(f"{k} {fmt_p(v['reset']['p'])}" for k, v in d.items()))
        con.print(f"  VIF(√F, A) = {t['vif']['sqrtF']:.1f} (r = {t['vif']['corr']:.3f})\n")
    for s in result.get("skipped", []):
        con.print(f"skipped: {s['reason']}")


def _print_opclass(con, oc: dict) -> None:
    """One line: the per-op-class model's non-zero terms (ms per unit) and its in-sample error."""
    if not oc.get("available"):
        con.print(f"Per-op-class model: unavailable ({oc.get('reason', 'not computed')})")
        return
    terms = [t for t in oc["fit"]["terms"] if t["ms_per_unit"] > 0]
    text = ", ".join(f"{t['name']} {t['ms_per_unit']:.3g} ms/{t['unit']}" for t in terms) or "all zero"
    con.print(
        f"Per-op-class model (NNLS, relative errors; launch groups {oc['launch_groups']}): {text}; in-sample "
        f"rms rel {oc['rms_rel_resid']:.3f}"
    )
