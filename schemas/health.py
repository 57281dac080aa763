"""Staff health family: checks before a shift, tests, vaccinations, shifts started."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from schemas.envelope import AwareDatetime, Event, Payload, Pseudonym, Temperature

Symptom = Literal["fever", "cough", "sore_throat", "fatigue", "loss_of_smell", "shortness_of_breath"]
HealthCode = Literal["green", "yellow", "red"]


class StaffHealthCheckedPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym
    temperature: Temperature
    symptoms: Annotated[list[Symptom], Meta(max_length=6)] = field(default_factory=list)
    health_code: HealthCode


class StaffHealthChecked(Event, frozen=True, kw_only=True, tag="staff.health_checked"):
    payload: StaffHealthCheckedPayload


class StaffTestedPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym
    test_kind: Literal["nucleic_acid", "antigen"]
    sampled_at: AwareDatetime
    result: Literal["negative", "positive"]


class StaffTested(Event, frozen=True, kw_only=True, tag="staff.tested"):
    payload: StaffTestedPayload


class StaffVaccinatedPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym
    dose: Annotated[int, Meta(ge=1, le=6)]


class StaffVaccinated(Event, frozen=True, kw_only=True, tag="staff.vaccinated"):
    payload: StaffVaccinatedPayload


class StaffShiftStartedPayload(Payload, frozen=True, kw_only=True):
    staff_id: Pseudonym


class StaffShiftStarted(Event, frozen=True, kw_only=True, tag="staff.shift_started"):
    """A worker went on duty at the site (what STAFF-WORKED-SICK and STAFF-CHECK look at)."""

    payload: StaffShiftStartedPayload
