#!/usr/bin/env python3
"""Convert a cluster written by /work/shared/bench/gen_corpus.py into a govsite project.

    python3 bench/convert.py CORPUS_DIR PROJECT_DIR [--force]

The generator writes a Hugo-like layout (`sites.yaml` with `base_url`/`lang`, columns described
by `_index.md` with `title`/`weight`, pages with `title, date, summary, tags` and, for policies,
`doc_number, issuer, index_no`). This script writes the same content as a govsite project:

* `sites.yaml`: a cluster block with the full footer identity (sponsor, operator, ICP and police
  filing numbers …); per site `url` (from `base_url`), `language` (from `lang`), `type`
  (portal/county/department, unchanged), a unique 10-digit `identity.site_code` (region code +
  serial) and its own `identity.sponsor`, and `columns` in the generator's `weight` order.
* `content/<site>/_index.md`: `description` (the intro's first sentence); the body is kept.
* `content/<site>/<column>/_index.md`: `title` and `type`, mapped from the folder name
  (news→news, notices→notice, policies→policy, interpretations→interpretation,
  services→service, about→profile); the body is kept.
* pages: `tags` → `keywords`; `title`, `date`, `summary` kept; then per kind:
  - news, notice: `source` (the page's `issuer` if it has one, else the site's name). Notices
    that carry `doc_number`/`index_no` (about 30 %) lose those two fields: govsite's notice
    kind does not take them, and index numbers are reserved for policy documents.
  - policy: `index_no` kept (made unique in the cluster and well-formed if it is not, by
    changing the 5-digit serial), `issuer` kept, `doc_number` kept with a Chinese number's year
    put in 〔〕, `written` = the publication day minus 1–20 days (a function of the file name),
    `subject` (主题分类) picked deterministically from a fixed list by the file name.
  - interpretation: `interprets:` links to a policy of the same site — the newest policy
    published on or before the interpretation, else the site's oldest policy. A site without
    any policy keeps its interpretation column, but its pages become `kind: news` (with
    `source`), because govsite requires `interprets:` to name a policy.
  - service: every 办事指南 field, fixed realistic values per language (`item_name` = title,
    `agency` = the site's name).
  - about: plain pages (the profile column type).
* bodies are kept byte for byte, except:
  - a relative `.md` link whose target page does not exist becomes its plain link text (the
    generator only links to real pages, so normally none);
  - an image reference whose file does not exist (the generator points every image at
    `/assets/img/<site>/<id>-<n>.jpg`, which it never writes) is pointed at a small placeholder
    JPEG written beside the page as `<id>-<n>.jpg`. govsite then resolves and copies it like any
    attachment, so the image workload (link resolution + file copy) stays in the benchmark.

Output is a pure function of the input (sorted walks, no clocks, no randomness). It reads and
writes each file once, so 10,000 pages convert in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import time
import zlib
from datetime import date as date_type
from datetime import timedelta

import yaml

COLUMN_TYPES = {"news": "news", "notices": "notice", "policies": "policy",
                "interpretations": "interpretation", "services": "service", "about": "profile"}
KIND_BY_TYPE = {"news": "news", "notice": "notice", "policy": "policy",
                "interpretation": "interpretation", "service": "service", "profile": "page"}

INDEX_NO = re.compile(r"^([0-9A-Z]{9,18})/(\d{4})-(\d{5})$")
WRONG_BRACKETS = re.compile(r"[\[［【(（〈<]\s*(\d{4})\s*[\]］】)）〉>]")
CJK = re.compile(r"[\u4e00-\u9fff]")
# [text](href) not preceded by "!", and ![alt](src); hrefs without spaces or titles, as generated
LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#)")

# A valid 8×8 mid-grey baseline JPEG (141 bytes): quantisation table of 1s, one-code Huffman
# tables, a single block whose DC difference is 0 followed by end-of-block.
PLACEHOLDER_JPEG = (
    b"\xff\xd8"
    + b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    + b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    + b"\xff\xc4\x00\x14\x00\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xc4\x00\x14\x10\x01" + b"\x00" * 15 + b"\x00"
    + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    + b"\x3f"
    + b"\xff\xd9"
)

CLUSTER_IDENTITY = {
    "sponsor": "云川市人民政府办公室",
    "operator": "云川市大数据管理局",
    "address": "云川市五华路1号市级行政中心",
    "postcode": "659900",
    "phone": "0879-63100000",
    "email": "webmaster@yunchuan.gov.example",
    "icp": "滇ICP备20259901号-1",
    "police_filing": "滇公网安备53990202000101号",
}

SUBJECTS = {
    "zh-CN": ["综合政务\\政务公开", "综合政务\\应急管理", "国民经济管理、国有资产监管\\发展规划",
              "财政、金融、审计\\财政", "城乡建设、环境保护\\城市规划", "农业、林业、水利\\农业、畜牧业、渔业",
              "劳动、人事、监察\\就业", "卫生、体育\\卫生", "科技、教育\\教育",
              "民政、扶贫、救灾\\社会救助", "商贸、海关、旅游\\旅游", "工业、交通\\交通"],
    "en": ["General affairs\\Open government", "General affairs\\Emergency management",
           "Economy\\Development planning", "Finance\\Public finance",
           "Urban development\\Planning", "Agriculture\\Farming", "Labour\\Employment",
           "Health\\Public health", "Education\\Schools", "Civil affairs\\Social assistance",
           "Commerce\\Tourism", "Industry\\Transport"],
}

SERVICE = {
    "zh-CN": {
        "legal_basis": ["《中华人民共和国行政许可法》", "《优化营商环境条例》（国务院令第722号）"],
        "conditions": ["申请人为在本市行政区域内依法登记的自然人、法人或者其他组织",
                       "申请材料齐全、符合法定形式"],
        "materials": [{"name": "申请表", "form": "原件", "count": 1},
                      {"name": "申请人身份证明", "form": "原件和复印件", "count": 1},
                      {"name": "相关证明材料", "form": "复印件", "count": 1}],
        "steps": ["申请：通过政务服务网或窗口提交申请材料", "受理：窗口当场审查材料，出具受理通知书",
                  "审查：承办机构在承诺时限内完成审查", "办结：作出决定并送达"],
        "time_limit": {"legal": "20个工作日", "promised": "5个工作日"},
        "fee": "不收费",
        "place": "云川市政务服务中心一楼综合窗口（云川市五华路1号）",
        "hours": "周一至周五 9:00-12:00，13:30-17:30（法定节假日除外）",
        "phone": "0879-12345",
        "complaint": "0879-12345（12345政务服务便民热线）",
        "online_url": "https://zwfw.yunchuan.gov.example/",
    },
    "en": {
        "legal_basis": ["Administrative Licensing Law of the People's Republic of China",
                        "Regulations on Optimising the Business Environment (State Council Decree No. 722)"],
        "conditions": ["The applicant is a person or organisation registered in the city",
                       "The application materials are complete and in the legal form"],
        "materials": [{"name": "Application form", "form": "原件", "count": 1},
                      {"name": "Applicant's identity document", "form": "原件和复印件", "count": 1},
                      {"name": "Supporting documents", "form": "复印件", "count": 1}],
        "steps": ["Apply online or at the service hall", "The window checks the materials and issues a receipt",
                  "The agency reviews the application within the promised time",
                  "The decision is issued and delivered"],
        "time_limit": {"legal": "20 working days", "promised": "5 working days"},
        "fee": "不收费",
        "place": "Comprehensive Window, Yunchuan Government Service Centre, No. 1 Wuhua Road",
        "hours": "Monday to Friday 9:00-12:00, 13:30-17:30 (except public holidays)",
        "phone": "+86-879-12345",
        "complaint": "+86-879-12345 (12345 government service hotline)",
        "online_url": "https://zwfw.yunchuan.gov.example/",
    },
}


def q(value) -> str:
    """YAML flow value: JSON is valid YAML and keeps every string quoted."""
    return json.dumps(value, ensure_ascii=False)


def split_front_matter(text: str, path: str) -> tuple[dict, str]:
    """The generator's front matter is `key: <JSON or bare scalar>` per line."""
    if not text.startswith("---\n"):
        raise SystemExit(f"{path}: no front matter")
    end = text.find("\n---\n", 3)
    if end < 0:
        raise SystemExit(f"{path}: front matter not closed")
    head, body = text[4:end], text[end + 5:]
    data: dict = {}
    for line in head.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, raw = line.partition(":")
        if not sep:
            return (yaml.safe_load(head) or {}), body
        raw = raw.strip()
        if raw[:1] in ('"', "["):
            try:
                data[key.strip()] = json.loads(raw)
                continue
            except ValueError:
                return (yaml.safe_load(head) or {}), body
        data[key.strip()] = None if raw in ("null", "~", "") else raw
    return data, body


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[。！？.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:160]


