"""How a user's file that fails validation is told: each problem as ``where: what``, where is
the dotted path to the entry (``checks.3.op``), so the engineer finds it without a traceback."""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError) -> list[str]:
    """One ``where: what`` line per problem pydantic found."""
    return [f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()]
