"""``UserStore`` (``store.users``): the team server's users, roles, API tokens, sessions, audit.

Passwords are hashed with argon2 (``argon2-cffi``); tokens and session ids are random secrets
stored only as SHA-256 digests, so a copy of the database grants nothing. A revoked token or a
deleted session fails on its next request: nothing is cached.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, delete, insert, select, update

from loopml._errors import (
    ConflictError,
    MissingDependencyError,
    NotFoundError,
    ValidationError,
    did_you_mean,
)
from loopml.store._engine import read, read_with_retry, run_write
from loopml.store._schema_users import (
    api_tokens,
    audit_log,
    login_limits,
    user_roles,
    users,
    web_sessions,
)

if TYPE_CHECKING:
    from loopml.store._store import Store

__all__ = ["ROLES", "AuditEntry", "TokenInfo", "UserRecord", "UserStore"]

# Weakest to strongest; what each may do is decided in ``server/_auth.py``.
ROLES = ("annotator", "viewer", "member", "maintainer", "admin")
ALL_PROJECTS = "*"
TOKEN_PREFIX = "lml_"
SESSION_SECONDS = 12 * 3600.0


@dataclass(frozen=True)
class UserRecord:
    """A user and their roles: ``{project: role}``, where project ``"*"`` means every project."""

    id: int
    name: str
    roles: dict[str, str]
    disabled: bool


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed (never its secret)."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class AuditEntry:
    """One write recorded by the server: who, what, when, and how it answered."""

    at: float
    user: str | None
    method: str
    path: str
    status: int
    detail: str | None


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a token or session id is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _hasher():  # type: ignore[no-untyped-def]
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise MissingDependencyError(
            "passwords need argon2-cffi: pip install 'argon2-cffi>=23.1'"
        ) from exc
    return PasswordHasher()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
        raise ValidationError(
            f"a user name must be 1-200 printable characters, not {name!r}; e.g. 'alice'"
        )
    if name != name.strip():
        raise ValidationError(f"a user name may not start or end with spaces: {name!r}")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        hint = did_you_mean(role, ROLES)
        raise ValidationError(f"unknown role {role!r}; use one of {', '.join(ROLES)}{hint}")
    return role


class UserStore:
    """Users, their per-project roles, API tokens, browser sessions and the audit log."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._engine = store.engine

    # -- users ---------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        role: str,
        project: str = ALL_PROJECTS,
        password: str | None = None,
    ) -> UserRecord:
        """Create user ``name`` with ``role`` on ``project`` (``"*"``: every project)."""
        _check_name(name)
        _check_role(role)
        if password is not None and len(password) < 8:
            raise ValidationError("a password needs at least 8 characters; choose a longer one")
        hashed = _hasher().hash(password) if password is not None else None

        def write(conn: Connection) -> None:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise ConflictError(
                    f"user {name!r} exists already; give a role with "
                    f"`loopml server users role {name} ROLE --project P`"
                )
            key = conn.execute(
                insert(users).values(
                    name=name, password_hash=hashed, disabled=False, created_at=time.time()
                )
            ).inserted_primary_key
            assert key is not None
            uid = key[0]
            conn.execute(insert(user_roles).values(user_id=uid, project=project, role=role))

        run_write(self._engine, write)
        return self.get(name)

    def set_role(self, name: str, role: str | None, project: str = ALL_PROJECTS) -> UserRecord:
        """Give ``name`` ``role`` on ``project`` (None removes the role there)."""
        if role is not None:
            _check_role(role)
        uid = self.get(name).id

        def write(conn: Connection) -> None:
            conn.execute(
                delete(user_roles).where(
                    (user_roles.c.user_id == uid) & (user_roles.c.project == project)
                )
            )
            if role is not None:
                conn.execute(insert(user_roles).values(user_id=uid, project=project, role=role))

        run_write(self._engine, write)
        return self.get(name)

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password (and end their browser sessions)."""
        if len(password) < 8:
            raise ValidationError("a password needs at least 8 characters; choose a longer one")
        uid = self.get(name).id
        hashed = _hasher().hash(password)

        def write(conn: Connection) -> None:
            conn.execute(update(users).where(users.c.id == uid).values(password_hash=hashed))
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == uid))

        run_write(self._engine, write)

    def get(self, name: str) -> UserRecord:
        """User ``name``; NotFoundError (with a did-you-mean) when there is none."""
        with read(self._engine) as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                names = [r[0] for r in conn.execute(select(users.c.name))]
                raise NotFoundError(
                    f"no user named {name!r}{did_you_mean(name, names)}; add one with "
                    f"`loopml server users add {name} --role viewer --store URL`"
                )
            return self._record(conn, row.id, row.name, row.disabled)

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with read(self._engine) as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
            return [self._record(conn, r.id, r.name, r.disabled) for r in rows]

    @staticmethod
    def _record(conn: Connection, uid: int, name: str, disabled: bool) -> UserRecord:
        roles = {
            r.project: r.role
            for r in conn.execute(select(user_roles).where(user_roles.c.user_id == uid))
        }
        return UserRecord(int(uid), name, roles, bool(disabled))

    def verify_password(self, name: str, password: str) -> UserRecord | None:
        """The user when ``password`` is theirs, else None (same cost for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        ph = _hasher()
        with read(self._engine) as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        stored = row.password_hash if row is not None else None
        try:
            ph.verify(stored or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or stored is None or row.disabled:
            return None
        return self.get(name)

    # -- API tokens ----------------------------------------------------------------------------
    def create_token(self, user: str, name: str = "default") -> str:
        """A new API token for ``user``; the secret is returned once and stored only hashed."""
        uid = self.get(user).id
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        run_write(
            self._engine,
            lambda conn: conn.execute(
                insert(api_tokens).values(
                    user_id=uid,
                    name=name,
                    digest=digest(secret),
                    prefix=secret[:10],
                    created_at=time.time(),
                    revoked_at=None,
                )
            ),
        )
        return secret

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token: its next request fails."""

        def write(conn: Connection) -> int:
            return conn.execute(
                update(api_tokens)
                .where((api_tokens.c.id == token_id) & api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            ).rowcount

        if not run_write(self._engine, write):
            ids = [t.id for t in self.tokens() if t.revoked_at is None]
            raise NotFoundError(f"no live token with id {token_id}; live tokens: {ids}")

    def tokens(self) -> list[TokenInfo]:
        """Every token (live and revoked), oldest first."""
        query = (
            select(api_tokens, users.c.name.label("user"))
            .join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id)
        )
        with read(self._engine) as conn:
            return [
                TokenInfo(r.id, r.user, r.name, r.prefix, r.created_at, r.revoked_at)
                for r in conn.execute(query)
            ]

    def authenticate_token(self, secret: str) -> UserRecord | None:
        """The user a live token belongs to, or None."""
        # One query: the token's user and their roles (one row per role, or one without).
        query = (
            select(
                users.c.id, users.c.name, users.c.disabled, user_roles.c.project, user_roles.c.role
            )
            .select_from(api_tokens)
            .join(users, api_tokens.c.user_id == users.c.id)
            .outerjoin(user_roles, user_roles.c.user_id == users.c.id)
            .where((api_tokens.c.digest == digest(secret)) & api_tokens.c.revoked_at.is_(None))
        )
        rows = read_with_retry(self._engine, lambda conn: conn.execute(query).all())
        return _joined_record(rows)

    # -- browser sessions ----------------------------------------------------------------------
    def create_session(self, user: UserRecord) -> tuple[str, str]:
        """A new browser session: ``(session id, CSRF token)``; only the id's digest is kept."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = time.time()
        run_write(
            self._engine,
            lambda conn: conn.execute(
                insert(web_sessions).values(
                    digest=digest(sid),
                    user_id=user.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + SESSION_SECONDS,
                )
            ),
        )
        return sid, csrf

    def session(self, sid: str) -> tuple[UserRecord, str] | None:
        """The user and CSRF token of a live session, or None."""
        query = (
            select(
                users.c.id,
                users.c.name,
                users.c.disabled,
                user_roles.c.project,
                user_roles.c.role,
                web_sessions.c.csrf,
            )
            .select_from(web_sessions)
            .join(users, web_sessions.c.user_id == users.c.id)
            .outerjoin(user_roles, user_roles.c.user_id == users.c.id)
            .where(
                (web_sessions.c.digest == digest(sid)) & (web_sessions.c.expires_at > time.time())
            )
        )
        rows = read_with_retry(self._engine, lambda conn: conn.execute(query).all())
        record = _joined_record(rows)
        return None if record is None else (record, rows[0].csrf)

    def end_session(self, sid: str) -> None:
        """Log a browser session out."""
        run_write(
            self._engine,
            lambda conn: conn.execute(
                delete(web_sessions).where(web_sessions.c.digest == digest(sid))
            ),
        )

    # -- login rate limits -------------------------------------------------------------------------
    def count_attempt(self, key: str, window: float) -> int:
        """Count one login attempt under ``key``; returns the attempts in its current window.

        One atomic upsert, so every worker and replica of a server shares one count: a window
        starts at a key's first attempt and lasts ``window`` seconds. ``key`` is stored as a
        digest (it holds a user name and an address).
        """
        if not isinstance(key, str) or window <= 0:
            raise ValidationError("a rate limit needs a text key and a window over 0 seconds")
        now = time.time()
        expired = login_limits.c.window_start < now - window
        stmt = _upsert(self._engine.dialect.name)(login_limits).values(
            key=digest(key), window_start=now, count=1
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((expired, 1), else_=login_limits.c.count + 1),
                "window_start": case((expired, now), else_=login_limits.c.window_start),
            },
        ).returning(login_limits.c.count)
        return int(run_write(self._engine, lambda conn: conn.execute(stmt).scalar_one()))

    def forget_attempt(self, key: str, everything: bool = False) -> None:
        """Take back one attempt counted under ``key`` (a login that succeeded), or with
        ``everything`` all of them; expired windows of every key are dropped on the way."""
        now = time.time()

        def write(conn: Connection) -> None:
            where = login_limits.c.key == digest(key)
            if everything:
                conn.execute(delete(login_limits).where(where))
            else:
                conn.execute(
                    update(login_limits)
                    .where(where & (login_limits.c.count > 0))
                    .values(count=login_limits.c.count - 1)
                )
            # A day is longer than any window a server uses; the table stays small.
            conn.execute(delete(login_limits).where(login_limits.c.window_start < now - 86400))

        run_write(self._engine, write)

    # -- audit -----------------------------------------------------------------------------------
    def audit(
        self, user: str | None, method: str, path: str, status: int, detail: str | None = None
    ) -> None:
        """Record one write."""
        run_write(self._engine, self.audit_writer(user, method, path, status, detail))

    @staticmethod
    def audit_writer(
        user: str | None, method: str, path: str, status: int, detail: str | None = None
    ) -> Callable[[Connection], None]:
        """``audit`` as a step of another write's transaction: the row commits with that write
        (and is rolled back with it), which saves the audit its own transaction."""
        stmt = insert(audit_log).values(
            at=time.time(),
            user_name=user,
            method=method[:8],
            path=path[:2000],
            status=status,
            detail=detail,
        )

        def write(conn: Connection) -> None:
            conn.execute(stmt)

        return write

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The latest writes, newest first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        with read(self._engine) as conn:
            return [
                AuditEntry(r.at, r.user_name, r.method, r.path, r.status, r.detail)
                for r in conn.execute(query)
            ]


def _joined_record(rows: Sequence[Any]) -> UserRecord | None:
    """The live user of rows of a user outer-joined to their roles (None: no rows, disabled)."""
    if not rows or rows[0].disabled:
        return None
    first = rows[0]
    roles = {r.project: r.role for r in rows if r.project is not None}
    return UserRecord(int(first.id), first.name, roles, bool(first.disabled))


def _upsert(dialect: str):  # type: ignore[no-untyped-def]
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist (same cost either way)."""
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(16)))
    return _DUMMY[0]
