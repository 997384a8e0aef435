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
original; an invisible word joiner breaks what Streamlit finds in the text), turns line breaks into spaces (no headings, lists or tables), drops other control
and invisible formatting characters (bidi overrides) and caps the length.
"""
from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 1000         # a whole message fits; a 10 kB value does not
ELLIPSIS = "…"

# Always escaped: links and images ([ ] ( ) !), HTML and autolinks (< >), emphasis and code
# (* ~ `), Streamlit's directives (:), LaTeX ($), tables (|), directive attributes ({ }),
# entities (&), e-mail addresses (@), headings (#) and the escape itself (\).
_ALWAYS = re.compile(r"([\\`*\[\]()!<>~:$|{}&@#])")
# `_` opens or closes emphasis only at a word's edge: `batch_size` stays readable as it is.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What starts a block at the start of the text: a list, a thematic break, an ordered list.
_BLOCK_START = re.compile(r"^([-+=])|^(\d+)([.)])")
_BREAKS = re.compile(r"\s*[\r\n\v\f\x85\u2028\u2029]+\s*")
# Some constructs are found in the text after escapes are resolved, so escaping does not stop
# them: Streamlit's `:material_name:` icons, `:streamlit:` and emoji shortcodes, and GFM's bare
# `www.`, `http://` and e-mail links. An invisible word joiner breaks each of them: after a
# colon that starts a word or `//`, after an `@`, between `www` and its dot.
_IN_TEXT = re.compile(r"(?i)(\\:)(?=[\w+/-])|(\\@)|(www)(?=\.)")
WORD_JOINER = "\u2060"


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
    s = _IN_TEXT.sub(lambda m: m.group(0) + WORD_JOINER, s)
    return _BLOCK_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1)
                            else f"{m.group(2)}\\{m.group(3)}", s)


def plot_text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` made inert in a Plotly title, axis label, legend or hover text (Plotly reads a
    few HTML tags there, `<a href>` among them, and entities)."""
    return html.escape(clean(value, limit), quote=False)
