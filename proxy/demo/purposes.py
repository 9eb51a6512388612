"""The demo policy's [settings] and [[purposes]]: NIBRS offense categories, each with the least
lookback and the fewest query types its investigation needs, and (SPEC §12) the searches that
need a supervisor's approval first."""

from __future__ import annotations

from typing import Final

SETTINGS_AND_PURPOSES: Final = """\
# Automated license plate recognition (ALPR) usage and privacy policy, as enforced by alpr-proxy.
# Civil Code 1798.90.51 requires every ALPR operator and end-user to maintain such a policy;
# this file is the machine-enforced part of it.

[settings]
# Reads older than a year are never released, whatever the purpose. Owners may keep less:
# CHP deletes its own reads after 60 days unless held for a felony case (Vehicle Code 2413).
retention_days = 365
max_results = 5000
justification_min_chars = 20
# California Values Act (SB 54, Gov. Code 7284.6): no agency resources for immigration
# enforcement. A justification, case number or person using a prohibited term (the built-in
# list: "immigration", "ICE", "deport" and their inflections and long forms, matched through
# look-alike letters) is refused and flagged for review; these add Spanish ones.
extra_prohibited_terms = ["inmigración", "deportación", "deportar", "migra"]
rate_limit_per_minute = 60
# Two people for the risky searches (SPEC §12): a supervisor approves before they run. A
# recipient outside this state is one condition; federal agencies are another.
home_state = "CA"
approval_valid_hours = 24
exigent_review_hours = 72
exigent_per_user_per_day = 3

# Purposes follow NIBRS offense categories. Lookback and query types are the least each
# investigation needs; area searches are the most invasive and the most tightly bounded, and
# sweep up every passer-by: each needs a supervisor's approval first. So does a search for a
# federal agency (requester or on_behalf_of), except for homicide, where such a search runs
# and shows what the owners' rules do: no rule shares with a federal agency, so it receives
# nothing, and its audit entry counts every read withheld (the demo's walk-through, step 3).

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation (NIBRS 09A)"
max_lookback_days = 365
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6
sensitive_locations = "withhold"
approval_required = ["area"]

[[purposes]]
code = "KIDNAPPING"
description = "Kidnapping or abduction (NIBRS 100)"
max_lookback_days = 180
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 1000
area_max_window_hours = 12
sensitive_locations = "withhold"
approval_required = ["area", "federal_recipient"]

[[purposes]]
code = "HUMAN_TRAFFICKING"
description = "Human trafficking, commercial sex acts or involuntary servitude (NIBRS 64A/64B)"
max_lookback_days = 365
case_number = "required"
query_types = ["plate", "partial_plate"]
sensitive_locations = "withhold"
approval_required = ["federal_recipient"]

[[purposes]]
code = "ROBBERY"
description = "Robbery (NIBRS 120)"
max_lookback_days = 90
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 300
area_max_window_hours = 4
sensitive_locations = "withhold"
approval_required = ["area", "federal_recipient"]

[[purposes]]
code = "AGGRAVATED_ASSAULT"
description = "Aggravated assault (NIBRS 13A)"
max_lookback_days = 90
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 300
area_max_window_hours = 4
sensitive_locations = "withhold"
approval_required = ["area", "federal_recipient"]

[[purposes]]
code = "MOTOR_VEHICLE_THEFT"
description = "Stolen vehicle or plates (NIBRS 240)"
max_lookback_days = 60
case_number = "required"
query_types = ["plate", "partial_plate"]
sensitive_locations = "withhold"
approval_required = ["federal_recipient"]

[[purposes]]
code = "DRUG_OFFENSES"
description = "Felony drug/narcotic violations (NIBRS 35A)"
max_lookback_days = 30
case_number = "required"
query_types = ["plate"]
sensitive_locations = "withhold"
approval_required = ["federal_recipient"]

[[purposes]]
code = "MISSING_PERSON"
description = "At-risk missing person (Penal Code 14205)"
max_lookback_days = 30
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 2000
area_max_window_hours = 24
sensitive_locations = "withhold"
approval_required = ["area", "federal_recipient"]

# AMBER Alert (Gov. Code 8594): minutes matter, and the abductor's car may well be parked at
# a hospital, church or shelter. A child's life outweighs the privacy of those visits, so this
# purpose alone includes reads at sensitive locations; the audit log still records each one.
# The case number is optional because the alert often precedes the report number. No one
# waits for an approval: the search is exigent, runs at once and is reviewed afterwards.
[[purposes]]
code = "AMBER_ALERT"
description = "Child abduction under an active AMBER Alert"
max_lookback_days = 7
case_number = "optional"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 5000
area_max_window_hours = 24
sensitive_locations = "include"
exigent = true

# Never a lawful purpose here (SB 54). Kept in the file so such requests are refused by name
# with purpose_prohibited, and show up as such in oversight reports.
[[purposes]]
code = "CIVIL_IMMIGRATION"
description = "Civil immigration enforcement"
prohibited = true
"""
