"""Errors of the register, each with a bilingual message and, where it applies, the field."""

from __future__ import annotations


class RegistryError(Exception):
    """Bad input (422) unless a subclass says otherwise."""

    status = 422

    def __init__(self, zh: str, en: str, field: str | None = None):
        self.zh, self.en, self.field = zh, en, field
        super().__init__(f"{field + ': ' if field else ''}{zh} / {en}")

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "zh": self.zh, "en": self.en}


class NotFound(RegistryError):
    status = 404


class Forbidden(RegistryError):
    status = 403


class Conflict(RegistryError):
    """A stale update (someone changed it first) or a broken invariant (一房一户)."""

    status = 409


class InvalidTransition(RegistryError):
    status = 409


class Busy(RegistryError):
    """The service is too busy to do this now; try again shortly (503)."""

    status = 503

    def __init__(
        self,
        zh: str = "系统繁忙，请稍后再试",
        en: str = "the service is busy; try again shortly",
        field: str | None = None,
    ):
        super().__init__(zh, en, field)
