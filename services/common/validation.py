"""What a caller got wrong: input that breaks a rule, or an id that names nothing."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One reason a field was refused; ``code`` is stable and machine-readable."""

    field: str
    code: str
    message: str


class InvalidInputError(ValueError):
    """A request broke one or more rules; nothing was changed."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in violations))


class NotFoundError(LookupError):
    """The id or name in a request matches nothing."""
