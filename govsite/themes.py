"""Jinja2 environments: site override → cluster theme → govsite's built-in theme.

Templates autoescape and fail on undefined variables, so a typo in a theme is a build error, not
an empty string on a government page. A site overrides any template by putting a file of the same
name in `themes/sites/<site>/templates/`, and can extend the shared one as `theme/<name>`.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.lexer
import jinja2.nodes
import jinja2.parser
import jinja2.runtime
import yaml

# Built-in themes: inside the package when installed from a wheel, at the repository root
# when govsite runs from a source checkout.
BUILTIN = next((d for d in (Path(__file__).parent / "_themes", Path(__file__).parent.parent / "themes")
                if d.is_dir()), Path(__file__).parent / "_themes")


def theme_dirs(project: Path, theme: str) -> list[Path]:
    """Folders of one theme, most specific first: the project's copy, then the built-in one."""
    found: list[Path] = []
    for folder in (project / "themes" / theme, BUILTIN / theme):
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in found]:
            found.append(folder)
    return found


def site_override(project: Path, site_id: str) -> Path:
    return project / "themes" / "sites" / site_id


def environment(project: Path, theme: str, site_id: str, compiled: Path | None = None
                ) -> jinja2.Environment:
    """The site's environment; sites without overrides share one, so templates compile once.
    `compiled` is a folder kept between builds (the build cache's) for the templates' compiled
    code: compiling them is a tenth of a second of every build, most of a one-page rebuild's
    rendering. Jinja checks each entry against its template's source."""
    override = site_override(project, site_id) / "templates"
    env = _environment(project, theme, override if override.is_dir() else None,
                       _bytecode_folder(compiled) if compiled else None)
    _drop_stale(env)
    return env


def _drop_stale(env: jinja2.Environment) -> None:
    """Jinja checks a template's file each time it is asked for (auto_reload), for a page and
    for every template it extends or includes: 1 % of a cold build. The environment checks none
    (auto_reload off) and a build checks them here instead, when it first asks for a site's
    environment; if any changed since they were loaded (`govsite serve` rebuilds when a
    template is saved), they are all loaded again."""
    if env.cache is not None and not all(template.is_up_to_date for template in env.cache.values()):
        env.cache.clear()


@cache
def _bytecode_folder(cache: Path) -> Path | None:
    """Where compiled templates go: named for what compiled them (Jinja's version and this
    module, which sets the environment's options), since Jinja keys its entries by template
    source alone and other options or versions compile other code."""
    tag = hashlib.sha256(jinja2.__version__.encode() + Path(__file__).read_bytes()).hexdigest()[:16]
    folder = cache / f"templates-{tag}"
    for old in cache.glob("templates-*"):   # another govsite's: never read again
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:   # the cache only ever saves time
        return None
    return folder


@cache
def _environment(project: Path, theme: str, override: Path | None,
                 compiled: Path | None = None) -> jinja2.Environment:
    themes = [jinja2.FileSystemLoader(str(d / "templates")) for d in theme_dirs(project, theme)]
    if not themes:
        raise jinja2.TemplateNotFound(f"theme `{theme}`")
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(override))] if override else []
    loaders += themes
    loaders.append(jinja2.PrefixLoader({"theme": jinja2.ChoiceLoader(themes)}))
    env = jinja2.Environment(
        extensions=[UiStringLookups, CachedFragments],
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,   # (see _drop_stale)
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(compiled)) if compiled else None,
    )
    return env


class UiStringLookups(jinja2.ext.Extension):
    """`t('key')` (a literal key, nothing else) read as `ui['key']`: a lookup instead of a call
    through Jinja's runtime (0.6 µs against 1.5 µs, and a page shows about 45 UI strings). The
    page's `ui` is its language's strings (UiStrings); `t` stays for strings with arguments."""

    def filter_stream(self, stream: jinja2.lexer.TokenStream) -> Iterator[jinja2.lexer.Token]:
        tokens = list(stream)
        n = 0
        while n < len(tokens):
            token = tokens[n]
            if token.type == "name" and token.value == "t" and (n == 0 or tokens[n - 1].type != "dot") \
                    and [t.type for t in tokens[n + 1:n + 4]] == ["lparen", "string", "rparen"]:
                key = tokens[n + 2]
                yield jinja2.lexer.Token(token.lineno, "name", "ui")
                yield jinja2.lexer.Token(token.lineno, "lbracket", "[")
                yield key
                yield jinja2.lexer.Token(key.lineno, "rbracket", "]")
                n += 4
            else:
                yield token
                n += 1


class CachedFragments(jinja2.ext.Extension):
    """`{% cached key, … %}…{% endcached %}`: the part is rendered once per build for each
    key, then its text is reused: a theme names there everything the part shows (the page
    header differs only by site, folder, page type and column, and was a sixth of rendering).
    The store is the page's `fragments` (a renderer's, one build long); without it, the part
    is rendered every time."""

    tags = {"cached"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        key = [parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            key.append(parser.parse_expression())
        body = parser.parse_statements(("name:endcached",), drop_needle=True)
        call = self.call_method("_fragment", [jinja2.nodes.ContextReference(), jinja2.nodes.Tuple(key, "load")])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    @staticmethod
    def _fragment(context: jinja2.runtime.Context, key: tuple, caller: Callable[[], str]) -> str:
        store = context.get("fragments")
        if store is None:
            return caller()
        if key not in store:
            store[key] = caller()
        return store[key]


class UiStrings(dict):
    """A language's UI strings as templates look them up (UiStringLookups): a missing one is a
    template error naming it, as `t()` says, not an empty string on a published page."""

    def __init__(self, strings: dict[str, Any], language: str):
        super().__init__((key, str(text)) for key, text in strings.items())
        self.language = language

    def __missing__(self, key: str) -> str:
        raise jinja2.UndefinedError(f"no UI string `{key}` for {self.language}")


@cache
def strings(project: Path, theme: str, language: str) -> dict[str, Any]:
    """UI strings of a language: the built-in theme's file, overlaid by the project's."""
    merged: dict[str, Any] = {}
    for folder in reversed(theme_dirs(project, theme)):
        path = folder / "i18n" / f"{language}.yaml"
        if path.is_file():
            # libyaml's loader when there is one: the same strings, a tenth of the time.
            merged.update(yaml.load(path.read_text(encoding="utf-8"),  # noqa: S506 - a safe loader
                                    Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {})
    return merged


def static_files(project: Path, theme: str, site_id: str | None = None) -> dict[str, Path]:
    """Static assets by relative name; project files override built-in ones."""
    found: dict[str, Path] = {}
    folders = [d / "static" for d in reversed(theme_dirs(project, theme))]
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    found[path.relative_to(folder).as_posix()] = path
    return dict(sorted(found.items()))


def digest(project: Path, theme: str, site_id: str) -> str:
    """SHA-256 of every file a site's pages are rendered from: its theme's templates, strings and
    assets, and its own overrides. Not memoised: `govsite serve` rebuilds after a theme edit."""
    hashed = hashlib.sha256()
    for folder in [*theme_dirs(project, theme), site_override(project, site_id)]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                hashed.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return hashed.hexdigest()
