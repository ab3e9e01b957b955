"""A Redis connection that speaks only what the team tier sends: RESP2 over one socket.

Importing redis-py costs about 75 ms (it imports asyncio and its whole command table),
which a hit from Redis would pay before its first byte. This connection needs the socket
module alone: it connects (TCP or a unix socket), authenticates, selects the database and
sends commands in pipelines, each wait bounded by the timeout; nothing is retried. URLs
with other options (TLS, client names...) go through redis-py (``connect``).
"""
import socket
import urllib.parse

_OWN_OPTIONS = {"db", "password"}  # query options of plain URLs this module understands


class ResponseError(Exception):
    """The server answered a command with an error."""


def connect(url, timeout):
    """A connection to ``url``: this module's own for redis:// and unix:// URLs whose
    options it knows, else one of redis-py's."""
    parts = urllib.parse.urlsplit(url)
    options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if parts.scheme in ("redis", "unix") and set(options) <= _OWN_OPTIONS:
        return Connection(parts, options, timeout)
    return RedisPyConnection(url, timeout)


class Connection:
    """One socket, opened on first use and again after a failure."""

    def __init__(self, parts, options, timeout):
        self.timeout = timeout
        self._unix = parts.scheme == "unix"
        self._address = parts.path if self._unix else (parts.hostname, parts.port or 6379)
        db = options.get("db", [None])[-1]
        if db is None and not self._unix:
            db = parts.path.strip("/") or None
        self._db = int(db) if db else 0
        password = options.get("password", [None])[-1]
        if parts.password is not None:
            password = urllib.parse.unquote(parts.password)
        username = urllib.parse.unquote(parts.username) if parts.username else None
        self._auth = None
        if password is not None:
            self._auth = ("AUTH", username, password) if username else ("AUTH", password)
        self._sock = self._reader = None
        self._answered = False

    def execute(self, commands, writes=False):
        """The replies to ``commands`` (tuples of str, bytes or int), sent in one write.

        An error reply raises ResponseError once every reply is read (the
        connection stays usable); a timeout or a broken connection closes it.
        ``writes``: the commands change data, so they go only to a server that
        has answered on this connection (a stalled server would apply them when
        it wakes up, long after this process gave up on them).
        """
        try:
            if self._sock is None:
                self._open()
            if writes and not self._answered:
                self._check(self._round_trip([("PING",)]))
            replies = self._round_trip(commands)
        except ResponseError:
            raise
        except BaseException:
            self.close()
            raise
        self._check(replies)
        return replies

    def _open(self):
        if self._unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self._address)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(self._address, timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout)
        self._sock, self._reader = sock, sock.makefile("rb")
        self._answered = False
        handshake = [c for c in (self._auth, ("SELECT", self._db) if self._db else None) if c]
        if handshake:
            self._check(self._round_trip(handshake))

    @staticmethod
    def _check(replies):
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply

    def _round_trip(self, commands):
        self._sock.sendall(b"".join(_encode(command) for command in commands))
        replies = [self._reply() for _ in commands]
        self._answered = True
        return replies

    def _reply(self):
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._reader.read(size + 2)
            if len(data) != size + 2:
                raise ConnectionError("Redis closed the connection")
            return data[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"-":
            return ResponseError(rest.decode("utf-8", "replace"))
        raise ConnectionError("unexpected reply from Redis: %r" % line[:40])

    def close(self):
        sock, reader, self._sock, self._reader = self._sock, self._reader, None, None
        for part in (reader, sock):
            if part is not None:
                try:
                    part.close()
                except OSError:
                    pass


def _encode(command):
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        if isinstance(arg, str):
            arg = arg.encode("utf-8")
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class RedisPyConnection:
    """The same interface over redis-py, for URLs with options of its own (rediss://...)."""

    def __init__(self, url, timeout):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        # retries are off so that a timeout is final
        self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout,
                                            socket_timeout=timeout, retry=Retry(NoBackoff(), 0),
                                            health_check_interval=0)

    def execute(self, commands, writes=False):
        """As Connection.execute (redis-py's connection handshake waits for the server)."""
        import redis
        pool = self._client.connection_pool
        connection = pool.get_connection()
        replies, failed = [], None
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:
                    replies.append(None)
                    failed = failed or exc
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)
        if failed is not None:
            raise ResponseError(str(failed))
        return replies

    def close(self):
        self._client.close()
