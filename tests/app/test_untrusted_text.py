"""Untrusted text stays text (issue 30): a link's values, a checkpoint's names and an upload's
file name never become links, images, colours, icons or LaTeX on a page.

`lab_app.safe` is tested on the payloads first; then every page that shows such a value is
opened in AppTest with them, and every string of every element that Streamlit reads as Markdown
is checked for a construct that would render (`hostile`).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from apphelpers import page
from lab_app import safe
from lab_app.settings import URL_FIELDS

REPO = Path(__file__).resolve().parents[2]

LINK = "[log in](http://evil/)"
IMAGE = "![](http://evil/x.png)"
TAG = "<img src=http://evil/x>"
PAYLOADS = [LINK, IMAGE, TAG, ":red[big]", ":material/bolt:", ":material_bolt:", ":streamlit:",
            "$x^2$", "**bold**", "`code`", "<a href=http://evil/>x</a>", "www.evil.com",
            "me@evil.com", "http://evil/"]

# What would render if it reached Streamlit's Markdown unescaped: syntax, found in the source
# with escaped characters taken out, and what Streamlit and GFM find in the text after escapes
# are resolved (icons, the logo, bare links), which only an invisible word joiner breaks.
_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")     # CommonMark: a backslash and ASCII punctuation
_SYNTAX = [
    ("link", re.compile(r"\]\(")), ("image", re.compile(r"!\[")),
    ("html", re.compile(r"<\s*(img|a|svg|iframe|script)\b", re.I)),
    ("directive", re.compile(r":(red|blue|green|orange|violet|gray|grey|rainbow|primary|small)"
                             r"(-background)?\[")),
    ("latex", re.compile(r"\$[^$\s][^$]*\$")),
    ("bold", re.compile(r"\*\*bold\*\*")), ("code", re.compile(r"`code`")),
]
_IN_TEXT = [
    ("icon", re.compile(r":material[/_]\w+:")), ("logo", re.compile(r":streamlit:")),
    ("autolink", re.compile(r"(?i)(www\.evil|@evil\.|https?://evil)")),
]


def hostile(markdown: str) -> list[str]:
    """The constructs in `markdown` that would render."""
    bare = _ESCAPED.sub("\0", markdown)
    text = _ESCAPED.sub(lambda m: m.group(0)[1], markdown)
    return ([name for name, rx in _SYNTAX if rx.search(bare)]
            + [name for name, rx in _IN_TEXT if rx.search(text)])


# --- lab_app.safe ----------------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_makes_each_payload_inert(payload):
    out = safe.text(payload)
    assert not hostile(out), (payload, out)
    shown = _ESCAPED.sub(lambda m: m.group(0)[1], out).replace(safe.WORD_JOINER, "")
    assert shown == payload                                          # reads as it was


def test_text_is_one_line_without_control_characters_and_capped():
    out = safe.text("a\nb\r\n\n# head\x00\x07\u202e\u200bc\td")
    assert out == "a b \\# headc d"
    assert safe.text("- item") == "\\- item" and safe.text("1. item") == "1\\. item"
    assert safe.text("> quote").startswith("\\>")
    long = safe.text("x" * 10_000)
    assert len(long) == safe.MAX_CHARS and long.endswith(safe.ELLIPSIS)
    assert len(safe.text(LINK * 1000)) < 3 * safe.MAX_CHARS
    assert len(safe.clean("y" * 10_000, 20)) == 20


def test_text_keeps_identifiers_readable():
    assert safe.text("batch_size must be at most 50") == "batch_size must be at most 50"
    assert safe.text("_x_") == "\\_x\\_"
    assert safe.text("bad.pt") == "bad.pt"
    assert safe.text(None) == "None" and safe.text(3) == "3"


def test_plot_text_escapes_html():
    assert safe.plot_text(TAG) == "&lt;img src=http://evil/x&gt;"
    assert "<" not in safe.plot_text("<a href='http://evil/'>x</a>")


def test_hostile_finds_what_renders():
    assert hostile(LINK) and hostile(IMAGE) and hostile(TAG) and hostile(":red[big]")
    assert hostile("\\\\" + LINK)                   # an escaped backslash escapes nothing
    assert hostile("\\:material/bolt\\:")          # found in the text: escaping is not enough
    assert not hostile("The link's setting batch_size: 'x' is not a valid int.")


# --- walking a page --------------------------------------------------------------------------

# Element types whose strings Streamlit shows as plain text, never as Markdown.
_PLAIN_TYPES = {"code", "text", "json", "exception", "arrow_data_frame", "plotly_chart",
                "imgs", "image", "deck_gl_json_chart", "vega_lite_chart", "arrow_vega_lite_chart",
                "download_button",
                "file_uploader", "empty"}
# Fields that are ids, values or (for these widgets) options shown as plain text.
_PLAIN_FIELDS = {"id", "form_id", "value", "default", "raw_value", "raw_values", "url",
                 "page_script_hash", "icon", "key", "placeholder", "format"}
_PLAIN_OPTIONS = {"selectbox", "multiselect"}


def _strings(message, skip_options: bool):
    """Every string held by a protobuf message, recursively (but not its plain fields)."""
    for fd, value in message.ListFields():
        if fd.name in _PLAIN_FIELDS or (skip_options and fd.name == "options"):
            continue
        repeated = not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields") \
            and hasattr(value, "__iter__")
        values = value if repeated else [value]
        for v in values:
            if isinstance(v, str):
                yield fd.name, v
            elif hasattr(v, "ListFields"):
                yield from _strings(v, skip_options)


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def markdown_strings(at) -> list[tuple[str, str, str]]:
    """(element type, field, text) for every string of every element (and block: expander
    labels, tab names) that Streamlit reads as Markdown."""
    out = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        kind = node.type if isinstance(getattr(node, "type", None), str) else ""
        if kind in _PLAIN_TYPES:
            continue
        out += [(kind, f, s) for f, s in _strings(proto, kind in _PLAIN_OPTIONS)]
    return out


def plotly_strings(at) -> list[str]:
    """The figures' JSON: Plotly reads some HTML in titles, labels and hovers."""
    return [n.proto.spec for n in _nodes(at._tree)
            if getattr(n, "type", None) == "plotly_chart" and hasattr(n.proto, "spec")]


