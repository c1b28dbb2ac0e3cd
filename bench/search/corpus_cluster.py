#!/usr/bin/env python3
"""Turn the shared real-document corpus into a govsite project, for evaluating search.

    python3 bench/search/corpus_cluster.py CORPUS_DIR OUT_PROJECT [--map FILE] [--notes FILE]

CORPUS_DIR is /work/shared/corpus (README.md + manifest.json + zh/ + en/).  OUT_PROJECT gets
`sites.yaml` and `content/`; it must be empty, missing, or a folder this script wrote before
(it carries a `.corpus_cluster` marker, and its `sites.yaml` and `content/` are replaced).

Besides the project it writes (by default next to this script):

* `corpus_map.json` — corpus path (e.g. `zh/national/regulations/x.md`) → the URL govsite gives
  the page (`<site url><column>/<name>.html`), so judgments made by corpus path can be checked
  against search-result URLs;
* `corpus_notes.json` — every liberty taken with a document: date fallbacks, 发文字号 whose year
  brackets were changed to 〔〕 (with the original spelling), links turned into plain text,
  front-matter fields left out.

Mapping (see README.md in this folder for the reasons):

* one site per corpus `site` value; `national` is the portal
  (https://national.corpus.example/), provinces are `county` sites and ministries and the two
  English sites (`language: en`) are `department` sites, all children of the portal; every site
  has its own `identity.sponsor` and a unique 10-digit `identity.site_code`;
* kind → column:  policy → `policy` (type policy); interpretation/司法解释 → `judicial`
  (type policy: they carry 发文机关, 法释 numbers and dates, and govsite's `interpretation`
  kind needs `interprets:` a policy, which they do not have); interpretation/典型案例 →
  `cases` (type page: no date, no issuer); report → `reports` (type page); news → `news`;
  notice → `notices`; service_guide → `services` (type page, so none of the 办事指南 fields
  has to be invented); page → `about` (type page);
* policy pages get `index_no` `CORPUSORG0000X/<year>-<serial>` (serial counts the policies of
  that year over the whole cluster in corpus-path order), `written` = `date`, `subject`
  = `法律法规\\<doc_type>` (zh) or `Policy papers and consultations\\<doc_type>` (en),
  `issuer` from the corpus (where it has none: `<site name>（发文机关未载明）`);
* dates: full dates kept; year-only → `<year>-01-01`; missing on a kind that needs a date →
  the latest `YYYY年M月D日` written in the body, else `1970-01-01`; missing on a page-type
  column → left out;
* bodies are copied unchanged except Markdown links/images to relative targets that do not
  exist in the project, which become their plain text.

Output is a pure function of the corpus: sorted walks, no clocks, no randomness.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MARKER = ".corpus_cluster"
DOMAIN = "corpus.example"
PORTAL = "national"
INDEX_ORG = "CORPUSORG0000X"

# GB/T 2260 province codes: the first two digits of each provincial site's 网站标识码.
PROVINCE_CODES = {
    "beijing": "11", "tianjin": "12", "hebei": "13", "shanxi": "14", "neimenggu": "15",
    "liaoning": "21", "jilin": "22", "heilongjiang": "23", "shanghai": "31", "jiangsu": "32",
    "zhejiang": "33", "anhui": "34", "fujian": "35", "jiangxi": "36", "shandong": "37",
    "henan": "41", "hubei": "42", "hunan": "43", "guangdong": "44", "guangxi": "45",
    "hainan": "46", "chongqing": "50", "sichuan": "51", "guizhou": "52", "yunnan": "53",
    "xizang": "54", "shaanxi": "61", "gansu": "62", "qinghai": "63", "ningxia": "64",
    "xinjiang": "65",
}

# column folder → (column type, zh title, en title); navigation follows this order.
COLUMNS = {
    "policy": ("policy", "政策文件", "Policy papers and consultations"),
    "judicial": ("policy", "司法解释", "Judicial interpretations"),
    "cases": ("page", "典型案例", "Court cases"),
    "reports": ("page", "工作报告", "Reports and statistics"),
    "news": ("news", "新闻动态", "News"),
    "notices": ("notice", "通知公告", "Notices and alerts"),
    "services": ("page", "办事服务", "Services and guidance"),
    "about": ("page", "机构信息", "About"),
}
DATED_KINDS = ("policy", "news", "notice")

# Folders directly below a site's corpus folder that only say what kind a document is.
KIND_FOLDERS = {"regulations", "laws", "cases", "judicial-interpretations", "reports",
                "npc-resolutions"}

WRONG_BRACKETS = re.compile(r"[\[［【(（〈<]\s*(\d{4})\s*[\]］】)）〉>]")
CJK = re.compile(r"[\u4e00-\u9fff]")
CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
# [text](href) and ![alt](src) with a plain href (optionally followed by a "title").
LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#)")


def q(value: object) -> str:
    """A YAML scalar: JSON strings are valid YAML double-quoted strings."""
    return json.dumps(value, ensure_ascii=False)


def read_doc(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise SystemExit(f"{path}: no front matter")
    end = text.index("\n---\n", 3)
    meta = yaml.safe_load(text[4:end]) or {}
    return meta, text[end + len("\n---\n"):]


def site_folder(rel: str) -> str:
    """The corpus folder a site's documents live in: zh/national/, zh/provinces/x/, en/va/ …"""
    parts = rel.split("/")
    if parts[0] == "zh" and parts[1] in ("provinces", "departments"):
        return "/".join(parts[:3]) + "/"
    return "/".join(parts[:2]) + "/"