def stable(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


class Stats:
    def __init__(self) -> None:
        self.pages: dict[str, int] = {}
        self.images = 0
        self.image_refs = 0
        self.links_unlinked = 0
        self.index_fixed = 0
        self.doc_numbers_fixed = 0
        self.notice_fields_dropped = 0
        self.demoted_interpretations = 0


class Converter:
    def __init__(self, src: str, dst: str):
        self.src = os.path.abspath(src)
        self.dst = os.path.abspath(dst)
        self.stats = Stats()
        self.used_index: set[str] = set()
        self.made_dirs: set[str] = set()
        self.written_images: set[str] = set()

    # -------------------------------------------------------------------------------- sites
    def load_sites(self) -> list[dict]:
        with open(os.path.join(self.src, "sites.yaml"), encoding="utf-8") as f:
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return list(data["sites"])

    def site_codes(self, sites: list[dict]) -> dict[str, str]:
        """网站标识码: 4-digit city code 5399, 2-digit district (00 = city level), 4-digit serial."""
        codes: dict[str, str] = {}
        district: dict[str, int] = {}
        serial: dict[int, int] = {}
        counties = [s for s in sites if s["type"] == "county"]
        for number, s in enumerate(counties, start=1):
            district[s["id"]] = number
        for s in sites:
            if s["type"] == "portal":
                d = 0
            elif s["type"] == "county":
                d = district[s["id"]]
            else:
                d = district.get(s.get("parent") or "", 0)
            serial[d] = serial.get(d, 0) + 1
            code = f"5399{d:02d}{serial[d]:04d}" if d < 100 and serial[d] < 10000 else None
            if code is None or code in codes.values():
                code = f"53{len(codes) + 1:08d}"
            codes[s["id"]] = code
        return codes

    def column_order(self, site_id: str) -> list[str]:
        folder = os.path.join(self.src, "content", site_id)
        cols = []
        for name in sorted(os.listdir(folder)):
            index = os.path.join(folder, name, "_index.md")
            if os.path.isfile(index):
                with open(index, encoding="utf-8") as f:
                    data, _ = split_front_matter(f.read(), index)
                raw = str(data.get("weight", ""))
                cols.append((int(raw) if raw.lstrip("-").isdigit() else 1000, name))
        return [name for _, name in sorted(cols)]

    def write_sites_yaml(self, sites: list[dict], codes: dict[str, str],
                         columns: dict[str, list[str]]) -> None:
        portal = next((s for s in sites if s["type"] == "portal"), sites[0])
        lines = ["# Converted from gen_corpus.py output by bench/convert.py; do not edit.",
                 "cluster:",
                 f"  organisation: {q(portal['name'])}",
                 "  language: zh-CN",
                 '  timezone: "+08:00"',
                 "  theme: default",
                 "  page_size: 20",
                 "  sanitize_html: true",
                 "  theme_tokens:",
                 '    main_color: "#9e1b1b"',
                 "  identity:"]
        lines += [f"    {k}: {q(v)}" for k, v in CLUSTER_IDENTITY.items()]
        lines.append("sites:")
        seen_urls: set[str] = set()
        for s in sites:
            url = str(s["base_url"])
            if not url.endswith("/"):
                url += "/"
            if url in seen_urls:  # never happens with the generator; keep govsite happy anyway
                url = url.replace("://", f"://{s['id']}.", 1)
            seen_urls.add(url)
            lang = "en" if str(s.get("lang", "zh-CN")).lower().startswith("en") else "zh-CN"
            sponsor = s["name"]
            if lang == "zh-CN" and s["type"] in ("portal", "county") and sponsor.endswith("人民政府"):
                sponsor += "办公室"
            elif lang == "en" and s["type"] != "department":
                sponsor = f"General Office of {sponsor}"
            lines += [f"  - id: {s['id']}",
                      f"    name: {q(s['name'])}",
                      f"    type: {s['type']}"]
            if s.get("parent"):
                lines.append(f"    parent: {s['parent']}")
            lines += [f"    url: {q(url)}",
                      f"    language: {lang}",
                      "    identity:",
                      f"      sponsor: {q(sponsor)}",
                      f"      site_code: {q(codes[s['id']])}",
                      f"    columns: [{', '.join(columns[s['id']])}]"]
        self.write(os.path.join(self.dst, "sites.yaml"), "\n".join(lines) + "\n")

    # -------------------------------------------------------------------------------- files
    def write(self, path: str, text: str) -> None:
        folder = os.path.dirname(path)
        if folder not in self.made_dirs:
            os.makedirs(folder, exist_ok=True)
            self.made_dirs.add(folder)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    def run(self) -> Stats:
        sites = self.load_sites()
        lang = {s["id"]: ("en" if str(s.get("lang", "")).lower().startswith("en") else "zh-CN")
                for s in sites}
        name = {s["id"]: s["name"] for s in sites}
        codes = self.site_codes(sites)
        columns = {s["id"]: self.column_order(s["id"]) for s in sites}
        self.write_sites_yaml(sites, codes, columns)

        # Read every page once; links and interpretations need the whole cluster.
        content = os.path.join(self.src, "content")
        pages: list[tuple[str, str, str, dict, str]] = []   # site, column, file, data, body
        existing: set[str] = set()                            # "site/col/file.md" and other files
        for s in sites:
            sid = s["id"]
            site_dir = os.path.join(content, sid)
            for col in sorted(os.listdir(site_dir)):
                col_dir = os.path.join(site_dir, col)
                if not os.path.isdir(col_dir):
                    continue
                for fname in sorted(os.listdir(col_dir)):
                    existing.add(f"{sid}/{col}/{fname}")
                    if fname == "_index.md" or not fname.endswith(".md"):
                        continue
                    path = os.path.join(col_dir, fname)
                    with open(path, encoding="utf-8") as f:
                        data, body = split_front_matter(f.read(), path)
                    pages.append((sid, col, fname, data, body))
            existing.add(sid)
            existing.update(f"{sid}/{c}" for c in columns[sid])

        # Site homes and columns.
        for s in sites:
            sid = s["id"]
            home = os.path.join(content, sid, "_index.md")
            body = ""
            if os.path.isfile(home):
                with open(home, encoding="utf-8") as f:
                    _, body = split_front_matter(f.read(), home)
            desc = first_sentence(body) if body.strip() else s["name"]
            self.write(os.path.join(self.dst, "content", sid, "_index.md"),
                       f"---\ndescription: {q(desc)}\n---\n{body}")
            for col in columns[sid]:
                path = os.path.join(content, sid, col, "_index.md")
                with open(path, encoding="utf-8") as f:
                    data, body = split_front_matter(f.read(), path)
                ctype = COLUMN_TYPES.get(col, "page")
                self.write(os.path.join(self.dst, "content", sid, col, "_index.md"),
                           f"---\ntitle: {q(str(data.get('title') or col))}\ntype: {ctype}\n---\n{body}")

        # Policies per site, oldest first, for `interprets:`.
        policies: dict[str, list[tuple[str, str]]] = {}
        for sid, col, fname, data, _ in pages:
            if COLUMN_TYPES.get(col) == "policy":
                policies.setdefault(sid, []).append((str(data.get("date") or ""), f"{col}/{fname}"))
        for items in policies.values():
            items.sort()
        # Index numbers already in use, so a fixed one never collides with a later original.
        originals = [str(d.get("index_no") or "") for sid, col, _, d, _ in pages
                     if COLUMN_TYPES.get(col) == "policy"]
        original_set = set(originals)

        for sid, col, fname, data, body in pages:
            ctype = COLUMN_TYPES.get(col, "page")
            kind = KIND_BY_TYPE[ctype]
            language = lang[sid]
            fm = [f"title: {q(str(data.get('title') or fname[:-3]))}"]
            if data.get("date"):
                fm.append(f"date: {data['date']}")
            if data.get("summary"):
                fm.append(f"summary: {q(str(data['summary']))}")
            tags = data.get("tags") or []
            if isinstance(tags, str):
                tags = [tags]
            if tags:
                fm.append(f"keywords: {q([str(t) for t in tags])}")
            if kind == "interpretation" and not policies.get(sid):
                kind = "news"
                fm.append("kind: news")
                self.stats.demoted_interpretations += 1
            if kind in ("news", "notice"):
                fm.append(f"source: {q(str(data.get('issuer') or name[sid]))}")
                if kind == "notice" and (data.get("doc_number") or data.get("index_no")):
                    self.stats.notice_fields_dropped += 1
            elif kind == "policy":
                fm += self.policy_fields(sid, fname, data, language, name[sid], original_set)
            elif kind == "interpretation":
                fm.append(f"interprets: {q(self.pick_policy(sid, col, data, policies[sid]))}")
            elif kind == "service":
                fm += self.service_fields(language, name[sid])
            self.stats.pages[kind] = self.stats.pages.get(kind, 0) + 1
            body = self.fix_body(sid, col, body, existing)
            self.write(os.path.join(self.dst, "content", sid, col, fname),
                       "---\n" + "\n".join(fm) + "\n---\n" + body)
        return self.stats

    # -------------------------------------------------------------------------------- fields
    def policy_fields(self, sid: str, fname: str, data: dict, language: str, site_name: str,
                      originals: set[str]) -> list[str]:
        date = str(data.get("date") or "")
        year = date[:4] if re.match(r"^\d{4}", date) else "2024"
        index_no = str(data.get("index_no") or "")
        match = INDEX_NO.match(index_no)
        if not match or index_no in self.used_index:
            org = match.group(1) if match else f"11{stable(sid) % 10000:04d}00MB0000000X"
            yr = match.group(2) if match else year
            serial = int(match.group(3)) if match else stable(f"{sid}/{fname}") % 100000
            while True:
                serial = (serial + 1) % 100000
                candidate = f"{org}/{yr}-{serial:05d}"
                if candidate not in self.used_index and candidate not in originals:
                    break
            index_no = candidate
            self.stats.index_fixed += 1
        self.used_index.add(index_no)
        out = [f"index_no: {q(index_no)}",
               f"issuer: {q(str(data.get('issuer') or site_name))}"]
        doc_number = str(data.get("doc_number") or "")
        if doc_number:
            if CJK.search(doc_number) and WRONG_BRACKETS.search(doc_number):
                doc_number = WRONG_BRACKETS.sub(lambda m: f"〔{m.group(1)}〕", doc_number)
                self.stats.doc_numbers_fixed += 1
            out.append(f"doc_number: {q(doc_number)}")
        written = date[:10]
        if re.match(r"^\d{4}-\d{2}-\d{2}$", written):
            day = date_type.fromisoformat(written) - timedelta(days=1 + stable(fname) % 20)
            out.append(f"written: {day.isoformat()}")
        else:
            out.append(f"written: {q(date)}")
        subjects = SUBJECTS[language]
        out.append(f"subject: {q(subjects[stable(fname) % len(subjects)])}")
        return out

    @staticmethod
    def pick_policy(sid: str, col: str, data: dict, site_policies: list[tuple[str, str]]) -> str:
        """The newest policy published on or before this page (ISO dates of one offset sort as
        text), else the oldest one; as a link relative to the page."""
        date = str(data.get("date") or "")
        chosen = site_policies[0][1]
        for when, rel in site_policies:
            if when <= date:
                chosen = rel
            else:
                break
        return posixpath.relpath(chosen, col)

    @staticmethod
    def service_fields(language: str, site_name: str) -> list[str]:
        values = SERVICE[language]
        out = [f"agency: {q(site_name)}"]
        out += [f"{key}: {q(values[key])}" for key in
                ("legal_basis", "conditions", "materials", "steps", "time_limit", "fee", "place",
                 "hours", "phone", "complaint", "online_url")]
        return out

    # -------------------------------------------------------------------------------- bodies
    def fix_body(self, sid: str, col: str, body: str, existing: set[str]) -> str:
        base = f"{sid}/{col}"
        if "](" not in body:
            return body

        def link(m: re.Match) -> str:
            href = m.group(2)
            if EXTERNAL.match(href):
                return m.group(0)
            path = href.split("#", 1)[0]
            target = posixpath.normpath(posixpath.join(base, path))
            if target in existing:
                return m.group(0)
            self.stats.links_unlinked += 1
            return m.group(1)

        def image(m: re.Match) -> str:
            src = m.group(2)
            if EXTERNAL.match(src):
                return m.group(0)
            self.stats.image_refs += 1
            if not src.startswith("/"):
                target = posixpath.normpath(posixpath.join(base, src))
                if target in existing:
                    return m.group(0)
            fname = posixpath.basename(src) or "image.jpg"
            if not fname.lower().endswith((".jpg", ".jpeg")):
                fname = posixpath.splitext(fname)[0] + ".jpg"  # the placeholder is a JPEG
            rel = f"{base}/{fname}"
            if rel not in self.written_images and rel not in existing:
                path = os.path.join(self.dst, "content", sid, col, fname)
                with open(path, "wb") as f:
                    f.write(PLACEHOLDER_JPEG)
                self.written_images.add(rel)
                self.stats.images += 1
            return f"![{m.group(1)}]({fname})"

        body = IMAGE.sub(image, body)
        return LINK.sub(link, body)


def convert(src: str, dst: str, force: bool = False) -> Stats:
    if not os.path.isfile(os.path.join(src, "sites.yaml")):
        raise SystemExit(f"{src}: no sites.yaml (run gen_corpus.py first)")
    if os.path.exists(dst):
        if not force:
            raise SystemExit(f"{dst} exists; pass --force to replace it")
        shutil.rmtree(dst)
    os.makedirs(dst)
    return Converter(src, dst).run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", help="folder written by gen_corpus.py")
    ap.add_argument("project", help="new govsite project folder")
    ap.add_argument("--force", action="store_true", help="replace PROJECT if it exists")
    a = ap.parse_args()
    start = time.perf_counter()
    stats = convert(a.corpus, a.project, a.force)
    took = time.perf_counter() - start
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.pages.items()))
    print(f"converted {sum(stats.pages.values())} pages ({kinds}) in {took:.2f} s -> {a.project}")
    print(f"  placeholder images written: {stats.images} (for {stats.image_refs} image references)")
    print(f"  interpretations made news (site has no policy): {stats.demoted_interpretations}")
    print(f"  index numbers fixed: {stats.index_fixed}; doc numbers re-bracketed: "
          f"{stats.doc_numbers_fixed}; notices that lost doc_number/index_no: "
          f"{stats.notice_fields_dropped}; dead links made text: {stats.links_unlinked}")


if __name__ == "__main__":
    main()
