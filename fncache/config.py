"""Settings: environment variables first, then ``fncache.configure(...)``.

One table, ``SETTINGS``, has a row per setting: its name, its environment variable, its
default, how the environment's text is read, how a ``configure()`` value is checked, and
whether a change reopens the cache (the cache's settings snapshot). ``Settings.reset()``,
``configure()`` and the snapshot all read it.
"""
import collections
import math
import os
import re
import urllib.parse
import warnings

from fncache.errors import ConfigError, FncacheWarning

MAX_BYTES = 1 << 60  # sizes above 1 EiB are typos (and would not fit SQLite's integers)
MAX_SECONDS = 100 * 365 * 86400  # durations, TTLs and timeouts: at most 100 years

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
    if number < 0:
        raise ConfigError("%s must not be negative: %r" % (what, value))
    _in_range(number, MAX_BYTES, "1 EiB", what, value)
    return int(number)


def _in_range(number, limit, limit_text, what, value):
    """A finite number no larger than ``limit``, or a ConfigError naming the setting."""
    if not isinstance(number, int) and not math.isfinite(number):
        raise ConfigError("%s must be a finite number, not %r" % (what, value))
    if number > limit:
        raise ConfigError("%s %r is out of range (at most %s)" % (what, value, limit_text))


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value, what="duration"):
    """Seconds from a number or a string such as '30d', '12h', '90m', '45s', '2w'."""
    if isinstance(value, bool):
        raise ConfigError("%s must be a duration like '30d' or '12h', not %r" % (what, value))
    if isinstance(value, (int, float)):
        number = value  # an int stays exact until it is known to be in range
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([smhdw]?)\s*", value.lower())
        if not match:
            raise ConfigError("%s %r is not a duration like '30d', '12h', '90m' or '45s'"
                              % (what, value))
        number = float(match.group(1)) * _SECONDS[match.group(2) or "s"]
    else:
        raise ConfigError("%s must be a duration like '30d' or '12h', not %s"
                          % (what, type(value).__name__))
    if number < 0:
        raise ConfigError("%s must not be negative: %r" % (what, value))
    _in_range(number, MAX_SECONDS, "100 years", what, value)
    return float(number)


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Settings:
    """The current settings; one instance lives in ``fncache.config.settings``."""

    def __init__(self):
        self.reset()

    def reset(self):
        """Read the environment. A bad value is a warning naming the variable, and that
        setting keeps its default: a training run never dies for a cache setting
        (``configure()`` raises ConfigError instead, and the fncache command exits)."""
        self.env_errors = []
        for setting in SETTINGS:
            if setting.read is not None:
                setattr(self, setting.name, self._env(setting.read, setting.default()))
        for message in self.env_errors:
            warnings.warn("fncache: %s; using the default" % message, FncacheWarning, stacklevel=2)

    def _env(self, read, default):
        try:
            return read()
        except ConfigError as exc:
            self.env_errors.append(str(exc))
            return default

    def update(self, **changes):
        unknown = set(changes) - set(_BY_NAME)
        if unknown:
            raise ConfigError("configure() got unknown settings: %s (known: %s)"
                              % (", ".join(sorted(unknown)), ", ".join(_BY_NAME)))
        for name, value in changes.items():
            if name == "secret_file":  # read now, so a loose mode fails here and not on first use
                self.secret = None if value is None else read_secret_file(value)
            else:
                setattr(self, name, _BY_NAME[name].check(value))

    def snapshot(self):
        """The values of the settings whose change reopens the cache."""
        return tuple(getattr(self, s.name) for s in SETTINGS if s.reopens)


def _redis_timeout_from_env():
    text = os.environ.get("FNCACHE_REDIS_TIMEOUT", "0.5")
    try:
        value = float(text)
    except ValueError:
        raise ConfigError("FNCACHE_REDIS_TIMEOUT %r is not a number of seconds" % text) from None
    return _positive_seconds(value, "FNCACHE_REDIS_TIMEOUT")


def _read_secret():
    secret = os.environ.get("FNCACHE_SECRET")
    path = os.environ.get("FNCACHE_SECRET_FILE")
    if secret:
        return secret.encode("utf-8")
    if path:
        return read_secret_file(path)
    return None


def read_secret_file(path):
    path = _path(path, "secret_file")
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


def _path(value, what):
    """A str path (``~`` expanded), or a ConfigError naming the setting."""
    try:
        text = os.fspath(value)
    except TypeError:
        text = None
    if not isinstance(text, str) or not text:
        raise ConfigError("%s must be a path (a str or os.PathLike), not %r" % (what, value))
    if "\0" in text:
        raise ConfigError("%s %r contains a NUL character" % (what, text))
    return os.path.expanduser(text)


def _directory(value, what="directory"):
    return os.path.abspath(_path(value, what))


