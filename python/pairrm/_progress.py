"""Progress bars for long calls: tqdm when it is installed, else none."""

from contextlib import contextmanager


@contextmanager
def progress(desc, disable=False):
    """Yields a ``callback(done, total)`` for the native methods (or None)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if disable or tqdm is None:
        yield None
        return
    bar = None

    def update(done, total):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
