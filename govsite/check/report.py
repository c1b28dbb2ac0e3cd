"""The findings of `govsite check`, formatted: a listing grouped by site and rule for people, JSON
for tools, JUnit XML for CI annotations, and one HTML page with a scorecard per site."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from html import escape
from xml.sax.saxutils import quoteattr

from govsite.check import CheckResult, Finding
from govsite.check.rules import ERROR, RULES
from govsite.check.scorecard import AT_RISK, FAILS

FORMATS = ("text", "json", "junit", "html")


def render(result: CheckResult, fmt: str) -> str:
    return {"text": text, "json": as_json, "junit": junit, "html": html}[fmt](result)


def _by_site(result: CheckResult) -> dict[str, dict[str, list[Finding]]]:
    grouped: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for finding in result.findings:
        grouped[finding.site][finding.rule].append(finding)
    return grouped


def summary(result: CheckResult) -> str:
    errors = sum(f.level == ERROR for f in result.findings)
    warnings = len(result.findings) - errors
    return (f"checked {len(result.sites)} site{'s' * (len(result.sites) != 1)} as of "
            f"{result.as_of:%Y-%m-%d}: {errors} error{'s' * (errors != 1)}, "
            f"{warnings} warning{'s' * (warnings != 1)}")


def text(result: CheckResult) -> str:
    lines = []
    for site, rules in sorted(_by_site(result).items()):
        lines.append(f"== {site or 'cluster (sites.yaml)'}")
        for rule, findings in sorted(rules.items()):
            lines.append(f"-- {rule}: {RULES[rule].summary}")
            lines += [f"{f}" for f in findings]
        lines.append("")
    for site in result.sites:
        risky = [v for v in result.scorecards.get(site, []) if v.status != "clear"]
        if risky:
            lines.append(f"veto items of {site}: " + "; ".join(
                f"{v.veto} {v.status}"
                + (f" ({'since' if v.status == FAILS else 'fails on'} {v.fails_on})" if v.fails_on else "")
                for v in risky))
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


def as_json(result: CheckResult) -> str:
    return json.dumps({
        "as_of": result.as_of.isoformat(), "sites": list(result.sites), "output": result.output,
        "findings": [asdict(f) for f in result.findings],
        "scorecards": {site: [asdict(v) for v in items] for site, items in result.scorecards.items()},
        "rules": {rule.id: asdict(rule) for rule in RULES.values()},
    }, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def junit(result: CheckResult) -> str:
    """One test suite per site, one test case per rule; a rule with errors fails."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="govsite check" tests="{len(result.sites) * len(RULES)}" '
           f'failures="{sum(f.level == ERROR for f in result.findings)}">']
    grouped = _by_site(result)
    for site in [""] + list(result.sites):
        rules = grouped.get(site, {})
        failures = sum(any(f.level == ERROR for f in found) for found in rules.values())
        out.append(f'  <testsuite name={quoteattr(site or "cluster")} tests="{len(RULES)}" '
                   f'failures="{failures}">')
        for rule in RULES.values():
            found = rules.get(rule.id, [])
            name = quoteattr(rule.id)
            body = "\n".join(str(f) for f in found)
            if any(f.level == ERROR for f in found):
                out.append(f'    <testcase classname={quoteattr(site or "cluster")} name={name} '
                           f'file={quoteattr(found[0].path)}>')
                out.append(f'      <failure message={quoteattr(found[0].message)}>{escape(body)}</failure>')
                out.append("    </testcase>")
            elif found:
                out.append(f'    <testcase classname={quoteattr(site or "cluster")} name={name}>'
                           f'<system-out>{escape(body)}</system-out></testcase>')
            else:
                out.append(f'    <testcase classname={quoteattr(site or "cluster")} name={name}/>')
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


STYLE = """body{font:16px/1.6 system-ui,"Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:72rem;
padding:1rem;color:#1a1a1a}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #888;padding:.3rem .5rem;text-align:left;vertical-align:top}
.fails{background:#fde7e7}.at-risk{background:#fff4d6}code{word-break:break-all}"""


def html(result: CheckResult) -> str:
    """A self-contained page (no scripts) for people who never open CI logs."""
    parts = ['<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>govsite check {result.as_of:%Y-%m-%d}</title><style>{STYLE}</style></head><body>",
             f"<main><h1>网站检查报告 · govsite check</h1><p>{escape(summary(result))}</p>",
             "<h2>单项否决 · Veto items per site</h2><table><thead><tr><th scope=\"col\">site</th>"]
    vetoes = [v.veto for v in next(iter(result.scorecards.values()), [])]
    parts += [f'<th scope="col">{escape(v)}</th>' for v in vetoes]
    parts.append("</tr></thead><tbody>")
    for site, items in result.scorecards.items():
        parts.append(f'<tr><th scope="row">{escape(site)}</th>')
        for item in items:
            css = {FAILS: "fails", AT_RISK: "at-risk"}.get(item.status, "")
            when = (f"<br>{'since' if item.status == FAILS else 'fails on'} {item.fails_on}"
                    if item.fails_on else "")
            parts.append(f'<td class="{css}">{escape(item.status)}{when}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    for site, rules in sorted(_by_site(result).items()):
        parts.append(f"<h2>{escape(site or 'cluster (sites.yaml)')}</h2>")
        for rule, findings in sorted(rules.items()):
            parts.append(f"<h3><code>{escape(rule)}</code> {escape(RULES[rule].summary)}</h3>"
                         f"<p>{escape(RULES[rule].basis)}</p><table><thead><tr>"
                         '<th scope="col">level</th><th scope="col">where</th>'
                         '<th scope="col">what</th></tr></thead><tbody>')
            for f in findings:
                where = f"{f.path}:{f.line}" if f.line else f.path
                parts.append(f"<tr><td>{f.level}</td><td><code>{escape(where)}</code></td>"
                             f"<td>{escape(f.message)}{' — ' + escape(f.hint) if f.hint else ''}</td></tr>")
            parts.append("</tbody></table>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