def _redis_url(value):
    """The URL itself, checked now so a typo fails at configure() and not mid-run."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("redis_url must be a str like redis://host:6379/0, not %r" % (value,))
    problem = None
    if any(not c.isprintable() or c.isspace() for c in value):
        raise ConfigError("redis_url %r contains spaces or control characters" % (value,))
    try:
        url = urllib.parse.urlsplit(value)
        if url.scheme not in ("redis", "rediss", "unix"):
            problem = "the scheme must be redis://, rediss:// or unix://"
        elif url.scheme == "unix":
            if not url.path:
                problem = "a unix:// URL needs a socket path"
        else:
            url.port  # raises ValueError when the port is not a number in range
            if not url.hostname:
                problem = "there is no host name"
            elif url.path.strip("/") and not url.path.strip("/").isdigit():
                problem = "the database after the host must be a number"
    except ValueError as exc:
        problem = str(exc)
    if problem:
        raise ConfigError("redis_url %r is malformed: %s (expected e.g. redis://host:6379/0)"
                          % (value, problem))
    return value


def _redis_prefix(value):
    if (not isinstance(value, str) or not value
            or any(c.isspace() or not c.isprintable() for c in value)):
        raise ConfigError("redis_prefix must be a non-empty str without spaces or control "
                          "characters, not %r" % (value,))
    return value


def parse_seconds(value, what="duration"):
    """Whole seconds, at least one, from a number or a duration such as '3600', '12h', '30d'."""
    seconds = parse_duration(value, what)
    if not seconds >= 1:
        raise ConfigError("%s must be at least one second, not %r" % (what, value))
    return int(seconds)


def _secret(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not value:
        raise ConfigError("secret must be a non-empty str or bytes")
    return value


def _bool(what):
    def check(value):
        if not isinstance(value, bool):
            raise ConfigError("%s must be True or False, not %r" % (what, value))
        return value
    return check


def _positive_seconds(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError("%s must be a positive number of seconds, not %r" % (what, value))
    _in_range(value, MAX_SECONDS, "100 years", what, value)
    return float(value)


def _default_directory():
    return os.path.expanduser(os.path.join("~", ".cache", "fncache"))


def _flag_reader(variable):
    return lambda: _flag(variable)


Setting = collections.namedtuple("Setting", "name env default read check reopens doc")

#: One row per setting. ``default()`` is the value without (or with a bad) environment
#: variable; ``read()`` reads the environment (raising ConfigError); ``check(value)`` is
#: what configure() applies; ``reopens``: a change opens the cache anew.
SETTINGS = (
    Setting("directory", "FNCACHE_DIR", _default_directory,
            lambda: _directory(os.environ.get("FNCACHE_DIR") or _default_directory(), "FNCACHE_DIR"),
            _directory, True, "cache directory (default ~/.cache/fncache)"),
    Setting("redis_url", "FNCACHE_REDIS_URL", lambda: None,
            lambda: _redis_url(os.environ.get("FNCACHE_REDIS_URL") or None),
            _redis_url, True, "team tier, e.g. redis://host:6379/0 (optional)"),
    Setting("redis_prefix", "FNCACHE_REDIS_PREFIX", lambda: "fncache:",
            lambda: _redis_prefix(os.environ.get("FNCACHE_REDIS_PREFIX", "fncache:")),
            _redis_prefix, True, "key prefix in Redis, one per team (default fncache:)"),
    Setting("redis_ttl", "FNCACHE_REDIS_TTL", lambda: 30 * 86400,
            lambda: parse_seconds(os.environ.get("FNCACHE_REDIS_TTL", "30d"), "FNCACHE_REDIS_TTL"),
            lambda v: parse_seconds(v, "redis_ttl"), True,
            "seconds (or 12h, 30d) an entry lives in Redis unless read (default 30d)"),
    Setting("redis_timeout", "FNCACHE_REDIS_TIMEOUT", lambda: 0.5, _redis_timeout_from_env,
            lambda v: _positive_seconds(v, "redis_timeout"), True,
            "seconds to wait for Redis to connect or answer (default 0.5)"),
    Setting("redis_compress", "FNCACHE_REDIS_COMPRESS", lambda: True,
            lambda: os.environ.get("FNCACHE_REDIS_COMPRESS", "1").strip().lower() not in (
                "0", "false", "no", "off"),
            _bool("redis_compress"), True, "0: do not zstd-compress values sent to Redis (default 1)"),
    Setting("secret", "FNCACHE_SECRET", lambda: None, _read_secret, _secret, True,
            "team secret for signing entries (or FNCACHE_SECRET_FILE, mode 0600)"),
    Setting("secret_file", "FNCACHE_SECRET_FILE", lambda: None, None, None, False,
            "file holding the team secret (configure() reads it into secret)"),
    Setting("readonly", "FNCACHE_READONLY", lambda: False, _flag_reader("FNCACHE_READONLY"),
            _bool("readonly"), True, "1: never write to the cache"),
    Setting("disabled", "FNCACHE_DISABLE", lambda: False, _flag_reader("FNCACHE_DISABLE"),
            _bool("disabled"), False, "1: compile everything as the plain library would"),
    Setting("miss_log", "FNCACHE_MISS_LOG", lambda: False, _flag_reader("FNCACHE_MISS_LOG"),
            _bool("miss_log"), False,
            "1: remember the last compile misses (key parts) for `fncache explain --last-miss`"),
    Setting("size_limit", "FNCACHE_SIZE_LIMIT", lambda: 10 ** 10,
            lambda: parse_size(os.environ.get("FNCACHE_SIZE_LIMIT", "10GB"), "FNCACHE_SIZE_LIMIT"),
            lambda v: parse_size(v, "size_limit"), True, "disk tier size limit, e.g. 5GB (default 10GB)"),
    Setting("memory_limit", "FNCACHE_MEMORY_LIMIT", lambda: 256 * 10 ** 6,
            lambda: parse_size(os.environ.get("FNCACHE_MEMORY_LIMIT", "256MB"),
                               "FNCACHE_MEMORY_LIMIT"),
            lambda v: parse_size(v, "memory_limit"), True,
            "in-process tier limit, e.g. 512MB (default 256MB)"),
    Setting("wait_timeout", None, lambda: 600.0, lambda: 600.0,
            lambda v: _positive_seconds(v, "wait_timeout"), False,
            "seconds to wait for another process's compile of the same key"),
)
_BY_NAME = {s.name: s for s in SETTINGS}

settings = Settings()
