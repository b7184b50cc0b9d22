"""Models of the directory's own work: import runs and their issues, admin accounts, the
audit log of changes, uploads waiting for confirmation, and the data version that search
caches key on."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.models.core import Base, utcnow


class ImportRun(Base):
    """One import of one file: who, when, which bytes (sha-256), format and counts.
    ``status`` is ``committed`` or ``reverted``."""

    __tablename__ = "import_run"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    source: so.Mapped[str] = so.mapped_column(sa.String(64))
    filename: so.Mapped[str] = so.mapped_column(sa.String(300))
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64))
    format: so.Mapped[str] = so.mapped_column(sa.String(32))
    encoding: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    user: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    started_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    added: so.Mapped[int] = so.mapped_column(default=0)
    updated: so.Mapped[int] = so.mapped_column(default=0)
    unchanged: so.Mapped[int] = so.mapped_column(default=0)
    rejected: so.Mapped[int] = so.mapped_column(default=0)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="committed")
    header: so.Mapped[str | None] = so.mapped_column(sa.Text)

    issues: so.Mapped[list[ImportIssue]] = so.relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ImportIssue.line")

    def __repr__(self) -> str:
        return f"<ImportRun {self.id} {self.filename!r}>"


class ImportIssue(Base):
    """A rejected row (``severity='error'``) or a warning, at a line and column of a file."""

    __tablename__ = "import_issue"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    run_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("import_run.id", ondelete="CASCADE"),
                                              index=True)
    line: so.Mapped[int] = so.mapped_column()
    column: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    severity: so.Mapped[str] = so.mapped_column(sa.String(8), default="error")
    message: so.Mapped[str] = so.mapped_column(sa.Text)
    row_data: so.Mapped[str | None] = so.mapped_column(sa.Text)

    run: so.Mapped[ImportRun] = so.relationship(back_populates="issues")


ROLES = ("admin", "editor")


def new_session_token() -> str:
    """A random 256-bit session token (64 hex digits)."""
    return secrets.token_hex(32)


class User(Base):
    """An admin account. ``role`` is ``admin`` (imports and users) or ``editor`` (centers).
    ``password_hash`` is a werkzeug scrypt hash; the password itself is never stored.

    ``session_token`` is what a signed-in browser's session holds (Flask-Login's alternative
    id, :meth:`get_id`), not the user id: :meth:`revoke_sessions` replaces it at sign-out,
    password change and deactivation, so every session made before stops working."""

    __tablename__ = "app_user"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(300))
    role: so.Mapped[str] = so.mapped_column(sa.String(16), default="editor")
    active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    last_login_at: so.Mapped[dt.datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    session_token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True,
                                                     default=new_session_token)

    def revoke_sessions(self) -> None:
        """End every session of this account (a new token; the caller commits)."""
        self.session_token = new_session_token()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The alternative id stored in the session: the current session token."""
        if self.session_token is None:  # a new account not flushed yet
            self.session_token = new_session_token()
        return self.session_token

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class ChangeRecord(Base):
    """Audit log: one changed field of one center, by whom, when, through what.

    ``action`` is ``create``, ``update``, ``delete``, ``merge`` or ``revert``; ``before`` and
    ``after`` are text renderings (JSON for lists); ``import_run_id`` links import changes.
    """

    __tablename__ = "change_record"
    __table_args__ = (sa.Index("ix_change_record_center_at", "center_id", "at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    user: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    center_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    center_name: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    import_run_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("import_run.id", ondelete="SET NULL"), index=True)
    action: so.Mapped[str] = so.mapped_column(sa.String(16))
    # The source record an import created or changed (``field`` is then ``record``, before
    # and after its values as JSON): what reverting that import restores.
    record_id: so.Mapped[int | None] = so.mapped_column(sa.Integer, index=True)
    field: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    before: so.Mapped[str | None] = so.mapped_column(sa.Text)
    after: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # An import's change of a record's values (action ``update``, field ``record``): the
    # record's dataset date before it, which a revert gives back with the values (set by
    # :func:`directory.models.hooks._date_record_changes`; ``None`` in changes made before
    # it was kept).
    before_date: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)

    def __repr__(self) -> str:
        return f"<ChangeRecord {self.action} {self.center_id} {self.field}>"


class PendingImport(Base):
    """An uploaded file waiting for the admin to confirm its preview. Kept in the database
    (not in process memory) so any app process can finish the import."""

    __tablename__ = "pending_import"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    user: so.Mapped[str] = so.mapped_column(sa.String(254))
    filename: so.Mapped[str] = so.mapped_column(sa.String(300))
    data: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)
    format: so.Mapped[str] = so.mapped_column(sa.String(32), default="auto")
    source: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    mapping: so.Mapped[str | None] = so.mapped_column(sa.Text)
    #: A workbook's sheet (name or number); ``None``: the first with data.
    sheet: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    #: The admin confirmed the file's coordinates where they contradict the address.
    keep_coordinates: so.Mapped[bool] = so.mapped_column(default=False,
                                                         server_default=sa.false())
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    #: What the import would do, computed once by a preview job for the current mapping
    #: (gzip-compressed JSON, see :mod:`directory.jobs.imports`); ``None`` until then.
    preview: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    #: The preview's rejected rows as CSV (gzip-compressed UTF-8).
    rejected_csv: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)


class ImportJob(Base):
    """One background job of the import workflow: the ``preview`` (a dry run) or the
    ``confirm`` (the import, written in one transaction) of a :class:`PendingImport`.

    ``status``: ``queued`` -> ``running`` -> ``done`` | ``failed``. The row is the job's
    lasting state (any web process can show it, after a restart too); its progress while
    it runs is kept in the queue's storage. A confirm job's ``done`` (and ``run_id``) is
    committed in the import's own transaction."""

    __tablename__ = "import_job"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    user: so.Mapped[str] = so.mapped_column(sa.String(254))
    pending_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("pending_import.id", ondelete="SET NULL"), index=True)
    filename: so.Mapped[str] = so.mapped_column(sa.String(300))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="queued")
    message: so.Mapped[str | None] = so.mapped_column(sa.Text)
    run_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    rows: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    started_at: so.Mapped[dt.datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    finished_at: so.Mapped[dt.datetime | None] = so.mapped_column(sa.DateTime(timezone=True))


class DataVersion(Base):
    """One row (``id`` 1) whose ``version`` grows with every change to the searchable data:
    database triggers on ``center`` and ``center_designation`` bump it in the writing
    transaction, whatever wrote (ORM, bulk import, SQL). Search keys its cache of counts
    and facets on it, so every app process sees a change at its next request."""

    __tablename__ = "data_version"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    version: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
