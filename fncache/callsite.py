"""Where the user's call came from (module:line), for listings and profiles."""
import sys

from fncache.backends import LIBRARY_ROOTS

_SKIPPED = ("fncache",) + LIBRARY_ROOTS


def where():
    """module:line of the first frame outside fncache and the graph libraries."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in _SKIPPED:
        frame = frame.f_back
    if frame is None:
        return "?"
    return "%s:%d" % (frame.f_globals.get("__name__", "?"), frame.f_lineno)
