"""Closed loops (车防): VEH-OFF-ROUTE, VEH-OVERDUE, VEH-SEAL, VEH-DWELL, keyed by vehicle.

A vehicle's events come from the sites it calls at; the stream re-keys them by vehicle, carrying
the calling site's placement. Records from different sites reach the vehicle's partition in any
order (each site posts, and is read, at its own pace), so the vehicle keeps its movements — its
departures and arrivals — in event time and judges each check on them as they stand
(`streams.compliance.rules.verdicts`); a movement posted late arms again the checks it may change.

- VEH-OVERDUE: a loop — the first departure on a plan to the arrival at its last stop — is due by
  the end of the window plus grace; its later legs are part of it (one alert per late loop).
- VEH-OFF-ROUTE: an arrival at a site not on the route (the arrival's, or else its departure's), or
  an unplanned stop.
- VEH-SEAL: an arrival with the seal broken, or not the seal of the departure before it.
- VEH-DWELL: an arrival anywhere but the loop's home base, with no next movement within the dwell
  limit; a departure from that site later settles it as late.

Movements are kept up to the horizon (`TRACKED_ALERT_MS`) on the partition's clock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple, TypedDict, cast

from schemas.envelope import Event
from schemas.registry import RoutePlanned
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleStopped
from streams.compliance.engine import TRACKED_ALERT_MS, Context, RuleFamily, SiteInfo, ms, ms_of
from streams.compliance.rules.verdicts import Verdict, forget_judged, settle
from streams.compliance.thresholds import Duration, NoThresholds, Thresholds

DEPARTED, ARRIVED = "D", "A"


class Move(NamedTuple):
    """A departure or an arrival, stored as a list in the vehicle's state."""

    at: int
    kind: str  # DEPARTED or ARRIVED
    site: str
    route: str | None
    seal: str | None
    intact: bool
    event: str


class VehicleRule(StrEnum):
    """The rules of this family (the catalogue holds their text and thresholds)."""

    OFF_ROUTE = "VEH-OFF-ROUTE"
    OVERDUE = "VEH-OVERDUE"
    SEAL = "VEH-SEAL"
    DWELL = "VEH-DWELL"


JUDGED_RULES = (VehicleRule.OVERDUE, VehicleRule.OFF_ROUTE, VehicleRule.SEAL, VehicleRule.DWELL)


class Grace(Thresholds):
    grace: Duration


class MaxDwell(Thresholds):
    max_dwell: Duration


class Plan(TypedDict):
    """A route as planned for one loop (`ctx.data("routes")[route_id]`, latest last); times in ms."""

    planned: int
    stops: list[str]  # the sites it calls at
    end: int  # the loop's window ends


class Stop(TypedDict, total=False):
    """An unplanned stop, kept until VEH-OFF-ROUTE judges it (`ctx.data("pending")["stop|<at>"]`)."""

    event_id: str
    site_id: str
    route_id: str
    latitude: float
    longitude: float


class Moves(TypedDict, total=False):
    """The vehicle's movements in event time, as rows of `Move`, back to the horizon."""

    rows: list[list[Any]]


def _sites(ctx: Context) -> dict[str, SiteInfo]:
    """The sites the vehicle called at: their placement, for the alerts judged as at them."""
    return cast("dict[str, SiteInfo]", ctx.data("sites"))


def _stops(ctx: Context) -> dict[str, Stop]:
    return cast("dict[str, Stop]", ctx.data("pending"))


def _routes(ctx: Context) -> dict[str, list[Plan]]:
    return cast("dict[str, list[Plan]]", ctx.data("routes"))


def _rows(ctx: Context) -> Moves:
    return cast(Moves, ctx.data("moves"))


