"""Untrusted text made inert before Streamlit or Plotly sees it (no Streamlit here).

Streamlit reads Markdown in almost every string it shows: messages, captions, widget labels and
help, expander labels, image captions, progress text, toasts, radio and segmented-control
options, `st.table` cells. A link's value, a checkpoint's dataset or class names, an upload's
file name or an exception's message can therefore show a link, load an image from anywhere (a
tracking beacon fetched just by opening a page), colour text (`:red[...]`), draw an icon
(`:material/...:`) or typeset LaTeX (`$...$`).

The rule: messages are plain text wherever they are made (gan_core, lab_app helpers,
exceptions, `short_repr` included, so the command line prints them unchanged); whatever draws
them with Streamlit passes every string it did not write itself through `text` (the whole
message, or the value it puts between its own Markdown), and every such string that goes into a
Plotly title, label or hover through `plot_text`.

`text` backslash-escapes the characters Markdown and Streamlit's directives start with
(CommonMark shows an escaped ASCII punctuation character as itself, so the student reads the
original), turns line breaks into spaces (no headings, lists or tables), drops other control
and invisible formatting characters (bidi overrides) and caps the length.
"""
from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 1000         # a whole message fits; a 10 kB value does not
ELLIPSIS = "…"

# Always escaped: links and images ([ ] ( ) !), HTML and autolinks (< >), emphasis and code
# (* ~ `), Streamlit's directives, icons and emoji (:), LaTeX ($), tables (|), directive
# attributes ({ }), entities (&), e-mail autolinks (@), headings (#) and the escape itself (\).
_ALWAYS = re.compile(r"([\\`*\[\]()!<>~:$|{}&@#])")
# `_` opens or closes emphasis only at a word's edge: `batch_size` stays readable as it is.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# A bare www. address becomes a link (GFM autolink literal) unless its dot is escaped.
_WWW_DOT = re.compile(r"(?i)(?<=www)\.")
# What starts a block at the start of the text: a list, a thematic break, an ordered list.
_BLOCK_START = re.compile(r"^([-+=])|^(\d+)([.)])")
_BREAKS = re.compile(r"\s*[\r\n\v\f\x85\u2028\u2029]+\s*")


def clean(value: object, limit: int = MAX_CHARS) -> str:
    """`value` as one line of printable text of at most `limit` characters (an ellipsis marks a
    cut): line breaks become spaces, other control and format characters are dropped."""
    try:
        s = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - a description must never fail
        s = f"<{type(value).__name__}>"
    s = s[: limit * 4]                              # never scan more than a few times the cap
    s = _BREAKS.sub(" ", s).replace("\t", " ")
    s = "".join(c for c in s if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    s = s.strip()
    return s if len(s) <= limit else s[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` made inert in Streamlit Markdown; it reads the same as `clean(value)`."""
    s = clean(value, limit)
    s = _ALWAYS.sub(r"\\\1", s)
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _WWW_DOT.sub(r"\\.", s)
    return _BLOCK_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1)
                            else f"{m.group(2)}\\{m.group(3)}", s)


def plot_text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` made inert in a Plotly title, axis label, legend or hover text (Plotly reads a
    few HTML tags there, `<a href>` among them, and entities)."""
    return html.escape(clean(value, limit), quote=False)
