"""网点分级: each site's grade (红/黄/绿) by the catalogue's grading, as SQL for the dashboards.

Red with open critical alerts; yellow with staff whose test is overdue (open STAFF-TEST-DUE) or too
large a share of late records (LEDGER-LATE's normal threshold) over the window up to the range's end;
green otherwise. The thresholds are read from the catalogue when the dashboards are built.
"""

from __future__ import annotations

from dashboards.spec import SCOPE, SCOPE_BY_SITE
from streams.compliance.catalogue import load
from streams.read_models import OPEN

_CATALOGUE = load()
GRADING = _CATALOGUE.grading
LATE_AFTER_S = int(_CATALOGUE.late_after.total_seconds())
WINDOW_S = int(GRADING.window.total_seconds())
GRADE = (
    f"multiIf(open_critical >= {GRADING.red_open_critical_alerts}, '红', "
    f"overdue_tests >= {GRADING.yellow_overdue_tests} OR late_rate > {GRADING.yellow_late_record_rate}, '黄', '绿')"
)


def graded_sites() -> str:
    """One row per site of the scope: site_id, name, brand, enterprise, latitude, longitude, the
    three measures and `grade`."""
    delay = "dateDiff('second', raw_events.occurred_at, raw_events.received_at)"
    return (
        "SELECT s.site_id AS site_id, s.site_name AS site_name, s.site_brand AS site_brand, s.owner AS owner, "
        "s.lat AS lat, s.lon AS lon, ifNull(c.critical, 0) AS open_critical, ifNull(t.overdue, 0) AS overdue_tests, "
        f"if(ifNull(r.records, 0) = 0, 0, r.late / r.records) AS late_rate, {GRADE} AS grade "
        "FROM (SELECT site_id, argMax(name, registered_at) AS site_name, argMax(brand, registered_at) AS site_brand, "
        "argMax(enterprise_id, registered_at) AS owner, argMax(latitude, registered_at) AS lat, "
        f"argMax(longitude, registered_at) AS lon FROM sites WHERE {SCOPE} GROUP BY site_id) AS s "
        "LEFT JOIN (SELECT site_id AS critical_site, uniqExactIf(alert_id, severity = 'critical') AS critical "
        f"FROM alerts WHERE {OPEN} AND {SCOPE_BY_SITE} GROUP BY site_id) AS c ON c.critical_site = s.site_id "
        "LEFT JOIN (SELECT site_id AS test_site, uniqExact(subject_id) AS overdue FROM alerts "
        f"WHERE rule_id = 'STAFF-TEST-DUE' AND {OPEN} AND {SCOPE_BY_SITE} GROUP BY site_id) AS t "
        "ON t.test_site = s.site_id "
        f"LEFT JOIN (SELECT site_id AS record_site, count() AS records, countIf({delay} > {LATE_AFTER_S}) AS late "
        f"FROM raw_events WHERE raw_events.occurred_at > $__toTime - INTERVAL {WINDOW_S} SECOND "
        f"AND raw_events.occurred_at <= $__toTime AND {SCOPE} GROUP BY site_id) AS r ON r.record_site = s.site_id"
    )
