"""Settings: environment variables first, then ``fncache.configure(...)``.

FNCACHE_DIR        cache directory (default ~/.cache/fncache)
FNCACHE_REDIS_URL  team tier, e.g. redis://host:6379/0 (optional)
FNCACHE_SECRET     team secret for signing entries (or FNCACHE_SECRET_FILE, mode 0600)
FNCACHE_READONLY   1: never write to the cache
FNCACHE_DISABLE    1: compile everything as plain Theano would
FNCACHE_SIZE_LIMIT disk tier size limit, e.g. 5GB (default 10GB)
FNCACHE_MEMORY_LIMIT in-process tier limit, e.g. 512MB (default 256MB)
FNCACHE_MISS_LOG   1: remember the last compile misses (key parts) for `fncache explain --last-miss`
"""
import os
import re

from fncache.errors import ConfigError

_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "T": 1e12, "TB": 1e12, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(value, what="size"):
    """Bytes from an int or a string such as '5GB', '512MiB', '1e9'."""
    if isinstance(value, bool):
        raise ConfigError("%s must be a number of bytes or a string like '5GB', not %r" % (what, value))
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", value)
        unit = match.group(2).upper() if match else None
        if not match or unit not in _UNITS:
            raise ConfigError("%s %r is not a size like '5GB' or '512MiB'" % (what, value))
        try:
            number = float(match.group(1)) * _UNITS[unit]
        except ValueError:
            raise ConfigError("%s %r is not a size like '5GB' or '512MiB'" % (what, value)) from None
    else:
        raise ConfigError("%s must be a number of bytes or a string like '5GB', not %s"
                          % (what, type(value).__name__))
    if number < 0 or number != number:
        raise ConfigError("%s must not be negative: %r" % (what, value))
    return int(number)


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value, what="duration"):
    """Seconds from a number or a string such as '30d', '12h', '90m', '45s', '2w'."""
    if isinstance(value, bool):
        raise ConfigError("%s must be a duration like '30d' or '12h', not %r" % (what, value))
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([smhdw]?)\s*", value.lower())
        if not match:
            raise ConfigError("%s %r is not a duration like '30d', '12h', '90m' or '45s'"
                              % (what, value))
        number = float(match.group(1)) * _SECONDS[match.group(2) or "s"]
    else:
        raise ConfigError("%s must be a duration like '30d' or '12h', not %s"
                          % (what, type(value).__name__))
    if number < 0 or number != number:
        raise ConfigError("%s must not be negative: %r" % (what, value))
    return number


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Settings:
    """The current settings; one instance lives in ``fncache.config.settings``."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.directory = os.path.expanduser(
            os.environ.get("FNCACHE_DIR") or os.path.join("~", ".cache", "fncache"))
        self.redis_url = os.environ.get("FNCACHE_REDIS_URL") or None
        self.secret = _read_secret()
        self.readonly = _flag("FNCACHE_READONLY")
        self.disabled = _flag("FNCACHE_DISABLE")
        self.miss_log = _flag("FNCACHE_MISS_LOG")
        self.size_limit = parse_size(os.environ.get("FNCACHE_SIZE_LIMIT", "10GB"), "FNCACHE_SIZE_LIMIT")
        self.memory_limit = parse_size(os.environ.get("FNCACHE_MEMORY_LIMIT", "256MB"),
                                       "FNCACHE_MEMORY_LIMIT")
        self.wait_timeout = 600.0  # seconds to wait for another process's compile of the same key
        self.redis_timeout = 0.5

    def update(self, **changes):
        unknown = set(changes) - set(_CONFIGURABLE)
        if unknown:
            raise ConfigError("configure() got unknown settings: %s (known: %s)"
                              % (", ".join(sorted(unknown)), ", ".join(_CONFIGURABLE)))
        for name, value in changes.items():
            setattr(self, name, _CONFIGURABLE[name](value))


def _read_secret():
    secret = os.environ.get("FNCACHE_SECRET")
    path = os.environ.get("FNCACHE_SECRET_FILE")
    if secret:
        return secret.encode("utf-8")
    if path:
        return read_secret_file(path)
    return None


def read_secret_file(path):
    path = os.path.expanduser(path)
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as exc:
        raise ConfigError("cannot read the secret file %s: %s" % (path, exc.strerror)) from None
    if mode & 0o077:
        raise ConfigError("the secret file %s must be readable by its owner only (chmod 600 %s)"
                          % (path, path))
    if not secret:
        raise ConfigError("the secret file %s is empty" % path)
    return secret


def _directory(value):
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError("directory must be a path, not %r" % (value,))
    return os.path.abspath(os.path.expanduser(str(value)))


def _redis_url(value):
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^(redis|rediss|unix)://", value):
        raise ConfigError("redis_url must look like redis://host:6379/0, not %r" % (value,))
    return value


def _secret(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not value:
        raise ConfigError("secret must be a non-empty str or bytes")
    return value


def _bool(value):
    if not isinstance(value, bool):
        raise ConfigError("expected True or False, not %r" % (value,))
    return value


def _positive_seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError("timeouts must be positive numbers of seconds, not %r" % (value,))
    return float(value)


_CONFIGURABLE = {
    "directory": _directory,
    "redis_url": _redis_url,
    "secret": _secret,
    "readonly": _bool,
    "disabled": _bool,
    "miss_log": _bool,
    "size_limit": lambda v: parse_size(v, "size_limit"),
    "memory_limit": lambda v: parse_size(v, "memory_limit"),
    "wait_timeout": _positive_seconds,
    "redis_timeout": _positive_seconds,
}

settings = Settings()
