"""Webhook routes: which alerts and desk notices go where, from a YAML file.

routes:
  - name: hz-post                    # unique; deliveries are recorded per route
    url: https://example/hook
    format: markdown                 # json (generic body) or markdown (WeCom / DingTalk robots)
    divisions: ["3301"]              # division-code prefixes; empty: everywhere
    enterprises: []                  # enterprise ids; empty: all
    severities: [critical, major]    # empty: all
    kinds: []                        # alert.raised, alert.resolved, alert.assigned, site.reminded; empty: all

A desk notice (督办 `alert.assigned`, 未报送 `site.reminded`) goes to the routes of its site's
division and of the enterprise asked to act. A route filtered by severity takes an assignment by
its alert's severity and takes reminders only when `kinds` names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.notify.notices import Notice


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "markdown"] = "json"
    divisions: list[str] = []
    enterprises: list[str] = []
    severities: list[Literal["critical", "major", "minor"]] = []
    kinds: list[Literal["alert.raised", "alert.resolved", "alert.assigned", "site.reminded"]] = []

    def matches(self, notice: Notice) -> bool:
        severity_ok = (
            not self.severities
            or notice.severity in self.severities
            or (notice.kind == "site.reminded" and notice.kind in self.kinds)
        )
        return (
            (not self.divisions or any(notice.division_code.startswith(prefix) for prefix in self.divisions))
            and (not self.enterprises or notice.enterprise_id in self.enterprises)
            and (not self.kinds or notice.kind in self.kinds)
            and severity_ok
        )


class Routes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    routes: list[Route] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Routes:
        names = [route.name for route in self.routes]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"route names must be unique: {', '.join(duplicated)}")
        return self

    def for_notice(self, notice: Notice) -> list[Route]:
        return [route for route in self.routes if route.matches(notice)]


class RoutesError(ValueError):
    pass


def load_routes(path: Path | None) -> Routes:
    if path is None:
        return Routes()
    try:
        return Routes.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, OSError) as exc:
        raise RoutesError(f"{path}: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise RoutesError(f"{path}: field {where}: {error['msg']}") from None
