"""A griffe extension that lets mkdocstrings render the package's reST-flavoured docstrings.

The docstrings follow Google style (``Args:``, ``Returns:``) but write cross-references as Sphinx
roles (``:func:`preset_io```, ``:class:`~rpusim.RPUConfig```), literal blocks after ``::`` and
doctest blocks (``>>>``), none of which Markdown knows: a role would show as typed, ``>>>`` as
nested quotes. When griffe has loaded the package, this extension rewrites every docstring:

- a role becomes a link to the object it names, found as written or relative to the object
  whose docstring it is in (its class, module and their parents; then ``rpusim``), as Sphinx
  resolves it; ``~`` keeps the last part as the text. A name that resolves to nothing (a private
  method, a torch class) stays code. The links are optional references: one to an object the
  site does not render is text, not a warning;
- the indented block after a line ending in ``::`` becomes a fenced code block (the ``::``
  one ``:``), and a doctest block a fenced ``pycon`` block.

A role it does not know (``:ref:``, a typo) is a warning, which fails ``mkdocs build --strict``.
mkdocs.yml names this file under the python handler's ``extensions``; ``make docs`` runs the
examples below first (``python -m doctest tools/griffe_rest_markup.py``).
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Callable
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|meth|class|attr|data|mod|obj|exc):`(~?)([\w.]+)`")
"""A Sphinx cross-reference role: the ``~`` (show the last part only) and the target."""

ANY_ROLE = re.compile(r":\w+:`")
"""What is left of a role this extension does not convert."""


def _scopes(obj: griffe.Object) -> list[str]:
    """The paths a relative name is looked up in, innermost first: the object, its parents."""
    scopes = []
    current: griffe.Object | None = obj
    while current is not None:
        scopes.append(current.path)
        current = current.parent
    return scopes


def _resolve(target: str, obj: griffe.Object, package: griffe.Module) -> str | None:
    """The full path of the object ``target`` names from inside ``obj``, or None."""
    for scope in [*_scopes(obj), package.path, ""]:
        path = f"{scope}.{target}" if scope else target
        if not path.startswith(package.path + ".") and path != package.path:
            continue
        try:
            found = package.modules_collection.get_member(path)
        except (KeyError, ValueError, griffe.AliasResolutionError):
            continue
        if found is not None:
            return path
    return None


def convert_roles(text: str, resolve: Callable[[str], str | None]) -> str:
    """``text`` with every role a link to the path ``resolve`` finds for its target (code text
    when it finds none).

    >>> paths = {"preset_io": "rpusim.presets.preset_io", "rpusim.RPUConfig": "rpusim.RPUConfig"}
    >>> convert_roles("See :func:`preset_io`.", paths.get)
    'See <autoref identifier="rpusim.presets.preset_io" optional><code>preset_io</code></autoref>.'
    >>> convert_roles(":class:`~rpusim.RPUConfig`, :meth:`_hidden`", paths.get)
    '<autoref identifier="rpusim.RPUConfig" optional><code>RPUConfig</code></autoref>, `_hidden`'
    """

    def link(match: re.Match[str]) -> str:
        tilde, target = match.group(1), match.group(2)
        text = target.rsplit(".", 1)[-1] if tilde else target
        path = resolve(target)
        if path is None:
            return f"`{text}`"
        return (
            f'<autoref identifier="{html.escape(path)}" optional>'
            f"<code>{html.escape(text)}</code></autoref>"
        )

    return ROLE.sub(link, text)


def fence_blocks(text: str) -> str:
    r"""Fences the literal blocks that follow ``::`` and the doctest blocks of ``text``.

    >>> print(fence_blocks("Run it::\n\n    make docs\n\nThen."))
    Run it:
    <BLANKLINE>
    ```
    make docs
    ```
    <BLANKLINE>
    Then.
    >>> fence_blocks("A sum:\n\n>>> 1 + 1\n2").splitlines()[2:]
    ['```pycon', '>>> 1 + 1', '2', '```']
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            prefix = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(prefix) :])
                i += 1
            out += [f"{prefix}```pycon", *(prefix + b for b in block), f"{prefix}```"]
            continue
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            width = len(line) - len(stripped)
            block_end = j
            while block_end < len(lines) and (
                not lines[block_end].strip()
                or len(lines[block_end]) - len(lines[block_end].lstrip()) > width
            ):
                block_end += 1
            while block_end > j and not lines[block_end - 1].strip():
                block_end -= 1
            if block_end > j:
                lead = line.rstrip()[:-1]
                code = textwrap.dedent("\n".join(lines[j:block_end])).split("\n")
                pad = " " * width
                out += [lead, "", f"{pad}```", *(pad + c if c else c for c in code), f"{pad}```"]
                i = block_end
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RestMarkup(griffe.Extension):
    """Rewrites the docstrings of a loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._rewrite(pkg, pkg)

    def _rewrite(self, obj: griffe.Object, package: griffe.Module) -> None:
        if obj.docstring is not None:
            value = convert_roles(
                fence_blocks(obj.docstring.value), lambda target: _resolve(target, obj, package)
            )
            left = ANY_ROLE.search(value)
            if left:
                griffe.logger.warning(
                    f"{obj.path}: a role this extension does not convert: {left.group(0)}"
                )
            obj.docstring.value = value
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, package)  # type: ignore[arg-type]
