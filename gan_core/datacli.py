"""`python -m gan_core data list | fetch NAME | check [NAME]` (and `./lab data ...`): the
datasets of gan_core.sources, on disk or not, fetched by gan_core.fetch, checked against their
official checksums. Progress goes to stderr, results to stdout; a problem is one line."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from .data import default_data_dir
from .fetch import FetchError, Progress, fetch
from .sources import SOURCES, check, files_here, missing_line, size_text, status


def resolve_data_dir(given: str | None) -> tuple[Path, bool]:
    """(the data folder, whether fetch may create it): a typed --data-dir or $GAN_DATA_DIR must
    exist; the lab's default (gan_core.data.default_data_dir) is made when missing."""
    if given:
        return Path(given).expanduser(), False
    if os.environ.get("GAN_DATA_DIR"):
        return Path(os.environ["GAN_DATA_DIR"]).expanduser(), False
    return default_data_dir(), True


def data_command(action: str, name: str | None, data_dir: str | None,
                 out: IO | None = None, err: IO | None = None) -> int:
    """`data list`, `data fetch NAME`, `data check [NAME]`: 0 when all is well, 1 when a fetch
    failed or a file is missing or fails its checksum. Problems are one line on `err`."""
    out, err = out or sys.stdout, err or sys.stderr
    folder, create = resolve_data_dir(data_dir)
    if name is not None and name not in SOURCES:
        print(f"error: no dataset {name!r}; the lab knows {', '.join(SOURCES)}", file=err)
        return 2
    if action == "list":
        rows = [status(n, folder) for n in ([name] if name else SOURCES)]
        print(f"data folder: {folder}", file=out)
        print(f"{'name':<14}{'on disk':<9}{'size':<9}where / how to get it", file=out)
        for r in rows:
            how = r["where"] if r["on_disk"] == "yes" else f"{r['where']}  <- {r['get']}"
            print(f"{r['name']:<14}{r['on_disk']:<9}{r['size']:<9}{how}", file=out)
        return 0
    if action == "fetch":
        if name is None:
            print("error: say which dataset to fetch, e.g. ./lab data fetch mnist", file=err)
            return 2
        src = SOURCES[name]
        print(f"{name}: {src.title}; licence: {src.licence}; {size_text(src)}", file=err)
        try:
            print(fetch(name, folder, create=create, progress=Progress(err)), file=out)
        except FetchError as e:
            print(f"error: {e}", file=err)
            return 1
        return 0
    failed, checked = False, 0
    for n in [name] if name else SOURCES:
        if not (folder.is_dir() and files_here(n, folder)):
            if name:
                print(missing_line(n, folder), file=out)
                failed = True
            continue
        checked += 1
        for path, verdict, against in check(n, folder):
            print(f"{n}: {verdict:<9} {path} ({against})", file=out)
            failed = failed or verdict in ("BAD", "missing")
    if not checked and not name:
        print(f"no dataset is in {folder}; ./lab data list says how to get each", file=out)
    return 1 if failed else 0
