"""A light Streamlit client for load tests: one websocket session without a browser.

It speaks the protocol a browser tab speaks (streamlit.proto BackMsg/ForwardMsg over
`/_stcore/stream`, the owner cookie in the handshake) and does what a tab does that costs the
server: a full run per page load, button clicks as trigger widgets, and every fragment's
auto-rerun at the interval the server asks for (the sidebar's status, the live Train view).
It keeps the latest element at each place on the page, so a test reads what the student would
see (status lines, warnings, the sidebar) without drawing anything.
"""
from __future__ import annotations

import asyncio
import time
from typing import Optional

import websockets.asyncio.client as ws_client
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

OWNER_COOKIE = "gan_lab_owner"      # lab_app.ui.OWNER_COOKIE


def _runs_of(kinds: list[str]) -> str:
    """'delta x12, script_finished:3, ...': a run of the same message kind written once."""
    out: list[list] = []
    for k in kinds:
        if out and out[-1][0] == k:
            out[-1][1] += 1
        else:
            out.append([k, 1])
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in out)


class LightSession:
    """One student's tab. `async with LightSession(url, owner) as s: await s.load(...)`."""

    def __init__(self, url: str, owner: str):
        self.url, self.owner = url, owner
        self.elements: dict[tuple, tuple[str, object]] = {}   # delta path -> (kind, proto)
        self.updated: dict[tuple, int] = {}                     # delta path -> message number
        self._seq = 0
        self._seq_msgs = 0                  # messages received
        self._after_request: list[str] = []  # what came after the last page load or click
        self._asked_at = 0.0                # when it was asked for (monotonic)
        self.exceptions: list[str] = []
        self.page, self.query = "", ""
        self.page_hash = ""                 # the page's script hash, once the server named it
        self._fragments: dict[str, float] = {}                  # fragment id -> interval (s)
        self._finished = asyncio.Event()
        self._ws = None
        self._tasks: list[asyncio.Task] = []
        self._send_lock = asyncio.Lock()
        self.fragment_runs = 0
        self.recent: list[str] = []         # the last messages' kinds, for a failure message
        self._busy = 0.0                    # when a run was asked for (0: none under way)
        self._full_pending = 0.0            # when a page load or click was sent (0: its run ended)
        self.unanswered: list[str] = []     # page loads asked again (see _run): what the
                                            # server sent before each was asked again

    async def __aenter__(self):
        stream = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self._ws = await ws_client.connect(
            stream, subprotocols=["streamlit"], max_size=None, open_timeout=60,
            additional_headers={"Cookie": f"{OWNER_COOKIE}={self.owner}"})
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._tick())]
        return self

    async def __aexit__(self, *exc):
        for t in self._tasks:
            t.cancel()
        await self._ws.close()

    @property
    def reloads_resent(self) -> int:
        """Page loads asked again because the first request went unanswered."""
        return len(self.unanswered)

    # -- what a tab sends ----------------------------------------------------------------
    async def _send(self, widget_states=(), fragment_id: str = "") -> None:
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string, rs.page_name = self.query, self.page
        if self.page_hash:                  # as a browser does once it knows the page
            rs.page_script_hash = self.page_hash
        for ws in widget_states:
            rs.widget_states.widgets.append(ws)
        if fragment_id:
            rs.fragment_id, rs.is_auto_rerun = fragment_id, True
        async with self._send_lock:
            # A fragment's timer that fired while a page load or a click was being sent is
            # dropped, as a browser's is once the page reruns: sent after it, the server would
            # merge it into the pending full run and run the fragment alone.
            now = time.monotonic()
            if fragment_id and (now - self._full_pending < 30 or fragment_id not in
                                self._fragments or now - self._busy < 30):
                return
            self._busy = time.monotonic()
            await self._ws.send(msg.SerializeToString())

    async def load(self, page: str, query: str = "", timeout: float = 60.0) -> float:
        """Open a page as a link does; seconds until the page's script finished."""
        self.page, self.query, self.page_hash = page, query, ""
        self.elements.clear()
        self.updated.clear()
        self._fragments.clear()
        return await self._run([], timeout)

    async def click(self, label: str, timeout: float = 60.0) -> float:
        """Press the button labelled `label`; seconds until the rerun finished."""
        wid = self.button_id(label)
        if wid is None:
            raise LookupError(f"no button {label!r} on {self.page} ({self.texts()[:5]})")
        from streamlit.proto.WidgetStates_pb2 import WidgetState
        state = WidgetState(id=wid, trigger_value=True)
        return await self._run([state], timeout)

    async def _run(self, widget_states, timeout: float) -> float:
        self._finished.clear()
        self._full_pending = time.monotonic()   # until the full run's end: no fragment timers
        start, seq = time.perf_counter(), self._seq
        sent = self._seq_msgs
        self._after_request, self._asked_at = [], time.monotonic()
        await self._send(widget_states)
        try:
            if widget_states:                   # a click is sent once
                await asyncio.wait_for(self._finished.wait(), timeout)
            else:
                # A page load here is a rerun request on an open session (a browser's reload
                # opens a new one); now and then the server folds it into a fragment run under
                # way and no full run follows. Asked again after a third of the time, as a
                # student presses reload again; the time counts from the first request.
                for attempt in range(3):
                    try:
                        await asyncio.wait_for(self._finished.wait(), timeout / 3)
                        break
                    except TimeoutError:
                        if attempt == 2:
                            raise
                        self.unanswered.append(f"{time.strftime('%X')} {self.page}: "
                                               f"{self._seq_msgs - sent} messages since: "
                                               f"{_runs_of(self._after_request)}")
                        self._full_pending = time.monotonic()
                        await self._send(widget_states)
        except TimeoutError:
            reader = self._tasks[0]
            died = reader.done() and not reader.cancelled() and reader.exception()
            raise TimeoutError(f"no end of the run on {self.page} within {timeout} s; "
                               f"reader {'failed: ' + repr(died) if died else 'alive'}; "
                               f"last messages {self.recent[-12:]}") from None
        for path in [p for p, n in self.updated.items() if n <= seq]:   # not drawn again
            del self.elements[path], self.updated[path]
        return time.perf_counter() - start

    # -- what the server sends -----------------------------------------------------------
    async def _read(self) -> None:
        async for raw in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            self._seq_msgs += 1
            label = (f"{kind}:{msg.script_finished}" if kind == "script_finished" else
                     f"new_session:{'fragment' if msg.metadata.run.fragment_ids else 'full'}"
                     f"@{time.monotonic() - self._asked_at:.1f}s" if kind == "new_session"
                     else str(kind))
            if len(self._after_request) < 400:
                self._after_request.append(label)
            self.recent = self.recent[-30:] + [label]
            if kind == "navigation" and msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash    # the page now shown
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                el = msg.delta.new_element
                ek = el.WhichOneof("type")
                path = tuple(msg.metadata.delta_path)
                self.elements[path] = (ek, getattr(el, ek))
                self._seq += 1
                self.updated[path] = self._seq
                if ek == "exception":
                    self.exceptions.append(f"{el.exception.type}: {el.exception.message}")
            elif kind == "auto_rerun":
                self._fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "script_finished":
                self._busy = 0.0
                # 0: a full run finished (a fragment's own run is FINISHED_FRAGMENT_RUN_...).
                # A run that gave way to a rerun (FINISHED_EARLY_FOR_RERUN) ends no page load:
                # it is most often this tab's fragment run cut short by the load itself, and
                # the timers stay quiet until the load's full run ends. (They went on there,
                # and then a timer's fragment run began before the full run's end reached the
                # tab, which it never did: the load went unanswered. A likely cause, from
                # Streamlit's code, not proven: docs/speed.md.)
                done = ForwardMsg.ScriptFinishedStatus
                if msg.script_finished in (done.FINISHED_SUCCESSFULLY,
                                           done.FINISHED_WITH_COMPILE_ERROR):
                    self._full_pending = 0.0    # a full run ended
                if msg.script_finished == done.FINISHED_SUCCESSFULLY:
                    self._finished.set()

    async def _tick(self) -> None:
        """Each fragment's auto-rerun, as the browser's timers send them, never while a run
        is under way: the server would merge the two requests and drop a click's trigger."""
        due: dict[str, float] = {}
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - self._full_pending < 30 or now - self._busy < 30:
                continue                    # (a lost answer: go on after 30 s)
            for fid, interval in list(self._fragments.items()):
                if now >= due.setdefault(fid, now + interval):
                    due[fid] = now + interval
                    self.fragment_runs += 1
                    await self._send(fragment_id=fid)
                    break

    # -- reading the page ----------------------------------------------------------------
    def texts(self, kind: Optional[str] = None) -> list[str]:
        """The text of every element (of one kind: 'markdown', 'alert', 'progress'...)."""
        out = []
        for ek, el in self.elements.values():
            if kind is not None and ek != kind:
                continue
            for attr in ("body", "text", "label"):
                value = getattr(el, attr, "")
                if isinstance(value, str) and value:
                    out.append(value)
                    break
        return out

    def button_id(self, label: str) -> Optional[str]:
        for ek, el in self.elements.values():
            if ek == "button" and el.label == label and not el.disabled:
                return el.id
        return None

    def status(self) -> str:
        """The run's status line ('running: step 12/78 ...'), lower case; '' before a run."""
        bars = [(self.updated[p], el.text) for p, (ek, el) in self.elements.items()
                if ek == "progress"]
        return max(bars)[1].strip().lower() if bars else ""