def assert_inert(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    found = [(k, f, s, hostile(s)) for k, f, s in markdown_strings(at) if hostile(s)]
    assert not found, found
    for spec in plotly_strings(at):
        figure = json.dumps(json.loads(spec))
        assert not re.search(r"<\s*(img|a)\b", figure, re.I), figure[:500]


def test_the_walk_reads_messages_captions_labels_and_expanders():
    """The checker itself: an unescaped payload in each kind of element is found."""
    from streamlit.testing.v1 import AppTest
    script = f"""
import streamlit as st
st.warning({LINK!r}); st.caption({IMAGE!r}); st.number_input({TAG!r})
with st.expander({":red[big]"!r}):
    st.markdown("safe")
st.selectbox("plain options", [{LINK!r}])
"""
    at = AppTest.from_string(script).run()
    kinds = {k for k, f, s in markdown_strings(at) if hostile(s)}
    assert kinds == {"warning", "caption", "number_input", "expander"}, kinds


# --- the Train page: every URL key ------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(URL_FIELDS))
def test_train_page_link_values_stay_text(key):
    at = page("train", **{key: LINK}).run()
    assert_inert(at)


@pytest.mark.parametrize("payload", [IMAGE, TAG, ":red[big]", "$x^2$", "**bold**"])
def test_train_page_every_key_at_once(payload):
    at = page("train", **{k: payload for k in URL_FIELDS}, preset=payload, recipe=payload).run()
    assert_inert(at)
    assert at.warning or at.error                 # the bad values were reported


def test_train_page_folder_link_stays_text():
    at = page("train", dataset="folder:" + LINK).run()
    assert_inert(at)
    assert at.error


def test_train_page_start_refusal_stays_text():
    """An unknown dataset from the link passes the settings and is refused on Start."""
    at = page("train", dataset=LINK).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert_inert(at)
    assert any("unknown dataset" in e.value for e in at.error)


def test_train_page_upload_names_stay_text():
    at = page("train", dataset="ring").run()
    at.selectbox(key="t_dataset").set_value("your images (upload)").run()
    at.file_uploader(key="t_upload_files").set_value(
        [(f"{LINK}.png", b"not an image", "image/png"), (f"{TAG}.zip", b"PK junk", "application/zip")])
    at.button(key="t_upload_go").click().run()
    assert_inert(at)
    assert at.success or at.error


def test_mode_figure_class_names_are_not_html():
    from lab_app import views
    fig = views.mode_figure([3, 0], [TAG, "<a href='http://evil/'>x</a>"], "Step 1")
    shown = " ".join(map(str, fig.data[0].x)) + fig.layout.title.text
    assert "<" not in shown and "&lt;img" in shown


# --- the Latent explorer: a checkpoint's names, its refusal, an upload's name ------------------

def _checkpoint(folder: Path, base: str = "mnist_cgan.pt", **config) -> Path:
    obj = torch.load(REPO / "pretrained" / base, map_location="cpu", weights_only=True)
    obj["config"].update(config)
    obj["class_names"] = [p[:64] for p in (PAYLOADS * 2)[:len(obj["class_names"])]]
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(obj, folder / "checkpoint.pt")
    return folder / "checkpoint.pt"


def _explorer(monkeypatch, folder: Path):
    from streamlit.testing.v1 import AppTest
    from lab_app import explore as ex
    monkeypatch.setenv(ex.MODEL_DIRS_ENV, str(folder))
    return AppTest.from_file(str(REPO / "app_pages" / "explore.py"), default_timeout=90)


@pytest.mark.parametrize("payload", [LINK, IMAGE, TAG])
def test_explorer_checkpoint_names_stay_text(monkeypatch, tmp_path, payload):
    _checkpoint(tmp_path / "m", dataset=payload)
    at = _explorer(monkeypatch, tmp_path / "m").run()
    assert_inert(at)
    assert any("dataset" in m.value for m in at.markdown)


def test_explorer_refusal_stays_text(monkeypatch, tmp_path):
    _checkpoint(tmp_path / "m", loss=LINK)
    at = _explorer(monkeypatch, tmp_path / "m").run()
    assert_inert(at)
    assert any("cannot be explored" in e.value for e in at.error)


def test_explorer_upload_name_stays_text(monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    at = _explorer(monkeypatch, tmp_path / "empty").run()
    at.file_uploader[0].set_value((f"{IMAGE}.pt", os.urandom(4096), "application/octet-stream"))
    at.run()
    assert_inert(at)
    assert any("cannot be explored" in e.value for e in at.error)


# --- Compare and Experiments: their link keys ------------------------------------------------

def test_compare_page_link_values_stay_text():
    at = page("compare", dataset=LINK, a=IMAGE, b=TAG, epochs=LINK, recipe=LINK).run()
    assert_inert(at)


def test_experiments_page_link_value_stays_text():
    at = page("experiments", exp=LINK).run()
    assert_inert(at)


# --- a real browser: what Streamlit's Markdown actually draws ---------------------------------

_BROWSER_APP = """
import sys
sys.path.insert(0, {repo!r})
import streamlit as st
from lab_app import safe
for i, p in enumerate({payloads!r}):
    with st.container(key=f"raw{{i}}"):
        st.warning("x " + p)
    with st.container(key=f"safe{{i}}"):
        st.warning("x " + safe.text(p))
        st.caption(safe.text(p))
        st.number_input(safe.text(p), key=f"n{{i}}")
        with st.expander(safe.text(p)):
            st.write("inside")
"""
# What a payload becomes when it renders (the checker `hostile` models these).
_DRAWN = {"link": "a", "image": "img", "colour": ".stMarkdownColoredText, "
          ".stMarkdownColoredBackground, .stMarkdownShimmer", "icon": "span[role=img]",
          "latex": ".katex", "bold": "strong", "code": "code", "emphasis": "em", "strike": "del",
          "list": "li", "heading": "h1, h2, h3, h4, h5, h6"}


def test_a_browser_draws_every_payload_as_text(tmp_path):
    """Streamlit in Chromium: each payload, escaped, in a warning, a caption, a widget label and
    an expander label draws no link, image, colour, icon, LaTeX or emphasis; unescaped, the
    payloads do (so the check sees what it looks for)."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    payloads = PAYLOADS + [":small[x]", "_it_", "~~s~~", "- item", "# head"]
    (tmp_path / "app.py").write_text(_BROWSER_APP.format(repo=str(REPO), payloads=payloads))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(tmp_path / "app.py"), "--server.headless",
         "true", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1200, "height": 8000})
            page.goto(f"http://127.0.0.1:{port}")
            page.wait_for_selector(f".st-key-safe{len(payloads) - 1} details", timeout=90_000)
            page.wait_for_timeout(1500)            # lazy plugins (KaTeX, emoji) load late
            drawn = {}
            for i, payload in enumerate(payloads):
                for kind in ("raw", "safe"):
                    box = page.locator(f".st-key-{kind}{i}")
                    drawn[kind, payload] = [k for k, css in _DRAWN.items()
                                            if box.locator(css).count()]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert not any(drawn["safe", p] for p in payloads), \
        {p: drawn["safe", p] for p in payloads if drawn["safe", p]}
    assert all(drawn["raw", p] for p in (LINK, IMAGE, TAG, ":red[big]", ":material/bolt:",
                                        "$x^2$", "**bold**", "www.evil.com")), drawn
