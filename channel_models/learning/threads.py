"""One cap on native thread pools (OpenMP for the trees, BLAS for linear models) for every model.

The models default to one thread: on a shared 2-core machine, a team of threads waiting at each
barrier for a busy core is slower than one thread (measured in bench/models.py runs); results do
not depend on the count. The controller scans the loaded libraries once, on first use (by then
scikit-learn has loaded its OpenMP runtime), so limiting per call is cheap.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def limited_threads(n_threads: int | None, user_api: str = "openmp"):
    """Context manager capping ``user_api`` pools at ``n_threads``; None leaves them alone."""
    if n_threads is None:
        return nullcontext()
    return _controller().limit(limits=int(n_threads), user_api=user_api)
