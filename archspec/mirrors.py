"""`file://` mirrors of torchvision's weights, for machines without a network: what a mirror's
entry must be before torch.hub opens it, and what a mirror lacks when the file is not there."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import Request, url2pathname

from .download import shown_url
from .errors import escape_text
from .specbytes import WAITS, FileWaits, regular_head
from .weights import Weights, WeightsError


def check_mirror_file(url: str, weights: Weights) -> None:
    """A `file://` mirror's file must be a regular file before torch.hub opens it: opening a
    FIFO waits for a writer forever, and a device such as /dev/zero (or a link to one) never
    ends, so the download filled the disk. A missing file is left to torch.hub's message."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return
    path = url2pathname(Request(url).selector)  # the path urllib's file handler opens
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    what = None
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO or a device)"
    else:
        try:  # a regular file may still never end: a link to /proc/kmsg waits for the kernel
            regular_head(path, 1)
        except FileWaits:
            what = f"a file that {WAITS}"
        except (OSError, ValueError):
            pass  # torch.hub's message says why it cannot be read
    if what is not None:
        raise WeightsError(
            f"cannot fetch {weights.full_name} from {shown_url(url)}: it is {what}",
            code="E802",
            hint=f"a file:// mirror holds {weights.file} as a plain file (torchvision's); "
            "nothing was read or written",
        )


def mirror_hint(url: str, weights: Weights, cache: Path) -> str:
    """What a `file://` mirror lacks (its folder, or the file in it), else "": the user set a
    mirror, so the hint that says to set one would not help."""
    if urlsplit(url).scheme.lower() != "file":
        return ""
    try:
        folder = Path(url2pathname(Request(url).selector)).parent
        there = folder.is_dir()
    except (OSError, ValueError):
        return ""
    cached = f"or put {weights.file} in torch.hub's cache ({escape_text(str(cache))})"
    if not there:
        return (
            f"the mirror's folder {escape_text(str(folder))} does not exist: check base_url= / "
            "$ARCHSPEC_WEIGHTS_URL (pathlib.Path(folder).resolve().as_uri() writes a folder's "
            f"URL), {cached}"
        )
    return (
        f"the mirror's folder {escape_text(str(folder))} holds no {weights.file}: copy "
        f"torchvision's file there under that name, {cached}"
    )


__all__ = ["check_mirror_file", "mirror_hint"]