class Vehicles:
    events: tuple[type[Event], ...] = (RoutePlanned, VehicleDeparted, VehicleArrived, VehicleStopped)

    def observe(self, ctx: Context, event: Event) -> None:
        at = ctx.now
        if ctx.site:  # where the calling site is placed: its alerts are that site's, whatever came after
            _sites(ctx)[event.site_id] = ctx.site
        if isinstance(event, RoutePlanned):
            self._planned(ctx, event)
        elif isinstance(event, VehicleDeparted):
            left = event.payload
            self._moved(ctx, Move(at, DEPARTED, event.site_id, left.route_id, left.seal_id, True, str(event.event_id)))
        elif isinstance(event, VehicleArrived):
            came, event_id = event.payload, str(event.event_id)
            self._moved(ctx, Move(at, ARRIVED, event.site_id, came.route_id, came.seal_id, came.seal_intact, event_id))
        elif isinstance(event, VehicleStopped):
            ctx.schedule(at, VehicleRule.OFF_ROUTE, f"stop|{at}")
            _stops(ctx)[f"stop|{at}"] = {
                "event_id": str(event.event_id),
                "site_id": event.site_id,
                "route_id": event.payload.route_id,
                "latitude": event.payload.latitude,
                "longitude": event.payload.longitude,
            }

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        if subject.startswith("stop|"):
            pending = _stops(ctx).pop(subject, None)
            if pending is not None:
                event_id = pending.pop("event_id")
                _at_site(ctx, pending.pop("site_id", None))
                ctx.raise_alert(rule_id, "vehicle", subject, int(subject[5:]), [event_id], dict(pending), track=False)
            return
        if rule_id not in JUDGED_RULES:
            return
        moves = _moves(ctx)
        index = _find(moves, rule_id, subject)
        if index is None:
            return  # past the horizon
        _at_site(ctx, moves[index].site)
        verdict = JUDGES[rule_id](ctx, moves, index)
        if verdict is not None:
            settle(ctx, rule_id, "vehicle", subject, verdict)

    def policy_changed(self, ctx: Context) -> None:
        """Deadlines follow the profile in force when the movement happened: arm again those after the change."""
        moves = _moves(ctx)
        for index in range(bisect_left(moves, (ctx.now,)), len(moves)):
            _arm(ctx, moves, index)

    def _planned(self, ctx: Context, event: RoutePlanned) -> None:
        """A route is planned again for each loop (each day): the plan of a movement is the latest
        made by its time (`_route`), whatever order the plans were posted in."""
        routes = _routes(ctx)
        route_id = event.payload.route_id
        plan: Plan = {"planned": ctx.now, "stops": list(event.payload.stops), "end": ms(event.payload.window_end)}
        plans = [other for other in routes.get(route_id, []) if other["planned"] != ctx.now] + [plan]
        horizon = ctx.watermark - TRACKED_ALERT_MS
        plans.sort(key=lambda other: other["planned"])
        routes[route_id] = [other for other in plans[:-1] if other["end"] >= horizon] + plans[-1:]
        for name in [name for name, kept in routes.items() if kept[-1]["end"] < horizon and name != route_id]:
            del routes[name]
        later = [other["planned"] for other in routes[route_id] if other["planned"] > ctx.now]
        moves = _moves(ctx)
        for index in range(bisect_left(moves, (ctx.now,)), bisect_left(moves, (min(later, default=2**62),))):
            if _route_id(moves, index) == route_id:  # a movement that follows this plan
                _arm(ctx, moves, index)

    def _moved(self, ctx: Context, move: Move) -> None:
        rows = _rows(ctx).setdefault("rows", [])
        moves = [Move(*row) for row in rows]
        if any(other.event == move.event for other in moves[bisect_left(moves, (move.at,)) :] if other.at == move.at):
            return  # the same record again (a forward read again after a crash)
        # In event time; an arrival and a departure in the same millisecond: the arrival first.
        index = bisect_left([(other.at, other.kind, other.event) for other in moves], (move.at, move.kind, move.event))
        rows.insert(index, list(move))
        moves.insert(index, move)
        for affected in _affected(ctx, moves, index):
            _arm(ctx, moves, affected)
        horizon = ctx.watermark - TRACKED_ALERT_MS
        if rows[0][0] < horizon:
            del rows[: max(1, min(bisect_left(moves, (horizon,)), len(rows) - 1))]
            forget_judged(ctx)


