"""Progress bars for long work: one helper on top of tqdm, which terminals and notebooks both render
(``tqdm.auto`` picks the notebook widget when one is available, else a line on stderr).

Every long loop in lsa (PV and replicate refits of :func:`lsa.mix_pv`, imputation chains, analyses
of imputed data sets, chunked reads and conversions of large files) takes a ``progress=`` option
with one meaning: ``True`` shows a bar, ``False`` is silent, ``None`` shows one only for long work
(the caller says what is long: more than 20 fits, more than one chunk of a large file, ...).
"""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar", "wants_progress"]


def wants_progress(progress: bool | None, long: bool) -> bool:
    """Whether to show a bar: ``progress`` when it is True or False, ``long`` when it is None."""
    return bool(long) if progress is None else bool(progress)


class _Silent:
    """Stands in for a bar that is not shown (no tqdm import, no output)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: int | None, show: bool, desc: str, unit: str = "it", **kw: Any):
    """A tqdm bar on stderr of ``total`` steps named ``desc`` (``"mix_pv"``), or a silent stand-in
    when ``show`` is False. Use ``bar.update(k)`` after each k steps and ``bar.close()`` at the end
    (or ``with``)."""
    if not show:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=True, dynamic_ncols=True, **kw)