def column_of(meta: dict) -> str:
    kind = meta["kind"]
    if kind == "interpretation":
        return "judicial" if meta.get("doc_type") == "司法解释" else "cases"
    return {"policy": "policy", "report": "reports", "news": "news", "notice": "notices",
            "service_guide": "services", "page": "about"}[kind]


def page_name(rel: str) -> str:
    """File name inside the column: the corpus path below the site folder, '/' → '--'."""
    inner = rel[len(site_folder(rel)):][: -len(".md")].split("/")
    if rel.startswith("zh/") and len(inner) > 1 and inner[0] in KIND_FOLDERS:
        inner = inner[1:]
    if rel.startswith("en/govuk/") and len(inner) > 1:
        inner = inner[1:]  # the GOV.UK schema folder; slugs are unique base paths
    name = "--".join(inner)
    if not re.match(r"^[A-Za-z0-9._-]+$", name) or name.startswith("index"):
        raise SystemExit(f"{rel}: cannot make a page name from `{name}`")
    return name


def fix_date(meta: dict, body: str, needs_date: bool, notes: list) -> str | None:
    raw = meta.get("date")
    raw = "" if raw is None else str(raw).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", raw):
        return raw
    if re.match(r"^\d{4}$", raw):
        fixed = f"{raw}-01-01"
        notes.append({"field": "date", "original": raw, "written": fixed,
                      "rule": "year-only date → 1 January of that year"})
        return fixed
    if raw:
        raise SystemExit(f"unexpected date `{raw}`")
    if not needs_date:
        return None
    found = sorted(f"{y}-{int(m):02d}-{int(d):02d}" for y, m, d in CN_DATE.findall(body)
                   if 1 <= int(m) <= 12 and 1 <= int(d) <= 31)
    if found:
        notes.append({"field": "date", "original": None, "written": found[-1],
                      "rule": "no date → latest YYYY年M月D日 in the body"})
        return found[-1]
    notes.append({"field": "date", "original": None, "written": "1970-01-01",
                  "rule": "no date and none in the body → 1970-01-01 (unknown)"})
    return "1970-01-01"


def fix_links(body: str, content_rel: str, existing: set[str], notes: list) -> str:
    """Relative links/images whose target is not in the project become plain text."""
    base = posixpath.dirname(content_rel)

    def repl(match: re.Match) -> str:
        bang, text, href = match.groups()
        if not href or EXTERNAL.match(href):
            return match.group(0)
        target = posixpath.normpath(posixpath.join(base, href.split("#", 1)[0]))
        if target in existing:
            return match.group(0)
        notes.append({"field": "body", "original": match.group(0), "written": text,
                      "rule": "relative link to a file that does not exist → plain text"})
        return text

    return LINK.sub(repl, body)


