"""Import Theano with a working BLAS flag and without deprecation noise.

Theano 1.0.5 reads ``numpy.distutils.__config__.blas_opt_info`` to guess
``blas.ldflags``; numpy 1.23 no longer has it, so ``import theano`` fails.
An empty ``blas.ldflags`` (NumPy's C-API BLAS) always works. We add it to
THEANO_FLAGS only for the duration of the import, and only when the user set
no value in THEANO_FLAGS or a .theanorc file.
"""
import configparser
import logging
import os
import warnings

# Theano touches np.bool, distutils, imp... on import and while compiling.
# Those warnings are Theano's, not the user's: hide them wherever they arise.
_THEANO_MODULES = r"(theano|numpy\.distutils|scipy)(\.|$)"


def _silence_theano_deprecations():
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=_THEANO_MODULES)
    # numpy.distutils warns about itself when Theano imports it.
    warnings.filterwarnings("ignore", message=r"\s*`numpy.distutils` is deprecated")
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated")


def _user_flag_names():
    """Names of the Theano flags the user set, in THEANO_FLAGS or a theanorc."""
    names = set()
    for item in os.environ.get("THEANO_FLAGS", "").split(","):
        if "=" in item:
            names.add(item.split("=", 1)[0].strip())
    rc_paths = os.environ.get("THEANORC", "~/.theanorc:~/.theanorc.txt")
    parser = configparser.ConfigParser()
    try:
        parser.read([os.path.expanduser(p) for p in rc_paths.split(os.pathsep)])
    except configparser.Error:
        return names  # Theano itself will report a malformed theanorc
    for section in parser.sections():
        for option in parser.options(section):
            names.add(option if section == "global" else "%s.%s" % (section, option))
    return names


class _DropBlasNotice(logging.Filter):
    """We chose the NumPy C-API BLAS on purpose; Theano's notice about it is noise."""

    def filter(self, record):
        return "NumPy C-API based implementation for BLAS" not in record.getMessage()


def before_import():
    """Set the BLAS flag (unless the user set one) for Theano's import; the token undoes it."""
    _silence_theano_deprecations()
    original = os.environ.get("THEANO_FLAGS")
    if "blas.ldflags" not in _user_flag_names():
        os.environ["THEANO_FLAGS"] = ",".join(filter(None, [original, "blas.ldflags="]))
    blas_logger = logging.getLogger("theano.tensor.blas")
    notice_filter = _DropBlasNotice()
    blas_logger.addFilter(notice_filter)
    return original, notice_filter


def end_import(token):
    """Put THEANO_FLAGS back as the user had it (Theano read it during its import)."""
    original, notice_filter = token
    logging.getLogger("theano.tensor.blas").removeFilter(notice_filter)
    if original is None:
        os.environ.pop("THEANO_FLAGS", None)
    else:
        os.environ["THEANO_FLAGS"] = original
