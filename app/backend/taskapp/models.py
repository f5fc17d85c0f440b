"""The one table, `tasks`, and how a row looks in JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
# Ids and offsets are bounded by the smallest integer column we run on (PostgreSQL `integer`),
# so an absurd value is a 400/404 here instead of an overflow error (a 500) in the driver.
INT_MAX = 2**31 - 1


class Base(DeclarativeBase):
    """Declarative base shared by the models (SQLAlchemy 2.0 style)."""


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """Timestamps are stored in UTC; the API prints them with an explicit offset."""
    return datetime.now(UTC)


class Task(db.Model):  # type: ignore[name-defined,misc]
    """A task of the task manager."""

    __tablename__ = "tasks"
    # A deleted task's id is never handed out again (SQLite AUTOINCREMENT; PostgreSQL's SERIAL
    # sequence behaves so already): a retried DELETE of an old id must not hit a newer task.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )

    def to_dict(self) -> dict[str, Any]:
        """The task as the API returns it."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "completed": self.completed,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(value: datetime | None) -> str | None:
    """SQLite hands back naive datetimes: they are UTC, say so."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