def write_search_words(out: Path) -> None:
    """The repository's synonym and plain-language list, as a real cluster would maintain one
    (its hot words name the example cluster's sites, so they stay behind)."""
    words = yaml.safe_load((REPO / "search.yaml").read_text(encoding="utf-8"))
    text = yaml.safe_dump({"synonyms": words["synonyms"]}, allow_unicode=True, sort_keys=False,
                          default_flow_style=None, width=1000)
    (out / "search.yaml").write_text(
        "# Copied by bench/search/corpus_cluster.py from the repository's search.yaml.\n" + text,
        encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--map", type=Path, default=HERE / "corpus_map.json")
    parser.add_argument("--notes", type=Path, default=HERE / "corpus_notes.json")
    args = parser.parse_args()

    corpus, out = args.corpus.resolve(), args.out.resolve()
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))["documents"]
    paths = sorted(d["path"] for d in manifest)

    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SystemExit(f"{out} is not empty and was not written by this script")
        shutil.rmtree(out / "content", ignore_errors=True)
        (out / "sites.yaml").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by bench/search/corpus_cluster.py\n", encoding="utf-8")

    docs = []
    for rel in paths:
        meta, body = read_doc(corpus / rel)
        docs.append((rel, meta, body))

    # Sites, in a stable order: portal, provinces, departments, English sites.
    site_names: dict[str, str] = {}
    site_lang: dict[str, str] = {}
    site_columns: dict[str, set[str]] = {}
    for _rel, meta, _ in docs:
        site_names.setdefault(meta["site"], meta["site_name"])
        site_lang.setdefault(meta["site"], "en" if meta["lang"] == "en" else "zh-CN")
        site_columns.setdefault(meta["site"], set()).add(column_of(meta))

    def site_order(site: str) -> tuple:
        group = (0 if site == PORTAL else 1 if site in PROVINCE_CODES
                 else 2 if site.startswith("dept-") else 3)
        return (group, site)

    sites = sorted(site_names, key=site_order)
    unknown = [s for s in sites if s != PORTAL and s not in PROVINCE_CODES
               and not s.startswith(("dept-", "en-"))]
    if unknown or PORTAL not in sites:
        raise SystemExit(f"unexpected sites: {unknown or 'no portal'}")
    urls = {s: f"https://{s}.{DOMAIN}/" for s in sites}
    codes: dict[str, str] = {PORTAL: "1000000001"}
    dept_serial = en_serial = 0
    for s in sites:
        if s in PROVINCE_CODES:
            codes[s] = PROVINCE_CODES[s] + "00000001"
        elif s.startswith("dept-"):
            dept_serial += 1
            codes[s] = f"90000000{dept_serial:02d}"
        elif s.startswith("en-"):
            en_serial += 1
            codes[s] = f"91000000{en_serial:02d}"
    assert len(set(codes.values())) == len(codes)

    lines = [
        "# Written by bench/search/corpus_cluster.py from the shared real-document corpus.",
        "# Sponsors, site codes, URLs and filing data are placeholders for search evaluation.",
        "cluster:",
        f"  organisation: {q('govsite 搜索评测语料库')}",
        "  language: zh-CN",
        '  timezone: "+08:00"',
        "  page_size: 20",
        "  identity:",
        f"    operator: {q('govsite 搜索评测（非官方网站）')}",
        "sites:",
    ]
    for s in sites:
        zh = site_lang[s] == "zh-CN"
        name = "全国政府文件语料库" if s == PORTAL else site_names[s]
        kind = ("portal" if s == PORTAL else "county" if s in PROVINCE_CODES else "department")
        sponsor = f"{site_names[s]}（评测语料，非官方）" if zh else f"{site_names[s]} (evaluation corpus, unofficial)"
        columns = [c for c in COLUMNS if c in site_columns[s]]
        lines += [f"  - id: {s}", f"    name: {q(name)}", f"    type: {kind}"]
        if s != PORTAL:
            lines.append(f"    parent: {PORTAL}")
        lines.append(f"    url: {urls[s]}")
        if not zh:
            lines.append("    language: en")
        lines += ["    identity:", f"      sponsor: {q(sponsor)}", f'      site_code: "{codes[s]}"',
                  f"    columns: [{', '.join(columns)}]"]
    (out / "sites.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_search_words(out)

    content = out / "content"
    for s in sites:
        zh = site_lang[s] == "zh-CN"
        for c in sorted(site_columns[s]):
            ctype, zh_title, en_title = COLUMNS[c]
            folder = content / s / c
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "_index.md").write_text(
                f"---\ntitle: {q(zh_title if zh else en_title)}\ntype: {ctype}\n---\n",
                encoding="utf-8")

    # Where every document goes, before any body is written (links are checked against it).
    placed: dict[str, tuple[str, str, str]] = {}
    taken: dict[tuple[str, str, str], str] = {}
    for rel, meta, _ in docs:
        key = (meta["site"], column_of(meta), page_name(rel))
        if key in taken:
            raise SystemExit(f"{rel} and {taken[key]} would both be {'/'.join(key)}.md")
        taken[key] = rel
        placed[rel] = key
    existing = {f"{s}/{c}/{n}.md" for s, c, n in placed.values()}

    # 索引号 serials: per year over the whole cluster, in corpus-path order.
    serial_by_year: dict[str, int] = {}
    mapping: dict[str, str] = {}
    all_notes: dict[str, list] = {}
    for rel, meta, body in docs:
        site, column, name = placed[rel]
        ctype = COLUMNS[column][0]
        kind = {"policy": "policy", "news": "news", "notice": "notice"}.get(ctype, "page")
        zh = site_lang[site] == "zh-CN"
        notes: list = []
        date = fix_date(meta, body, kind in DATED_KINDS, notes)
        fm = [f"title: {q(str(meta['title']))}"]
        if date:
            fm.append(f"date: {q(date)}")
        if meta.get("description"):
            fm.append(f"summary: {q(str(meta['description']))}")
        keywords = [str(meta[k]) for k in ("topic", "region") if meta.get(k)]
        if keywords:
            fm.append(f"keywords: {q(keywords)}")
        issuer = str(meta.get("issuer") or "").strip()
        if kind in ("news", "notice"):
            fm.append(f"source: {q(issuer or site_names[site])}")
        if kind == "policy":
            assert date is not None
            year = date[:4]
            serial_by_year[year] = serial_by_year.get(year, 0) + 1
            fm.append(f"index_no: {q(f'{INDEX_ORG}/{year}-{serial_by_year[year]:05d}')}")
            if not issuer:
                issuer = f"{site_names[site]}（发文机关未载明）" if zh \
                    else f"{site_names[site]} (issuer not stated)"
                notes.append({"field": "issuer", "original": None, "written": issuer,
                              "rule": "no issuer → the site's name, marked as not stated"})
            fm.append(f"issuer: {q(issuer)}")
            doc_number = str(meta.get("doc_number") or "").strip()
            if doc_number:
                if CJK.search(doc_number) and WRONG_BRACKETS.search(doc_number):
                    fixed = WRONG_BRACKETS.sub(lambda m: f"〔{m.group(1)}〕", doc_number)
                    notes.append({"field": "doc_number", "original": doc_number,
                                  "written": fixed, "rule": "year in [] or () → 〔〕"})
                    doc_number = fixed
                fm.append(f"doc_number: {q(doc_number)}")
            fm.append(f"written: {q(date)}")
            doc_type = str(meta.get("doc_type") or ("政策文件" if zh else "policy"))
            subject = f"法律法规\\{doc_type}" if zh else f"Policy papers and consultations\\{doc_type}"
            fm.append(f"subject: {q(subject)}")
        elif meta.get("doc_number"):
            notes.append({"field": "doc_number", "original": meta["doc_number"], "written": None,
                          "rule": "left out: this page kind has no 发文字号 field"})
        if meta.get("withdrawn"):
            notes.append({"field": "withdrawn", "original": meta["withdrawn"], "written": None,
                          "rule": "not mapped to govsite `withdrawn` (that would hide the text "
                                  "from search); the page stays published"})
        origin = {k: str(meta[v]) for k, v in (("url", "source_url"), ("repo", "source_repo"),
                                                ("path", "source_path"), ("license", "license"))
                  if meta.get(v)}
        if origin:
            fm.append("origin: {" + ", ".join(f"{k}: {q(v)}" for k, v in origin.items()) + "}")
        content_rel = f"{site}/{column}/{name}.md"
        body = fix_links(body, content_rel, existing, notes)
        (content / site / column / f"{name}.md").write_text(
            "---\n" + "\n".join(fm) + "\n---\n" + body, encoding="utf-8")
        mapping[rel] = urls[site] + quote(f"{column}/{name}", safe="/-_.~") + ".html"
        if notes:
            all_notes[rel] = notes

    args.map.parent.mkdir(parents=True, exist_ok=True)
    args.map.write_text(json.dumps(mapping, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
    args.notes.write_text(json.dumps(all_notes, ensure_ascii=False, indent=1, sort_keys=True)
                          + "\n", encoding="utf-8")
    print(f"{len(docs)} documents → {len(sites)} sites in {out}; "
          f"map: {args.map}; notes on {len(all_notes)} documents: {args.notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
