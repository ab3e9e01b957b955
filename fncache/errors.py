"""fncache's exceptions: each subclasses the built-in a caller would expect."""


class FncacheError(Exception):
    """Base of every error fncache raises on purpose."""


class ConfigError(FncacheError, ValueError):
    """A setting has a bad value (size, URL, secret file, ...)."""


class FncacheTypeError(FncacheError, TypeError):
    """An argument of the wrong type or number was passed to an fncache function."""


class FncacheValueError(FncacheError, ValueError):
    """An argument has the right type but a value fncache cannot use."""


class UnknownKeyError(FncacheError, KeyError):
    """No entry (or no record of a key) matches what was asked for."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown key"


class EntryRejected(FncacheError):
    """A stored entry is unusable: damaged, unsigned, or from another format.

    ``reason`` is one of 'corrupt', 'bad-signature', 'unsigned', 'version-mismatch'.
    """

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class UnkeyableGraph(FncacheError, ValueError):
    """The call cannot be fingerprinted safely; compile it without the cache."""


class BadCall(UnkeyableGraph, FncacheTypeError):
    """A call the library's ``function`` itself would reject (inputs not a list, an output
    that is no Variable, ...): raised at once, saying what is wrong, instead of a
    traceback from deep inside the compile."""


class SerializationError(FncacheError):
    """The function cannot be stored safely; it is compiled but not cached."""


class FncacheWarning(UserWarning):
    """A cache tier, entry or setting had a problem; fncache carried on without it."""
