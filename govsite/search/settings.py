"""search.yaml: the cluster's synonym and plain-language list, and hot words per site.

    synonyms:                  # each group: words a citizen may use for the same thing
      - [社保, 社会保险]
      - [驾照, 驾驶证, 机动车驾驶证]
    hot_words:                 # shown when a search finds nothing, per site id
      www: [社保卡申领, 公租房, 营商环境]
    ranking:                   # optional boosts among the top results (defaults shown)
      kinds: {}                # e.g. {policy: 1.1}: a regulation before a court case
      service_questions: 1.5   # a service guide, for questions (怎么办, 如何办理, how do I …)
      freshness: 0             # e.g. 0.2: the newest pages up to 20 % higher, fading in two years

The file is optional. Mistakes are reported as `search.yaml:line: error: …` like sites.yaml's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from govsite import yamlfile
from govsite.diagnostics import Report, did_you_mean
from govsite.yamlfile import Node

FILENAME = "search.yaml"


KINDS = ("news", "notice", "policy", "interpretation", "service", "page")


@dataclass(frozen=True)
class Ranking:
    kinds: tuple[tuple[str, float], ...] = ()
    service_questions: float = 1.5
    freshness: float = 0.0


@dataclass(frozen=True)
class SearchSettings:
    synonyms: tuple[tuple[str, ...], ...] = ()
    hot_words: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ranking: Ranking = Ranking()


def load(root: Path, site_ids: tuple[str, ...], report: Report) -> SearchSettings:
    path = root / FILENAME
    if not path.is_file():
        return SearchSettings()
    try:
        data = yamlfile.parse(path.read_text(encoding="utf-8"))
    except yamlfile.YamlError as exc:
        report.error(path, exc.line, exc.message, "check indentation and quoting on that line")
        return SearchSettings()
    if data is None:
        return SearchSettings()
    if not isinstance(data, Node):
        report.error(path, 1, "search.yaml must be a mapping with `synonyms` and `hot_words`")
        return SearchSettings()
    for key in data:
        if key not in ("synonyms", "hot_words", "ranking"):
            report.error(path, data.line_of(key), f"unknown key `{key}` in search.yaml",
                         did_you_mean(key, ("synonyms", "hot_words", "ranking")))
    groups: list[tuple[str, ...]] = []
    raw_groups = data.get("synonyms") or []
    lines = raw_groups.item_lines if isinstance(raw_groups, yamlfile.Seq) else []
    if not isinstance(raw_groups, list):
        report.error(path, data.line_of("synonyms"), "`synonyms` must be a list of word groups",
                     "write one `- [社保, 社会保险]` per group")
        raw_groups = []
    for number, group in enumerate(raw_groups):
        line = lines[number] if number < len(lines) else data.line_of("synonyms")
        numbers = [w for w in group if isinstance(w, int | float)] if isinstance(group, list) else []
        if numbers:
            report.error(path, line, f"`{numbers[0]}` is read as a number, not a word",
                         f'quote it: "{numbers[0]}"')
            continue
        if (not isinstance(group, list) or len(group) < 2
                or not all(isinstance(w, str) and w.strip() for w in group)):
            report.error(path, line, "a synonym group must list at least two words",
                         "write it like `- [社保, 社会保险]`")
            continue
        groups.append(tuple(w.strip() for w in group))
    hot: list[tuple[str, tuple[str, ...]]] = []
    raw_hot = data.get("hot_words") or Node()
    if not isinstance(raw_hot, Node):
        report.error(path, data.line_of("hot_words"), "`hot_words` must map site ids to lists",
                     "write `hot_words: {www: [社保卡, 公租房]}`")
        raw_hot = Node()
    for site, words in raw_hot.items():
        if site not in site_ids:
            report.error(path, raw_hot.line_of(site), f"unknown site `{site}` in hot_words",
                         did_you_mean(site, site_ids))
        elif not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            report.error(path, raw_hot.line_of(site), f"hot words of `{site}` must be a list of words")
        else:
            hot.append((site, tuple(words)))
    return SearchSettings(tuple(groups), tuple(sorted(hot)), _ranking(path, data, report))


def _ranking(path: Path, data: Node, report: Report) -> Ranking:
    raw = data.get("ranking") or Node()
    if not isinstance(raw, Node):
        report.error(path, data.line_of("ranking"), "`ranking` must be a mapping",
                     "write `ranking: {freshness: 0.2}`")
        return Ranking()
    defaults = Ranking()
    for key in raw:
        if key not in ("kinds", "service_questions", "freshness"):
            report.error(path, raw.line_of(key), f"unknown key `{key}` in ranking",
                         did_you_mean(key, ("kinds", "service_questions", "freshness")))

    def number(key: str, default: float, low: float, high: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            report.error(path, raw.line_of(key), f"`{key}` must be a number from {low} to {high}")
            return default
        return float(value)

    kinds = raw.get("kinds") or Node()
    weights = []
    if not isinstance(kinds, Node):
        report.error(path, raw.line_of("kinds"), "`kinds` must map kinds to weights",
                     "write `kinds: {policy: 1.1}`")
        kinds = Node()
    for kind, weight in kinds.items():
        if kind not in KINDS:
            report.error(path, kinds.line_of(kind), f"unknown kind `{kind}`", did_you_mean(kind, KINDS))
        elif isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.1 <= weight <= 10:
            report.error(path, kinds.line_of(kind), f"the weight of `{kind}` must be a number "
                         "from 0.1 to 10")
        else:
            weights.append((kind, float(weight)))
    return Ranking(tuple(sorted(weights)),
                   number("service_questions", defaults.service_questions, 0.1, 10),
                   number("freshness", defaults.freshness, 0, 10))
