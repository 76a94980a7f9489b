"""`repband export --format csv|json|fhir`.

- **csv**: one table (``--table``): ``activity`` (default: one row per rep and per
  stretch hold), ``sessions``, ``sets``, ``reps``, ``holds`` or ``days`` (per-day totals
  against the targets).
- **json**: everything in one document: settings, devices, every session with its sets,
  reps, holds and events, and the per-day totals.
- **fhir**: a FHIR R4 ``Bundle`` of type ``transaction`` that a clinician's FHIR server
  can import in one POST: a ``Patient`` (or a reference to an existing one with
  ``--patient-reference``), a ``Device`` per band, and one ``Observation`` per set of
  glute bridges or clams and per hip flexor stretch hold.

Codes. There is no LOINC or SNOMED CT code for "repetitions of a glute bridge / clam
set" or "duration of a hip flexor stretch hold", so the Observations use this
project's own code system, ``CODE_SYSTEM`` (codes in ``CODES``), with the HL7
``observation-category`` code ``activity`` and UCUM units. Laterality in a component
uses the SNOMED CT qualifier values Left (7771000) and Right (24028007), which do fit.
Every resource carries an identifier derived from the band's address and the record's
sequence number; entries use conditional create (``ifNoneExist``), so importing the same
export twice creates nothing twice. Times are ISO 8601 with the UTC offset; approximate
times (the band's clock was not set) carry a note.

Validation: ``validate_fhir`` checks the bundle with the ``fhir.resources`` models
(its R4B package: FHIR 4.3.0, whose Bundle, Observation, Patient and Device have the
same structure as R4 4.0.1) and every reference against the bundle's own entries.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import time
import uuid

from repband import history as H

CODE_SYSTEM = "urn:repband:fhir:codes"
ID_SYSTEM_RECORD = "urn:repband:record"  # value: <band address>/<seq>
ID_SYSTEM_DEVICE = "urn:repband:device"  # value: the band's Bluetooth address
ID_SYSTEM_PATIENT = "urn:repband:patient"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}
_NS = uuid.UUID("6f1c5e0a-5b7e-4a43-9a55-72657062616e")  # uuid5 namespace of this project

CODES = {
    "glute-bridge-set": "Glute bridge set: full repetitions",
    "clam-set": "Clam set: full repetitions",
    "hip-flexor-stretch-hold": "Hip flexor stretch hold: duration",
    "partial-repetitions": "Partial repetitions in the set",
    "mean-range-of-motion": "Mean range of motion of the full repetitions (thigh tilt)",
    "mean-repetition-duration": "Mean time per repetition",
    "stretch-angle": "Hip extension angle during the hold (thigh tilt)",
    "laterality": "Side",
}

FORMATS = ("csv", "json", "fhir")
TABLES = ("activity", "sessions", "sets", "reps", "holds", "days")


# ---------------------------------------------------------------------------- csv / json


def _iso(ms: int | None) -> str | None:
    """ISO 8601 local time with the UTC offset (what FHIR dateTime needs)."""
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000.0).astimezone().isoformat(timespec="seconds")


def _rows(db, table: str, since, until) -> tuple[list[str], list[list]]:
    cond, args = H._day_filter(since, until, "s.day")
    c = db.conn.execute
    J = "JOIN sessions s ON s.device_id = x.device_id AND s.session = x.session JOIN devices d ON d.id = x.device_id"
    if table == "sessions":
        ss = H.list_sessions(db, since, until)
        cols = ["id", "device", "address", "day", "start", "end", "time_approx", "duration_s", "mode", "placement",
                "leg", "exercises", "sets", "reps", "partial", "holds", "hold_s", "end_reason"]
        return cols, [[(";".join(s[k]) if k == "exercises" else s[k]) for k in cols] for s in ss]
    if table == "days":
        settings = getattr(db, "_export_settings", None) or H.load_settings()
        ds = H.daily(db, settings, since, until)
        cols = ["day", "sessions", "bridge_reps", "clam_left", "clam_right", "partial", "holds_left", "holds_right",
                "long_holds_left", "long_holds_right", "hold_s", "reps", "targets_met", "targets_total", "done"]
        return cols, [[d[k] for k in cols] for d in ds]
    if table in ("reps", "activity"):
        reps = [["rep", r[0], r[1], r[2], r[3], _iso(r[4]), r[5], H.EXERCISES.get(r[6]), H.SIDES.get(r[7]), r[8],
                 r[9] / 10.0, r[10] / 1000.0, r[11] / 1000.0, r[12] / 1000.0, None, None, r[13]]
                for r in c("SELECT d.address, s.id, x.seq, s.day, x.wall_ms, x.time_approx, x.exercise, x.side,"
                           " x.partial, x.rom_x10, x.up_ms, x.top_ms, x.down_ms, x.t_ms FROM reps x "
                           f"{J} WHERE {cond} ORDER BY x.device_id, x.seq", args)]
    if table in ("holds", "activity"):
        holds = [["hold", r[0], r[1], r[2], r[3], _iso(r[4]), r[5], H.EXERCISES.get(r[6]), H.SIDES.get(r[7]), 0,
                  None, None, None, None, r[8] / 1000.0, r[9] / 10.0, r[10]]
                 for r in c("SELECT d.address, s.id, x.seq, s.day, x.wall_ms, x.time_approx, x.exercise, x.side,"
                            " x.duration_ms, x.angle_x10, x.t_ms FROM holds x "
                            f"{J} WHERE {cond} ORDER BY x.device_id, x.seq", args)]
    cols = ["type", "device", "session_id", "seq", "day", "time", "time_approx", "exercise", "side", "partial",
            "rom_deg", "up_s", "top_s", "down_s", "duration_s", "angle_deg"]
    if table == "reps":
        return cols, [r[:16] for r in reps]
    if table == "holds":
        return cols, [r[:16] for r in holds]
    if table == "activity":
        merged = sorted(reps + holds, key=lambda r: (r[1], r[3]))
        return cols, [r[:16] for r in merged]
    if table == "sets":  # count: the person's correction where there is one, beside the band's
        cols = ["device", "session_id", "seq", "day", "start", "end", "time_approx", "exercise", "side", "count",
                "band_count", "corrected", "correction_note", "partial", "mean_rom_deg", "period_s", "duration_s"]
        return cols, [[r[0], r[1], r[2], r[3], _iso(r[4]), _iso(r[5]), r[6], H.EXERCISES.get(r[7]),
                       H.SIDES.get(r[8]), r[9] if r[14] is None else r[14], r[9], r[14] is not None, r[15],
                       r[10], r[11] / 10.0, r[12] / 1000.0, r[13] / 1000.0]
                      for r in c("SELECT d.address, s.id, x.seq, s.day, x.wall_ms, x.end_ms, x.time_approx,"
                                 " x.exercise, x.side, x.count, x.n_partial, x.mean_rom_x10, x.period_ms,"
                                 f" x.duration_ms, k.count, k.note FROM sets x {J} LEFT JOIN corrections k ON"
                                 " k.device_id = x.device_id AND k.seq = x.seq"
                                 f" WHERE {cond} ORDER BY x.device_id, x.seq", args)]
    raise H.HistoryError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}")


def export_csv(db, settings: dict, table: str = "activity", since=None, until=None) -> str:
    db._export_settings = settings
    cols, rows = _rows(db, table, since, until)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if v is None else (int(v) if isinstance(v, bool) else v) for v in r])
    return buf.getvalue()


def export_json(db, settings: dict, since=None, until=None, progress=None) -> dict:
    sessions = H.list_sessions(db, since, until)
    full = []
    for s in sessions:
        full.append(H.show_session(db, s["id"]))
        if progress:
            progress.update(1)
    return {
        "format": "repband-export", "version": 1, "generated": _iso(int(time.time() * 1000)),
        "since": since, "until": until,
        "settings": {k: settings[k] for k in ("leg", "placement", "targets")},
        "devices": db.devices(), "sessions": full, "days": H.daily(db, settings, since, until),
    }


# ---------------------------------------------------------------------------- FHIR


def _uuid(*parts) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, "/".join(str(p) for p in parts)))


def _cc(code: str) -> dict:
    return {"coding": [{"system": CODE_SYSTEM, "code": code, "display": CODES[code]}], "text": CODES[code]}


def _qty(value, unit: str, code: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _side_component(side: str | None) -> list[dict]:
    if side not in LATERALITY:
        return []
    code, disp = LATERALITY[side]
    return [{"code": _cc("laterality"),
             "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": code, "display": disp}], "text": side}}]


def export_fhir(db, settings: dict, since=None, until=None, patient_reference: str | None = None,
                progress=None) -> dict:
    """A FHIR R4 transaction Bundle (a dict ready for json.dumps)."""
    entries = []
    patient = settings.get("patient") or {}
    if patient_reference:
        subject = {"reference": patient_reference}
    else:
        pid = patient.get("id") or "repband-user"
        psys = patient.get("system") or ID_SYSTEM_PATIENT
        url = _uuid("patient", psys, pid)
        res = {"resourceType": "Patient", "identifier": [{"system": psys, "value": pid}], "active": True}
        if patient.get("name"):
            res["name"] = [{"text": patient["name"]}]
        entries.append({"fullUrl": url, "resource": res,
                        "request": {"method": "POST", "url": "Patient",
                                    "ifNoneExist": f"identifier={psys}|{pid}"}})
        subject = {"reference": url}
        if patient.get("name"):
            subject["display"] = patient["name"]
    devices = {}
    for d in db.devices():
        url = _uuid("device", d["address"])
        devices[d["id"]] = (url, d["address"])
        res = {"resourceType": "Device", "identifier": [{"system": ID_SYSTEM_DEVICE, "value": d["address"]}],
               "status": "inactive" if d["retired_ms"] else "active",
               "deviceName": [{"name": d["name"] or f"repband {d['address']}", "type": "user-friendly-name"}],
               "type": {"text": "repband wearable IMU repetition counter"}}
        if d["protocol_version"]:
            res["version"] = [{"value": str(d["protocol_version"])}]
        entries.append({"fullUrl": url, "resource": res,
                        "request": {"method": "POST", "url": "Device",
                                    "ifNoneExist": f"identifier={ID_SYSTEM_DEVICE}|{d['address']}"}})
    cond, args = H._day_filter(since, until, "s.day")
    c = db.conn.execute
    J = "JOIN sessions s ON s.device_id = x.device_id AND s.session = x.session"
    sets = c("SELECT x.device_id, x.seq, x.wall_ms, x.end_ms, x.time_approx, x.exercise, x.side, x.count,"
             " x.n_partial, x.mean_rom_x10, x.period_ms, k.count, k.note FROM sets x"
             f" {J} LEFT JOIN corrections k ON k.device_id = x.device_id AND k.seq = x.seq"
             f" WHERE {cond} ORDER BY x.device_id, x.seq", args).fetchall()
    holds = c("SELECT x.device_id, x.seq, x.wall_ms, x.end_ms, x.time_approx, x.exercise, x.side, x.duration_ms,"
              f" x.angle_x10 FROM holds x {J} WHERE {cond} ORDER BY x.device_id, x.seq", args).fetchall()

    def obs(dev, seq, start, end, approx, code, value, components, corrected=None):
        dev_url, addr = devices[dev]
        ident = f"{addr}/{seq}"
        res = {"resourceType": "Observation", "identifier": [{"system": ID_SYSTEM_RECORD, "value": ident}],
               "status": "final",
               "category": [{"coding": [{"system": OBS_CATEGORY, "code": "activity", "display": "Activity"}]}],
               "code": _cc(code), "subject": subject, "device": {"reference": dev_url},
               "valueQuantity": value}
        if start is not None:
            res["effectivePeriod"] = {"start": _iso(start), "end": _iso(end if end is not None else start)}
        if components:
            res["component"] = components
        notes = []
        if approx:
            notes.append("Approximate time: recorded before the band's clock was set; estimated by the host at sync.")
        if corrected:  # the person's count replaced the band's: an amended observation
            res["status"] = "amended"
            notes.append(corrected)
        if notes:
            res["note"] = [{"text": n} for n in notes]
        entries.append({"fullUrl": _uuid("record", ident), "resource": res,
                        "request": {"method": "POST", "url": "Observation",
                                    "ifNoneExist": f"identifier={ID_SYSTEM_RECORD}|{ident}"}})
        if progress:
            progress.update(1)

    for dev, seq, start, end, approx, ex, side, count, npart, rom, per, fixed, why in sets:
        name = H.EXERCISES.get(ex)
        code = {"bridge": "glute-bridge-set", "clam": "clam-set"}.get(name)
        if code is None:
            continue
        comps = [{"code": _cc("partial-repetitions"), "valueQuantity": _qty(npart, "repetitions", "{repetitions}")},
                 {"code": _cc("mean-range-of-motion"), "valueQuantity": _qty(round(rom / 10.0, 1), "deg", "deg")},
                 {"code": _cc("mean-repetition-duration"),
                  "valueQuantity": _qty(round(per / 1000.0, 2), "s", "s")}] + _side_component(H.SIDES.get(side))
        corrected = None if fixed is None else (f"Corrected by the patient: the band counted {count} full "
                                                f"repetitions" + (f" ({why})" if why else ""))
        obs(dev, seq, start, end, approx, code, _qty(count if fixed is None else fixed, "repetitions", "{repetitions}"),
            comps, corrected)
    for dev, seq, start, end, approx, ex, side, dur, ang in holds:
        comps = [{"code": _cc("stretch-angle"), "valueQuantity": _qty(round(ang / 10.0, 1), "deg", "deg")}] \
            + _side_component(H.SIDES.get(side))
        obs(dev, seq, start, end, approx, "hip-flexor-stretch-hold", _qty(round(dur / 1000.0, 1), "s", "s"), comps)
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "transaction",
            "timestamp": _iso(int(time.time() * 1000)), "entry": entries}


def fhir_total(db, since=None, until=None) -> int:
    cond, args = H._day_filter(since, until, "s.day")
    J = "JOIN sessions s ON s.device_id = x.device_id AND s.session = x.session"
    return sum(db.conn.execute(f"SELECT count(*) FROM {t} x {J} WHERE {cond}", args).fetchone()[0]
               for t in ("sets", "holds"))


# required bindings the models do not enforce (R4 value sets of these elements)
_BUNDLE_TYPES = {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                 "history", "searchset", "collection"}
_REQUIRED_BINDINGS = {
    "Observation": {"status": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                               "entered-in-error", "unknown"}},
    "Device": {"status": {"active", "inactive", "entered-in-error", "unknown"}},
}


def validate_fhir(bundle: dict) -> int:
    """Validate a Bundle against the FHIR structure (fhir.resources models: the bundle
    and every entry's resource by its own type) and check that every reference points
    at an entry of the bundle (or is a relative Type/id reference). Returns the number
    of entries; raises ValueError saying what is wrong."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except Exception as exc:
        raise ValueError(f"the Bundle is not valid FHIR: {exc}") from None
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise ValueError(f"Bundle.type {bundle.get('type')!r} is not one of the R4 bundle types")
    urls = set()
    for i, e in enumerate(bundle.get("entry", [])):
        res = e.get("resource") or {}
        try:
            get_fhir_model_class(res["resourceType"]).model_validate(res)
        except Exception as exc:
            raise ValueError(f"entry {i} ({res.get('resourceType')}) is not valid FHIR: {exc}") from None
        for k, allowed in _REQUIRED_BINDINGS.get(res.get("resourceType"), {}).items():
            if k in res and res[k] not in allowed:
                raise ValueError(f"entry {i} ({res['resourceType']}): {k} {res[k]!r} is not one of "
                                 f"{', '.join(sorted(allowed))} (a required binding)")
        if e.get("fullUrl") in urls:
            raise ValueError(f"entry {i}: fullUrl {e.get('fullUrl')} used twice")
        urls.add(e.get("fullUrl"))
        if bundle.get("type") == "transaction" and not (e.get("request") or {}).get("method"):
            raise ValueError(f"entry {i}: a transaction entry needs request.method")

    def refs(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "reference" and isinstance(v, str):
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(x, list):
            for v in x:
                yield from refs(v)

    for r in refs(bundle.get("entry", [])):
        if r.startswith("urn:uuid:") and r not in urls:
            raise ValueError(f"reference {r} points at no entry of the bundle")
    return len(bundle.get("entry", []))
