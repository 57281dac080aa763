"""Closed loops (车防): VEH-OFF-ROUTE, VEH-OVERDUE, VEH-SEAL, VEH-DWELL, keyed by vehicle.

A vehicle's events come from the sites it calls at; the stream re-keys them by vehicle, carrying
the calling site's placement. A departure on a planned route arms VEH-OVERDUE at the end of the
window plus grace; an arrival at the route's last stop clears it. An arrival at a site not on the
route, or an unplanned stop, raises VEH-OFF-ROUTE; a broken or swapped seal, VEH-SEAL; staying at
a site other than the loop's home base past the dwell limit without departing, VEH-DWELL.
"""

from __future__ import annotations

from typing import Any

from schemas.envelope import Event
from schemas.registry import RoutePlanned
from schemas.vehicles import VehicleArrived, VehicleDeparted, VehicleStopped
from streams.compliance.engine import Context, ms
from streams.compliance.rules.disinfection import ms_of

KEEP_ROUTES = 20


class Vehicles:
    events: tuple[type[Event], ...] = (RoutePlanned, VehicleDeparted, VehicleArrived, VehicleStopped)

    def observe(self, ctx: Context, event: Event) -> None:
        at = ctx.now
        if isinstance(event, RoutePlanned):
            self._planned(ctx, event)
        elif isinstance(event, VehicleDeparted):
            self._departed(ctx, event, at)
        elif isinstance(event, VehicleArrived):
            self._arrived(ctx, event, at)
        elif isinstance(event, VehicleStopped):
            ctx.schedule(at, "VEH-OFF-ROUTE", f"stop|{at}")
            ctx.data("pending")[f"stop|{at}"] = {
                "event_id": str(event.event_id),
                "route_id": event.payload.route_id,
                "latitude": event.payload.latitude,
                "longitude": event.payload.longitude,
            }

    def fire(self, ctx: Context, rule_id: str, subject: str) -> None:
        if rule_id in ("VEH-OFF-ROUTE", "VEH-SEAL"):
            pending = ctx.data("pending").pop(subject, None)
            if pending is not None:
                event_id = pending.pop("event_id")
                ctx.raise_alert(
                    rule_id, "vehicle", subject, int(subject.rsplit("|", 1)[1]), [event_id], pending, track=False
                )
        elif rule_id == "VEH-OVERDUE":
            trip = ctx.data("trip")
            if trip.get("subject") == subject and not trip.get("completed"):
                ctx.raise_alert(rule_id, "vehicle", subject, ctx.now, [trip["event_id"]], _trip_details(trip))
        elif rule_id == "VEH-DWELL":
            stay = ctx.data("stay")
            if stay.get("subject") == subject:
                ctx.raise_alert(rule_id, "vehicle", subject, ctx.now, [stay["event_id"]], {"site_id": stay["site_id"]})

    def policy_changed(self, ctx: Context) -> None:
        return None  # deadlines are fixed by the profile in force when the fact happened

    def _planned(self, ctx: Context, event: RoutePlanned) -> None:
        routes = ctx.data("routes")
        routes[event.payload.route_id] = {
            "stops": list(event.payload.stops),
            "end": ms(event.payload.window_end),
        }
        for old in list(routes)[:-KEEP_ROUTES]:
            del routes[old]

    def _departed(self, ctx: Context, event: VehicleDeparted, at: int) -> None:
        payload = event.payload
        self._left_site(ctx, event, at)
        route = ctx.data("routes").get(payload.route_id)
        trip = ctx.data("trip")
        trip.clear()
        trip.update(
            route_id=payload.route_id,
            seal_id=payload.seal_id,
            event_id=str(event.event_id),
            from_site=event.site_id,
            completed=False,
            subject=f"{payload.route_id}|{at}",
        )
        if route is None:
            return
        grace = ms_of(ctx.limits("VEH-OVERDUE", at).grace)
        ctx.schedule(max(route["end"] + grace, at), "VEH-OVERDUE", trip["subject"])

    def _arrived(self, ctx: Context, event: VehicleArrived, at: int) -> None:
        payload = event.payload
        trip = ctx.data("trip")
        route_id = payload.route_id or trip.get("route_id")
        route = ctx.data("routes").get(route_id or "")
        if route is not None and event.site_id not in route["stops"]:
            subject = f"arrival|{event.site_id}|{at}"
            ctx.data("pending")[subject] = {
                "event_id": str(event.event_id),
                "route_id": route_id,
                "site_id": event.site_id,
            }
            ctx.schedule(at, "VEH-OFF-ROUTE", subject)
        swapped = bool(trip.get("seal_id") and payload.seal_id and payload.seal_id != trip["seal_id"])
        if not payload.seal_intact or swapped:
            subject = f"seal|{event.site_id}|{at}"
            ctx.data("pending")[subject] = {
                "event_id": str(event.event_id),
                "site_id": event.site_id,
                "seal_intact": payload.seal_intact,
                "seal_swapped": swapped,
            }
            ctx.schedule(at, "VEH-SEAL", subject)
        if route is not None and trip.get("subject") and event.site_id == route["stops"][-1]:
            trip["completed"] = True
            due = ctx.pending("VEH-OVERDUE", trip["subject"])
            if due is not None and at > due:  # late by less than the allowed lateness: still overdue
                ctx.raise_alert(
                    "VEH-OVERDUE", "vehicle", trip["subject"], due, [trip["event_id"]], _trip_details(trip), at=due
                )
            ctx.cancel("VEH-OVERDUE", trip["subject"])
            ctx.resolve_alert("VEH-OVERDUE", trip["subject"], [str(event.event_id)], action_at=at)
        stay = ctx.data("stay")
        stay.clear()
        if route is not None and event.site_id == route["stops"][0]:
            return  # home base: the vehicle parks there between loops
        stay.update(site_id=event.site_id, event_id=str(event.event_id), subject=f"{event.site_id}|{at}")
        ctx.schedule(at + ms_of(ctx.limits("VEH-DWELL", at).max_dwell), "VEH-DWELL", stay["subject"])

    def _left_site(self, ctx: Context, event: VehicleDeparted, at: int) -> None:
        stay = ctx.data("stay")
        if stay.get("site_id") != event.site_id:
            return
        ctx.cancel("VEH-DWELL", stay["subject"])
        ctx.resolve_alert("VEH-DWELL", stay["subject"], [str(event.event_id)], action_at=at)
        stay.clear()


def _trip_details(trip: dict[str, Any]) -> dict[str, Any]:
    return {"route_id": trip["route_id"], "from_site": trip["from_site"], "seal_id": trip["seal_id"]}