def _at_site(ctx: Context, site_id: str | None) -> None:
    """Judge as at `site_id`: its placement (enterprise, division) goes on the alert, its profile applies."""
    site = _sites(ctx).get(site_id or "")
    if site is not None:
        ctx.state["site"] = site


def _moves(ctx: Context) -> list[Move]:
    return [Move(*row) for row in _rows(ctx).get("rows", [])]


def _affected(ctx: Context, moves: list[Move], index: int) -> range:
    """The movements whose checks a movement at `index` may change: back to the first departure of
    the loop it falls in (whose lateness it may settle, and whose seal and route its arrivals
    follow), and on to the next departure."""
    start, plan = max(index - 1, 0), None
    for before in range(index - 1, -1, -1):
        move = moves[before]
        if move.kind != DEPARTED:
            continue
        route = _route(ctx, move.route, move.at)
        if route is None or (plan is not None and route is not plan):
            break
        start, plan = before, route
    end = index + 1
    while end < len(moves) and moves[end].kind != DEPARTED:
        end += 1
    return range(start, min(end + 1, len(moves)))


def _arm(ctx: Context, moves: list[Move], index: int) -> None:
    move = moves[index]
    if move.kind == DEPARTED:
        route = _route(ctx, move.route, move.at)
        if route is not None:
            ctx.schedule(_overdue_at(ctx, move, route), VehicleRule.OVERDUE, f"{move.route}|{move.at}")
        return
    ctx.schedule(move.at, VehicleRule.OFF_ROUTE, f"arrival|{move.site}|{move.at}")
    ctx.schedule(move.at, VehicleRule.SEAL, f"seal|{move.site}|{move.at}")
    ctx.schedule(
        move.at + ms_of(ctx.limits(VehicleRule.DWELL, move.at, MaxDwell).max_dwell),
        VehicleRule.DWELL,
        f"{move.site}|{move.at}",
    )


def _find(moves: list[Move], rule_id: str, subject: str) -> int | None:
    """The movement a check's subject names: "<route>|<at>" (a departure), "arrival|<site>|<at>",
    "seal|<site>|<at>" or "<site>|<at>" (arrivals)."""
    head, _, at_text = subject.rpartition("|")
    at = int(at_text)
    kind = DEPARTED if rule_id == VehicleRule.OVERDUE else ARRIVED
    for index in range(bisect_left(moves, (at,)), len(moves)):
        move = moves[index]
        if move.at != at:
            return None
        named = move.route if kind == DEPARTED else move.site
        if move.kind == kind and head.rpartition("|")[2] == named:
            return index
    return None


def _route(ctx: Context, route_id: str | None, at: int) -> Plan | None:
    """The plan of `route_id` a movement at `at` follows: the latest made by then."""
    plans = _routes(ctx).get(route_id or "")
    if not isinstance(plans, list):
        return None  # not planned (or kept in an earlier layout)
    made = [plan for plan in plans if plan["planned"] <= at]
    return made[-1] if made else None


def _departure_before(moves: list[Move], index: int) -> Move | None:
    for move in reversed(moves[:index]):
        if move.kind == DEPARTED:
            return move
    return None


def _route_id(moves: list[Move], index: int) -> str | None:
    move = moves[index]
    if move.route or move.kind == DEPARTED:
        return move.route
    departure = _departure_before(moves, index)
    return departure.route if departure is not None else None


def _overdue_at(ctx: Context, departure: Move, route: Plan) -> int:
    return max(int(route["end"]) + ms_of(ctx.limits(VehicleRule.OVERDUE, departure.at, Grace).grace), departure.at)


def _overdue(ctx: Context, moves: list[Move], index: int) -> Verdict | None:
    """A loop — from a departure on a plan to the arrival at the plan's last stop — is due by the
    end of the window plus grace, judged at its first departure; its later legs are part of it."""
    departure = moves[index]
    route = _route(ctx, departure.route, departure.at)
    if route is None:
        return None
    due = _overdue_at(ctx, departure, route)
    before = _departure_before(moves, index)
    if before is not None and _route(ctx, before.route, before.at) is route:
        between = moves[moves.index(before) + 1 : index]
        if not any(move.kind == ARRIVED and move.site == route["stops"][-1] for move in between):
            return Verdict(due, False)  # a later leg of a loop already under way
    details = {"route_id": departure.route, "from_site": departure.site, "seal_id": departure.seal}
    for move in moves[index + 1 :]:
        if move.kind == ARRIVED and move.site == route["stops"][-1]:
            if move.at <= due:
                return Verdict(due, False, settled_by=[move.event])
            return Verdict(due, True, [departure.event], details, settled_at=move.at, settled_by=[move.event])
        if move.kind == DEPARTED and _route(ctx, move.route, move.at) is not route:
            break  # on to another loop with this one unfinished
    return Verdict(due, True, [departure.event], details)


def _off_route(ctx: Context, moves: list[Move], index: int) -> Verdict | None:
    arrival, route_id = moves[index], _route_id(moves, index)
    route = _route(ctx, route_id, arrival.at)
    if route is None:
        return None
    violated = arrival.site not in route["stops"]
    return Verdict(arrival.at, violated, [arrival.event], {"route_id": route_id, "site_id": arrival.site})


def _seal(ctx: Context, moves: list[Move], index: int) -> Verdict | None:
    arrival, departure = moves[index], _departure_before(moves, index)
    swapped = bool(departure is not None and departure.seal and arrival.seal and arrival.seal != departure.seal)
    details = {"site_id": arrival.site, "seal_intact": arrival.intact, "seal_swapped": swapped}
    return Verdict(arrival.at, not arrival.intact or swapped, [arrival.event], details)


def _dwell(ctx: Context, moves: list[Move], index: int) -> Verdict | None:
    arrival = moves[index]
    due = arrival.at + ms_of(ctx.limits(VehicleRule.DWELL, arrival.at, MaxDwell).max_dwell)
    route = _route(ctx, _route_id(moves, index), arrival.at)
    if route is not None and arrival.site == route["stops"][0]:
        return Verdict(due, False)  # home base: the vehicle parks there between loops
    evidence, details = [arrival.event], {"site_id": arrival.site}
    following = moves[index + 1] if index + 1 < len(moves) else None
    if following is None:
        return Verdict(due, True, evidence, details)
    if following.at <= due:
        return Verdict(due, False, settled_by=[following.event])
    if following.kind == DEPARTED and following.site == arrival.site:
        return Verdict(due, True, evidence, details, settled_at=following.at, settled_by=[following.event])
    return Verdict(due, True, evidence, details)  # gone with no departure on record


JUDGES: dict[str, Callable[[Context, list[Move], int], Verdict | None]] = {
    VehicleRule.OVERDUE: _overdue,
    VehicleRule.OFF_ROUTE: _off_route,
    VehicleRule.SEAL: _seal,
    VehicleRule.DWELL: _dwell,
}


THRESHOLDS: dict[str, type[Thresholds]] = {
    VehicleRule.OFF_ROUTE: NoThresholds,
    VehicleRule.OVERDUE: Grace,
    VehicleRule.SEAL: NoThresholds,
    VehicleRule.DWELL: MaxDwell,
}
FAMILY = RuleFamily("车防：闭环运输车辆", "Vehicles: closed loops", VehicleRule, THRESHOLDS, (Vehicles,), key="vehicle")
